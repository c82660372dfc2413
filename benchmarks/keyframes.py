"""Keyframing speed: bulk F-curve writes vs a per-frame ``keyframe_insert`` loop, and the
end-to-end "Generate click → keyframed mesh" time against a CPU backend.

    python benchmarks/keyframes.py [--no-server] [--repeats 5]

Both keyframing paths include the retargeting maths and key the built-in character
(24 driven bones + the root translation; 25 bones in the armature).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "blender_addon"))


def per_frame_insert(bpy, armature, joints, names) -> None:
    """The naive way: set every pose bone and call keyframe_insert, frame by frame."""
    from kinetic_gan_blender import bone_map, rig
    from kinetic_gan_blender.retarget import retarget

    rest = rig.rig_rest(armature)
    take = retarget(
        joints, names, rest, bone_map.load_bone_map("default").resolve(rest.bone_names).mapping
    )
    armature.animation_data_create().action = bpy.data.actions.new("per_frame")
    bones = [armature.pose.bones[n] for n in take.bone_names]
    root = armature.pose.bones[take.root_bone]
    for t in range(take.rotations.shape[0]):
        for k, pb in enumerate(bones):
            pb.rotation_quaternion = take.rotations[t, k]
            pb.keyframe_insert("rotation_quaternion", frame=t + 1, group=pb.name)
        root.location = take.root_location[t]
        root.keyframe_insert("location", frame=t + 1, group=root.name)


def bulk(bpy, armature, joints, names) -> None:
    from kinetic_gan_blender import api

    api.animate(armature, joints, names, list(range(len(names))), fps=30, name="bulk")


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def end_to_end(bpy, repeats: int) -> None:
    from kinetic_gan.commands.addon import vendor_backend_modules
    from kinetic_gan.weights import random_generator_weights
    from kinetic_gan_blender import operators

    vendor_backend_modules()
    with tempfile.TemporaryDirectory() as tmp:
        weights = random_generator_weights(
            Path(tmp) / "bench", n_classes=3, frames=64, class_names=["walk", "run", "jump"],
            normalization={"min": -1.5, "max": 2.0}, samples_per_class=16,
        )  # fmt: skip
        log = Path(tmp) / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kinetic_gan.cli", "serve", "--weights", str(weights),
                 "--bind", "tcp://127.0.0.1:*", "--device", "cpu"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not (m := re.search(r"listening endpoint=(\S+)", log.read_text())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start:\n{log.read_text()}")
                time.sleep(0.05)
            bpy.ops.wm.read_homefile(use_empty=True)
            import addon_utils

            addon_utils.enable("kinetic_gan_blender", default_set=False)
            settings = bpy.context.scene.kinetic_gan
            settings.address, settings.action = m.group(1), "walk"
            operators.connect(bpy.context)
            operators.target_armature(bpy.context)  # the character exists before the click

            def click() -> None:
                job = operators.start_generation(bpy.context)
                job.wait()
                operators.apply_generation(bpy.context, job)
                bpy.context.scene.frame_set(32)  # the mesh deformed by the new keys

            click()  # warm-up: first request, first depsgraph evaluation
            e2e = timed(click, repeats)
            print(f"generate click -> keyframed mesh (1 take x 64 frames, CPU server): "
                  f"{e2e * 1e3:.1f} ms (median of {repeats})")  # fmt: skip
            addon_utils.disable("kinetic_gan_blender", default_set=False)
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-server", action="store_true", help="skip the end-to-end figure")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="kgan-bench-")
    os.environ.setdefault("BLENDER_USER_RESOURCES", home)
    os.environ.setdefault("XDG_CACHE_HOME", home)
    import bpy

    from kinetic_gan_blender import api, body, motion_samples

    print(f"Blender {bpy.app.version_string}, keys on the built-in character (25 bones)")
    for frames in (64, 1024):
        joints = motion_samples.walk_cycle(frames)
        results = {}
        for label, fn in (
            ("per-frame keyframe_insert", per_frame_insert),
            ("bulk foreach_set", bulk),
        ):
            bpy.ops.wm.read_homefile(use_empty=True)
            armature = api.build_default_character()
            repeats = args.repeats if frames <= 64 or label.startswith("bulk") else 1
            results[label] = timed(
                lambda fn=fn, a=armature, j=joints: fn(bpy, a, j, body.NTU_JOINTS), repeats
            )
        slow, fast = results["per-frame keyframe_insert"], results["bulk foreach_set"]
        keys = frames * (24 * 4 + 3)
        print(f"{frames:5d} frames ({keys} keys): per-frame {slow * 1e3:8.1f} ms, "
              f"bulk {fast * 1e3:6.1f} ms, speed-up {slow / fast:6.1f}x")  # fmt: skip
    if not args.no_server:
        end_to_end(bpy, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
