"""The add-on's Blender glue: the modules that use ``bpy``.

The panel (``panel``, ``properties``, ``preferences``), thin operators (``operators``) over
what the buttons do (``controller``) and the takes list (``take_list``); the built-in
character and reading a rig's rest pose (``rig``); keyframe writing (``keyframes``); the one
take pipeline (``takes``); the scripting API (``api``); and in ``render/`` the headless
batch's Blender side (studio, engines and output, rigs, anti-aliasing, the runner).

The glue reads Blender and writes Blender; what it computes comes from ``core/`` (which never
imports anything from here). Importing this package alone does not import ``bpy``.
"""
