"""The sidebar panel: 3D View ▸ N ▸ Kinetic-GAN."""

from __future__ import annotations

import bpy


class KGAN_UL_takes(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop, index=0):
        row = layout.row(align=True)
        row.label(text=item.name, icon="ACTION")
        row.operator("kinetic_gan.take_apply", text="", icon="PLAY").index = index
        row.operator("kinetic_gan.take_delete", text="", icon="TRASH").index = index


class _Sidebar:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Kinetic-GAN"


class KGAN_PT_main(_Sidebar, bpy.types.Panel):
    bl_label = "Kinetic-GAN"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        layout = self.layout
        row = layout.row(align=True)
        row.prop(settings, "address", text="")
        row.operator("kinetic_gan.connect", text="", icon="FILE_REFRESH")
        # The state and its details on rows of their own: side by side, the sidebar's default
        # width truncated both ("Connec… 0.1.0 · 1 mod…").
        layout.prop(settings, "status", text="", emboss=False)
        if settings.status_text:
            layout.label(text=settings.status_text)

        col = layout.column()
        # No label: the model's name is long ("deepmimic15-mlp4") and its icon says what it is.
        col.prop_search(settings, "model", settings, "models", text="",
                        icon="OUTLINER_OB_ARMATURE")
        col.prop_search(settings, "action", settings, "classes", icon="ACTION")
        col.prop(settings, "count")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.operator("kinetic_gan.randomize_seed", text="", icon="FILE_REFRESH")
        row = col.row(align=True)
        row.prop(settings, "use_truncation", text="")
        sub = row.row()
        sub.active = settings.use_truncation
        sub.prop(settings, "truncation", slider=True)
        col.prop(settings, "vary_noise")

        row = layout.row()
        row.scale_y = 1.5
        row.enabled = not settings.busy
        row.operator("kinetic_gan.generate", icon="PLAY")


class KGAN_PT_target(_Sidebar, bpy.types.Panel):
    bl_label = "Target"
    bl_parent_id = "KGAN_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        layout = self.layout
        row = layout.row(align=True)
        row.prop(settings, "target", text="")
        row.operator("kinetic_gan.add_character", text="", icon="ARMATURE_DATA")
        row = layout.row(align=True)
        row.prop(settings, "bone_map", text="Map")
        row.operator("kinetic_gan.bone_map_save", text="", icon="FILE_TICK")
        if settings.bone_map == "FILE":
            layout.prop(settings, "bone_map_file", text="")
        layout.operator("kinetic_gan.sample_walk", icon="MOD_ARMATURE")


class KGAN_PT_options(_Sidebar, bpy.types.Panel):
    bl_label = "Options"
    bl_parent_id = "KGAN_PT_main"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a plain set)

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        col = self.layout.column()
        col.prop(settings, "in_place")
        col.prop(settings, "snap_to_floor")
        col.prop(settings, "smoothing")
        col.prop(settings, "frame_start")
        col.prop(settings, "match_fps")
        col.prop(settings, "push_to_nla")


class KGAN_PT_cleanup(_Sidebar, bpy.types.Panel):
    bl_label = "Cleanup"
    bl_parent_id = "KGAN_PT_main"

    def draw_header(self, context: bpy.types.Context) -> None:
        self.layout.prop(context.scene.kinetic_gan, "use_cleanup", text="")

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        col = self.layout.column()
        col.active = settings.use_cleanup
        col.prop(settings, "cleanup_filter")
        col.prop(settings, "cleanup_bones")
        col.prop(settings, "cleanup_feet")


class KGAN_PT_takes(_Sidebar, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "KGAN_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.kinetic_gan
        layout = self.layout
        layout.template_list(
            "KGAN_UL_takes", "", settings, "takes", settings, "active_take", rows=3
        )
        if 0 <= settings.active_take < len(settings.takes):
            row = layout.row(align=True)
            for fmt, label in (("BVH", "BVH"), ("FBX", "FBX"), ("NPZ", "Joints")):
                op = row.operator("kinetic_gan.take_export", text=label, icon="EXPORT")
                op.index, op.format = settings.active_take, fmt


classes = (
    KGAN_UL_takes, KGAN_PT_main, KGAN_PT_target, KGAN_PT_cleanup, KGAN_PT_options, KGAN_PT_takes,
)
