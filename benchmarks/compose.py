"""Shots: speed and quality of ``compose`` beside the naive concatenation of takes.

    python benchmarks/compose.py [--weights W] [--seeds 0 1 2] [--steps N] [--threads 2]

- **speed**: seconds to compose a 20 s four-action shot (walk 5 s, jump 3 s, cartwheel 4 s,
  walk 8 s) without a path or keys, and with a 10 m path of radius 3 m plus two keys;
  the naive concatenation of independent takes timed beside it;
- **seams**: every seam (segment boundaries and window overlaps) against the 99th
  percentile of its actions' real frames (``kinetic_gan.shots.measures``), ours (raw) and
  naive; and how far overlapping windows still disagree (RMS cm) before the blend;
- **plausibility** of the whole shot, the naive concatenation, and the naive takes on
  their own (single takes of the same actions);
- **fidelity**: the metrics recogniser on each segment's crops, composed, naive and single
  takes;
- **loops**: the loop seam of an advancing walk cycle and an in-place dance;
- **path**: a walk along the 10 m arc: lateral error, how much the course was stretched,
  foot skating after cleanup beside a straight walk's;
- **keys**: in-betweening gaps of 15, 30 and 60 frames between two poses of a real walk:
  key error before and after the cleanup, plausibility of the gap.

Timings on a shared machine are noisy: the figures printed are the median over seeds,
measured in the same run as the baseline. Prints Markdown tables (docs/shots.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import pickle
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from kinetic_gan import load_generator
from kinetic_gan.records.shot import Keys, parse_segments
from kinetic_gan.shots import Settings, compose
from kinetic_gan.shots import measures as M
from kinetic_gan.shots.keys import key_error_cm
from kinetic_gan.shots.naive import concatenate

ROOT = Path(__file__).resolve().parents[1]
SHOT = "walk:150,jump:90,cartwheel:120,walk:240"
PSI = 0.7
CLEAN = ("filter", "bones", "feet")
STATS = (("foot_skating_ms", "skating m/s", 3), ("judder", "judder", 3),
         ("high_freq_share", "HF share", 3), ("bone_cv_pct", "bone CV %", 2),
         ("knee_hyperextension", "knee hyper", 3), ("elbow_hyperextension", "elbow hyper", 3),
         ("median_accel_ms2", "accel m/s²", 2))


def arc(radius: float = 3.0, length: float = 10.0) -> np.ndarray:
    """A 10 m curve of radius 3 m from the origin, starting along −Z and bending left."""
    a = np.linspace(0.0, length / radius, 200)
    return np.column_stack([-(radius - radius * np.cos(a)), -radius * np.sin(a)])


def real_walk(data: Path) -> np.ndarray:
    arr = np.load(data / "test_data.npy", mmap_mode="r")
    with (data / "test_label.pkl").open("rb") as fh:
        _, labels = pickle.load(fh)
    return np.asarray(arr[list(labels).index(0), ..., 0]).transpose(1, 2, 0).astype(np.float64)


def walk_keys(clip: np.ndarray, first: int, gap: int) -> Keys:
    return Keys.from_arrays(np.array([first, first + gap]), np.stack([clip[0], clip[gap]]))


def row(name: str, values: list[str]) -> str:
    return "| " + " | ".join([name, *values]) + " |"


def seam_cells(seams: list[M.Seam]) -> list[str]:
    s = M.summary(seams)
    return [f"{s['passed']}/{s['seams']}", f"{s['worst_step_ratio']:.2f}",
            f"{s['worst_accel_ratio']:.2f}"]


def stat_cells(stats: dict[str, float]) -> list[str]:
    return [f"{stats[key]:.{digits}f}" for key, _, digits in STATS]


def speed_and_seams(g, limits, seeds, settings):
    path, clip = arc(), real_walk(ROOT / "data" / "deepmimic15")
    keys = Keys.from_arrays(np.array([100, 500]), np.stack([clip[0], clip[30]]))
    times: dict[str, list[float]] = {"plain": [], "path+keys": [], "naive": []}
    shots, naives = [], []
    for seed in seeds:
        t = time.perf_counter()
        shots.append(compose(g, SHOT, seed=seed, truncation=PSI, settings=settings))
        times["plain"].append(time.perf_counter() - t)
        t = time.perf_counter()
        compose(g, SHOT, seed=seed, truncation=PSI, path=path, keys=keys, settings=settings)
        times["path+keys"].append(time.perf_counter() - t)
        t = time.perf_counter()
        naives.append(concatenate(g, parse_segments(SHOT), seed=seed, truncation=PSI))
        times["naive"].append(time.perf_counter() - t)
    print(f"\n## Speed (20 s, four actions; median of {len(seeds)} seeds, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f})\n")
    print("| shot | seconds | windows | steps |\n|---|---|---|---|")
    k = len(shots[0].plan.windows)
    for name, values in times.items():
        steps = "0" if name == "naive" else str(settings.steps)
        print(row(name, [f"{statistics.median(values):.2f}", str(k), steps]))
    print("\n## Seams (raw output)\n")
    print("| seed | shot | seams under p99 | worst step / p99 | worst accel / p99 | "
          "overlap gap RMS cm |\n|---|---|---|---|---|---|")
    for seed, shot, (naive, cuts) in zip(seeds, shots, naives, strict=True):
        gap = np.sqrt(shot.history[-1]["position"])
        print(row(str(seed), ["composed", *seam_cells(M.seams(shot.raw_joints, shot.plan,
                                                               limits)), f"{gap:.1f}"]))
        print(row(str(seed), ["naive", *seam_cells(M.cut_seams(naive, cuts, limits)), "-"]))
    print("\n## Plausibility of the whole shot (raw)\n")
    print("| seed | motion | " + " | ".join(h for _, h, _ in STATS) + " |")
    print("|---|---|" + "---|" * len(STATS))
    for seed, shot, (naive, cuts) in zip(seeds, shots, naives, strict=True):
        bounds = [0, *[c[0] for c in cuts], len(naive)]
        singles = [naive[a:b] for a, b in itertools.pairwise(bounds)
                   if b - a == g.card.frames]
        print(row(str(seed), ["composed", *stat_cells(M.plausibility_of(shot.raw_joints, 30))]))
        print(row(str(seed), ["naive", *stat_cells(M.plausibility_of(naive, 30))]))
        single = M.plausibility.statistics(np.stack(singles), 30)
        print(row(str(seed), ["single takes", *stat_cells(single)]))


def loops(g, limits, seeds, settings):
    print("\n## Loops (raw; loop seam against the action's p99)\n")
    print("| shot | seed | loop step / p99 | loop accel / p99 | advance per cycle m |\n"
          "|---|---|---|---|---|")
    for spec, mode in (("walk:90", "advance"), ("dance_a:120", "in_place")):
        for seed in seeds:
            shot = compose(g, spec, seed=seed, truncation=PSI, loop=mode, settings=settings)
            (seam,) = [s for s in M.seams(shot.raw_joints, shot.plan, limits, shot.advance)
                       if s.kind == "loop"]
            adv = np.linalg.norm(shot.advance)
            print(row(f"{spec} {mode}", [str(seed), f"{seam.step_cm / seam.step_limit_cm:.2f}",
                                         f"{seam.accel_cm / seam.accel_limit_cm:.2f}",
                                         f"{adv:.2f}"]))


def paths(g, seeds, settings):
    print("\n## Path: walk:300 along a 10 m arc of radius 3 m (skating after cleanup)\n")
    print("| seed | timing | frames | pace | mean lateral cm | max lateral cm | skating m/s | "
          "straight walk, same speed | straight walk, own speed |\n"
          "|---|---|---|---|---|---|---|---|---|")
    path, line = arc(), np.array([[0.0, 0.0], [0.0, -10.0]])
    for seed in seeds:
        own = compose(g, "walk:300", seed=seed, truncation=PSI, settings=settings, cleanup=CLEAN)
        same = compose(g, "walk:300", seed=seed, truncation=PSI, path=line, settings=settings,
                       cleanup=CLEAN)
        for timing in ("speed", "length"):
            shot = compose(g, "walk:300", seed=seed, truncation=PSI, path=path, cleanup=CLEAN,
                           settings=settings, path_timing=timing)
            mean_cm, max_cm = M.path_error_cm(shot.joints, path)
            skate = M.plausibility_of(shot.joints, 30)["foot_skating_ms"]
            print(row(str(seed), [timing, str(shot.frames), f"{shot.pace:.2f}", f"{mean_cm:.1f}",
                                  f"{max_cm:.1f}", f"{skate:.3f}",
                                  f"{M.plausibility_of(same.joints, 30)['foot_skating_ms']:.3f}",
                                  f"{M.plausibility_of(own.joints, 30)['foot_skating_ms']:.3f}"]))


def keys(g, seeds, settings):
    clip = real_walk(ROOT / "data" / "deepmimic15")
    print("\n## Keys: in-betweening two poses of a real walk (walk:180, keys at 60 and 60+gap)"
          "\n")
    print("| gap | seed | key error raw cm (mean/max) | after cleanup cm (max) | "
          + " | ".join(h for _, h, _ in STATS) + " |\n|---|---|---|---|" + "---|" * len(STATS))
    for gap in (15, 30, 60):
        for seed in seeds:
            k = walk_keys(clip, 60, gap)
            shot = compose(g, "walk:180", seed=seed, truncation=PSI, keys=k, cleanup=CLEAN,
                           settings=settings)
            raw = key_error_cm(shot.raw_joints, k)
            final = key_error_cm(shot.joints, k)
            region = shot.joints[max(0, 60 - 15): 60 + gap + 15]
            print(row(str(gap), [str(seed), f"{raw[0]:.1f} / {raw[1]:.1f}", f"{final[1]:.2f}",
                                 *stat_cells(M.plausibility_of(region, 30))]))
    real = M.plausibility.statistics(clip[None], 30)
    print(row("real walk", ["-", "-", "-", *stat_cells(real)]))


def fidelity(g, seeds, settings):
    from kinetic_gan.generate import generate
    from kinetic_gan.metrics.recognizer import load_recognizer

    recognizer, card = load_recognizer(ROOT / "weights" / "deepmimic15-recognizer")
    norm = card.normalization or g.card.normalization
    print("\n## Fidelity per segment (metrics recogniser; share of crops named right)\n")
    print("| shot | walk | jump | cartwheel | walk |\n|---|---|---|---|---|")
    ours, naive = [], []
    for seed in seeds:
        shot = compose(g, SHOT, seed=seed, truncation=PSI, settings=settings)
        starts, lengths, _ = shot.segment_table()
        segs = [(int(a), int(n), int(s.action)) for a, n, s in
                zip(starts, lengths, shot.request.segments, strict=True)]
        ours.append(M.fidelity(shot.raw_joints, segs, recognizer, norm))
        cut, _ = concatenate(g, parse_segments(SHOT), seed=seed, truncation=PSI)
        naive.append(M.fidelity(cut, segs, recognizer, norm))
    print(row(f"composed ({len(seeds)} seeds)", [f"{v:.2f}" for v in np.mean(ours, axis=0)]))
    print(row("naive", [f"{v:.2f}" for v in np.mean(naive, axis=0)]))
    singles = []
    for action in ("walk", "jump", "cartwheel", "walk"):
        res = generate(g, action, count=32, seed=100, truncation=PSI)
        label, frames = int(res.labels[0]), res.joints.shape[1]
        segs = [(i * frames, frames, label) for i in range(len(res.joints))]
        singles.append(np.mean(M.fidelity(np.concatenate(list(res.joints)), segs, recognizer,
                                          norm)))
    print(row("single takes (32)", [f"{v:.2f}" for v in singles]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT / "weights" / "deepmimic15-mlp4.safetensors"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--candidates", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+",
                        default=["speed", "fidelity", "loops", "path", "keys"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings()
    if args.steps is not None:
        settings = dataclasses.replace(settings, steps=args.steps)
    if args.candidates is not None:
        settings = dataclasses.replace(settings, candidates=args.candidates)
    g = load_generator(args.weights)
    limits = M.real_thresholds(ROOT / "data" / "deepmimic15")
    compose(g, "walk:64", seed=0, truncation=PSI, settings=dataclasses.replace(settings, steps=2))
    print(f"settings: {settings}")
    if "speed" in args.only:
        speed_and_seams(g, limits, args.seeds, settings)
    if "fidelity" in args.only:
        fidelity(g, args.seeds, settings)
    if "loops" in args.only:
        loops(g, limits, args.seeds, settings)
    if "path" in args.only:
        paths(g, args.seeds, settings)
    if "keys" in args.only:
        keys(g, args.seeds, settings)


if __name__ == "__main__":
    main()
