"""The stage the takes are filmed on: floor, backdrop, three-point light, camera, caption.

Thin bpy glue; where things go is decided in ``framing``. Workbench ignores scene lights:
it uses its studio lighting and a shadow direction given relative to the view, whose
default (light above, right of and behind the camera) matches where our key light stands.
"""

from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np
from mathutils import Matrix

from . import framing

FLOOR_SIZE = 100.0  # metres: to the horizon; far larger slabs break Workbench shadows
FLOOR_COLOR = (0.85, 0.85, 0.87, 1.0)
BACKDROP_COLOR = (0.80, 0.82, 0.86)
CAPTION_COLOR = (0.97, 0.97, 0.98, 1.0)
CAPTION_BACKGROUND = (0.08, 0.09, 0.12, 0.55)
CAPTION_HEIGHT = 0.04  # font size as a fraction of the image height
KEY_WATTS_PER_M2 = 60.0  # area-light power per square metre of distance (EEVEE / Cycles)


def _material(name: str, color: Sequence[float]) -> bpy.types.Material:
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = tuple(color)
    material.roughness = 0.8
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
        self.floor = self._floor()
        self._backdrop()
        self.camera = self._camera()
        self.lights = {
            p.name: self._light(p.name, p.size) for p in framing.three_point_lights(
                np.zeros(3), view, 5.0
            )
        }  # fmt: skip
        self._workbench()

    # ---------------------------------------------------------------- building

    def _floor(self) -> bpy.types.Object:
        # A closed slab, top face at z = 0: Workbench's stencil shadows need closed
        # shapes, and a lone plane casts a dark wedge across the picture.
        half, depth = FLOOR_SIZE / 2, 0.5
        verts = [(x, y, z) for z in (-depth, 0.0) for y in (-half, half) for x in (-half, half)]
        faces = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
        mesh = bpy.data.meshes.new("KGAN_Floor")
        mesh.from_pydata(verts, [], faces)
        mesh.materials.append(_material("KGAN_Floor", FLOOR_COLOR))
        return _link(self.scene, bpy.data.objects.new("KGAN_Floor", mesh))

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
        shading.show_shadows = True
        shading.shadow_intensity = 0.55
        shading.show_cavity = True
        shading.cavity_type = "WORLD"
        shading.show_specular_highlight = False
        self.scene.display.light_direction = (0.577, 0.577, 0.577)
        self.scene.display.shadow_focus = 0.3  # a little softness at the contact shadow's edge

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
        self._caption(caption)
        return pose

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
        render.stamp_font_size = max(12, round(render.resolution_y * CAPTION_HEIGHT))
        render.stamp_foreground = CAPTION_COLOR
        render.stamp_background = CAPTION_BACKGROUND
