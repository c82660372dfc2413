"""How firmly each recogniser names generated takes, under changes it was trained to ignore.

The metrics ST-GCN, the guide ST-GCN (the network class guidance trained the generator
against) and the independent GRU were all trained with mirroring, yaw turns and time warps,
so their verdicts on real windows survive them. If a generator learnt the cues one network
family looks at rather than the action, that family's verdict on generated takes is the
brittle one: it falls under a mirror or a slight time warp while the real windows' does not.

    python benchmarks/recogniser_brittleness.py [--per-class 40] [--truncation 0.7]

Prints accuracy on the real test split and on the generated takes, per change, per recogniser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kinetic_gan.data.augment import random_yaw
from kinetic_gan.metrics import fidelity, motion_sets
from kinetic_gan.metrics import fidelity_protocol as FP
from kinetic_gan.metrics.body_features import mirrored

ROOT = Path(__file__).resolve().parents[1]


def turned(joints: np.ndarray, degrees: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([random_yaw(j, rng, degrees) for j in joints]).astype(np.float32)


CHANGES = {
    "none": lambda j: j,
    "mirror": mirrored,
    "0.9x speed": lambda j: fidelity.time_warped(j, 0.9).astype(np.float32),
    "1.1x speed": lambda j: fidelity.time_warped(j, 1.1).astype(np.float32),
    "yaw up to 30 deg": lambda j: turned(j, 30.0),
    "1 cm noise": lambda j: (j + np.random.default_rng(1).normal(0, 0.01, j.shape)
                             ).astype(np.float32),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path,
                        default=ROOT / "weights/deepmimic15-mlp4.safetensors")
    parser.add_argument("--data", type=Path, default=ROOT / "data/deepmimic15")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--truncation", type=float)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    test = motion_sets.open_real(args.data, "test")
    real = np.asarray(test.array(normalized=False)).transpose(0, 2, 3, 1).astype(np.float32)
    real_labels = np.asarray(test.labels)
    joints = motion_sets.generate_joints(args.weights, args.per_class, args.seed, "cpu",
                                         args.truncation)
    asked = motion_sets.align_labels(joints.names, list(test.class_names), str(args.weights))
    fps = float(test.fps)
    recognisers = {
        "ST-GCN metrics": FP.stgcn_predictor(ROOT / "weights/deepmimic15-recognizer", "cpu")[0],
        "ST-GCN guide": FP.stgcn_predictor(ROOT / "weights/deepmimic15-guide", "cpu")[0],
        "GRU": FP.sequence_predictor(ROOT / "weights/deepmimic15-gru", fps)[0],
    }
    psi = args.truncation or 1.0
    print(f"accuracy, real test windows / generated takes ({args.weights.name}, ψ {psi:g}, "
          f"{len(asked)} takes)")
    print("| change | " + " | ".join(recognisers) + " |")
    print("|---|" + "---|" * len(recognisers))
    for name, change in CHANGES.items():
        cells = []
        for predict in recognisers.values():
            r = float((predict(change(real)) == real_labels).mean())
            g = float((predict(change(joints.joints)) == asked).mean())
            cells.append(f"{r:.3f} / {g:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
