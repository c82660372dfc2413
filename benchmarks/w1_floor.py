"""How low can the speed/acceleration W1 of the plausibility protocol go?

    python benchmarks/w1_floor.py [--weights weights/deepmimic15-mlp4.safetensors]
                                  [--truncation 0.7] [--epochs 4]

The protocol (docs/metrics.md) reports the per-joint speed and acceleration Wasserstein-1
distances of a generated set against the real test split, next to the real train split's
own distance as the noise floor. deepmimic15 has one clip per class and its train and test
windows are cut from the same clips, so that floor is tiny. This prints, against the
same test split and in the same run:

- **train vs test**: the protocol's floor;
- **augmented train vs test**: the training windows as the critic is shown them (the
  packaged config's augmentation: yaw, mirror and a 0.8–1.25× time warp, which changes
  every speed), over ``--epochs`` draws: what a generator that reproduced its training
  distribution exactly would score;
- **generated** (with ``--weights``): the model's raw output, as the protocol draws it.

Needs ``kinetic-gan data fetch && kinetic-gan data build deepmimic --out data/deepmimic15``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kinetic_gan.metrics import motion_sets
from kinetic_gan.metrics import plausibility as P
from kinetic_gan.train.build import open_training_data
from kinetic_gan.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def metres(dataset) -> np.ndarray:
    """Every window as stored, (N, T, V, 3) metres."""
    return dataset.array(normalized=False).transpose(0, 2, 3, 1)


def augmented_metres(dataset, epochs: int) -> np.ndarray:
    """``epochs`` augmented draws of every window, in metres (model units undone)."""
    norm = dataset.normalization.to_dict()
    lo, hi = float(norm["min"]), float(norm["max"])
    draws = []
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        draws.append(np.stack([dataset[i][0] for i in range(len(dataset))]))
    x = np.concatenate(draws)
    return (x * 0.5 * (hi - lo) + 0.5 * (hi - lo) + lo).transpose(0, 2, 3, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "deepmimic15")
    parser.add_argument("--config", default="deepmimic15")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--truncation", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    config = load_config(args.config)
    config.data = str(args.data)
    train = open_training_data(config)
    test = motion_sets.open_real(args.data, "test", config.frames)
    fps = float(test.fps)
    real = metres(test)
    rows = [("train vs test (the protocol's floor)", metres(train)),
            (f"augmented train vs test ({args.epochs} draws)",
             augmented_metres(train, args.epochs))]
    if args.weights is not None:
        per_class = max(2, len(real) // len(test.class_names))
        joints = motion_sets.generate_joints(args.weights, per_class, 0, "cpu", args.truncation)
        rows.append((f"generated, ψ {args.truncation:g} ({args.weights.name})", joints.joints))

    floor = None
    print("| set | speed W1 (m/s) | × floor | accel W1 (m/s²) | × floor |")
    print("|---|---|---|---|---|")
    for name, joints in rows:
        speed, accel = P.speed_w1(joints, real, fps), P.accel_w1(joints, real, fps)
        floor = floor or (speed, accel)
        print(f"| {name} | {speed:.4f} | {speed / floor[0]:.1f} | {accel:.3f} | "
              f"{accel / floor[1]:.1f} |")


if __name__ == "__main__":
    main()
