"""Does a cartwheel go over? How often each class turns the body upside down.

    python benchmarks/inversions.py [--weights weights/deepmimic15-mlp4.safetensors]
                                    [--per-class 40] [--seed 11] [--truncation 1 0.7]

The plausibility protocol (docs/metrics.md) checks bodies frame by frame; it cannot tell a
cartwheel that goes over from one that only waves its arms. An animator can, at a glance.
This prints, per class, the share of takes whose head drops below the pelvis in at least
one frame, and the share of all frames with the head below the pelvis, for the real test
split and for the model's raw output at each ``--truncation``. Classes that never invert
(walk, run, …) read 0 on both sides and are left out.

Needs ``kinetic-gan data fetch && kinetic-gan data build deepmimic --out data/deepmimic15``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kinetic_gan.metrics import motion_sets

ROOT = Path(__file__).resolve().parents[1]
HEAD, PELVIS = 3, 0  # NTU-25: Head, SpineBase
MIN_SHARE = 0.05  # a class is listed when either side inverts in this share of frames


def inverted(joints: np.ndarray) -> tuple[float, float]:
    """(share of takes inverted at least once, share of frames inverted) of (N, T, V, 3)
    joints, Y up."""
    below = joints[..., HEAD, 1] < joints[..., PELVIS, 1]
    return float(below.any(axis=1).mean()), float(below.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "deepmimic15")
    parser.add_argument("--weights", type=Path,
                        default=ROOT / "weights" / "deepmimic15-mlp4.safetensors")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--truncation", type=float, nargs="+", default=[1.0, 0.7])
    args = parser.parse_args()

    test = motion_sets.open_real(args.data, "test")
    real = test.array(normalized=False).transpose(0, 2, 3, 1)
    labels = np.asarray(test.labels)
    generated = {}
    for psi in args.truncation:
        g = motion_sets.generate_joints(args.weights, args.per_class, args.seed, "cpu", psi)
        generated[psi] = (g.joints, np.asarray(g.names))

    head = "| class | real takes | real frames | " + " | ".join(
        f"ψ {psi:g} takes | ψ {psi:g} frames" for psi in args.truncation) + " |"
    print(head)
    print("|---" * (3 + 2 * len(args.truncation)) + "|")
    for c, name in enumerate(test.class_names):
        cells = [inverted(real[labels == c])]
        cells += [inverted(joints[names == name]) for joints, names in generated.values()]
        if max(frames for _, frames in cells) < MIN_SHARE:
            continue
        print(f"| {name} | " + " | ".join(f"{takes:.0%} | {frames:.0%}"
                                           for takes, frames in cells) + " |")


if __name__ == "__main__":
    main()
