"""Raw joints of takes as ``.npz`` (numpy only), the same keys the backend's files use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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

    ``cleanup``: the motion-cleanup steps the joints went through (``none`` for raw ones),
    stored as the backend's files store it; left out when not known.
    """
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim == 3:
        joints = joints[None]
    if joints.ndim != 4 or joints.shape[-1] not in (2, 3):
        raise ValueError(f"joints must be (T, V, C) or (N, T, V, C), got {joints.shape}")
    if joints.shape[2] != len(joint_names) or len(parents) != len(joint_names):
        raise ValueError("joint_names and parents must have one entry per joint")
    n = joints.shape[0]
    target = Path(path)
    extra = {} if cleanup is None else {"cleanup": np.asarray(cleanup)}
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            **extra,
            joints=joints,
            labels=np.asarray(labels if labels is not None else [-1] * n, dtype=np.int64),
            class_names=np.asarray(class_names or [""] * n),
            fps=np.float32(fps),
            skeleton=np.asarray(skeleton),
            joint_names=np.asarray(list(joint_names)),
            parents=np.asarray(list(parents), dtype=np.int64),
            units=np.asarray(units),
            seed=np.int64(-1 if seed is None else seed),
            truncation=np.float32(np.nan if truncation is None else truncation),
        )
    return target
