"""What the Shot panel's buttons do: read the segment list, the curve and the rig's keyed
poses into a ``ShotRequest``, compose it in the background, and land the result as one
Action on the target (through the one take pipeline) with a marker per segment.

Nothing on the rig changes until a composed shot has come back: every check (the target,
the segments, the curve, the keys) runs before the request is sent, and a failed compose
leaves the rig's Action and keys as they were.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import generation
from ..core.body import ROOT_BONE, canonical_joint_indices
from ..core.errors import UserError
from ..core.retarget import dataset_to_blender
from ..core.shot.keys import joint_sources, keys_from_points
from ..core.shot.path import curve_to_path
from ..core.shot.request import SegmentRow, build_request
from ..core.take_names import take_name
from . import controller, keyframes, rig_bone_map, take_record
from .properties import settings_of

DEFAULT_FPS = 30.0


def model_fps(settings) -> float:
    model = settings.models.get(settings.model)
    return float(model.fps) if model and model.fps > 0 else DEFAULT_FPS


def model_classes(settings) -> list[str] | None:
    model = settings.models.get(settings.model)
    return [c.name for c in model.classes] if model and len(model.classes) else None


def shot_target(context: bpy.types.Context) -> bpy.types.Object:
    """The target armature; a selected non-armature or no target at all is one error."""
    target = settings_of(context).target
    if target is not None:
        if target.type != "ARMATURE":
            raise UserError(f"Target: {target.name!r} is not an armature")
        return target
    active = context.active_object
    if active is not None and active.type != "ARMATURE":
        raise UserError(f"Target: {active.name!r} ({active.type.lower()}) is not an armature; "
                        "choose one in Target, or Add Character")
    if active is not None:
        return active
    raise UserError("Target: no armature to animate; choose one in Target, or Add Character")


def shot_target_or_character(context: bpy.types.Context) -> bpy.types.Object:
    """The target; with none chosen and nothing active, the built-in character (as
    Generate builds it)."""
    settings = settings_of(context)
    if settings.target is None and context.active_object is None:
        return controller.target_armature(context)
    return shot_target(context)


# ---------------------------------------------------------------------------- reading Blender


def curve_world_points(curve: bpy.types.Object) -> np.ndarray:
    """The curve as Blender evaluates it (its resolution, modifiers), world space (P, 3)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = curve.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        local = np.empty(3 * len(mesh.vertices))
        mesh.vertices.foreach_get("co", local)
    finally:
        evaluated.to_mesh_clear()
    local = local.reshape(-1, 3)
    world = np.array(curve.matrix_world)
    return local @ world[:3, :3].T + world[:3, 3]


def keyed_frames(armature: bpy.types.Object, text: str) -> list[int]:
    """The frames to keep: ``text`` ("1, 40"), else every keyed frame of the rig's Action."""
    if text.strip():
        try:
            return sorted({int(t) for t in text.replace(";", ",").split(",") if t.strip()})
        except ValueError:
            raise UserError(f"Keep Keyed Poses: frames {text!r} are not whole numbers "
                            "separated by commas") from None
    action = armature.animation_data.action if armature.animation_data else None
    if action is None:
        raise UserError(f"Keep Keyed Poses: {armature.name!r} has no Action with keys")
    frames: set[int] = set()
    for fcurve in _fcurves(action):
        co = np.empty(2 * len(fcurve.keyframe_points))
        fcurve.keyframe_points.foreach_get("co", co)
        frames.update(round(float(f)) for f in co[0::2])
    return sorted(frames)


def _fcurves(action: bpy.types.Action):
    """Every F-curve of ``action`` (layered actions keep them in channelbags)."""
    if keyframes.LAYERED_ACTIONS and action.layers:
        for layer in action.layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    yield from bag.fcurves
    elif hasattr(action, "fcurves"):
        yield from action.fcurves


def rig_keys(context: bpy.types.Context, armature: bpy.types.Object, shot_frames: int):
    """The rig's poses at the chosen frames as the shot's ``Keys`` (the scene's frame is put
    back afterwards)."""
    settings = settings_of(context)
    frames = keyed_frames(armature, settings.shot.key_frames)
    start = settings.frame_start
    shot_frames_of = [f - start for f in frames]
    for f, scene_f in zip(shot_frames_of, frames, strict=True):
        if not 0 <= f < shot_frames:
            raise UserError(f"Keep Keyed Poses: the key at frame {scene_f} is outside the shot "
                            f"(frames {start}..{start + shot_frames - 1})")
    _, resolution = rig_bone_map.resolve_bone_map(armature, controller.bone_map_choice(settings))
    sources = joint_sources(resolution.mapping)
    scene, before = context.scene, context.scene.frame_current
    poses = []
    try:
        world = np.array(armature.matrix_world)
        for frame in frames:
            scene.frame_set(frame)
            bones = armature.pose.bones
            pose = {}
            for joint, (bone, end) in sources.items():
                p = getattr(bones[bone], end)
                pose[joint] = world[:3, :3] @ np.array(p) + world[:3, 3]
            poses.append(pose)
    finally:
        scene.frame_set(before)
    return keys_from_points(shot_frames_of, poses, shot_frames=shot_frames,
                            origin_xy=np.array(armature.matrix_world.translation)[:2])


def shot_request(context: bpy.types.Context, armature: bpy.types.Object):
    """The panel's shot as a checked ``ShotRequest``."""
    settings = settings_of(context)
    shot = settings.shot
    fps = model_fps(settings)
    rows = [SegmentRow(s.action, s.length, s.unit) for s in shot.segments]
    truncation = settings.truncation if settings.use_truncation else None
    request = build_request(rows, fps=fps, seed=settings.seed, truncation=truncation,
                            loop=shot.loop, class_names=model_classes(settings))
    path = keys = None
    if shot.follow_curve:
        if shot.curve is None:
            raise UserError("Follow Curve: pick a curve object")
        path = curve_to_path(curve_world_points(shot.curve), shot.curve.name,
                             origin_xy=np.array(armature.matrix_world.translation)[:2])
    if shot.keep_keys:
        keys = rig_keys(context, armature, request.frames)
    return build_request(rows, fps=fps, seed=settings.seed, truncation=truncation,
                         loop=shot.loop, path=path, keys=keys,
                         class_names=model_classes(settings))


# ---------------------------------------------------------------------------- composing


def start_compose(context: bpy.types.Context) -> generation.ComposeJob:
    settings = settings_of(context)
    armature = shot_target(context)
    shot = shot_request(context, armature)
    request = generation.Request(
        address=controller.backend_address(context),
        timeout_s=controller._timeout(context),  # the ping's; the shot's wait is its own
        curve=controller._curve(context),
    )
    settings.busy = True
    job = generation.ComposeJob(request, shot=shot, model=settings.model or None,
                                armature=armature, anchor=key_anchor(context, armature, shot))
    return job.start()


def compose_now(context: bpy.types.Context) -> tuple[generation.ComposeJob, list[str]]:
    """Start, wait for and apply one compose (scripts, tests, background mode)."""
    job = start_compose(context)
    try:
        job.wait()
        return job, apply_compose(context, job)
    finally:
        settings_of(context).busy = False


def apply_compose(context: bpy.types.Context, job: generation.ComposeJob) -> list[str]:
    """The composed shot as one Action on the target, a marker per segment, optionally NLA
    strips per segment; returns warnings. A failed job raises and changes nothing."""
    composed = controller.job_result(context, job)
    return land_shot(context, job.armature, composed, job.shot, job.anchor)


def land_shot(context: bpy.types.Context, armature, composed, shot, anchor=None) -> list[str]:
    """``composed`` (a ``ComposedShot``) onto ``armature`` through ``make_take``; ``anchor``
    from ``key_anchor`` when the shot has keys."""
    settings = settings_of(context)
    takes = composed.takes
    if settings.match_fps:
        context.scene.render.fps, context.scene.render.fps_base = round(takes.fps), 1.0
    options = controller.take_options(settings)
    options = type(options)(**{**options.__dict__, "push_to_nla": False})
    name = take_name("shot", shot.seed, shot.truncation)
    made = controller._make_take(
        armature, takes.sample(0), name, options,
        metadata={"action": "shot", "seed": shot.seed, "model": takes.model,
                  "truncation": shot.truncation, "skeleton": takes.skeleton,
                  "segments": [list(s) for s in composed.segments]},
    )
    action = made.action
    if shot.path is not None or shot.keys is not None:
        place_in_world(context, armature, action, anchor)
    step = context.scene.render.fps / context.scene.render.fps_base / float(takes.fps)
    starts = [(settings.frame_start + round(start * step), length, label)
              for start, length, label in composed.segments]
    place_markers(context.scene, starts)
    keyframes.assign_action(armature, action)
    if settings.shot.nla_strips:
        segment_strips(armature, action, starts, step)
    take = settings.takes.add()
    take.name, take.action, take.armature = action.name, action, armature
    take.label, take.seed = "shot", shot.seed
    take.truncation = -1.0 if shot.truncation is None else shot.truncation
    settings.active_take = len(settings.takes) - 1
    context.scene.frame_start = settings.frame_start
    context.scene.frame_end = round(action.frame_range[1])
    return made.warnings


def _root_bone(context: bpy.types.Context, armature) -> str | None:
    _, resolution = rig_bone_map.resolve_bone_map(
        armature, controller.bone_map_choice(settings_of(context)))
    root = resolution.mapping.get(ROOT_BONE)
    return root if root in armature.pose.bones else None


def root_at(context: bpy.types.Context, armature, frame: int) -> np.ndarray | None:
    """The root bone's head (world, minus the armature's location) at scene ``frame``."""
    root = _root_bone(context, armature)
    if root is None:
        return None
    scene, before = context.scene, context.scene.frame_current
    try:
        scene.frame_set(frame)
        world = np.array(armature.matrix_world)
        return world[:3, :3] @ np.array(armature.pose.bones[root].head)
    finally:
        scene.frame_set(before)


def key_anchor(context: bpy.types.Context, armature, shot) -> tuple[int, np.ndarray] | None:
    """Where the rig's root stands at the first keyed frame, before composing: the shot is
    put back there (``place_in_world``)."""
    if shot.keys is None:
        return None
    frame = settings_of(context).frame_start + int(shot.keys.frames[0])
    head = root_at(context, armature, frame)
    return None if head is None else (frame, head)


def place_in_world(context: bpy.types.Context, armature, action, anchor=None) -> None:
    """Put a shot that follows a path or meets keys where the engine placed it.

    Retargeting starts every take over the rig's rest place (``core/retarget/grounding``),
    but a path and keys are places in the scene. With keys, the root goes back to where it
    stood at the first keyed frame (``anchor``: the legs' scale of the take and the rig
    differ, so anchoring at the key keeps it within the pose's own error); with a path
    only, the take's own start (its first root, dataset frame, times the retargeting's
    scale, from the armature) is where the root belongs. The root bone's location keys move
    by the constant horizontal difference.
    """
    root = _root_bone(context, armature)
    if root is None:
        return
    keyframes.assign_action(armature, action)
    if anchor is not None:
        frame, wanted = anchor
    else:
        record = take_record.take_joints(action)
        index = canonical_joint_indices(record["joint_names"]).get("SpineBase")
        if index is None:
            return
        scale = float(action.get(take_record.TAKE_KEY, {}).get("scale", 1.0))
        frame = round(action.frame_range[0])
        wanted = dataset_to_blender(record["joints"][0, index]) * scale
    head = root_at(context, armature, frame)
    delta_world = np.array([wanted[0] - head[0], wanted[1] - head[1], 0.0])
    # World → armature → the root bone's rest frame (its pose location's axes).
    to_armature = np.linalg.inv(np.array(armature.matrix_world)[:3, :3])
    rest = np.array(armature.data.bones[root].matrix_local)[:3, :3]
    delta_local = np.linalg.solve(rest, to_armature @ delta_world)
    path = f'pose.bones["{root}"].location'
    for fcurve in _fcurves(action):
        if fcurve.data_path == path:
            co = np.empty(2 * len(fcurve.keyframe_points))
            fcurve.keyframe_points.foreach_get("co", co)
            co[1::2] += delta_local[fcurve.array_index]
            fcurve.keyframe_points.foreach_set("co", co)
            fcurve.update()


def place_markers(scene: bpy.types.Scene, starts) -> None:
    """One marker per segment start, named after its action (a marker already at that frame
    with that name is reused, so composing again does not pile them up)."""
    for frame, _length, label in starts:
        existing = [m for m in scene.timeline_markers if m.frame == frame and m.name == label]
        if not existing:
            scene.timeline_markers.new(label, frame=frame)


def segment_strips(armature, action, starts, step: float) -> None:
    """One NLA track, a strip per segment playing its part of the Action; the Action then
    leaves the active slot, so the strips are what plays."""
    animation = armature.animation_data or armature.animation_data_create()
    track = animation.nla_tracks.new()
    track.name = action.name
    for k, (frame, length, label) in enumerate(starts):
        strip = track.strips.new(f"{k + 1:02d} {label}", int(frame), action)
        strip.action_frame_start = frame
        strip.action_frame_end = frame + max(1.0, length * step)
        strip.frame_start, strip.frame_end = frame, frame + max(1.0, length * step)
    animation.action = None
