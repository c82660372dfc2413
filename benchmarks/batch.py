"""Batch rendering throughput: takes per minute, and where a take's time goes.

    python benchmarks/batch.py [--takes 4] [--resolution 640x480] [--samples 5]
                               [--weights weights/deepmimic15-mlp4.safetensors]

Each take: generate 64 frames (in-process, CPU), retarget, keyframe the built-in
character, frame the camera, render an H.264 MP4 with Workbench. Prints the per-stage
split and takes per minute. Without the shipped weights an untrained model of the same
size stands in (the cost of a generator call does not depend on its training).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "blender_addon"))

STAGES = ("generate", "retarget", "keyframe", "frame camera", "render")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=4)
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--samples", type=int, default=5, help="Workbench anti-aliasing samples")
    parser.add_argument(
        "--weights", type=Path, default=ROOT / "weights/deepmimic15-mlp4.safetensors"
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="kgan-bench-"))
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(scratch / "blender"))
    os.environ.setdefault("XDG_CACHE_HOME", str(scratch / "cache"))
    import bpy
    import numpy as np
    import torch

    from kinetic_gan import load_generator
    from kinetic_gan.generate import generate
    from kinetic_gan.weights import random_generator_weights
    from kinetic_gan_blender import bone_map, keyframes, rig
    from kinetic_gan_blender.render import framing, options, output, rigs
    from kinetic_gan_blender.render.studio import Studio
    from kinetic_gan_blender.retarget import retarget

    torch.set_num_threads(os.cpu_count() or 1)
    weights = args.weights
    if not weights.is_file():
        weights = random_generator_weights(scratch / "untrained", n_classes=15, frames=64)
        print(f"({args.weights} not found: timing an untrained model of the same size)")
    generator = load_generator(weights, device="cpu")
    opts = options.from_namespace(
        options.build_parser().parse_args(
            ["--resolution", args.resolution, "--samples", str(args.samples), "--out", str(scratch)]
        )
    )
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    output.configure(scene, opts, generator.card.fps)
    width, height = opts.resolution
    studio = Studio(scene, framing.View(aspect=width / height))
    armature = rigs.add_character(opts.rig, "KGAN_Character")
    rest = rig.rig_rest(armature)
    mapping = bone_map.load_bone_map("default").resolve(rest.bone_names).mapping

    timings: dict[str, list[float]] = {s: [] for s in STAGES}
    total: list[float] = []
    n_classes = len(generator.card.class_names)
    for k in range(args.takes):
        start = time.perf_counter()
        t0 = time.perf_counter()
        res = generate(generator, k % n_classes, count=1, seed=k, truncation=0.7)
        timings["generate"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        take = retarget(res.joints[0], res.joint_names, rest, mapping)
        timings["retarget"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        action = keyframes.write_action(armature, take, f"take{k}")
        timings["keyframe"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        first, last = (round(f) for f in action.frame_range)
        scene.frame_start, scene.frame_end = first, last
        (points,) = rigs.bone_points(scene, [armature], list(range(first, last + 1, 4)))
        hull = framing.motion_hull(points, 0.15)
        studio.frame(hull, [(f"take {k}", np.array([0.0, hull[:, 1].min(), 0.0]))])
        timings["frame camera"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        output.render_mp4(scene, scratch / f"take{k}.mp4", scratch / "blender.log")
        timings["render"].append(time.perf_counter() - t0)
        total.append(time.perf_counter() - start)
        bpy.data.actions.remove(action)

    frames = res.joints.shape[1]
    print(f"\nbatch benchmark: {args.takes} takes × {frames} frames, Workbench "
          f"{width}x{height}, {args.samples} AA samples, CPU ({os.cpu_count()} cores)")  # fmt: skip
    mean_total = statistics.mean(total)
    for stage in STAGES:
        mean = statistics.mean(timings[stage])
        print(f"  {stage:<13} {1000 * mean:9.1f} ms/take  {100 * mean / mean_total:5.1f} %")
    per_frame = statistics.mean(timings["render"]) / frames
    print(f"  render        {1000 * per_frame:9.1f} ms/frame")
    print(f"  total         {mean_total:9.2f} s/take  →  {60 / mean_total:.2f} takes/minute")


if __name__ == "__main__":
    main()
