"""``kinetic-gan evaluate``: score generated motions against real ones (docs/metrics.md).

--protocol kinetic-gan   the published FID (Inception) and MMD-a / MMD-s
--protocol recognition   FID / accuracy / diversity / multimodality on our recogniser
--protocol plausibility  physical statistics in metres
--protocol fidelity      is the action performed the one asked for (nearest real class,
                         an independent recogniser, a classifier two-sample test)

Real motions come from a dataset (``--real``); generated ones from a weights file
(sampled here, ``--per-class`` per class, fresh for every repeat) or a ``.npz``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_write
from kinetic_gan.errors import KineticGanError

PROTOCOLS = ("kinetic-gan", "recognition", "plausibility", "fidelity")
FIDELITY_PER_CLASS = 40
RECOGNITION_SAMPLES = 1000  # generated motions per draw, spread over the classes (as ACTOR)
RECOGNITION_REPEATS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", choices=PROTOCOLS, default="kinetic-gan")
    parser.add_argument("--real", required=True, type=Path, help="dataset folder or X_data.npy")
    parser.add_argument(
        "--generated", required=True, type=Path, help="WEIGHTS.safetensors or a generated .npz"
    )
    parser.add_argument("--inception-weights", type=Path, help="pt_inception-2015-12-05 file")
    parser.add_argument("--recognizer", type=Path, help="recogniser weights (train-recognizer)")
    parser.add_argument(
        "--split", help="real split (default: train for kinetic-gan as published, test otherwise)"
    )
    parser.add_argument("--frames", type=int, help="crop/tile real motions to this many frames")
    parser.add_argument("--per-class", type=int, help="generated motions per class and draw")
    parser.add_argument("--repeats", type=int, help=f"draws (recognition: {RECOGNITION_REPEATS})")
    parser.add_argument("--truncation", type=float, help="truncation ψ when sampling weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mmd-published-quirk",
        action="store_true",
        help="reproduce the published MMD script exactly: only the first motion of each class",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, …")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    fidelity = parser.add_argument_group("fidelity protocol")
    fidelity.add_argument("--sequence-recognizer", type=Path,
                          help="the independent recogniser (train-recognizer --family gru)")
    fidelity.add_argument("--confusion", type=Path,
                          help="confusion matrix PNG (default: beside --out, OUT_confusion.png)")
    fidelity.add_argument("--sheets", type=Path, help="write DIR/<class>.png: 2 real, 4 generated")


def _generated_draw(args, real, normalization, per_class: int, device: str):
    """A function r → the r-th generated MotionSet, in the same units as ``real``."""
    from kinetic_gan.metrics import motion_sets

    source = str(args.generated)
    if args.generated.suffix == ".npz":
        joints = motion_sets.read_npz(args.generated)
        fixed = motion_sets.to_model_units(joints, normalization, real.class_names, source)
        return lambda r: fixed
    if args.generated.suffix != ".safetensors":
        raise KineticGanError(f"{args.generated}: expected WEIGHTS.safetensors or FILE.npz")

    def draw(r: int):
        joints = motion_sets.generate_joints(
            args.generated, per_class, args.seed + r, device, args.truncation
        )
        return motion_sets.to_model_units(joints, normalization, real.class_names, source)

    return draw


def _real(args, split: str, normalization=None):
    from kinetic_gan.metrics import motion_sets

    dataset = motion_sets.open_real(args.real, split, args.frames)
    real = motion_sets.real_set(dataset, f"{args.real} ({split})")
    if normalization is not None:
        # Measure in the recogniser's units: undo the reader's scaling, apply the card's.
        metres = np.asarray(dataset.array(normalized=False), dtype=np.float32)
        real.motions = np.asarray(normalization.normalize(metres), dtype=np.float32)
    return real, normalization or dataset.normalization


def run_kinetic_gan(args, device: str) -> dict[str, object]:
    from kinetic_gan.metrics import fid, motion_sets, protocols

    inception = fid.load_fid_inception(args.inception_weights, device)  # fail before any work
    split = args.split or "train"
    real, normalization = _real(args, split)
    per_class = args.per_class or 100
    generated = _generated_draw(args, real, normalization, per_class, device)(0)
    motion_sets.check_compatible(real, generated)
    result = protocols.kinetic_gan_protocol(
        real, generated, inception, args.mmd_published_quirk, device
    )
    return {"split": split, **result}


def run_recognition(args, device: str) -> dict[str, object]:
    from kinetic_gan.data import Normalization
    from kinetic_gan.metrics import motion_sets, protocols
    from kinetic_gan.metrics.recognizer import load_recognizer

    if args.recognizer is None:
        raise KineticGanError(
            "the recognition protocol needs --recognizer WEIGHTS (train one with "
            "kinetic-gan train-recognizer)"
        )
    model, card = load_recognizer(args.recognizer, device)
    split = args.split or "test"
    card_norm = Normalization.from_dict(card.normalization) if card.normalization else None
    real, normalization = _real(args, split, card_norm)
    if real.skeleton != card.skeleton or list(real.class_names) != list(card.class_names):
        raise KineticGanError(
            f"{args.recognizer}: recogniser was trained on {card.skeleton} with classes "
            f"{card.class_names[:4]}…, the real data is {real.skeleton} with "
            f"{real.class_names[:4]}…"
        )
    per_class = args.per_class or math.ceil(RECOGNITION_SAMPLES / len(real.class_names))
    draw = _generated_draw(args, real, normalization, per_class, device)
    first = draw(0)
    motion_sets.check_compatible(real, first)
    repeats = args.repeats or (1 if args.generated.suffix == ".npz" else RECOGNITION_REPEATS)
    result = protocols.recognition_protocol(
        real, lambda r: first if r == 0 else draw(r), model, repeats, args.seed, device
    )
    return {
        "split": split,
        "recognizer": {"path": str(args.recognizer), "test_accuracy": card.test_accuracy},
        **result,
    }


def run_plausibility(args, device: str) -> dict[str, object]:
    """Physical statistics of the real split and the generated set, in metres."""
    from kinetic_gan.metrics import motion_sets
    from kinetic_gan.metrics import plausibility as P

    split = args.split or "test"
    test = motion_sets.open_real(args.real, split, args.frames)
    train = motion_sets.open_real(args.real, "train", args.frames)
    fps = float(test.fps)
    real_m = np.asarray(test.array(normalized=False)).transpose(0, 2, 3, 1)
    train_m = np.asarray(train.array(normalized=False)).transpose(0, 2, 3, 1)
    if args.generated.suffix == ".npz":
        joints = motion_sets.read_npz(args.generated)
    elif args.generated.suffix == ".safetensors":
        per_class = args.per_class or max(2, len(real_m) // len(test.class_names))
        joints = motion_sets.generate_joints(args.generated, per_class, args.seed, device,
                                             args.truncation)
    else:
        raise KineticGanError(f"{args.generated}: expected WEIGHTS.safetensors or FILE.npz")
    if joints.units != "m":
        raise KineticGanError(f"{args.generated}: plausibility needs joints in metres")
    real = P.statistics(real_m, fps, train_m, f"{args.real} ({split})")
    real.update(speed_w1=P.speed_w1(train_m, real_m, fps),
                accel_w1=P.accel_w1(train_m, real_m, fps))
    generated = P.statistics(joints.joints, fps, train_m, str(args.generated))
    generated.update(speed_w1=P.speed_w1(joints.joints, real_m, fps),
                     accel_w1=P.accel_w1(joints.joints, real_m, fps))
    return {"split": split, "truncation": args.truncation, "samples": len(joints.joints),
            "real": real, "generated": generated,
            "note": "real speed/accel W1 is train vs test (the noise floor); proportions vs train"}


def _generated_metres(args, per_class: int, device: str):
    from kinetic_gan.metrics import motion_sets

    if args.generated.suffix == ".npz":
        joints = motion_sets.read_npz(args.generated)
    elif args.generated.suffix == ".safetensors":
        joints = motion_sets.generate_joints(args.generated, per_class, args.seed, device,
                                             args.truncation)
    else:
        raise KineticGanError(f"{args.generated}: expected WEIGHTS.safetensors or FILE.npz")
    if joints.units != "m" or joints.skeleton != "ntu":
        raise KineticGanError(f"{args.generated}: fidelity needs NTU-25 joints in metres")
    return joints


def run_fidelity(args, device: str) -> dict[str, object]:
    from kinetic_gan.metrics import fidelity_figures, motion_sets
    from kinetic_gan.metrics import fidelity_protocol as FP

    split = args.split or "test"
    test = motion_sets.open_real(args.real, split, args.frames)
    train = motion_sets.open_real(args.real, "train", args.frames)
    if test.skeleton != "ntu":
        raise KineticGanError(f"{args.real}: fidelity needs 3-D NTU-25 joints")
    joints = _generated_metres(args, args.per_class or FIDELITY_PER_CLASS, device)
    if joints.joints.shape[1] != test.shape[1]:
        raise KineticGanError(f"frames differ: real {test.shape[1]}, generated "
                              f"{joints.joints.shape[1]} (pass --frames)")
    metres = lambda ds: np.asarray(ds.array(normalized=False)).transpose(0, 2, 3, 1)  # noqa: E731
    sets = FP.Sets(metres(train), np.asarray(train.labels), metres(test), np.asarray(test.labels),
                   joints.joints, motion_sets.align_labels(joints.names, train.class_names,
                                                           str(args.generated)),
                   list(train.class_names), float(test.fps))
    body, result = FP.fidelity_protocol(sets, args.sequence_recognizer, args.recognizer,
                                        device, args.seed)
    psi = "" if args.truncation is None else f", ψ {args.truncation:g}"
    confusion = args.confusion or (args.out.with_name(args.out.stem + "_confusion.png")
                                   if args.out else None)
    if confusion:
        fidelity_figures.confusion_png(confusion, result.confusion(), sets.class_names,
                                       f"{args.generated.name}{psi}: nearest real class")
        body["confusion_png"] = str(confusion)
    if args.sheets:
        shown = 1.0 if args.truncation is None else args.truncation
        fidelity_figures.class_sheets(args.sheets, sets.test, sets.test_labels, sets.generated,
                                      result.asked, result.nearest, sets.class_names,
                                      f"generated at psi {shown:g}")
        body["sheets"] = str(args.sheets)
    return {"split": split, "truncation": args.truncation, "seed": args.seed, **body}


def format_table(results: dict[str, object]) -> str:
    if results["protocol"] == "fidelity":
        from kinetic_gan.metrics.fidelity_protocol import format_fidelity

        return format_fidelity(results)
    if results["protocol"] == "plausibility":
        real, gen = results["real"], results["generated"]
        lines = [f"{'statistic':<26}  {'real':>10}  {'generated':>10}  {'ratio':>8}"]
        for key, r in real.items():
            g = gen[key]
            ratio = f"{g / r:.2f}" if abs(r) > 1e-12 else "—"
            lines.append(f"{key:<26}  {r:>10.4f}  {g:>10.4f}  {ratio:>8}")
        lines.append(f"({results['samples']} generated takes; {results['note']})")
        return "\n".join(lines)
    if results["protocol"] == "kinetic-gan":
        quirk = " (published quirk)" if results["mmd_published_quirk"] else ""
        rows = [("FID", results["fid"]), (f"MMD-a{quirk}", results["mmd_a"]),
                (f"MMD-s{quirk}", results["mmd_s"])]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {value:.4f}" for name, value in rows)
    header = f"{'':<10}  {'FID':>16}  {'accuracy':>16}  {'diversity':>16}  {'multimodality':>16}"
    lines = [header]
    for who in ("real", "generated"):
        cells = []
        for metric in ("fid", "accuracy", "diversity", "multimodality"):
            est = results[who].get(metric)
            cells.append("—" if est is None else f"{est['mean']:.3f} ± {est['ci95']:.3f}")
        lines.append(f"{who:<10}  " + "  ".join(f"{c:>16}" for c in cells))
    lines.append(f"(mean ± 95% CI over {results['repeats']} draws)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from kinetic_gan.devices import resolve_device

    device = str(resolve_device(args.device))
    if args.repeats is not None and args.repeats < 1:
        raise KineticGanError("--repeats must be at least 1")
    if args.per_class is not None and args.per_class < 2:
        raise KineticGanError("--per-class must be at least 2")
    runner = {"kinetic-gan": run_kinetic_gan, "recognition": run_recognition,
              "plausibility": run_plausibility, "fidelity": run_fidelity}[args.protocol]
    body = runner(args, device)
    results = {
        "protocol": args.protocol,
        "real": str(args.real),
        "generated": str(args.generated),
        **body,
    }
    print(format_table(results))
    if args.out:
        with atomic_write(args.out, "w") as handle:
            json.dump(results, handle, indent=2)
            handle.write("\n")
        print(f"wrote {args.out}")
    return 0
