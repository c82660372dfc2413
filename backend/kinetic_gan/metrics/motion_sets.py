"""Motion sets for evaluation and previews: read, generate, align and check them.

A ``MotionSet`` is motions in *model units* — ``(N, C, T, V)`` normalized to [-1, 1] with
one ``Normalization`` — plus labels and class names. Real sets come from the dataset
readers (``kinetic_gan.data``); generated sets from a weights file (sampled here) or an
``.npz`` written by ``kinetic-gan generate``. Generated joints in metres are normalized
with the *real* set's statistics, so both sides are measured in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.records.takes import NORMALIZED_UNITS


@dataclass
class MotionSet:
    motions: np.ndarray  # (N, C, T, V) float32 in model units
    labels: np.ndarray  # (N,) int64, indices into class_names
    class_names: list[str]
    skeleton: str
    fps: float
    source: str

    @property
    def frames(self) -> int:
        return int(self.motions.shape[2])


@dataclass
class Joints:
    """Joints as they leave the backend: (N, T, V, C), metres or normalized units."""

    joints: np.ndarray
    names: list[str]  # the class name of each sample (the .npz layout of ``generate``)
    skeleton: str
    fps: float
    units: str  # "m" | NORMALIZED_UNITS


def open_real(path: str | Path, split: str, frames: int | None = None):
    """The dataset reader's view of ``path`` (a dataset folder or an ``X_data.npy``)."""
    from kinetic_gan.data import open_dataset

    return open_dataset(Path(path), layout="auto", split=split, frames=frames)


def real_set(dataset, source: str) -> MotionSet:
    return MotionSet(
        motions=np.ascontiguousarray(dataset.array(normalized=True), dtype=np.float32),
        labels=np.asarray(dataset.labels, dtype=np.int64),
        class_names=list(dataset.class_names),
        skeleton=get_skeleton_name(dataset.skeleton),
        fps=float(dataset.fps),
        source=source,
    )


def get_skeleton_name(name: str) -> str:
    from kinetic_gan.skeletons import get_skeleton

    return get_skeleton(name).name


def read_npz(path: str | Path) -> Joints:
    """A ``kinetic-gan generate`` .npz (keys joints, labels, class_names, fps, skeleton, units)."""
    path = Path(path)
    if not path.is_file():
        raise KineticGanError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise KineticGanError(f"{path}: not a readable .npz ({exc})") from None
    missing = [k for k in ("joints", "labels", "class_names", "skeleton") if k not in fields]
    if missing:
        raise KineticGanError(f"{path}: .npz lacks {missing[0]!r} (expected generate's layout)")
    joints = np.asarray(fields["joints"], dtype=np.float32)
    labels = np.asarray(fields["labels"]).astype(np.int64).reshape(-1)
    if joints.ndim != 4 or len(joints) != len(labels):
        raise KineticGanError(
            f"{path}: joints {joints.shape} and labels {labels.shape} do not describe (N, T, V, C)"
        )
    class_names = [str(c) for c in np.atleast_1d(fields["class_names"])]
    if len(class_names) != len(labels):
        # Not one name per sample: read it as a class table that the labels index.
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise KineticGanError(f"{path}: labels outside the {len(class_names)} class names")
        class_names = [class_names[i] for i in labels]
    units = str(fields["units"]) if "units" in fields else "m"
    fps = float(fields["fps"]) if "fps" in fields else 30.0
    return Joints(joints, class_names, str(fields["skeleton"]), fps, units)


def generate_joints(
    weights: str | Path, per_class: int, seed: int, device: str, truncation: float | None = None
) -> Joints:
    """``per_class`` samples of every class of the model in ``weights``."""
    from kinetic_gan import load_generator
    from kinetic_gan.generate import generate

    generator = load_generator(weights, device=device)
    parts = []
    for c in range(generator.card.n_classes):
        # One seed per class keeps each class's draw independent of the class count.
        parts.append(generate(generator, action=c, count=per_class, seed=seed * 100_003 + c,
                              truncation=truncation))
    first = parts[0]
    return Joints(
        joints=np.concatenate([np.asarray(p.joints, dtype=np.float32) for p in parts]),
        names=[generator.card.class_names[int(c)] for p in parts for c in p.labels],
        skeleton=str(first.skeleton),
        fps=float(first.fps),
        units=str(first.units),
    )


def to_model_units(joints: Joints, normalization, class_names: list[str], source: str) -> MotionSet:
    """Generated joints → a MotionSet in the real set's units, labels mapped by class name."""
    labels = align_labels(joints.names, class_names, source)
    x = np.ascontiguousarray(joints.joints.transpose(0, 3, 1, 2), dtype=np.float32)
    if joints.units != NORMALIZED_UNITS:
        x = np.asarray(normalization.normalize(x), dtype=np.float32)
    return MotionSet(x, labels, list(class_names), get_skeleton_name(joints.skeleton), joints.fps,
                     source)


def align_labels(names: list[str], reference: list[str], source: str) -> np.ndarray:
    """Each sample's class name → its index in ``reference`` (the real data's classes)."""
    index = {n: i for i, n in enumerate(reference)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise KineticGanError(
            f"{source}: class {unknown[0]!r} is not in the real data's classes "
            f"({', '.join(reference[:6])}{', …' if len(reference) > 6 else ''})"
        )
    return np.array([index[n] for n in names], dtype=np.int64)


def check_compatible(real: MotionSet, generated: MotionSet) -> None:
    """One clear error when the two sets cannot be compared."""
    if real.skeleton != generated.skeleton:
        raise KineticGanError(
            f"skeletons differ: real data ({real.source}) is {real.skeleton}, "
            f"generated ({generated.source}) is {generated.skeleton}"
        )
    if real.motions.shape[1] != generated.motions.shape[1]:
        raise KineticGanError(
            f"channels differ: real has {real.motions.shape[1]}, "
            f"generated {generated.motions.shape[1]}"
        )
    if real.frames != generated.frames:
        raise KineticGanError(
            f"frames differ: real data has {real.frames} frames per motion, generated has "
            f"{generated.frames}; pass --frames {generated.frames} to crop (or tile) the real set "
            f"as the published scripts did"
        )
