"""Generated motion on disk (numpy only, no torch): our ``.npz`` and the published layout.

``kinetic-gan generate``, ``kinetic-gan request`` and the add-on all write the same
``.npz`` keys: joints (N, T, V, C) float32 metres, labels, class_names, z, fps,
skeleton, joint_names, parents, units.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError


@dataclass
class GeneratedSet:
    """Generated joints and what they are: the layout of ``.npz`` files."""

    joints: np.ndarray  # (N, T, V, C) float32, metres (or normalised units, see ``units``)
    labels: np.ndarray  # (N,) int64
    class_names: list[str]  # one per sample
    z: np.ndarray  # (N, latent) float32
    fps: int
    skeleton: str
    joint_names: list[str]
    parents: list[int]
    units: str
    seed: int | None = None
    truncation: float | None = None


def save_npz(path: str | Path, result) -> Path:
    """Write the ``.npz`` layout shared by ``generate``, ``request`` and the add-on."""
    target = Path(path)
    arrays = {
        "joints": np.asarray(result.joints, dtype=np.float32),
        "labels": np.asarray(result.labels, dtype=np.int64),
        "class_names": np.asarray(list(result.class_names), dtype=str),
        "z": np.asarray(result.z, dtype=np.float32),
        "fps": np.asarray(int(result.fps)),
        "skeleton": np.asarray(str(result.skeleton)),
        "joint_names": np.asarray(list(result.joint_names), dtype=str),
        "parents": np.asarray(list(result.parents), dtype=np.int64),
        "units": np.asarray(str(result.units)),
    }
    with atomic_write(target, "wb") as fh:
        np.savez(fh, **arrays)
    return target


def load_npz(path: str | Path) -> GeneratedSet:
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = {"joints", "labels", "class_names", "fps", "skeleton"} - set(data.files)
            if missing:
                raise KineticGanError(f"{p}: not a Kinetic-GAN .npz (missing {sorted(missing)})")
            joints = data["joints"].astype(np.float32)
            if joints.ndim != 4:
                raise KineticGanError(f"{p}: joints must be (N, T, V, C), got {joints.shape}")
            return GeneratedSet(
                joints=joints,
                labels=data["labels"].astype(np.int64),
                class_names=[str(s) for s in data["class_names"]],
                z=data["z"] if "z" in data.files else np.zeros((len(joints), 0), np.float32),
                fps=int(data["fps"]),
                skeleton=str(data["skeleton"]),
                joint_names=[str(s) for s in data["joint_names"]] if "joint_names" in data else [],
                parents=[int(p) for p in data["parents"]] if "parents" in data else [],
                units=str(data["units"]) if "units" in data.files else "m",
            )
    except FileNotFoundError:
        raise KineticGanError(f"{p}: file not found") from None
    except (ValueError, OSError, KeyError) as exc:
        raise KineticGanError(f"{p}: unreadable .npz ({exc})") from None


def save_original(stem: str | Path, result: GeneratedSet) -> tuple[Path, Path]:
    """The published layout: ``STEM.npy`` (N, C, T, V, 1) + ``STEM.pkl`` (names, labels)."""
    data_path = Path(f"{stem}.npy")
    label_path = Path(f"{stem}.pkl")
    data = np.ascontiguousarray(result.joints.transpose(0, 3, 1, 2)[..., None], dtype=np.float32)
    with atomic_write(data_path, "wb") as fh:
        np.save(fh, data)
    names = [f"gen_{i:06d}_{result.class_names[i]}" for i in range(len(result.labels))]
    with atomic_path(label_path) as tmp, open(tmp, "wb") as fh:
        pickle.dump((names, [int(x) for x in result.labels]), fh)
    return data_path, label_path
