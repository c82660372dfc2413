"""The stage the takes are filmed on: floor, backdrop, three-point light, camera, captions.

Thin bpy glue; where things go is decided in ``framing``. Workbench ignores scene lights:
it uses its studio lighting and a shadow direction given relative to the view, whose
default (light above, right of and behind the camera) matches where our key light stands.
"""

from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import framing

FLOOR_SIZE = 400.0  # metres: the floor runs to the horizon
FLOOR_COLOR = (0.85, 0.85, 0.87, 1.0)
BACKDROP_COLOR = (0.80, 0.82, 0.86)
CAPTION_COLOR = (0.04, 0.05, 0.07, 1.0)
CAPTION_HEIGHT = 0.05  # fraction of the image height
CAPTION_DEPTH = 1.0  # metres in front of the camera: nearer than any character
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
        self.captions: list[bpy.types.Object] = []
        self._workbench()

    # ---------------------------------------------------------------- building

    def _floor(self) -> bpy.types.Object:
        half = FLOOR_SIZE / 2
        mesh = bpy.data.meshes.new("KGAN_Floor")
        mesh.from_pydata(
            [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)],
            [], [(0, 1, 2, 3)],
        )  # fmt: skip
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
        data.clip_start, data.clip_end = 0.05, FLOOR_SIZE
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
        self,
        points: np.ndarray,
        captions: Sequence[tuple[str, np.ndarray]],
        margins: framing.Margins | None = None,
    ) -> framing.CameraPose:
        """Aim the camera so every point is in frame, light the subject, caption each take.

        ``captions``: (text, floor point under the take) pairs.
        """
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
        self._captions(pose, captions)
        return pose

    def _captions(
        self, pose: framing.CameraPose, captions: Sequence[tuple[str, np.ndarray]]
    ) -> None:
        while len(self.captions) > len(captions):
            obj = self.captions.pop()
            curve = obj.data
            bpy.data.objects.remove(obj)
            bpy.data.curves.remove(curve)
        material = _material("KGAN_Caption", CAPTION_COLOR)
        # Text height in camera space at CAPTION_DEPTH that is CAPTION_HEIGHT of the image.
        size = 2 * CAPTION_HEIGHT * pose.tan_half_y * CAPTION_DEPTH
        for i, (text, floor_point) in enumerate(captions):
            if i == len(self.captions):
                curve = bpy.data.curves.new(f"KGAN_Caption_{i}", type="FONT")
                curve.align_x, curve.align_y = "CENTER", "CENTER"
                curve.materials.append(material)
                obj = _link(self.scene, bpy.data.objects.new(f"KGAN_Caption_{i}", curve))
                obj.parent = self.camera
                obj.visible_shadow = False
                self.captions.append(obj)
            obj = self.captions[i]
            obj.data.body = text
            obj.data.size = size
            uv = framing.caption_anchor(pose, floor_point, CAPTION_HEIGHT)
            obj.matrix_parent_inverse = Matrix.Identity(4)
            obj.location = Vector(pose.camera_space(uv, CAPTION_DEPTH)[0].tolist())
            obj.rotation_euler = (0.0, 0.0, 0.0)
