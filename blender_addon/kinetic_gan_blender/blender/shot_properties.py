"""The Shot and Variations settings (saved with the .blend): the segment list, loop, the
curve to follow, the keyed poses to keep, the variations shown and the blend of two."""

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

from ..core.shot.variations import MAX_VARIATIONS


class KGAN_Segment(bpy.types.PropertyGroup):
    """One segment of the shot: an action and how long it lasts."""

    action: StringProperty(name="Action", description="The segment's action class")
    length: FloatProperty(name="Length", default=90.0, min=0.0, soft_max=900.0,
                          description="How long the segment lasts, in its unit")
    unit: EnumProperty(
        name="Unit", default="FRAMES",
        items=[("FRAMES", "Frames", "Length in the take's frames", "KEYFRAME", 0),
               ("SECONDS", "Seconds", "Length in seconds at the model's frame rate", "TIME", 1)],
    )


class KGAN_Variation(bpy.types.PropertyGroup):
    """One variation shown as a ghost; ``name`` is its label."""

    seed: IntProperty()
    ghost: PointerProperty(type=bpy.types.Object)
    action: PointerProperty(type=bpy.types.Action)


def _is_curve(_self: object, obj: bpy.types.Object) -> bool:
    return obj.type == "CURVE"


# Called when the Blend slider moves with Live on; ``variations.register`` sets it (the
# settings cannot import the glue that reads them without an import cycle).
on_blend_changed: list = []


def _blend_changed(self: KGAN_ShotSettings, context: bpy.types.Context) -> None:
    if self.blend_live:
        for callback in on_blend_changed:
            callback(context)


class KGAN_ShotSettings(bpy.types.PropertyGroup):
    segments: CollectionProperty(type=KGAN_Segment)
    active_segment: IntProperty()
    loop: BoolProperty(name="Loop", description="The shot's end runs into its start")
    follow_curve: BoolProperty(name="Follow Curve",
                               description="The root follows a curve's points on the floor")
    curve: PointerProperty(name="Curve", type=bpy.types.Object, poll=_is_curve,
                           description="The curve whose points (world space) are the path")
    keep_keys: BoolProperty(name="Keep Keyed Poses",
                            description="The target's keyed poses become the shot's keys")
    key_frames: StringProperty(
        name="Frames", description="Keyed frames to keep, e.g. \"1, 40\" (empty: every keyed "
        "frame of the target's Action)",
    )
    nla_strips: BoolProperty(name="NLA Strip per Segment",
                             description="Also lay the shot out as one NLA strip per segment")
    variations: IntProperty(name="Variations", default=4, min=1, max=MAX_VARIATIONS,
                            description="Takes made at once, shown side by side as ghosts")
    shown: CollectionProperty(type=KGAN_Variation)
    active_shown: IntProperty()
    blend_a: IntProperty(name="A", min=0, description="The first variation to blend")
    blend_b: IntProperty(name="B", min=0, default=1, description="The second variation")
    blend: FloatProperty(name="Blend", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
                         update=_blend_changed,
                         description="From variation A (0) to B (1): their codes interpolated")
    blend_live: BoolProperty(name="Live", default=True,
                             description="Regenerate onto the target as the slider moves")


classes = (KGAN_Segment, KGAN_Variation, KGAN_ShotSettings)
