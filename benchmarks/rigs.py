"""Retargeting onto rigs nobody here built, measured through the add-on's real path.

    python benchmarks/rigs.py [--rigs built-in,metarig,rigify,mixamo,mocapbank]
                              [--takes walk,cartwheel,generated,generated-raw]
                              [--stills docs/rigs]

Each take goes through ``api.animate`` (a thin wrapper of ``takes.make_take``, the pipeline
the panel and the batch renderer use) onto
each rig, and the posed rig, as Blender evaluates it (constraints included), is compared
with the input joints. Prints a Markdown table (docs/rigs.md holds its numbers):

- *bone direction*: per mapped bone and frame, the angle between the rig's segment (from
  the bone's head to the rig's position of its tail joint) and the input's (median / max);
- *trunk*: the worst angle, over frames, between the rig's and the input's trunk up
  (SpineBase → SpineShoulder) or hip line (right hip → left hip, ⟂ up);
- *feet*: in the frames where the input has a foot planted (lowest foot joint within 4 cm
  of its floor, ankle slower than 0.5 m/s), the rig's lowest foot joint over its floor (5th
  percentile of the take) minus the input's over theirs, in the performer's centimetres
  (rig distances ÷ the take's scale), max;
- *slide*: a planted foot's centre (between ankle and toe), horizontal travel per frame
  (mm), rig ÷ scale vs input;
- *flips*: frame-to-frame turns over 90° of any measured bone about its own axis, rig vs
  the input's own (see ``_input_flips``);
- *time*: ``api.animate`` wall time for the 64-frame take.

Rigify is measured on its deform bones (DEF-, what its mesh follows: the metarig's bones,
limbs split in halves), though the take keys its controls. Real rigs and
clips come from `kinetic-gan data fetch` (the bvhtoolbox sdist's Mixamo and MocapBank BVH
files, DeepMimic clips from pybullet); the generated take is the shipped
deepmimic15-mlp4 model's walk (seed 3, ψ 0.7), cleaned as the panel cleans it by default
("generated") and raw ("generated-raw").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "blender_addon"))

RIGS = ("built-in", "metarig", "rigify", "mixamo", "mocapbank")
TAKES = ("walk", "cartwheel", "generated", "generated-raw")
FRAMES, FPS = 64, 30
BVH_FILES = {"mixamo": "test_freebvh.bvh", "mocapbank": "test_mocapbank.bvh"}
# The preset each rig is measured with (Rigify: its DEF bones, see ``measure_map``).
MEASURE_PRESETS = {"built-in": "default", "metarig": "metarig", "rigify": "metarig",
                   "mixamo": "mixamo", "mocapbank": "mocapbank"}
# Where the input counts a foot as planted: within this of its floor, moving slower.
CONTACT_HEIGHT_M, CONTACT_SPEED_M_S = 0.04, 0.5
FOOT_JOINTS = {"L": ("AnkleLeft", "FootLeft"), "R": ("AnkleRight", "FootRight")}
# Pass marks of issue 14.
LIMITS = {"direction_median": 2.0, "trunk": 3.0, "feet_cm": 3.0, "flips": 0}


# ---------------------------------------------------------------------------------- takes


def ntu_skeleton() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The takes' joint names and parents (NTU RGB+D 25)."""
    from kinetic_gan_blender.core import body

    return body.NTU_JOINTS, body.NTU_PARENTS


def deepmimic_take(clip: str, frames: int = FRAMES, fps: int = FPS) -> np.ndarray:
    """(frames, 25, 3) NTU joints of a real DeepMimic clip, metres, dataset frame."""
    from kinetic_gan.data import deepmimic, fetch
    from kinetic_gan.data.build import clip_window

    folder = fetch.deepmimic_dir()
    if folder is None:
        raise SystemExit("DeepMimic clips not fetched: run `kinetic-gan data fetch`")
    loaded = deepmimic.load_clip(folder / "motions" / f"humanoid3d_{clip}.txt")
    return clip_window(loaded, 0.0, frames=frames, fps=fps)


def generated_take(action: str = "walk", seed: int = 3, cleaned: bool = True) -> np.ndarray:
    """(64, 25, 3) joints from the shipped model (CPU), cleaned as the panel does by
    default (``motion_cleanup``: low-pass, constant bones, planted feet) unless ``cleaned``
    is False."""
    from kinetic_gan import motion_cleanup
    from kinetic_gan.generate import generate
    from kinetic_gan.weights import load_generator

    generator = load_generator(ROOT / "weights" / "deepmimic15-mlp4", device="cpu")
    generated = generate(generator, action, count=1, seed=seed, truncation=0.7)
    joints = generated.joints[0]
    if cleaned:
        joints = motion_cleanup.clean_motion(joints, generated.fps, motion_cleanup.STEPS)
    return joints


def load_take(name: str) -> np.ndarray:
    if name.startswith("generated"):
        return generated_take(cleaned=name != "generated-raw")
    return deepmimic_take(name)


# ----------------------------------------------------------------------------------- rigs


def build_rig(bpy, name: str):
    """Build or import one rig into the current (empty) scene; returns the armature."""
    if name == "built-in":
        from kinetic_gan_blender.blender import api

        return api.build_default_character(bpy.context.scene)
    if name == "metarig":
        bpy.ops.preferences.addon_enable(module="rigify")  # it provides the metarig
        bpy.ops.object.armature_human_metarig_add()
        return bpy.context.active_object
    if name == "rigify":
        return build_rigify(bpy)
    return import_bvh(bpy, name)


def build_rigify(bpy):
    """A Rigify control rig generated from the human metarig (≈ 15–40 s)."""
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.active_object
    bpy.data.objects.remove(metarig)
    return rig


def import_bvh(bpy, name: str):
    """A third-party BVH skeleton through Blender's own importer (its clip as its action)."""
    from kinetic_gan.data import fetch

    folder = fetch.bvh_samples_dir()
    if folder is None:
        raise SystemExit("BVH samples not fetched: run `kinetic-gan data fetch`")
    bpy.ops.import_anim.bvh(filepath=str(folder / BVH_FILES[name]))
    return bpy.context.active_object


def measure_map(armature, rig: str) -> dict[str, str]:
    """Canonical bone → the rig bone whose pose is measured."""
    from kinetic_gan_blender.core import bone_map

    names = [b.name for b in armature.data.bones]
    preset = bone_map.load_bone_map(MEASURE_PRESETS[rig])
    if rig == "rigify":
        deform = {k: tuple(f"DEF-{n}" for n in v) for k, v in preset.bones.items()}
        preset = bone_map.BoneMap("rigify-deform", deform)
    return preset.resolve(names).mapping


# ------------------------------------------------------------------------------ measuring


@dataclass
class Quality:
    direction_median: float
    direction_max: float
    trunk: float
    feet_cm: float
    slide_mm: float
    input_slide_mm: float
    flips: int  # measured bones turning > 90° about their own axis from one frame to the next
    input_flips: int  # frames where the input turns a bone over by > 90° (``_input_flips``)
    seconds: float
    bones: int  # bones measured
    worst: str = ""  # the bone and frame of the largest direction error

    def passes(self) -> bool:
        return (
            self.direction_median <= LIMITS["direction_median"]
            and self.trunk <= LIMITS["trunk"]
            and self.feet_cm <= LIMITS["feet_cm"]
            and self.slide_mm <= self.input_slide_mm * 1.1 + 0.5
            and self.flips <= LIMITS["flips"] + self.input_flips
        )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                         1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _landmark_sources(mapping: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Joint → (rig bone, "head" | "tail"): a bone starting at the joint, else one ending."""
    from kinetic_gan_blender.core import body

    sources: dict[str, tuple[str, str]] = {}
    for bone in body.CANONICAL_BONES:
        if bone.name in mapping:
            sources.setdefault(bone.head[0], (mapping[bone.name], "head"))
    for bone in body.CANONICAL_BONES:
        if bone.name in mapping:
            sources.setdefault(bone.tail, (mapping[bone.name], "tail"))
    return sources


def posed_rig(bpy, armature, mapping: dict[str, str], frames: list[int]) -> dict:
    """World-space landmarks (T, joint) and bone matrices of the evaluated rig, + rest."""
    sources = _landmark_sources(mapping)
    bones = sorted(set(mapping.values()))
    scene = bpy.context.scene
    to_world = np.array(armature.matrix_world)
    rotate = to_world[:3, :3]

    def world(p: np.ndarray) -> np.ndarray:
        return p @ to_world[:3, :3].T + to_world[:3, 3]

    rest_bones = armature.data.bones
    rest = {j: world(np.array(getattr(rest_bones[b], f"{end}_local"))) for j, (b, end) in
            sources.items()}
    rest_heads = {b: world(np.array(rest_bones[b].head_local)) for b in bones}
    # World → the bone's rest frame, so a posed world matrix can carry rest vectors.
    rest_local = {b: (rotate @ np.array(rest_bones[b].matrix_local)[:3, :3]).T for b in bones}
    points = {j: [] for j in sources}
    heads = {b: [] for b in bones}
    matrices = {b: [] for b in bones}
    for frame in frames:
        scene.frame_set(frame)
        pose = armature.evaluated_get(bpy.context.evaluated_depsgraph_get()).pose.bones
        for j, (b, end) in sources.items():
            points[j].append(world(np.array(getattr(pose[b], end))))
        for b in bones:
            heads[b].append(world(np.array(pose[b].head)))
            matrices[b].append(rotate @ np.array(pose[b].matrix)[:3, :3])
    return {
        "points": {j: np.array(v) for j, v in points.items()},
        "heads": {b: np.array(v) for b, v in heads.items()},
        "matrices": {b: np.array(v) for b, v in matrices.items()},
        "rest": rest,
        "rest_heads": rest_heads,
        "rest_local": rest_local,
    }


def _twist_deg(m: np.ndarray) -> np.ndarray:
    """Frame-to-frame turn of each bone about its own Y axis (its roll), degrees."""
    relative = np.swapaxes(m[:-1], -1, -2) @ m[1:]
    # Twist about Y of the relative rotation: its quaternion's (w, y) part.
    w = np.sqrt(np.maximum(1 + np.trace(relative, axis1=-2, axis2=-1), 1e-12)) / 2
    y = (relative[..., 0, 2] - relative[..., 2, 0]) / (4 * w)
    return np.degrees(2 * np.abs(np.arctan2(y, w)))


def _input_flips(data: np.ndarray, index: dict[str, int], bone) -> int:
    """Frames where the input itself turns a bone over by more than 90°: its segment, or
    its first twist reference (⟂ the segment, where well defined: a 1.5 cm generated foot
    pointing up its own leg is not), jumps that far from the frame before."""
    segment = data[:, index[bone.tail]] - data[:, index[bone.head[0]]]
    flips = _angle_deg(segment[1:], segment[:-1]) > 90
    reference = next((r for r in bone.references if all(j in index for j in r.joints)), None)
    if reference is not None:
        p = [data[:, index[j]] for j in reference.joints]
        target = np.cross(p[1] - p[0], p[2] - p[1]) if reference.is_plane else p[1] - p[0]
        axis = segment / np.maximum(np.linalg.norm(segment, axis=-1, keepdims=True), 1e-12)
        across = target - np.sum(target * axis, -1, keepdims=True) * axis
        defined = np.linalg.norm(across, axis=-1) > 0.15 * np.linalg.norm(target, axis=-1)
        turned = _angle_deg(across[1:], across[:-1]) > 90
        flips |= turned & defined[1:] & defined[:-1]
    return int(flips.sum())


def quality(joints: np.ndarray, rig: dict, mapping: dict[str, str], scale: float,
            seconds: float) -> Quality:
    """Compare the evaluated rig with the input joints (T, V, 3, dataset frame)."""
    from kinetic_gan_blender.core import body
    from kinetic_gan_blender.core.retarget import dataset_to_blender

    index = body.canonical_joint_indices(body.NTU_JOINTS)
    data = dataset_to_blender(joints)
    lm = rig["points"]
    errors, names = [], []
    for bone in body.CANONICAL_BONES:
        if bone.name not in mapping or bone.tail not in lm:
            continue
        # The bone's own aim: its rest segment (head → the rig's tail joint) as posed.
        rest_segment = rig["rest"][bone.tail] - rig["rest_heads"][mapping[bone.name]]
        got = rig["matrices"][mapping[bone.name]] @ (rig["rest_local"][mapping[bone.name]]
                                                     @ rest_segment)
        want = data[:, index[bone.tail]] - data[:, index[bone.head[0]]]
        errors.append(_angle_deg(got, want))
        names.append(bone.name)
    errors = np.array(errors)

    def frame_error(up_from: str, up_to: str, right: str, left: str) -> np.ndarray:
        """Worst of the up and side angles of one body frame (pelvis, chest)."""
        if not {up_from, up_to, right, left} <= set(lm):
            return np.zeros(len(data))

        def axes(p: Callable[[str], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            up = p(up_to) - p(up_from)
            up /= np.linalg.norm(up, axis=-1, keepdims=True)
            side = p(left) - p(right)
            return up, side - np.sum(side * up, -1, keepdims=True) * up

        rig_up, rig_side = axes(lambda j: lm[j])
        data_up, data_side = axes(lambda j: data[:, index[j]])
        error = np.maximum(_angle_deg(rig_up, data_up), _angle_deg(rig_side, data_side))
        # Where the input's own side line runs along its spine it fixes no twist: skip.
        side_len = np.linalg.norm(data_side, axis=-1)
        whole = np.linalg.norm(data[:, index[left]] - data[:, index[right]], axis=-1)
        return np.where(side_len > 0.3 * whole, error, 0.0)

    trunk = max(
        frame_error("SpineBase", "SpineMid", "HipRight", "HipLeft").max(),
        frame_error("SpineMid", "SpineShoulder", "ShoulderRight", "ShoulderLeft").max(),
    )

    # Feet: the lowest foot joint over the take's floor (its 5th percentile), rig vs input.
    feet_cm, slide, input_slide = 0.0, [], []
    present = {s: [j for j in js if j in lm] for s, js in FOOT_JOINTS.items()}
    data_low = {s: np.min([data[:, index[j], 2] for j in js], axis=0)
                for s, js in present.items() if js}
    rig_low = {s: np.min([lm[j][:, 2] for j in js], axis=0) / scale
               for s, js in present.items() if js}
    if data_low:
        data_floor = np.percentile(np.min(list(data_low.values()), axis=0), 5)
        rig_floor = np.percentile(np.min(list(rig_low.values()), axis=0), 5)
    for side in data_low:
        ankle = data[:, index[present[side][0]], :2]
        ankle_step = np.linalg.norm(np.diff(ankle, axis=0), axis=-1)
        speed = np.concatenate([[ankle_step[0]], ankle_step]) * FPS
        planted = (data_low[side] < data_floor + CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_M_S)
        if not planted.any():
            continue
        gap = (rig_low[side] - rig_floor) - (data_low[side] - data_floor)
        feet_cm = max(feet_cm, float(np.abs(gap[planted]).max() * 100))
        # Slide: the foot's centre (between its ankle and toe joints) over the floor.
        rig_centre = np.mean([lm[j][:, :2] for j in present[side]], axis=0) / scale
        data_centre = np.mean([data[:, index[j], :2] for j in present[side]], axis=0)
        both = planted[1:] & planted[:-1]
        slide += list(np.linalg.norm(np.diff(rig_centre, axis=0), axis=-1)[both])
        input_slide += list(np.linalg.norm(np.diff(data_centre, axis=0), axis=-1)[both])
    flips = sum(int((_twist_deg(m) > 90).sum()) for m in rig["matrices"].values())
    input_flips = sum(_input_flips(data, index, bone) for bone in body.CANONICAL_BONES
                      if bone.name in mapping)
    worst = np.unravel_index(np.argmax(errors), errors.shape)
    return Quality(
        direction_median=float(np.median(errors)),
        direction_max=float(errors.max()),
        trunk=float(trunk),
        feet_cm=feet_cm,
        slide_mm=float(np.mean(slide) * 1000) if slide else 0.0,
        input_slide_mm=float(np.mean(input_slide) * 1000) if input_slide else 0.0,
        flips=flips,
        input_flips=input_flips,
        seconds=seconds,
        bones=len(errors),
        worst=f"{names[worst[0]]}@{worst[1]}",
    )


def animate_and_measure(bpy, armature, rig: str, joints: np.ndarray, name: str,
                        bone_map=None) -> tuple[Quality, object]:
    """Retarget ``joints`` through ``api.animate`` and measure the evaluated result."""
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import body

    start = time.perf_counter()
    action = api.animate(armature, joints, body.NTU_JOINTS, body.NTU_PARENTS, fps=FPS,
                         name=name, bone_map=bone_map)
    seconds = time.perf_counter() - start
    driven = api.resolve_bone_map(armature, bone_map)[1].mapping
    mapping = {k: v for k, v in measure_map(armature, rig).items() if k in driven}
    first = round(action.frame_range[0])
    frames = list(range(first, first + len(joints)))
    posed = posed_rig(bpy, armature, mapping, frames)
    scale = float(action[api.TAKE_KEY]["scale"])
    return quality(joints, posed, mapping, scale, seconds), action


# --------------------------------------------------------------------------------- stills


def render_still(bpy, armature, rig: str, joints: np.ndarray, frame: int, scale: float,
                 path: Path) -> Path:
    """A small Workbench still: the rig's joints as posed, joined like the input's (and
    its mesh, if it has one), the input's skeleton in blue beside it at the rig's size,
    and the floor at the rig's lowest rest foot joint."""
    from kinetic_gan_blender.core import body
    from kinetic_gan_blender.core.capsules import capsule
    from kinetic_gan_blender.core.retarget import dataset_to_blender

    scene = bpy.context.scene
    scene.frame_set(frame)
    mapping = measure_map(armature, rig)
    posed = posed_rig(bpy, armature, mapping, [frame])
    size = max(np.ptp(np.array(list(posed["rest"].values())), axis=0))
    radius = 0.025 * size
    verts_all, faces_all = [], []

    def add(start: np.ndarray, end: np.ndarray, r: float) -> None:
        axis = end - start
        y = axis / max(np.linalg.norm(axis), 1e-9)
        helper = np.array([1.0, 0, 0]) if abs(y[0]) < 0.9 else np.array([0, 1.0, 0])
        x = np.cross(y, helper)
        x /= np.linalg.norm(x)
        verts, faces = capsule(start, end, (r, r), np.stack([x, y, np.cross(x, y)], 1), 1.0, 8, 2)
        offset = sum(len(v) for v in verts_all)
        verts_all.append(verts)
        faces_all.extend(tuple(i + offset for i in f) for f in faces)

    # The rig's joints as posed, joined as the input's are (its mesh too, if it has one).
    joints_at = {j: p[0] for j, p in posed["points"].items()}
    for child, parent in enumerate(body.NTU_PARENTS):
        a, b = body.NTU_JOINTS[parent] if parent >= 0 else None, body.NTU_JOINTS[child]
        if a in joints_at and b in joints_at:
            add(joints_at[a], joints_at[b], radius)
    rig_points = np.array(list(joints_at.values()))
    data = dataset_to_blender(joints[frame - 1]) * scale
    data += rig_points.mean(0) - data[0] + np.array([0.9 * size, 0, 0])
    data[:, 2] += rig_points[:, 2].min() - data[:, 2].min()
    ghost_start = sum(len(v) for v in verts_all)
    for child, parent in enumerate(body.NTU_PARENTS):
        if parent >= 0:
            add(data[parent], data[child], radius * 0.8)
    verts = np.concatenate(verts_all)
    mesh = bpy.data.meshes.new("sticks")
    mesh.from_pydata(verts.tolist(), [], faces_all)
    sticks = bpy.data.objects.new("sticks", mesh)
    scene.collection.objects.link(sticks)
    mesh.materials.append(_material(bpy, "rig", (0.85, 0.45, 0.2, 1)))
    mesh.materials.append(_material(bpy, "ghost", (0.25, 0.35, 0.6, 1)))
    first_ghost_face = next(i for i, f in enumerate(faces_all) if min(f) >= ghost_start)
    mesh.polygons.foreach_set("material_index", [0] * first_ghost_face
                              + [1] * (len(faces_all) - first_ghost_face))
    floor_z = min(p[2] for p in posed["rest"].values())
    everything = np.concatenate([rig_points, data])
    centre = (everything.min(0) + everything.max(0)) / 2
    centre[2] -= 0.08 * size  # a little more floor than sky: contacts are what to judge
    bpy.ops.mesh.primitive_plane_add(size=size * 40, location=(centre[0], centre[1], floor_z))
    floor = bpy.context.active_object
    floor.data.materials.append(_material(bpy, "floor", (0.7, 0.72, 0.7, 1)))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(camera)
    camera.data.type = "ORTHO"
    width, height = 480, 300
    extent = max(np.ptp(everything[:, 0]), np.ptp(everything[:, 2]) * width / height)
    camera.data.ortho_scale = float(extent) * 1.45
    camera.data.clip_end = size * 100
    direction = np.array([0.3, -1.0, 0.22])
    direction /= np.linalg.norm(direction)
    camera.location = (centre + direction * size * 10).tolist()
    from mathutils import Vector

    camera.rotation_euler = (-Vector(direction)).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_shadows = True  # a foot's shadow shows whether it touches
    if scene.world is None:
        scene.world = bpy.data.worlds.new("sky")
    scene.world.color = (1.0, 1.0, 1.0)
    scene.display.render_aa = "8"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.render.render(write_still=True)
    for obj in (sticks, floor, camera):
        bpy.data.objects.remove(obj)
    _to_palette(path)
    return path


def _to_palette(path: Path, colours: int = 96) -> None:
    """Rewrite a still as a palette PNG (≈ 50 KB instead of 130) when Pillow is there."""
    try:
        from PIL import Image
    except ImportError:
        return
    image = Image.open(path).convert("RGB")
    image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _material(bpy, name: str, colour: tuple[float, float, float, float]):
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = colour
    return material


# ----------------------------------------------------------------------------------- main


def _row(rig: str, take: str, q: Quality) -> str:
    verdict = "pass" if q.passes() else "**fail**"
    return (f"| {rig} | {take} | {q.bones} | {q.direction_median:.1f}° / {q.direction_max:.1f}° "
            f"| {q.trunk:.1f}° | {q.feet_cm:.1f} cm | {q.slide_mm:.1f} / {q.input_slide_mm:.1f} mm "
            f"| {q.flips} / {q.input_flips} | {q.seconds * 1000:.0f} ms | {verdict} |")


HEADER = (
    "| rig | take | bones | bone direction (median / max) | trunk (max) | feet planted, "
    "height vs input (max) | foot slide per frame, rig / input | flips > 90°, rig / input "
    "| time (64 frames) "
    "| verdict |\n|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rigs", default=",".join(RIGS))
    parser.add_argument("--takes", default=",".join(TAKES))
    parser.add_argument("--verbose", action="store_true", help="name each take's worst bone")
    parser.add_argument("--stills", type=Path, default=None, help="folder for one PNG per rig")
    args = parser.parse_args(argv)
    from kinetic_gan.commands.addon import vendor_backend_modules

    vendor_backend_modules()  # as the build does: the add-on imports the backend's records
    home = tempfile.mkdtemp(prefix="kgan-rigs-")
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(Path(home) / "resources"))
    import bpy

    takes = {name: load_take(name) for name in args.takes.split(",")}
    print(HEADER)
    for rig in args.rigs.split(","):
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.scene.render.fps = FPS
        armature = build_rig(bpy, rig)
        for take, joints in takes.items():
            q, action = animate_and_measure(bpy, armature, rig, joints, take)
            print(_row(rig, take, q), flush=True)
            if args.verbose:
                print(f"  worst bone: {q.worst}", flush=True)
            if args.stills is not None and take == "walk":
                scale = float(action["kgan_take"]["scale"])
                first = round(action.frame_range[0])
                render_still(bpy, armature, rig, joints, first + 20, scale,
                             args.stills / f"{rig}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
