"""Generated motion on disk (numpy only, no torch): our ``.npz`` and the published layout.

``kinetic-gan generate``, ``kinetic-gan request`` and the add-on all write the same
``.npz`` keys: joints (N, T, V, C) float32 metres, labels, class_names, z, fps,
skeleton, joint_names, parents, units, and cleanup (the motion-cleanup steps that ran,
``none`` for the generator's raw output).
"""

from __future__ import annotations

import math
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError, first_line


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
    cleanup: str = "none"  # the motion_cleanup steps that ran, comma-separated


def save_npz(path: str | Path, result, cleanup: str | None = None) -> Path:
    """Write the ``.npz`` layout shared by ``generate``, ``request`` and the add-on.

    ``cleanup`` (default: ``result.cleanup``, else ``none``) records the cleanup steps.
    """
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
        "cleanup": np.asarray(str(cleanup or getattr(result, "cleanup", "none"))),
    }
    with atomic_write(target, "wb") as fh:
        np.savez(fh, **arrays)
    return target


# Uncompressed bytes an input .npz may hold: 1 GiB is ~5,000 takes of 64 frames. The cap is
# checked on the zip's directory before anything is inflated (a 3 MB zip can hold 3 GB).
MAX_NPZ_BYTES = 1 << 30


def check_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> None:
    """Refuse, with one line, an .npz that is not a zip, too big unpacked, or lies.

    Reads only the zip directory, each array's header and the (scalar) ``fps``, so it costs
    nothing for a good file and never inflates a bomb.
    """
    p = Path(path)
    if not p.is_file():
        raise KineticGanError(f"{p}: file not found")
    fps = None
    try:
        with zipfile.ZipFile(p) as archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > max_bytes:
                raise KineticGanError(
                    f"{p}: unpacks to {total / 2**20:,.0f} MiB, over the "
                    f"{max_bytes / 2**20:,.0f} MiB limit for an input .npz"
                )
            for member in members:
                with archive.open(member) as handle:
                    shape, dtype = _npy_header(handle)
                    if dtype.hasobject:
                        raise KineticGanError(f"{p}: {member.filename} holds Python objects")
                    if math.prod(shape) * dtype.itemsize > member.file_size:
                        raise KineticGanError(
                            f"{p}: {member.filename} claims shape {shape}, more than it holds"
                        )
                if member.filename == "fps.npy":
                    with archive.open(member) as handle:
                        fps = np.lib.format.read_array(handle, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise KineticGanError(f"{p}: not a readable .npz (truncated or not a zip: {exc})") from None
    except (OSError, ValueError, EOFError) as exc:
        raise KineticGanError(f"{p}: unreadable .npz ({first_line(exc)})") from None
    if fps is not None:
        value = fps.item() if fps.shape == () and fps.dtype.kind in "iuf" else None
        if value is None or not (math.isfinite(value) and 1 <= value <= 1000):
            raise KineticGanError(
                f"{p}: fps must be one number in 1..1000, got {fps.dtype} {fps.shape}"
                + (f" = {value}" if value is not None else "")
            )


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    fmt = np.lib.format
    read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in read:
        raise ValueError(f".npy format version {version} is not supported")
    shape, _, dtype = read[version](handle)
    return shape, dtype


def load_npz(path: str | Path) -> GeneratedSet:
    p = Path(path)
    check_npz(p)
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
                cleanup=str(data["cleanup"]) if "cleanup" in data.files else "none",
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
