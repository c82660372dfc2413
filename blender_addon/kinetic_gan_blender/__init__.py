"""Kinetic-GAN for Blender: generate human actions with a Kinetic-GAN backend and keyframe
them onto the built-in character or any rig.

Importing this package does not import ``bpy``: the numpy modules (``retarget``,
``bone_map``, ``body`` …) are usable and tested outside Blender. ``register()`` loads the
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

    from . import operators, panel, preferences, properties

    for module in (preferences, properties, operators, panel):
        for cls in module.classes:
            bpy.utils.register_class(cls)
            _registered.append(cls)
    properties.register()


def unregister() -> None:
    import bpy

    from . import properties

    properties.unregister()
    while _registered:
        bpy.utils.unregister_class(_registered.pop())
