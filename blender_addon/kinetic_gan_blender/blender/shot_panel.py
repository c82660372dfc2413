"""The Shot and Variations subpanels (3D View ▸ N ▸ Kinetic-GAN ▸ Shot / Variations)."""

from __future__ import annotations

import bpy

from .panel import _Sidebar
from .shot import model_fps


class KGAN_UL_segments(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0):
        # Read-only and short, so it never truncates; the active one is edited below the list.
        unit = "s" if item.unit == "SECONDS" else "fr"
        length = f"{item.length:g}"
        layout.label(text=f"{index + 1}. {item.action or '(no action)'} · {length} {unit}",
                     icon="ACTION")


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
        if 0 <= shot.active_segment < len(shot.segments):
            item = shot.segments[shot.active_segment]
            layout.prop_search(item, "action", settings, "classes", text="", icon="ACTION")
            row = layout.row(align=True)
            row.prop(item, "length", text="Length")
            row.prop(item, "unit", text="", icon_only=True)
        fps = model_fps(settings)
        frames = sum(round(s.length * fps) if s.unit == "SECONDS" else round(s.length)
                     for s in shot.segments)
        layout.label(text=f"{frames} frames · {frames / fps:.1f} s at {fps:g} fps")
        col = layout.column()
        col.prop(shot, "loop")
        # Each option's details on a row of their own, shown when it is on: side by side, the
        # sidebar's default width left the curve picker a few pixels wide.
        col.prop(shot, "follow_curve")
        if shot.follow_curve:
            col.prop(shot, "curve", text="", icon="CURVE_DATA")
        col.prop(shot, "keep_keys")
        if shot.keep_keys:
            col.prop(shot, "key_frames", text="", icon="KEYFRAME")  # a label truncates
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
