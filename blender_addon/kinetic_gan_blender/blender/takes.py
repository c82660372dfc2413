"""The one take pipeline: a received take onto an armature as a cleaned, retargeted,
grounded, named Action. The panel (``controller.apply_generation``), the batch
(``render/runner``), ``api.animate`` (a thin wrapper for scripts) and
``blender_addon/scripts/still.py`` all make their takes here, with one ``TakeOptions``
passed down whole; the warnings come back as values (``MadeTake``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from ..core.bone_map import BoneMap
from ..core.cleanup import clean_record
from ..core.retarget import Retargeted, retarget
from . import keyframes, rig, rig_bone_map, rig_floor, take_record


@dataclass(frozen=True)
class TakeOptions:
    """How a take is made (the panel's settings, the batch's command line)."""

    bone_map: BoneMap | str | None = None  # None: the map saved on the rig, else the best preset
    in_place: bool = False
    snap_to_floor: bool = True  # retargeting puts the performer's feet on the floor
    smoothing: float = 0.0
    frame_start: int = 1
    push_to_nla: bool = False
    cleanup: tuple[str, ...] = ()  # motion_cleanup steps; () leaves the joints raw
    # Key the armature's height so the rig's own soles (its meshes) meet the floor.
    ground_rig: bool = False


@dataclass
class MadeTake:
    action: bpy.types.Action
    warnings: list[str]  # cleanup's first, then bone-map and retargeting ones
    cleanup_warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def make_take(
    armature: bpy.types.Object,
    motion: Any,
    name: str,
    options: TakeOptions,
    metadata: dict | None = None,
) -> MadeTake:
    """Clean ``motion`` (a ``records.takes.Motion``; its joints and ``cleanup`` are updated
    in place), retarget it onto ``armature`` as an Action named ``name`` (Blender may add a
    suffix), ground the rig (``options.ground_rig``) and push it to the NLA
    (``options.push_to_nla``). The Action keeps the record, ``metadata`` and the cleanup
    that ran (``take_record``). Keys are spaced so the take plays at its own frame rate
    whatever the scene's. Raises ``BoneMapError``/``RetargetError``, and ``ValueError``
    for something that is not an armature."""
    t0 = time.perf_counter()
    cleanup_warnings = clean_record(motion, options.cleanup) if options.cleanup else []
    timings = {"cleanup": time.perf_counter() - t0} if options.cleanup else {}
    t0 = time.perf_counter()
    if armature is None or armature.type != "ARMATURE":
        raise ValueError("animate needs an armature object")
    joints = np.asarray(motion.joints, dtype=np.float32)
    motion.joints = joints[0] if joints.ndim == 4 and joints.shape[0] == 1 else joints
    bone_map, resolution = rig_bone_map.resolve_bone_map(armature, options.bone_map)
    rig_bone_map.set_switches(armature, bone_map)
    rest = rig.rig_rest(armature)
    keys = _retarget(armature, motion, rest, resolution.mapping, options)
    render = bpy.context.scene.render
    extra_rest = tuple(b for b in bone_map.at_rest if b in rest.bone_names)
    action = keyframes.write_action(
        armature, keys, name, frame_start=options.frame_start,
        frame_step=render.fps / render.fps_base / float(motion.fps),
        rest_bones=tuple(dict.fromkeys(keys.rest_bones + extra_rest)),
        switches=bone_map.switches,
    )
    warnings = _retarget_warnings(armature, resolution, keys)
    take_record.store(action, motion, {**(metadata or {}), "cleanup": motion.cleanup}, {
        "bone_map": bone_map.name, "bone_map_coverage": resolution.summary(),
        "scale": float(keys.scale), "warnings": warnings,
    })
    if options.ground_rig:
        rig_floor.ground_rig(armature, action)
    # Last: NLA frees the armature's active action, which grounding measures through.
    if options.push_to_nla:
        keyframes.push_to_nla(armature, action)
    timings["retarget+keyframe"] = time.perf_counter() - t0
    return MadeTake(action, [*cleanup_warnings, *warnings], cleanup_warnings, timings)


def _retarget(armature: bpy.types.Object, motion: Any, rest, mapping: dict[str, str],
              options: TakeOptions) -> Retargeted:
    to_world = np.array(armature.matrix_world.to_3x3().normalized())
    return retarget(
        motion.joints, motion.joint_names, rest, mapping, in_place=options.in_place,
        snap_to_floor=options.snap_to_floor, smoothing=options.smoothing, fps=motion.fps,
        world_to_armature=to_world.T,
    )


def _retarget_warnings(armature: bpy.types.Object, resolution, keys: Retargeted) -> list[str]:
    """The bones the map lacks, the ones left at rest, and keys constraints override."""
    warnings = [resolution.warning()] if resolution.missing else []
    warnings += keys.skipped
    overridden = sorted(rig.overridden_bones(armature) & set(keys.bone_names))
    if overridden:
        warnings.append(
            f"constraints override {len(overridden)} keyed bone(s), so their keys do not "
            f"show: {', '.join(overridden)} (bake to the rig's controls, or mute them)"
        )
    return warnings
