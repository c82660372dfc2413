"""One take pipeline: a generated take onto an armature as a cleaned, retargeted, grounded,
named Action. The panel (``controller.apply_generation``), the batch (``render/runner``)
and ``scripts/still.py`` all make their takes here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import bpy

from ..core.bone_map import BoneMap
from ..core.cleanup import clean_record
from . import api, keyframes, rig_floor


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


def take_name(action: str, seed: int | None, truncation: float | None, sample: str = "") -> str:
    """``<action>_s<seed>[_psi<ψ>][<sample>]``: the panel's take names."""
    psi = "" if truncation is None else f"_psi{truncation:g}"
    return f"{action}_s{seed}{psi}{sample}"


def make_take(
    armature: bpy.types.Object,
    motion: Any,
    name: str,
    options: TakeOptions,
    metadata: dict | None = None,
) -> MadeTake:
    """Clean ``motion`` (a ``records.takes.Motion``; its joints and ``cleanup`` are updated
    in place), retarget it onto ``armature`` as an Action named ``name`` (Blender may add a
    suffix) and, with ``options.ground_rig``, ground the rig. ``metadata`` is kept on the
    Action with the cleanup that ran. Raises ``BoneMapError``/``RetargetError``."""
    t0 = time.perf_counter()
    cleanup_warnings = clean_record(motion, options.cleanup) if options.cleanup else []
    timings = {"cleanup": time.perf_counter() - t0} if options.cleanup else {}
    t0 = time.perf_counter()
    action = api.animate(
        armature, motion.joints, motion.joint_names, motion.parents, fps=motion.fps,
        name=name, bone_map=options.bone_map, in_place=options.in_place,
        snap_to_floor=options.snap_to_floor, smoothing=options.smoothing,
        frame_start=options.frame_start,
        metadata={**(metadata or {}), "cleanup": motion.cleanup},
    )
    if options.ground_rig:
        rig_floor.ground_rig(armature, action)
    # Last: NLA frees the armature's active action, which grounding measures through.
    if options.push_to_nla:
        keyframes.push_to_nla(armature, action)
    timings["retarget+keyframe"] = time.perf_counter() - t0
    warnings = [*cleanup_warnings, *api.take_joints(action)["warnings"]]
    return MadeTake(action, warnings, cleanup_warnings, timings)
