"""Kinetic-GAN for Blender: generate human actions with a Kinetic-GAN backend and keyframe
them onto the built-in character or any rig.

Importing this package does not import ``bpy``: the pure modules (``PURE_MODULES``: numpy
and the standard library, the vendored backend records and client) are usable and tested
outside Blender; the Blender glue (``GLUE_MODULES``) uses ``bpy``. ``register()`` loads the
Blender side. ``tests/addon/test_layout.py`` fails if a pure module imports ``bpy`` (or a
glue module), or if a module is in neither list.
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

# The split, declared: every module of the package is in exactly one of these.
PURE_MODULES = (
    "atomic",          # atomic file writes
    "body",            # the canonical body: joints, and the joints that drive each bone
    "bone_map",        # which bone of a rig plays each canonical bone
    "capsules",        # the built-in character's capsule meshes
    "character",       # the built-in character as plain data
    "cleanup",         # motion cleanup of received takes
    "errors",
    "filters",         # small filters on time series
    "generation",      # backend requests on a background thread
    "grounding",       # where a take's root goes so the rig's feet meet the floor
    "motion_samples",  # a procedural walk, to check a rig offline
    "retarget",        # joints to bone rotations
    "retarget_plan",   # what retargeting works out once per rig and map
    "rotations",       # quaternions, matrices, Euler and axis-angle
    "take_files",      # raw joints of takes as .npz
    "render.bone_proxies",  # an octahedron per bone, for rigs without a mesh
    "render.captions",  # what a shot's caption says, and its size
    "render.floor",     # the floor's geometry
    "render.framing",   # camera, lights, grid layout
    "render.options",   # the render command line
    "render.plan",      # takes, file names, resume markers
    "render.progress",  # ETAs and the summary table
    "render.sources",   # joints from a server, through the bundled client
)
GLUE_MODULES = (
    "api",
    "batch",            # `blender --background --python batch.py`
    "controller",
    "keyframes",
    "operators",
    "panel",
    "preferences",
    "properties",
    "rig",
    "take_list",
    "takes",
    "render.antialias",
    "render.output",
    "render.rigs",
    "render.runner",
    "render.studio",
)

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
