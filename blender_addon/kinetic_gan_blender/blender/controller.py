"""What the panel's buttons do, as plain functions of the context (operators call one each).

Connect to a backend, start a generation and turn a finished one into takes on the target;
build the target, try it with the test walk, save its bone map. Tests and benchmarks call
these directly: modal operators and timers never run in background mode. Every problem the
artist can fix raises a ``KineticGanAddonError``; the operators report it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy

from ..core import cleanup, generation, motion_samples
from ..core.body import NTU_JOINTS, NTU_PARENTS
from ..core.errors import BackendFailure, KineticGanAddonError, UserError
from ..core.take_names import take_name
from ..vendor.records.request import GenerateRequest
from ..vendor.records.takes import Motion
from . import api, keyframes, preferences, takes
from .properties import fill_classes, settings_of


def backend_address(context: bpy.types.Context) -> str:
    prefs = preferences.get(context)
    address = settings_of(context).address.strip()
    return address or (prefs.default_address if prefs else preferences.DEFAULT_ADDRESS)


def _timeout(context: bpy.types.Context) -> float:
    prefs = preferences.get(context)
    return prefs.timeout_s if prefs else 2.0


def _curve(context: bpy.types.Context):
    prefs = preferences.get(context)
    if prefs is None or not (prefs.server_public_key and prefs.client_secret_key):
        return None
    from ..vendor.serve.client import CurveKeys

    try:
        return CurveKeys.from_files(
            bpy.path.abspath(prefs.server_public_key), bpy.path.abspath(prefs.client_secret_key)
        )
    except (OSError, ValueError) as exc:
        raise UserError(f"CurveZMQ keys: {exc}") from None


# ---------------------------------------------------------------------------- the backend


def connect(context: bpy.types.Context) -> str:
    """Ask the backend for its models; fills the pickers. Returns a status line."""
    settings = settings_of(context)
    address = backend_address(context)
    curve = _curve(context)
    try:
        info = generation.fetch_info(address, _timeout(context), curve)
    except Exception as exc:  # every failure becomes one line for a Blender report
        settings.status, settings.status_text = "ERROR", generation.describe_error(exc, address)
        raise BackendFailure(settings.status_text, getattr(exc, "code", None)) from None
    settings.models.clear()
    for m in info.get("models", []):
        item = settings.models.add()
        item.name, item.skeleton = m["name"], m.get("skeleton", "")
        item.fps, item.frames = float(m.get("fps", 30.0)), int(m.get("frames", 0))
        # Kept on the model's own item (saved with the scene), for the action picker.
        for i, class_name in enumerate(m.get("class_names", [])):
            entry = item.classes.add()
            entry.name, entry.index = class_name, i
    names = [m.name for m in settings.models]
    if settings.model not in names:
        settings.model = names[0] if names else ""
    fill_classes(settings)
    settings.status = "CONNECTED"
    settings.status_text = f"{info.get('server', 'server')} · {len(names)} model(s)"
    return f"Connected to {address}: {', '.join(names) or 'no models'}"


def start_generation(context: bpy.types.Context) -> generation.GenerationJob:
    settings = settings_of(context)
    if not settings.action.strip():
        raise UserError("Choose an action first (Connect fills the list)")
    request = generation.Request(
        address=backend_address(context),
        generate=GenerateRequest(
            action=settings.action.strip(),
            count=settings.count,
            seed=settings.seed,
            truncation=settings.truncation if settings.use_truncation else None,
            vary_noise=settings.vary_noise,
            model=settings.model or None,
        ),
        timeout_s=_timeout(context),
        curve=_curve(context),
    )
    settings.busy = True
    return generation.GenerationJob(request).start()


def cancel_generation(context: bpy.types.Context, job: generation.GenerationJob) -> None:
    job.cancel()
    settings_of(context).busy = False


def generate_now(context: bpy.types.Context) -> tuple[generation.GenerationJob, list[str]]:
    """Start, wait for and apply one generation (scripts and background mode have no event
    loop to poll from). Returns the job and the warnings to report."""
    job = start_generation(context)
    try:
        job.wait()
        return job, apply_generation(context, job)
    finally:
        settings_of(context).busy = False


def summary(job: generation.GenerationJob) -> str:
    return f"Generated {job.request.generate.count} take(s) in {job.elapsed:.2f} s"


def job_result(context: bpy.types.Context, job):
    """A finished background job's result (a generate's takes, a compose's shot).

    Raises ``BackendFailure`` (with the client's code) when the job failed; an unreachable
    backend is also left in the panel's status, so the artist sees it after the report.
    """
    settings = settings_of(context)
    settings.busy = False
    if job.error is not None:
        if job.error_code == generation.UNREACHABLE:
            settings.status, settings.status_text = "ERROR", job.error
        raise BackendFailure(job.error, job.error_code)
    return job.result


def apply_generation(context: bpy.types.Context, job: generation.GenerationJob) -> list[str]:
    """Turn a finished job into Actions on the target; returns warnings.

    Raises ``BackendFailure`` (with the client's code) when the job failed.
    """
    settings = settings_of(context)
    result = job_result(context, job)
    if result.units != "m":
        warnings = [f"model {result.model!r} has no metric calibration: units are {result.units}"]
    else:
        warnings = []
    armature = target_armature(context)
    if settings.match_fps:
        context.scene.render.fps, context.scene.render.fps_base = round(result.fps), 1.0
    options = take_options(settings)
    count = result.joints.shape[0]
    first = None
    for n in range(count):
        name = take_name(
            result.action, result.seed, result.truncation, f"_{n}" if count > 1 else ""
        )
        made = _make_take(
            armature, result.sample(n), name, options,
            metadata={"action": result.action, "seed": result.seed, "model": result.model,
                      "truncation": result.truncation, "sample": n,
                      "skeleton": result.skeleton},
        )
        warnings += [w for w in made.warnings if w not in warnings]
        take = settings.takes.add()
        take.name, take.action, take.armature = made.action.name, made.action, armature
        take.label, take.seed = result.action, result.seed
        take.truncation = -1.0 if result.truncation is None else result.truncation
        first = first or made.action
    if first is not None and not settings.push_to_nla:
        keyframes.assign_action(armature, first)
        context.scene.frame_start = settings.frame_start
        context.scene.frame_end = round(first.frame_range[1])
    settings.active_take = len(settings.takes) - 1
    return warnings


def take_options(settings) -> takes.TakeOptions:
    """The panel's settings as the take pipeline's options (its Cleanup toggles on by
    default: raw generated joints stretch, jitter and skate)."""
    return takes.TakeOptions(
        bone_map=bone_map_choice(settings), in_place=settings.in_place,
        snap_to_floor=settings.snap_to_floor, smoothing=settings.smoothing,
        frame_start=settings.frame_start, push_to_nla=settings.push_to_nla,
        cleanup=cleanup.steps_from_settings(settings),
    )


def _make_take(*args, **kwargs) -> takes.MadeTake:
    """``takes.make_take``, its plain ``ValueError`` (no armature, bad joints) reportable."""
    try:
        return takes.make_take(*args, **kwargs)
    except KineticGanAddonError:
        raise
    except ValueError as exc:
        raise UserError(str(exc)) from None


# ---------------------------------------------------------------------------- the target


def bone_map_choice(settings) -> str | None:
    if settings.bone_map == "AUTO":
        return None
    if settings.bone_map == "FILE":
        if not settings.bone_map_file:
            raise UserError("Bone Map is set to File but no file is chosen")
        return bpy.path.abspath(settings.bone_map_file)
    return settings.bone_map.lower()


def target_armature(context: bpy.types.Context) -> bpy.types.Object:
    """The chosen armature, or the built-in character (built once per scene)."""
    settings = settings_of(context)
    if settings.target is None:
        settings.target = api.build_default_character(context.scene)
    return settings.target


def add_character(context: bpy.types.Context) -> None:
    settings_of(context).target = api.build_default_character(context.scene)


def animate_test_walk(context: bpy.types.Context) -> list[str]:
    """Animate the target with the built-in walk (checks a bone map offline); warnings."""
    settings = settings_of(context)
    walk = Motion(
        joints=motion_samples.walk_cycle(64), fps=30.0, skeleton="ntu",
        joint_names=list(NTU_JOINTS), parents=list(NTU_PARENTS),
    )
    options = takes.TakeOptions(
        bone_map=bone_map_choice(settings), in_place=settings.in_place,
        snap_to_floor=settings.snap_to_floor, frame_start=settings.frame_start,
    )
    return _make_take(target_armature(context), walk, "test_walk", options).warnings


def save_bone_map(context: bpy.types.Context, filepath: str) -> str:
    """Save the bone map as the target resolves it, to ``filepath`` and on the rig; a line
    saying so."""
    settings = settings_of(context)
    armature = target_armature(context)
    # As animate resolves it: constraint-overridden bones avoided, the core checked.
    chosen, resolved = api.resolve_bone_map(armature, bone_map_choice(settings))
    saved = dataclasses.replace(
        chosen, name=Path(filepath).stem,
        bones={k: (v,) for k, v in resolved.mapping.items()},
        description=f"Resolved from {chosen.name} for {armature.name}",
    )
    try:
        saved.save(bpy.path.abspath(filepath))
    except OSError as exc:
        raise UserError(str(exc)) from None
    api.store_bone_map(armature, saved)
    return f"Saved {len(resolved.mapping)} bones to {filepath} and on {armature.name}"
