"""The records every part shares, each defined once: standard library and numpy only.

- ``joint_tables``: joint names and parents of the NTU-25 and H36M-16 skeletons;
- ``request``: the fields of a ``generate`` request, their defaults and their checks;
- ``takes``: generated takes (``GeneratedSet``) and one take of them (``Motion``);
- ``take_file``: the ``.npz`` layout of generated takes, its one writer and one reader.

The Blender add-on bundles this package (``vendor/records/``), so nothing here imports the
``kinetic_gan`` package: modules import each other relatively.
"""
