"""Fidelity of every deepmimic15-mlp4 the project shipped, read from the git history.

The shipped models form a ladder: two unguided ones (the paper's objective), then class
guidance (a frozen ST-GCN's cross-entropy in the generator's loss), then the motion priors
on top. Measuring all of them with the fidelity protocol (nearest real class, the
independent GRU, the two-sample test) beside the metrics ST-GCN and the *guide* ST-GCN tells
which step traded the action for what the recognisers look at.

    python benchmarks/fidelity_history.py [--per-class 40] [--truncation 1 0.7] [--out J]

Needs the git history (a clone, not an export) and data/deepmimic15.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import fidelity_protocol as FP
from kinetic_gan.metrics import motion_sets

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = "weights/deepmimic15-mlp4"
# (revision, what the model was) oldest first; the last is the shipped one.
LADDER = (
    ("ba2a34f", "interim, 1,477 unguided iterations"),
    ("c0bdf3c", "1,904 unguided iterations"),
    ("3e98fe9", "class guidance 0.5 (5,123 iterations in all)"),
    ("69bf9ac", "+ kinematic output, motion priors"),
    ("c43d0c8", "+ energy band"),
    ("b19c826", "+ speed term (shipped)"),
)


def extract(revision: str, folder: Path) -> Path:
    """``WEIGHTS`` at ``revision`` (weights + card) into ``folder``; returns the weights path."""
    out = folder / revision / "deepmimic15-mlp4.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        blob = subprocess.run(["git", "show", f"{revision}:{WEIGHTS}{suffix}"], cwd=ROOT,
                              check=True, capture_output=True).stdout
        out.with_suffix(suffix).write_bytes(blob)
    return out


def real_sets(data: Path) -> tuple[np.ndarray, ...]:
    train = motion_sets.open_real(data, "train")
    test = motion_sets.open_real(data, "test")
    metres = lambda ds: np.asarray(ds.array(normalized=False)).transpose(0, 2, 3, 1)  # noqa: E731
    return (metres(train), np.asarray(train.labels), metres(test), np.asarray(test.labels),
            list(train.class_names), float(test.fps))


def measure(weights: Path, real, per_class: int, psi: float | None, seed: int) -> dict:
    train, train_labels, test, test_labels, names, fps = real
    joints = motion_sets.generate_joints(weights, per_class, seed, "cpu", psi)
    sets = FP.Sets(train, train_labels, test, test_labels, joints.joints,
                   motion_sets.align_labels(joints.names, names, str(weights)), names, fps)
    body, _ = FP.fidelity_protocol(sets, ROOT / "weights/deepmimic15-gru",
                                   ROOT / "weights/deepmimic15-recognizer", "cpu", seed)
    guide, _ = FP.stgcn_predictor(ROOT / "weights/deepmimic15-guide", "cpu")
    body["guide_recognizer"] = FP.recogniser_scores(guide, sets)
    return body


def row(revision: str, what: str, psi: float | None, body: dict) -> str:
    fid = body["fidelity"]
    return (f"| {revision} | {what} | {psi or 1:g} | {fid['faithful']:.3f} | "
            f"{fid['worst_class_faithful']:.2f} | "
            f"{body['independent_recognizer']['generated_accuracy']:.3f} | "
            f"{body['stgcn_recognizer']['generated_accuracy']:.3f} | "
            f"{body['guide_recognizer']['generated_accuracy']:.3f} | "
            f"{body['two_sample']['generated_vs_test']['accuracy']:.3f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/deepmimic15")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--truncation", type=float, nargs="+", default=[1.0, 0.7])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="all results as JSON")
    args = parser.parse_args()
    real = real_sets(args.data)
    print("| model | what | ψ | fidelity | worst class | GRU | ST-GCN (metrics) | "
          "ST-GCN (guide) | two-sample |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for revision, what in LADDER:
            try:
                weights = extract(revision, Path(tmp))
            except subprocess.CalledProcessError:
                print(f"| {revision} | {what} | — | not in this clone's history |")
                continue
            for psi in args.truncation:
                psi_or_none = None if psi == 1.0 else psi
                try:
                    body = measure(weights, real, args.per_class, psi_or_none, args.seed)
                except KineticGanError as exc:
                    print(f"| {revision} | {what} | {psi:g} | cannot load: {exc} |")
                    continue
                results[f"{revision}@{psi:g}"] = {"what": what, **body}
                print(row(revision, what, psi_or_none, body), flush=True)
    floor = next(iter(results.values()))["two_sample"]["train_vs_test"]["accuracy"]
    print(f"(two-sample floor, real train vs test: {floor:.3f}; {args.per_class} takes per "
          f"class, seed {args.seed}; {time.perf_counter() - started:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
