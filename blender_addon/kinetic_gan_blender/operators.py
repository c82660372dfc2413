"""Operators: thin bpy glue over ``generation``, ``api`` and ``bone_map``.

The work lives in plain functions (``start_generation``, ``apply_generation``, ``connect``)
that tests call directly; the modal operator only polls a timer and forwards Esc.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import api, bone_map, cleanup, generation, keyframes, motion_samples, preferences
from .body import NTU_JOINTS, NTU_PARENTS
from .vendor.records.request import GenerateRequest


class UserError(Exception):
    """A problem the artist can fix; becomes an ERROR report, never a traceback."""


def settings_of(context: bpy.types.Context):
    return context.scene.kinetic_gan


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
    from .vendor.serve.client import CurveKeys

    try:
        return CurveKeys.from_files(
            bpy.path.abspath(prefs.server_public_key), bpy.path.abspath(prefs.client_secret_key)
        )
    except (OSError, ValueError) as exc:
        raise UserError(f"CurveZMQ keys: {exc}") from None


def refresh_classes(settings) -> None:
    """Fill the action picker from the chosen model (kept when the class still exists)."""
    info = _INFO_CACHE.get(settings.as_pointer(), {})
    model = next((m for m in info.get("models", []) if m["name"] == settings.model), None)
    settings.classes.clear()
    for i, name in enumerate(model["class_names"] if model else []):
        item = settings.classes.add()
        item.name, item.index = name, i
    if model and settings.action not in model["class_names"]:
        settings.action = model["class_names"][0] if model["class_names"] else ""


# Last ``info`` per scene settings block: RNA collections hold names, the dict holds the rest.
_INFO_CACHE: dict[int, dict] = {}


def connect(context: bpy.types.Context) -> str:
    """Ask the backend for its models; fills the pickers. Returns a status line."""
    settings = settings_of(context)
    address = backend_address(context)
    try:
        info = generation.fetch_info(address, _timeout(context), _curve(context))
    except UserError:
        raise
    except Exception as exc:
        settings.status, settings.status_text = "ERROR", generation.describe_error(exc, address)
        raise UserError(settings.status_text) from None
    _INFO_CACHE[settings.as_pointer()] = info
    settings.models.clear()
    for m in info.get("models", []):
        item = settings.models.add()
        item.name, item.skeleton = m["name"], m.get("skeleton", "")
        item.fps, item.frames = float(m.get("fps", 30.0)), int(m.get("frames", 0))
    names = [m.name for m in settings.models]
    if settings.model not in names:
        settings.model = names[0] if names else ""
    refresh_classes(settings)
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


def _bone_map_choice(settings) -> str | None:
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


def apply_generation(context: bpy.types.Context, job: generation.GenerationJob) -> list[str]:
    """Turn a finished job into Actions on the target; returns warnings. Raises UserError."""
    settings = settings_of(context)
    settings.busy = False
    if job.error is not None:
        if "No backend" in job.error:
            settings.status, settings.status_text = "ERROR", job.error
        raise UserError(job.error)
    result = job.result
    if result.units != "m":
        warnings = [f"model {result.model!r} has no metric calibration: units are {result.units}"]
    else:
        warnings = []
    # The panel's Cleanup toggles (on by default): cleaned in place, or left raw with why.
    warnings += cleanup.clean_generation(result, settings)
    armature = target_armature(context)
    if settings.match_fps:
        context.scene.render.fps, context.scene.render.fps_base = round(result.fps), 1.0
    psi = "" if result.truncation is None else f"_psi{result.truncation:g}"
    first = None
    for n in range(result.joints.shape[0]):
        suffix = f"_{n}" if result.joints.shape[0] > 1 else ""
        name = f"{result.action}_s{result.seed}{psi}{suffix}"
        try:
            action = api.animate(
                armature, result.joints[n], result.joint_names, result.parents,
                fps=result.fps, name=name, bone_map=_bone_map_choice(settings),
                in_place=settings.in_place, snap_to_floor=settings.snap_to_floor,
                smoothing=settings.smoothing, frame_start=settings.frame_start,
                push_to_nla=settings.push_to_nla,
                metadata={"action": result.action, "seed": result.seed, "model": result.model,
                          "truncation": result.truncation, "sample": n,
                          "skeleton": result.skeleton, "cleanup": result.cleanup},
            )  # fmt: skip
        except (ValueError, bone_map.BoneMapError) as exc:
            raise UserError(str(exc)) from None
        warnings += [w for w in api.take_joints(action)["warnings"] if w not in warnings]
        take = settings.takes.add()
        take.name, take.action, take.armature = action.name, action, armature
        take.label, take.seed = result.action, result.seed
        take.truncation = -1.0 if result.truncation is None else result.truncation
        first = first or action
    if first is not None and not settings.push_to_nla:
        keyframes.assign_action(armature, first)
        context.scene.frame_start = settings.frame_start
        context.scene.frame_end = round(first.frame_range[1])
    settings.active_take = len(settings.takes) - 1
    return warnings


def _report_warnings(op: bpy.types.Operator, warnings: list[str]) -> None:
    for w in warnings:
        op.report({"WARNING"}, w)


class KGAN_OT_connect(bpy.types.Operator):
    """Ask the backend which models and actions it serves"""

    bl_idname = "kinetic_gan.connect"
    bl_label = "Connect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            self.report({"INFO"}, connect(context))
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class KGAN_OT_randomize_seed(bpy.types.Operator):
    """Pick a new random seed"""

    bl_idname = "kinetic_gan.randomize_seed"
    bl_label = "Random Seed"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings_of(context).seed = random.randrange(0, 2**31 - 1)
        return {"FINISHED"}


class KGAN_OT_generate(bpy.types.Operator):
    """Generate takes of the chosen action and keyframe them on the armature (Esc cancels)"""

    bl_idname = "kinetic_gan.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    _job: generation.GenerationJob | None = None
    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not settings_of(context).busy

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking path, for scripts and background mode (no event loop there)."""
        try:
            job = start_generation(context)
            job.wait()
            _report_warnings(self, apply_generation(context, job))
        except UserError as exc:
            settings_of(context).busy = False
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        count = job.request.generate.count
        self.report({"INFO"}, f"Generated {count} take(s) in {job.elapsed:.2f} s")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        try:
            self._job = start_generation(context)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set(
            f"Kinetic-GAN: generating {self._job.request.generate.action}… (Esc cancels)"
        )
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if event.type == "ESC":
            job.cancel()
            self._finish(context)
            settings_of(context).busy = False
            self.report({"WARNING"}, "Generation cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER" or not job.done:
            return {"PASS_THROUGH"}
        self._finish(context)
        try:
            _report_warnings(self, apply_generation(context, job))
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        count = job.request.generate.count
        self.report({"INFO"}, f"Generated {count} take(s) in {job.elapsed:.2f} s")
        return {"FINISHED"}

    def _finish(self, context: bpy.types.Context) -> None:
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)


class KGAN_OT_add_character(bpy.types.Operator):
    """Add the built-in character (an NTU-25 armature with a skinned body) and target it"""

    bl_idname = "kinetic_gan.add_character"
    bl_label = "Add Character"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings_of(context).target = api.build_default_character(context.scene)
        return {"FINISHED"}


class KGAN_OT_sample_walk(bpy.types.Operator):
    """Animate the armature with a built-in procedural walk (checks a bone map offline)"""

    bl_idname = "kinetic_gan.sample_walk"
    bl_label = "Test Walk"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context)
        try:
            armature = target_armature(context)
            action = api.animate(
                armature, motion_samples.walk_cycle(64), NTU_JOINTS, NTU_PARENTS,
                fps=30, name="test_walk", bone_map=_bone_map_choice(settings),
                in_place=settings.in_place, snap_to_floor=settings.snap_to_floor,
                frame_start=settings.frame_start,
            )  # fmt: skip
        except (UserError, ValueError, bone_map.BoneMapError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _report_warnings(self, api.take_joints(action)["warnings"])
        return {"FINISHED"}


def _take(context: bpy.types.Context, index: int):
    takes = settings_of(context).takes
    if not 0 <= index < len(takes):
        raise UserError(f"No take number {index}")
    take = takes[index]
    if take.action is None or take.armature is None:
        raise UserError(f"Take {take.name!r} lost its action or armature")
    return take


class KGAN_OT_take_apply(bpy.types.Operator):
    """Make this take the armature's active action"""

    bl_idname = "kinetic_gan.take_apply"
    bl_label = "Apply Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    index: IntProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            take = _take(context, self.index)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        keyframes.assign_action(take.armature, take.action)
        context.scene.frame_end = round(take.action.frame_range[1])
        return {"FINISHED"}


class KGAN_OT_take_delete(bpy.types.Operator):
    """Delete this take and its action"""

    bl_idname = "kinetic_gan.take_delete"
    bl_label = "Delete Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    index: IntProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context)
        if not 0 <= self.index < len(settings.takes):
            self.report({"ERROR"}, f"No take number {self.index}")
            return {"CANCELLED"}
        action = settings.takes[self.index].action
        settings.takes.remove(self.index)
        if action is not None:
            bpy.data.actions.remove(action)
        settings.active_take = min(settings.active_take, len(settings.takes) - 1)
        return {"FINISHED"}


class KGAN_OT_take_export(bpy.types.Operator):
    """Export this take as BVH, FBX or the raw joints (.npz)"""

    bl_idname = "kinetic_gan.take_export"
    bl_label = "Export Take"
    index: IntProperty()
    format: EnumProperty(
        items=[("BVH", "BVH", ""), ("FBX", "FBX", ""), ("NPZ", "Joints (.npz)", "")], name="Format"
    )
    filepath: StringProperty(subtype="FILE_PATH")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        try:
            take = _take(context, self.index)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.filepath = f"{bpy.path.clean_name(take.action.name)}.{self.format.lower()}"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            take = _take(context, self.index)
            path = export_take(take, self.format, bpy.path.abspath(self.filepath))
        except (UserError, OSError, RuntimeError, ValueError) as exc:
            self.report({"ERROR"}, f"Export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {path}")
        return {"FINISHED"}


def export_take(take, fmt: str, filepath: str) -> Path:
    path = Path(filepath).with_suffix(f".{fmt.lower()}")
    if fmt == "BVH":
        return api.export_bvh(take.armature, take.action, path)
    if fmt == "FBX":
        return api.export_fbx(take.armature, take.action, path)
    stored = api.take_joints(take.action)
    meta = stored["metadata"]
    return api.save_joints_npz(
        path, stored["joints"], joint_names=stored["joint_names"], parents=stored["parents"],
        fps=stored["fps"], class_names=[meta.get("action", "")], skeleton=meta.get("skeleton", ""),
        seed=meta.get("seed"), truncation=meta.get("truncation"), cleanup=meta.get("cleanup"),
    )  # fmt: skip


class KGAN_OT_bone_map_save(bpy.types.Operator):
    """Save the bone map as the target rig resolves it: as JSON to edit and reuse, and on the
    rig itself, where Auto finds it next time"""

    bl_idname = "kinetic_gan.bone_map_save"
    bl_label = "Save Bone Map"
    filepath: StringProperty(subtype="FILE_PATH", default="bone_map.json")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context)
        try:
            armature = target_armature(context)
            # As animate resolves it: constraint-overridden bones avoided, the core checked.
            chosen, resolved = api.resolve_bone_map(armature, _bone_map_choice(settings))
            saved = dataclasses.replace(
                chosen, name=Path(self.filepath).stem,
                bones={k: (v,) for k, v in resolved.mapping.items()},
                description=f"Resolved from {chosen.name} for {armature.name}",
            )  # fmt: skip
            saved.save(bpy.path.abspath(self.filepath))
            api.store_bone_map(armature, saved)
        except (UserError, OSError, bone_map.BoneMapError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved {len(resolved.mapping)} bones to {self.filepath} and "
                              f"on {armature.name}")
        return {"FINISHED"}


classes = (
    KGAN_OT_connect,
    KGAN_OT_randomize_seed,
    KGAN_OT_generate,
    KGAN_OT_add_character,
    KGAN_OT_sample_walk,
    KGAN_OT_take_apply,
    KGAN_OT_take_delete,
    KGAN_OT_take_export,
    KGAN_OT_bone_map_save,
)
