"""The stage the takes are filmed on: floor, backdrop, three-point light, camera, caption.

Thin bpy glue; where things go is decided in ``framing``, the floor's shape in ``floor``
and the caption's words in ``captions``. Workbench ignores scene lights: it draws one
shadow from ``scene.display.light_direction`` (world space), pointed at our key light.
"""

from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np
from mathutils import Matrix

from ...core.render import captions, framing
from ...core.render.floor import (
    FloorMesh,
    checker_slab,
    contrast_level,
    level_colors,
    tile_contrast,
)

FLOOR_SIZE = 100.0  # metres: to the horizon; far larger slabs break Workbench shadows
FLOOR_TILE = 1.0  # metres: a stride or two per tile, so steps and travel read at a glance
# Two close greys: enough to read motion against, too little to fight the character.
FLOOR_COLORS = ((0.93, 0.93, 0.94, 1.0), (0.85, 0.86, 0.88, 1.0))
BACKDROP_COLOR = (0.80, 0.82, 0.86)
CAPTION_COLOR = (0.97, 0.97, 0.98, 1.0)
CAPTION_BACKGROUND = (0.08, 0.09, 0.12, 0.55)
KEY_WATTS_PER_M2 = 60.0  # area-light power per square metre of distance (EEVEE / Cycles)


def _material(name: str, color: Sequence[float]) -> bpy.types.Material:
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = tuple(color)
    material.roughness = 0.8
    if material.use_nodes and material.node_tree is not None:  # EEVEE / Cycles read nodes
        shader = material.node_tree.nodes.get("Principled BSDF")
        if shader is not None:
            shader.inputs["Base Color"].default_value = tuple(color)
            shader.inputs["Roughness"].default_value = 0.8
    return material


def _link(scene: bpy.types.Scene, obj: bpy.types.Object) -> bpy.types.Object:
    scene.collection.objects.link(obj)
    return obj


def _set_matrix(obj: bpy.types.Object, location: np.ndarray, rotation: np.ndarray) -> None:
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = location
    obj.matrix_world = Matrix(m.tolist())


class Studio:
    """Creates the stage in ``scene`` once; :meth:`frame` aims it at each shot."""

    def __init__(self, scene: bpy.types.Scene, view: framing.View) -> None:
        self.scene = scene
        self.view = view
        self.floor_shape = checker_slab(FLOOR_SIZE, FLOOR_TILE)
        self.floor = self._floor(self.floor_shape)
        self._backdrop()
        self.camera = self._camera()
        self.lights = {
            p.name: self._light(p.name, p.size) for p in framing.three_point_lights(
                np.zeros(3), view, 5.0
            )
        }
        self._workbench()

    # ---------------------------------------------------------------- building

    def _floor(self, shape: FloorMesh) -> bpy.types.Object:
        mesh = bpy.data.meshes.new("KGAN_Floor")
        mesh.from_pydata(shape.vertices.tolist(), [], shape.faces)
        # Both tile colours at every contrast level; :meth:`frame` picks each tile's.
        for k, color in enumerate(level_colors(FLOOR_COLORS)):
            mesh.materials.append(_material(f"KGAN_Floor_{k}", color))
        mesh.polygons.foreach_set("material_index", shape.tile_parity.astype(np.int32))
        mesh.update()
        floor = _link(self.scene, bpy.data.objects.new("KGAN_Floor", mesh))
        # It still receives the character's shadow, but casts none: the floor's 10,000
        # faces were most of Workbench's shadow-volume work (a take 2-3x slower).
        floor.display.show_shadows = False
        return floor

    def _backdrop(self) -> None:
        world = self.scene.world or bpy.data.worlds.new("KGAN_World")
        self.scene.world = world
        world.color = BACKDROP_COLOR  # Workbench's background
        if hasattr(world, "use_nodes"):
            world.use_nodes = True
        tree = world.node_tree
        if tree is not None:  # EEVEE / Cycles: a soft, even sky that fills the shadows a bit
            background = next((n for n in tree.nodes if n.type == "BACKGROUND"), None)
            if background is None:
                background = tree.nodes.new("ShaderNodeBackground")
                output = next((n for n in tree.nodes if n.type == "OUTPUT_WORLD"), None)
                output = output or tree.nodes.new("ShaderNodeOutputWorld")
                tree.links.new(background.outputs[0], output.inputs[0])
            background.inputs[0].default_value = (*BACKDROP_COLOR, 1.0)
            background.inputs[1].default_value = 0.35

    def _camera(self) -> bpy.types.Object:
        data = bpy.data.cameras.new("KGAN_Camera")
        data.sensor_fit = "HORIZONTAL"
        data.angle = np.radians(self.view.fov_x_deg)
        data.clip_start, data.clip_end = 0.05, 2 * FLOOR_SIZE
        camera = _link(self.scene, bpy.data.objects.new("KGAN_Camera", data))
        self.scene.camera = camera
        return camera

    def _light(self, name: str, size: float) -> bpy.types.Object:
        data = bpy.data.lights.new(f"KGAN_{name}", type="AREA")
        data.shape = "DISK"
        data.size = size
        return _link(self.scene, bpy.data.objects.new(f"KGAN_{name}", data))

    def _workbench(self) -> None:
        shading = self.scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "MATERIAL"
        shading.show_shadows = True  # the character's shadow grounds it
        shading.shadow_intensity = 0.55
        # World-space cavity is sampled noise, smooth only once several anti-aliasing
        # samples average it: with one sample (the default) it speckles the whole frame.
        shading.show_cavity = self.scene.display.render_aa not in ("OFF", "FXAA")
        shading.cavity_type = "WORLD"
        shading.show_specular_highlight = False
        self.scene.display.shadow_focus = 0.6  # a soft edge, as from a large key light

    # ---------------------------------------------------------------- aiming

    def frame(
        self, points: np.ndarray, caption: str, margins: framing.Margins | None = None
    ) -> framing.CameraPose:
        """Aim the camera so every point is in frame, light the subject, set the caption."""
        pose = framing.frame_points(points, self.view, margins or framing.Margins())
        _set_matrix(self.camera, pose.location, pose.matrix)
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        target = (pts.min(axis=0) + pts.max(axis=0)) / 2
        distance = float(np.linalg.norm(pose.location - target))
        for placement in framing.three_point_lights(target, self.view, distance):
            light = self.lights[placement.name]
            _set_matrix(light, placement.location, placement.matrix)
            light.data.size = placement.size * max(1.0, distance / 5.0)
            light.data.energy = KEY_WATTS_PER_M2 * distance**2 * placement.power
        to_key = framing.key_light_direction(self.view)
        self.scene.display.light_direction = framing.workbench_light_setting(to_key)
        self._fade_far_tiles(pose)
        self._caption(caption)
        return pose

    def _fade_far_tiles(self, pose: framing.CameraPose) -> None:
        """Give each tile the contrast its size on screen can show (``floor.tile_contrast``)."""
        shape, render = self.floor_shape, self.scene.render
        contrast = tile_contrast(shape, pose, render.resolution_x, render.resolution_y)
        index = shape.tile_parity.astype(np.int32)  # the slab's other faces keep 0
        index[: shape.tile_count] += 2 * contrast_level(contrast)
        mesh = self.floor.data
        mesh.polygons.foreach_set("material_index", index)
        mesh.update()

    def _caption(self, text: str) -> None:
        # Burnt in by the render pipeline (any engine). Text objects in the scene would
        # cast Workbench's stencil shadows across the floor.
        render = self.scene.render
        for name in render.bl_rna.properties.keys():  # noqa: SIM118 (an RNA collection)
            if name.startswith("use_stamp_"):
                setattr(render, name, False)
        render.use_stamp = True
        render.use_stamp_note = True
        render.stamp_note_text = text
        render.stamp_font_size = captions.font_size(text, render.resolution_x, render.resolution_y)
        render.stamp_foreground = CAPTION_COLOR
        render.stamp_background = CAPTION_BACKGROUND
