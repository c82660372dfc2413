"""Operators, thin as ``io_anim_bvh``'s: read the properties, call one function, report.

The work lives in ``controller`` and ``take_list``; an add-on error they raise becomes one
ERROR report through ``errors.reports_errors``. The modal operator only polls a timer and
forwards Esc.
"""

from __future__ import annotations

import random

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..core import generation
from ..core.errors import reports_errors
from . import controller, take_list
from .properties import settings_of


def _report_warnings(op: bpy.types.Operator, warnings: list[str]) -> None:
    for w in warnings:
        op.report({"WARNING"}, w)


class KGAN_OT_connect(bpy.types.Operator):
    """Ask the backend which models and actions it serves"""

    bl_idname = "kinetic_gan.connect"
    bl_label = "Connect"

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({"INFO"}, controller.connect(context))
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

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking path, for scripts and background mode (no event loop there)."""
        job, warnings = controller.generate_now(context)
        _report_warnings(self, warnings)
        self.report({"INFO"}, controller.summary(job))
        return {"FINISHED"}

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self._job = controller.start_generation(context)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set(
            f"Kinetic-GAN: generating {self._job.request.generate.action}… (Esc cancels)"
        )
        return {"RUNNING_MODAL"}

    @reports_errors
    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if event.type == "ESC":
            self._finish(context)
            controller.cancel_generation(context, job)
            self.report({"WARNING"}, "Generation cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER" or not job.done:
            return {"PASS_THROUGH"}
        self._finish(context)
        _report_warnings(self, controller.apply_generation(context, job))
        self.report({"INFO"}, controller.summary(job))
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
        controller.add_character(context)
        return {"FINISHED"}


class KGAN_OT_sample_walk(bpy.types.Operator):
    """Animate the armature with a built-in procedural walk (checks a bone map offline)"""

    bl_idname = "kinetic_gan.sample_walk"
    bl_label = "Test Walk"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        _report_warnings(self, controller.animate_test_walk(context))
        return {"FINISHED"}


class KGAN_OT_take_apply(bpy.types.Operator):
    """Make this take the armature's active action"""

    bl_idname = "kinetic_gan.take_apply"
    bl_label = "Apply Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    index: IntProperty()

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        take_list.apply_take(context, self.index)
        return {"FINISHED"}


class KGAN_OT_take_delete(bpy.types.Operator):
    """Delete this take and its action"""

    bl_idname = "kinetic_gan.take_delete"
    bl_label = "Delete Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    index: IntProperty()

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        take_list.delete_take(context, self.index)
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

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.filepath = take_list.default_file_name(context, self.index, self.format)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        path = take_list.export_take_at(context, self.index, self.format, self.filepath)
        self.report({"INFO"}, f"Wrote {path}")
        return {"FINISHED"}


class KGAN_OT_bone_map_save(bpy.types.Operator):
    """Save the bone map as the target rig resolves it: as JSON to edit and reuse, and on the
    rig itself, where Auto finds it next time"""

    bl_idname = "kinetic_gan.bone_map_save"
    bl_label = "Save Bone Map"
    filepath: StringProperty(subtype="FILE_PATH", default="bone_map.json")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({"INFO"}, controller.save_bone_map(context, self.filepath))
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
