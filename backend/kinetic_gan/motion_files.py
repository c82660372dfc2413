"""Generated motion on disk (numpy only, no torch): our ``.npz`` and the published layout.

The ``.npz`` layout is ``records/take_file.py``'s (one writer, one reader, shared with the
add-on); here it is written atomically and its errors become :class:`KineticGanError`.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError
from kinetic_gan.records import take_file
from kinetic_gan.records.takes import GeneratedSet


def save_npz(path: str | Path, result: GeneratedSet, cleanup: str | None = None) -> Path:
    """Write ``result`` as a take file; ``cleanup`` (default ``result.cleanup``) records the
    cleanup steps its joints went through."""
    target = Path(path)
    takes = dataclasses.replace(result, cleanup=cleanup) if cleanup else result
    with atomic_write(target, "wb") as fh:
        take_file.write_npz(fh, takes)
    return target


def check_npz(path: str | Path, max_bytes: int = take_file.MAX_NPZ_BYTES) -> None:
    """Refuse, with one line, an .npz that is not a zip, too big unpacked, or lies."""
    try:
        take_file.check_npz(path, max_bytes)
    except take_file.TakeFileError as exc:
        raise KineticGanError(str(exc)) from None


def load_npz(path: str | Path) -> GeneratedSet:
    try:
        return take_file.read_npz(path)
    except take_file.TakeFileError as exc:
        raise KineticGanError(str(exc)) from None


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
