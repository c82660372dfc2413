"""The add-on's pure part: everything that can be worked out without Blender.

Retargeting (the ``retarget`` package: types, plan, twist, pose, grounding; with
``rotations``, ``vectors`` and ``body``), when a foot is in contact (``contact``), bone maps
(``bone_map`` and the presets in ``bone_maps/``), the built-in character as data
(``character``, ``capsules``), take cleanup, filters, backend requests on a
background thread (``generation``), take files, a procedural test walk, the add-on's errors,
and in ``render/`` the headless batch's planning (command line, takes and resume markers,
framing, floor, captions, bone proxies, progress, the joints' source).

The rule: nothing under ``core/`` imports ``bpy`` (nor ``mathutils``/``bmesh``), ``torch``,
the ``kinetic_gan`` backend package, or anything under ``blender/``. It may use the standard
library, numpy and the backend's bundled copies in ``vendor/``. So every module here imports
and runs in a plain Python; ``tests/addon/test_layout.py`` enforces the rule.
"""
