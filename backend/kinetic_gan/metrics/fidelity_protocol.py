"""``--protocol fidelity``: the nearest-class measure, an independent recogniser and a
classifier two-sample test, side by side with the ST-GCN accuracy (docs/metrics.md).

Everything here reads joints in metres ``(N, T, 25, 3)``; the ST-GCN alone gets model
units (its card's normalization), as the recognition protocol feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.metrics import fidelity as F
from kinetic_gan.metrics import two_sample


@dataclass
class Sets:
    """The real splits and the generated takes, joints in metres."""

    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    generated: np.ndarray
    asked: np.ndarray
    class_names: list[str]
    fps: float


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, k: int) -> list[float | None]:
    return [float((predicted[labels == c] == c).mean()) if (labels == c).any() else None
            for c in range(k)]


def recogniser_scores(predict, sets: Sets) -> dict[str, object]:
    """Accuracy of ``predict(joints) -> classes`` on the real test split and the generated takes."""
    k = len(sets.class_names)
    real, gen = predict(sets.test), predict(sets.generated)
    return {
        "real_test_accuracy": float((real == sets.test_labels).mean()),
        "generated_accuracy": float((gen == sets.asked).mean()),
        "generated_per_class": per_class_accuracy(gen, sets.asked, k),
    }


def sequence_predictor(path: str | Path, fps: float):
    from kinetic_gan.metrics import sequence_recognizer as SR

    model, card = SR.load(path)
    return (lambda joints: SR.predict(model, joints, fps)), card


def stgcn_predictor(path: str | Path, device: str):
    from kinetic_gan.data import Normalization
    from kinetic_gan.metrics.protocols import recognizer_outputs
    from kinetic_gan.metrics.recognizer import load_recognizer

    model, card = load_recognizer(path, device)
    norm = Normalization.from_dict(card.normalization) if card.normalization else None

    def predict(joints: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(joints, np.float32).transpose(0, 3, 1, 2))
        if norm is not None:
            x = np.asarray(norm.normalize(x), dtype=np.float32)
        return recognizer_outputs(model, x, device)[1].argmax(axis=1)

    return predict, card


def nearest_distances(generated: F.FidelityResult,
                      reference: F.FidelityResult) -> dict[str, object]:
    """How far takes are from any train window, beside how far the real test windows are;
    a *near copy* is a take closer to a train window than the median test window is."""
    near, ref = generated.distances.min(axis=1), reference.distances.min(axis=1)
    floor = float(np.median(ref))
    return {"generated_median": float(np.median(near)), "real_test_median": floor,
            "near_copies": int((near < floor).sum()),
            "rule": "near copy: nearer a train window than the median real test window"}


def fidelity_protocol(sets: Sets, sequence_recognizer: str | Path | None = None,
                      stgcn: str | Path | None = None, device: str = "cpu",
                      seed: int = 0) -> tuple[dict[str, object], F.FidelityResult]:
    bank = F.build_bank(sets.train, sets.train_labels, sets.fps, len(sets.class_names))
    generated = F.fidelity(sets.generated, sets.asked, sets.fps, bank, sets.class_names)
    reference = F.fidelity(sets.test, sets.test_labels, sets.fps, bank, sets.class_names)
    out: dict[str, object] = {
        "takes": len(sets.generated),
        "bank": {"windows": len(sets.train), "warps": list(F.WARPS), "mirrored": True,
                 "max_shift_frames": F.MAX_SHIFT, "group_share": F.GROUP_SHARE},
        "fidelity": generated.summary(),
        "real_test_fidelity": reference.summary()["faithful"],
        "nearest_distance": nearest_distances(generated, reference),
    }
    if sequence_recognizer is not None:
        predict, card = sequence_predictor(sequence_recognizer, sets.fps)
        out["independent_recognizer"] = {"path": str(sequence_recognizer),
                                         "family": card.family,
                                         **recogniser_scores(predict, sets)}
    if stgcn is not None:
        predict, _ = stgcn_predictor(stgcn, device)
        out["stgcn_recognizer"] = {"path": str(stgcn), **recogniser_scores(predict, sets)}
    out["two_sample"] = {
        "generated_vs_test": two_sample.two_sample_test(sets.generated, sets.test, sets.fps,
                                                        seed),
        "train_vs_test": two_sample.two_sample_test(sets.train, sets.test, sets.fps, seed),
    }
    return out, generated


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def format_fidelity(results: dict[str, object]) -> str:
    fid = results["fidelity"]
    seq = results.get("independent_recognizer")
    stgcn = results.get("stgcn_recognizer")
    head = f"{'class':<16} {'faithful':>8}  {'most confused with':<24}"
    head += f" {'GRU':>5}" if seq else ""
    head += f" {'ST-GCN':>6}" if stgcn else ""
    lines = [head]
    for c, row in enumerate(fid["per_class"]):
        confused = (f"{row['confused_with']} ({row['confused_share']:.2f})"
                    if row["confused_with"] else "—")
        line = f"{row['class']:<16} {_share(row['faithful']):>8}  {confused:<24}"
        for part, width in ((seq, 5), (stgcn, 6)):
            if part:
                line += f" {_share(part['generated_per_class'][c]):>{width}}"
        lines.append(line)
    lines.append(f"fidelity {fid['faithful']:.3f} over {results['takes']} takes (worst class "
                 f"{fid['worst_class_faithful']:.2f}); real test windows "
                 f"{results['real_test_fidelity']:.3f}")
    nd = results["nearest_distance"]
    lines.append(f"distance to the nearest train window (median): generated "
                 f"{nd['generated_median']:.3f}, real test {nd['real_test_median']:.3f}; "
                 f"{nd['near_copies']} near copies")
    for name, part in (("independent GRU", seq), ("ST-GCN", stgcn)):
        if part:
            lines.append(f"{name} accuracy: generated {part['generated_accuracy']:.3f}, "
                         f"real test {part['real_test_accuracy']:.3f}")
    ts = results["two_sample"]
    lines.append(f"two-sample test accuracy: generated vs test "
                 f"{ts['generated_vs_test']['accuracy']:.3f}, train vs test (floor) "
                 f"{ts['train_vs_test']['accuracy']:.3f}  (0.5: indistinguishable)")
    return "\n".join(lines)
