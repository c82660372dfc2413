"""The one dataset reader: published NTU-60/120, NTU-2D and H36M layouts, and our corpora.

Published layout: ``X_data.npy`` (N, C, T, V, M) for NTU (M bodies, only body 0 is used) or
(N, C, T, V) for H36M, with ``X_label.pkl`` = ``(sample_names, labels)``. A dataset folder
holds ``{split}_data.npy`` / ``{split}_label.pkl`` (``val_*`` is accepted for ``test``) and,
for corpora we build, a ``meta.json``. Arrays stay memory-mapped; items are copied out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kinetic_gan.data import augment as augmentation
from kinetic_gan.data.classes import class_table
from kinetic_gan.data.labels import read_labels
from kinetic_gan.data.normalization import Normalization
from kinetic_gan.errors import KineticGanError

LAYOUTS = ("auto", "ntu", "ntu120", "ntu2d", "h36m")
# layout -> (skeleton, channels, joints, has a bodies axis, default fps)
_SHAPES = {
    "ntu": ("ntu", 3, 25, True, 30), "ntu120": ("ntu", 3, 25, True, 30),
    "ntu2d": ("ntu2d", 2, 25, True, 30), "h36m": ("h36m", 3, 16, False, 50),
}


class MotionDataset:
    """Samples ``(x (C, T, V) float32 in [-1, 1], label)``; see docs/architecture.md §Data."""

    def __init__(self, data: np.ndarray, labels: np.ndarray, sample_names: list[str],
                 class_names: list[str], skeleton: str, fps: int, frames: int | None,
                 normalization: Normalization, index: np.ndarray, source_labels: np.ndarray,
                 augment: augmentation.Augment | None, where: str) -> None:
        self._data = data  # (N, C, T, V[, M]) possibly a memory map; never modified
        self._index = index  # rows of _data this dataset uses
        self.labels = labels
        self.source_labels = source_labels
        self.sample_names = sample_names
        self.class_names = class_names
        self.skeleton = skeleton
        self.fps = fps
        self.stored_frames = int(data.shape[2])  # T in the file, before cropping or tiling
        self.frames = frames if frames is not None else self.stored_frames
        self.normalization = normalization
        self.augment = augment
        self.epoch = 0
        self.where = where

    def __len__(self) -> int:
        return len(self._index)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, T, V) of one item."""
        return (int(self._data.shape[1]), self.frames, int(self._data.shape[3]))

    def set_epoch(self, epoch: int) -> None:
        """Augmentation of item i in epoch e is seeded by (seed, e, i)."""
        self.epoch = int(epoch)

    def raw(self, i: int) -> np.ndarray:
        """Item ``i`` in original units, (C, T, V) float32, cropped/tiled, body 0."""
        row = np.asarray(self._data[self._index[i]], dtype=np.float32)
        if row.ndim == 4:
            row = row[..., 0]
        return fit_frames(row, self.frames)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = i % len(self)
        x = self.raw(i)
        if self.augment is not None:
            rng = np.random.default_rng((self.augment.seed, self.epoch, i))
            joints = augmentation.apply(x.transpose(1, 2, 0), self.augment, rng, self.skeleton)
            x = joints.transpose(2, 0, 1)
            return np.clip(self.normalization.normalize(x), -1.0, 1.0), int(self.labels[i])
        return self.normalization.normalize(x), int(self.labels[i])

    def array(self, normalized: bool = True) -> np.ndarray:
        """All items, (N, C, T, V) float32, without augmentation."""
        out = np.empty((len(self), *self.shape), dtype=np.float32)
        for start in range(0, len(self), 512):
            rows = np.asarray(self._data[self._index[start : start + 512]], dtype=np.float32)
            if rows.ndim == 5:
                rows = rows[..., 0]
            out[start : start + len(rows)] = fit_frames(rows, self.frames)
        return self.normalization.normalize(out) if normalized else out

    def __repr__(self) -> str:
        return (f"MotionDataset({self.where}, n={len(self)}, classes={self.num_classes}, "
                f"skeleton={self.skeleton}, shape={self.shape})")


def fit_frames(x: np.ndarray, frames: int) -> np.ndarray:
    """Crop the time axis (axis −2 of (..., C, T, V)) to its first ``frames``, or tile it."""
    t = x.shape[-2]
    if t >= frames:
        return x[..., :frames, :]
    reps = -(-frames // t)
    return np.concatenate([x] * reps, axis=-2)[..., :frames, :]


def open_dataset(path: str | Path, layout: str = "auto", split: str = "train",
                 frames: int | None = 64, classes: Sequence[int | str] | None = None,
                 normalization: Normalization | None = None,
                 augment: augmentation.Augment | None = None) -> MotionDataset:
    """Open a dataset folder or an explicit ``X_data.npy`` (see module docstring)."""
    if layout not in LAYOUTS:
        raise KineticGanError(f"dataset: unknown layout {layout!r} (one of {', '.join(LAYOUTS)})")
    data_path, label_path, meta = _locate(Path(path), split)
    data = _load_array(data_path)
    names, labels = read_labels(label_path)
    where = str(data_path)
    if len(labels) != len(data):
        raise KineticGanError(
            f"dataset {where}: {len(data)} samples but {len(labels)} labels in {label_path.name}"
        )
    layout = _resolve_layout(layout, data, labels, meta, where)
    skeleton, channels, joints, bodies, fps = _SHAPES[layout]
    _check_shape(data, channels, joints, bodies, where)
    if frames is not None and frames < 1:
        raise KineticGanError(f"dataset {where}: frames must be ≥ 1, got {frames}")
    table = list(meta.get("class_names") or class_table(layout))
    if len(labels) and labels.max() >= len(table):
        raise KineticGanError(
            f"dataset {where}: label {labels.max()} is outside the {len(table)}-class table "
            f"of layout {layout!r}"
        )
    index, new_labels, class_names = _select_classes(labels, table, classes, where)
    if len(index) == 0:
        raise KineticGanError(f"dataset {where}: no samples left after class filtering")
    if normalization is None and meta.get("normalization"):
        normalization = Normalization.from_dict(meta["normalization"])
    # one pass over the selected rows: refuse NaN/Inf and, unless given, take min and max
    lo, hi = _scan(data, index, frames, where)
    if normalization is None:
        if not hi > lo:
            raise KineticGanError(f"dataset {where}: every value is {lo}; nothing to normalize")
        normalization = Normalization(lo, hi)
    ds = MotionDataset(
        data=data, labels=new_labels, sample_names=[names[i] for i in index],
        class_names=class_names, skeleton=meta.get("skeleton", skeleton),
        fps=int(meta.get("fps", fps)), frames=frames,
        normalization=normalization, index=index, source_labels=labels[index],
        augment=augment, where=where,
    )
    return ds


def _locate(path: Path, split: str) -> tuple[Path, Path, dict]:
    if path.is_dir():
        meta = _read_meta(path / "meta.json")
        candidates = [split] + (["val"] if split == "test" else [])
        for name in candidates:
            data, label = path / f"{name}_data.npy", path / f"{name}_label.pkl"
            if data.is_file():
                return data, label, meta
        raise KineticGanError(f"dataset {path}: no {split}_data.npy in this folder")
    if path.suffix != ".npy":
        raise KineticGanError(f"dataset {path}: expected a folder or a .npy file")
    if not path.is_file():
        raise KineticGanError(f"dataset {path}: file not found")
    stem = path.name[: -len("_data.npy")] if path.name.endswith("_data.npy") else path.stem
    label = path.with_name(f"{stem}_label.pkl")
    if not label.is_file() and path.with_suffix(".pkl").is_file():
        label = path.with_suffix(".pkl")
    return path, label, _read_meta(path.parent / "meta.json")


def _read_meta(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KineticGanError(f"dataset meta {path}: not readable JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise KineticGanError(f"dataset meta {path}: expected a JSON object")
    return meta


def _load_array(path: Path) -> np.ndarray:
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise KineticGanError(f"dataset {path}: corrupt or unreadable .npy ({exc})") from exc
    if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.floating):
        raise KineticGanError(f"dataset {path}: expected a float array, got {data.dtype}")
    return data


def _resolve_layout(layout: str, data: np.ndarray, labels: np.ndarray, meta: dict,
                    where: str) -> str:
    if layout != "auto":
        return layout
    if meta.get("skeleton") in ("ntu", "ntu2d", "h36m"):
        return meta["skeleton"]
    if data.ndim == 5 and data.shape[3] == 25:
        if data.shape[1] == 2:
            return "ntu2d"
        return "ntu120" if len(labels) and labels.max() >= 60 else "ntu"
    if data.ndim == 4 and data.shape[3] == 16:
        return "h36m"
    raise KineticGanError(
        f"dataset {where}: shape {data.shape} is none of (N, 3|2, T, 25, M) or (N, C, T, 16)"
    )


def _check_shape(data: np.ndarray, channels: int, joints: int, bodies: bool, where: str) -> None:
    want = f"(N, {channels}, T, {joints}" + (", M)" if bodies else ")")
    ndim = 5 if bodies else 4
    if data.ndim != ndim or data.shape[1] != channels or data.shape[3] != joints or \
            data.shape[2] < 1 or (bodies and data.shape[4] < 1):
        raise KineticGanError(f"dataset {where}: expected shape {want}, got {data.shape}")


def _select_classes(labels: np.ndarray, table: list[str],
                    classes: Sequence[int | str] | None,
                    where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if classes is None:
        return np.arange(len(labels)), labels.copy(), table
    ids = []
    for c in classes:
        if isinstance(c, str):
            if c not in table:
                raise KineticGanError(f"dataset {where}: unknown class name {c!r}")
            ids.append(table.index(c))
        elif isinstance(c, int | np.integer) and 0 <= c < len(table):
            ids.append(int(c))
        else:
            raise KineticGanError(f"dataset {where}: class id {c!r} outside 0..{len(table) - 1}")
    if len(set(ids)) != len(ids):
        raise KineticGanError(f"dataset {where}: a class is listed twice in {list(classes)}")
    remap = np.full(len(table), -1, dtype=np.int64)
    remap[ids] = np.arange(len(ids))
    index = np.flatnonzero(remap[labels] >= 0)
    return index, remap[labels[index]], [table[i] for i in ids]


def _scan(data: np.ndarray, index: np.ndarray, frames: int | None, where: str,
          chunk: int = 256) -> tuple[float, float]:
    """Check the selected rows are finite; return their min and max (body 0, cropped/tiled)."""
    lo, hi = np.inf, -np.inf
    for start in range(0, len(index), chunk):
        rows = np.asarray(data[index[start : start + chunk]])
        if not np.isfinite(rows).all():
            raise KineticGanError(f"dataset {where}: contains NaN or Inf values")
        if rows.ndim == 5:
            rows = rows[..., 0]
        if frames is not None:
            rows = fit_frames(rows, frames)
        lo, hi = min(lo, float(rows.min())), max(hi, float(rows.max()))
    return lo, hi
