"""The Shot and Variations subpanels (3D View ▸ N ▸ Kinetic-GAN ▸ Shot / Variations)."""

from __future__ import annotations

import bpy

from .panel import _Sidebar
from .shot import model_fps


class KGAN_UL_segments(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0):
        settings = context.scene.kinetic_gan
        row = layout.row(align=True)
        row.prop_search(item, "action", settings, "classes", text="", icon="ACTION")
        row.prop(item, "length", text="")
        row.prop(item, "unit", text="")


class KGAN_UL_variations(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0):
        row = layout.row(align=True)
        row.label(text=f"{index}: {item.name}", icon="GHOST_ENABLED")
        row.operator("kinetic_gan.variation_use", text="Use").index = index


class KGAN_PT_shot(_Sidebar, bpy.types.Panel):
    bl_label = "Shot"
    bl_parent_id = "KGAN_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        shot = settings.shot
        layout = self.layout
        row = layout.row()
        row.template_list("KGAN_UL_segments", "", shot, "segments", shot, "active_segment",
                          rows=3)
        col = row.column(align=True)
        col.operator("kinetic_gan.segment_add", text="", icon="ADD")
        col.operator("kinetic_gan.segment_remove", text="", icon="REMOVE")
        col.separator()
        col.operator("kinetic_gan.segment_move", text="", icon="TRIA_UP").direction = "UP"
        col.operator("kinetic_gan.segment_move", text="", icon="TRIA_DOWN").direction = "DOWN"
        fps = model_fps(settings)
        frames = sum(round(s.length * fps) if s.unit == "SECONDS" else round(s.length)
                     for s in shot.segments)
        layout.label(text=f"{frames} frames · {frames / fps:.1f} s at {fps:g} fps")
        col = layout.column()
        col.prop(shot, "loop")
        row = col.row(align=True)
        row.prop(shot, "follow_curve", text="")
        sub = row.row()
        sub.active = shot.follow_curve
        sub.prop(shot, "curve", text="Curve")
        row = col.row(align=True)
        row.prop(shot, "keep_keys", text="Keep Keys")
        sub = row.row()
        sub.active = shot.keep_keys
        sub.prop(shot, "key_frames", text="")
        col.prop(shot, "nla_strips")
        row = layout.row(align=True)
        row.scale_y = 1.5
        sub = row.row(align=True)
        sub.enabled = not settings.busy
        sub.operator("kinetic_gan.compose", icon="SEQUENCE")
        if settings.busy:
            row.operator("kinetic_gan.cancel", text="", icon="CANCEL")


class KGAN_PT_variations(_Sidebar, bpy.types.Panel):
    bl_label = "Variations"
    bl_parent_id = "KGAN_PT_main"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a plain set)

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        shot = settings.shot
        layout = self.layout
        row = layout.row(align=True)
        row.prop(shot, "variations", text="N")
        sub = row.row(align=True)
        sub.enabled = not settings.busy
        sub.operator("kinetic_gan.variations", text="Show", icon="GHOST_ENABLED")
        row.operator("kinetic_gan.variations_clear", text="", icon="X")
        layout.template_list("KGAN_UL_variations", "", shot, "shown", shot, "active_shown",
                             rows=3)
        box = layout.box()
        box.label(text="Blend Two")
        row = box.row(align=True)
        row.prop(shot, "blend_a")
        row.prop(shot, "blend_b")
        row = box.row(align=True)
        row.prop(shot, "blend", slider=True)
        row.prop(shot, "blend_live", text="", icon="REC")
        box.operator("kinetic_gan.blend", icon="IPO_EASE_IN_OUT")


classes = (KGAN_UL_segments, KGAN_UL_variations, KGAN_PT_shot, KGAN_PT_variations)
