"""How long ``kinetic-gan data build bvh`` takes on 10 minutes of 120 fps motion capture.

Writes its own takes (kinetic_gan.data.synthetic_bvh: three actions × four takes of ~50 s at
120 fps, the four naming families' skeletons of 15–31 joints, cm and m, Y and Z up) to a
temporary folder, then times, in the same run:

- ours: the whole build (parse, skeleton family, units/axes, forward kinematics on the
  source frames the 30 fps resampling reads, windows, split, write, rename);
- the reference: what ``to_ntu.bvh_to_ntu`` does, file by file: parse, forward kinematics
  on every 120 fps frame, NTU mapping, then resampling — no windows, no output.

Target: ≤ 30 s on two CPU cores (issue 28). Timings on a shared machine vary; run it cold:

    python benchmarks/bvh_build.py [--minutes 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of motion (10)")
    parser.add_argument("--fps", type=float, default=120.0, help="source frame rate (120)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (2)")
    args = parser.parse_args()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before numpy is imported

    from kinetic_gan.data import skeleton_families as families
    from kinetic_gan.data import to_ntu
    from kinetic_gan.data.bvh import read_bvh
    from kinetic_gan.data.bvh_corpus import BvhCorpusOptions, build_bvh_corpus
    from kinetic_gan.data.synthetic_bvh import write_corpus

    takes = 4
    seconds = args.minutes * 60 / (3 * takes) - 0.75  # write_corpus adds 0.5 s per take
    with tempfile.TemporaryDirectory(prefix="kgan-bvh-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        paths = write_corpus(root / "src", takes=takes, seconds=seconds, fps=(args.fps,))
        written = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in paths) / 2**20
        t0 = time.perf_counter()
        report = build_bvh_corpus(root / "src", root / "ds", BvhCorpusOptions())
        ours = time.perf_counter() - t0
        frames = sum(t.used[1] - t.used[0] for t in report.takes)
        t0 = time.perf_counter()
        for path in paths:  # the path bvh_to_ntu takes, with our family mapping
            motion = read_bvh(path)
            mapping = families.choose_mapping(motion.names)
            joints, _ = families.map_joints(motion.world_positions(), motion.names, mapping)
            to_ntu.resample(joints, motion.fps, 30.0)
        reference = time.perf_counter() - t0
    minutes = frames / args.fps / 60
    print(f"{len(paths)} takes, {minutes:.1f} min at {args.fps:g} fps ({frames} frames, "
          f"{size:.0f} MiB of BVH; written in {written:.1f} s), {args.threads} threads")
    print(f"ours      data build bvh (whole build, {report.counts['train']} train + "
          f"{report.counts['test']} test windows): {ours:6.1f} s   target <= 30 s "
          f"{'met' if ours <= 30 else 'MISSED'}")
    print(f"reference bvh_to_ntu's path per file (FK on every frame, no output):    "
          f"{reference:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
