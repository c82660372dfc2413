"""Kinetic-GAN for Blender: generate human actions with a Kinetic-GAN backend and keyframe
them onto the built-in character or any rig.

The package is split in two folders, as glTF-Blender-IO splits ``io/`` from ``blender/``:

- ``core/``: the pure part (retargeting, bone maps, the character as data, cleanup,
  grounding, generation jobs, take files, the batch's render planning). It never imports
  ``bpy``, ``torch``, the ``kinetic_gan`` backend package or ``blender/``, so it imports and
  runs, and is tested, outside Blender.
- ``blender/``: the glue that uses ``bpy`` (panel, properties, preferences, operators,
  controller, keyframes, rig reading, takes, the API, the batch's studio, output and runner).

Beside them: ``vendor/`` (gitignored), the backend's records, wire format, client, atomic
writes and motion cleanup, copied in by ``kinetic-gan addon build`` and before tests;
``batch.py``, the ``blender --background --python`` entry script. ``tests/addon/test_layout.py``
enforces the split. Importing this package does not import ``bpy``; ``register()`` loads the
Blender side.
"""

# Read by Blender < 4.2 (legacy add-ons); 4.2+ reads blender_manifest.toml instead.
bl_info = {
    "name": "Kinetic-GAN",
    "author": "Kinetic-GAN Studio developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),  # the legacy zip; CI runs it in Debian's Blender 3.4
    "location": "3D View > Sidebar > Kinetic-GAN",
    "description": "Generate human actions with Kinetic-GAN and retarget them onto rigs",
    "category": "Animation",
}

_registered: list = []


def register() -> None:
    import bpy

    from .blender import (
        operators,
        panel,
        preferences,
        properties,
        shot_operators,
        shot_panel,
        variations,
    )

    for module in (preferences, properties, operators, shot_operators, panel, shot_panel):
        for cls in module.classes:
            bpy.utils.register_class(cls)
            _registered.append(cls)
    properties.register()
    variations.register()


def unregister() -> None:
    import bpy

    from .blender import properties, variations

    variations.unregister()
    properties.unregister()
    while _registered:
        bpy.utils.unregister_class(_registered.pop())
