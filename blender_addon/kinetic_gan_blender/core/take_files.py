"""Raw joints of takes as ``.npz`` (numpy only): the backend's take-file layout, written by
its own writer (``records/take_file.py``, bundled in vendor/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..vendor.records.take_file import write_npz
from ..vendor.records.takes import GeneratedSet
from .atomic import atomic_path


def save_joints_npz(
    path: str | Path,
    joints: np.ndarray,
    *,
    joint_names: list[str] | tuple[str, ...],
    parents: list[int] | tuple[int, ...],
    fps: float = 30.0,
    class_names: list[str] | None = None,
    labels: list[int] | None = None,
    skeleton: str = "",
    units: str = "m",
    seed: int | None = None,
    truncation: float | None = None,
    cleanup: str | None = None,
) -> Path:
    """Write joints (T, V, 3) or (N, T, V, 3) — stored as (N, T, V, 3) float32 — atomically.

    ``cleanup``: the motion-cleanup steps the joints went through (``none`` for raw ones);
    stored as ``unknown`` when not given. Takes made here have no latents (``z`` (N, 0)).
    """
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim == 3:
        joints = joints[None]
    if joints.ndim != 4 or joints.shape[-1] not in (2, 3):
        raise ValueError(f"joints must be (T, V, C) or (N, T, V, C), got {joints.shape}")
    if joints.shape[2] != len(joint_names) or len(parents) != len(joint_names):
        raise ValueError("joint_names and parents must have one entry per joint")
    n = joints.shape[0]
    takes = GeneratedSet(
        joints=joints,
        labels=np.asarray(labels if labels is not None else [-1] * n, dtype=np.int64),
        class_names=list(class_names or [""] * n),
        z=np.zeros((n, 0), np.float32),
        fps=float(fps),
        skeleton=skeleton,
        joint_names=list(joint_names),
        parents=list(parents),
        units=units,
        cleanup="unknown" if cleanup is None else cleanup,
        seed=seed,
        truncation=truncation,
    )
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        write_npz(handle, takes)
    return target
