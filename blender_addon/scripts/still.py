"""Render a still of the built-in character mid-action (Workbench, 640×480).

    python blender_addon/scripts/still.py --out docs/addon_still.png [--npz take.npz --frame 24]

Without ``--npz`` it uses the add-on's procedural walk; with a generated ``.npz``
(``kinetic-gan generate``) it shows the first take. Runs with the ``bpy`` module.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ADDON_PARENT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/addon_still.png")
    parser.add_argument("--npz", help="a .npz of generated joints (first take is used)")
    parser.add_argument(
        "--frame", type=int, default=None, help="frame (default: middle)"
    )
    parser.add_argument("--action", default="walk", help="label for the take's name")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ADDON_PARENT))
    import bpy
    from mathutils import Vector

    from kinetic_gan.commands.addon import vendor_backend_modules

    vendor_backend_modules()  # as the build does: the add-on imports the backend's records
    from kinetic_gan_blender.blender import api, takes
    from kinetic_gan_blender.core import body, motion_samples
    from kinetic_gan_blender.vendor.records.take_file import read_npz
    from kinetic_gan_blender.vendor.records.takes import Motion

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    if args.npz:
        motion = read_npz(args.npz).sample(0)
    else:
        names = list(body.NTU_JOINTS)
        motion = Motion(
            joints=motion_samples.walk_cycle(64), fps=30.0, skeleton="ntu", joint_names=names,
            parents=list(range(-1, len(names) - 1)),  # unused by retargeting; kept on the take
        )
    armature = api.build_default_character(scene)
    action = takes.make_take(armature, motion, f"{args.action}_still", takes.TakeOptions()).action
    frame = args.frame if args.frame is not None else int(sum(action.frame_range) / 2)
    scene.frame_set(frame)

    bpy.ops.mesh.primitive_plane_add(size=8.0, location=(0, 0, 0))
    floor = bpy.context.active_object
    floor_mat = bpy.data.materials.new("KGAN_floor")
    floor_mat.diffuse_color = (0.78, 0.78, 0.76, 1.0)
    floor.data.materials.append(floor_mat)

    hips = armature.matrix_world @ armature.pose.bones["hips"].head
    target = Vector((hips.x, hips.y, 0.9))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    # Three-quarter view from the character's front-left, slightly above the chest.
    yaw = math.radians(-35)
    camera.location = target + Vector((3.6 * math.sin(-yaw), -3.6 * math.cos(yaw), 0.35))
    camera.rotation_euler = (target - camera.location).to_track_quat("-Z", "Y").to_euler()
    camera.data.lens = 50
    scene.camera = camera

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = 640, 480
    scene.render.resolution_percentage = 100
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.show_cavity = True
    shading.show_object_outline = True
    scene.display.render_aa = "8"
    scene.render.image_settings.file_format = "PNG"
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.png")
    scene.render.filepath = str(tmp)
    bpy.ops.render.render(write_still=True)
    tmp.replace(out)
    print(f"wrote {out} (frame {frame} of {action.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
