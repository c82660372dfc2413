"""Scene settings of the panel (saved with the .blend) and the list of generated takes."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..core.bone_map import PRESETS
from . import shot_properties


class KGAN_ClassName(bpy.types.PropertyGroup):
    """One action class of a model; ``name`` is the class name."""

    index: IntProperty()


class KGAN_Model(bpy.types.PropertyGroup):
    """A model the backend serves (from ``info``); ``name`` is its id."""

    skeleton: StringProperty()
    fps: FloatProperty(default=30.0)
    frames: IntProperty()
    classes: CollectionProperty(type=KGAN_ClassName)


class KGAN_Take(bpy.types.PropertyGroup):
    """A generated take: its Action and how it was made."""

    action: PointerProperty(type=bpy.types.Action)
    armature: PointerProperty(type=bpy.types.Object)
    label: StringProperty(name="Action")
    seed: IntProperty()
    truncation: FloatProperty()


def _is_armature(_self: object, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


def settings_of(context: bpy.types.Context) -> KGAN_Settings:
    return context.scene.kinetic_gan


def fill_classes(settings: KGAN_Settings) -> None:
    """Fill the action picker from the chosen model (kept when the class still exists)."""
    model = settings.models.get(settings.model)
    names = [c.name for c in model.classes] if model else []
    settings.classes.clear()
    for i, name in enumerate(names):
        item = settings.classes.add()
        item.name, item.index = name, i
    if model and settings.action not in names:
        settings.action = names[0] if names else ""


def _fill_classes(self: KGAN_Settings, _context: bpy.types.Context) -> None:
    fill_classes(self)


_PRESET_LABELS = {"h36m": "H36M", "mocapbank": "MocapBank"}
_BONE_MAP_ITEMS = (
    [("AUTO", "Auto", "The bone map saved on the rig, else the best-fitting preset")]
    + [(p.upper(), _PRESET_LABELS.get(p, p.capitalize()), f"The {p} bone names") for p in PRESETS]
    + [("FILE", "File…", "A bone-map JSON file")]
)


class KGAN_Settings(bpy.types.PropertyGroup):
    address: StringProperty(
        name="Address",
        description="ZeroMQ endpoint of the backend (`kinetic-gan serve`); empty = preference",
    )
    status: EnumProperty(
        name="Status",
        items=[
            ("UNKNOWN", "Not connected", "", "RADIOBUT_OFF", 0),
            ("CONNECTED", "Connected", "", "CHECKMARK", 1),
            ("ERROR", "Unreachable", "", "ERROR", 2),
        ],
        default="UNKNOWN",
    )
    status_text: StringProperty()
    models: CollectionProperty(type=KGAN_Model)
    model: StringProperty(name="Model", update=_fill_classes)
    classes: CollectionProperty(type=KGAN_ClassName)
    action: StringProperty(name="Action", description="The action class to generate")
    count: IntProperty(name="Count", description="Takes per request", default=1, min=1, max=16)
    seed: IntProperty(name="Seed", default=0, min=0)
    use_truncation: BoolProperty(
        name="Truncation",
        description="Pull the latent towards the class mean (more typical, less varied)",
        default=True,  # ψ 0.7, as the README and the demo: clearly the action, still varied
    )
    truncation: FloatProperty(name="ψ", default=0.7, min=0.0, max=1.0, subtype="FACTOR")
    vary_noise: BoolProperty(
        name="Vary Noise", description="Fresh noise per take (else tied to the seed)"
    )
    target: PointerProperty(
        name="Armature", type=bpy.types.Object, poll=_is_armature,
        description="The armature to animate; empty = build the built-in character",
    )
    bone_map: EnumProperty(name="Bone Map", items=_BONE_MAP_ITEMS, default="AUTO")
    bone_map_file: StringProperty(name="Bone Map File", subtype="FILE_PATH")
    in_place: BoolProperty(name="In Place", description="Drop horizontal root motion")
    snap_to_floor: BoolProperty(name="Snap to Floor", default=True)
    smoothing: FloatProperty(
        name="Smoothing", description="Gaussian smoothing (frames)", default=0.0, min=0.0, max=8.0
    )
    # Motion cleanup of each received take (cleanup.py; docs/cleanup.md): on by default,
    # since raw generated joints stretch, jitter and skate.
    use_cleanup: BoolProperty(
        name="Cleanup",
        description="Clean each take before animating it (NTU-25 models in metres)",
        default=True,
    )
    cleanup_filter: BoolProperty(
        name="Smooth",
        description="Zero-phase 6 Hz low-pass: removes frame-to-frame jitter, no lag",
        default=True,
    )
    cleanup_bones: BoolProperty(
        name="Constant Bones",
        description="Every bone keeps one length (its median over the take)",
        default=True,
    )
    cleanup_feet: BoolProperty(
        name="Plant Feet",
        description="Hold feet still while on the floor (two-bone leg IK, knees forward)",
        default=True,
    )
    frame_start: IntProperty(name="Frame Start", default=1)
    match_fps: BoolProperty(
        name="Use Take FPS", description="Set the scene's frame rate to the take's", default=True
    )
    push_to_nla: BoolProperty(name="Push to NLA", description="Put each take on its own NLA track")
    takes: CollectionProperty(type=KGAN_Take)
    active_take: IntProperty()
    busy: BoolProperty()
    shot: PointerProperty(type=shot_properties.KGAN_ShotSettings)


classes = (KGAN_ClassName, KGAN_Model, KGAN_Take, *shot_properties.classes, KGAN_Settings)


def register() -> None:
    bpy.types.Scene.kinetic_gan = PointerProperty(type=KGAN_Settings)


def unregister() -> None:
    del bpy.types.Scene.kinetic_gan
