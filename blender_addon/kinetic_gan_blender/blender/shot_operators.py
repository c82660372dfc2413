"""The Shot and Variations operators, thin: read the properties, call one function of
``shot`` or ``variations``, report. Compose and Variations run in the background as
Generate does (a modal timer polls the job; Esc or Cancel stops it)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty

from ..core.errors import reports_errors
from . import shot, variations
from .properties import settings_of


def _report_warnings(op: bpy.types.Operator, warnings: list[str]) -> None:
    for w in warnings:
        op.report({"WARNING"}, w)


class KGAN_OT_segment_add(bpy.types.Operator):
    """Add a segment to the shot (the chosen action, 90 frames)"""

    bl_idname = "kinetic_gan.segment_add"
    bl_label = "Add Segment"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context)
        shot_settings = settings.shot
        item = shot_settings.segments.add()
        item.action = settings.action or (settings.classes[0].name if settings.classes else "")
        shot_settings.active_segment = len(shot_settings.segments) - 1
        return {"FINISHED"}


class KGAN_OT_segment_remove(bpy.types.Operator):
    """Remove the active segment"""

    bl_idname = "kinetic_gan.segment_remove"
    bl_label = "Remove Segment"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return len(settings_of(context).shot.segments) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        s = settings_of(context).shot
        s.segments.remove(s.active_segment)
        s.active_segment = max(0, min(s.active_segment, len(s.segments) - 1))
        return {"FINISHED"}


class KGAN_OT_segment_move(bpy.types.Operator):
    """Move the active segment up or down"""

    bl_idname = "kinetic_gan.segment_move"
    bl_label = "Move Segment"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    direction: EnumProperty(items=[("UP", "Up", ""), ("DOWN", "Down", "")])

    def execute(self, context: bpy.types.Context) -> set[str]:
        s = settings_of(context).shot
        i = s.active_segment
        j = i - 1 if self.direction == "UP" else i + 1
        if 0 <= j < len(s.segments):
            s.segments.move(i, j)
            s.active_segment = j
        return {"FINISHED"}


class _Background:
    """A job on a thread, polled by a timer: ``_start`` makes it, ``_land`` applies it."""

    _job = None
    _timer = None
    _what = "working"
    # The Cancel button's key for this job (not bl_idname: on an instance Blender spells it
    # KINETIC_GAN_OT_compose).
    _cancel_key = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not settings_of(context).busy

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking path, for scripts and background mode (no event loop there)."""
        job = self._start(context)
        try:
            job.wait()
            self._report(context, job, self._land(context, job))
        finally:
            settings_of(context).busy = False
        return {"FINISHED"}

    @reports_errors
    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        _cancel_requested.pop(self._cancel_key, None)  # a Cancel pressed while nothing ran
        self._job = self._start(context)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set(f"Kinetic-GAN: {self._what}… (Esc cancels)")
        return {"RUNNING_MODAL"}

    @reports_errors
    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if event.type == "ESC" or _cancel_requested.pop(self._cancel_key, False):
            self._finish(context)
            job.cancel()
            settings_of(context).busy = False
            self.report({"WARNING"}, f"{self.bl_label} cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER" or not job.done:
            return {"PASS_THROUGH"}
        self._finish(context)
        self._report(context, job, self._land(context, job))
        return {"FINISHED"}

    def _finish(self, context: bpy.types.Context) -> None:
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)

    def _report(self, context, job, warnings: list[str]) -> None:
        _report_warnings(self, warnings)
        self.report({"INFO"}, f"{self.bl_label}: done in {job.elapsed:.2f} s")


_cancel_requested: dict[str, bool] = {}


class KGAN_OT_compose(_Background, bpy.types.Operator):
    """Compose the shot's segments into one take on the target (Esc cancels)"""

    bl_idname = "kinetic_gan.compose"
    bl_label = "Compose"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    _what = "composing the shot"
    _cancel_key = "compose"

    def _start(self, context):
        return shot.start_compose(context)

    def _land(self, context, job):
        return shot.apply_compose(context, job)


class KGAN_OT_variations(_Background, bpy.types.Operator):
    """Make N takes of the current request and show them side by side as ghosts"""

    bl_idname = "kinetic_gan.variations"
    bl_label = "Variations"
    bl_options = {"REGISTER"}  # noqa: RUF012 (ghosts are temporary: not an undo step)
    _what = "making variations"
    _cancel_key = "variations"

    def _start(self, context):
        return variations.start_variations(context)

    def _land(self, context, job):
        return variations.show_variations(context, job)


class KGAN_OT_cancel(bpy.types.Operator):
    """Cancel the running Compose or Variations"""

    bl_idname = "kinetic_gan.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[str]:
        for key in ("compose", "variations"):
            _cancel_requested[key] = True
        return {"FINISHED"}


class KGAN_OT_variation_use(bpy.types.Operator):
    """Keep this variation on the target and remove the others"""

    bl_idname = "kinetic_gan.variation_use"
    bl_label = "Use Variation"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)
    index: IntProperty()

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        action = variations.use_variation(context, self.index)
        self.report({"INFO"}, f"Kept {action.name} on the target")
        return {"FINISHED"}


class KGAN_OT_variations_clear(bpy.types.Operator):
    """Remove every variation ghost"""

    bl_idname = "kinetic_gan.variations_clear"
    bl_label = "Clear Variations"

    def execute(self, context: bpy.types.Context) -> set[str]:
        variations.remove_ghosts(context)
        return {"FINISHED"}


class KGAN_OT_blend(bpy.types.Operator):
    """Regenerate the target from variations A and B's codes interpolated by the slider"""

    bl_idname = "kinetic_gan.blend"
    bl_label = "Blend Two"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a plain set)

    @reports_errors
    def execute(self, context: bpy.types.Context) -> set[str]:
        action = variations.blend_now(context)
        self.report({"INFO"}, f"Blended onto {action.name}")
        return {"FINISHED"}


classes = (
    KGAN_OT_segment_add, KGAN_OT_segment_remove, KGAN_OT_segment_move, KGAN_OT_compose,
    KGAN_OT_variations, KGAN_OT_cancel, KGAN_OT_variation_use, KGAN_OT_variations_clear,
    KGAN_OT_blend,
)
