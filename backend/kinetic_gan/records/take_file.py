"""Generated takes on disk: the ``.npz`` layout, its one writer and its one reader.

One array per field of :class:`~.takes.GeneratedSet`, under the field's name: joints
(N, T, V, C) float32, labels int64, class_names, z float32, fps float64, skeleton,
joint_names, parents int64, units, cleanup, model, seed int64 (-1: not known), truncation
float64 (NaN: none) and vary_noise. ``kinetic-gan generate``, ``kinetic-gan request``,
training's sample dumps and the add-on's exports all write it.

Files written before a field existed still read: ``FILE_DEFAULTS`` says what its absence
means, and fps may be stored as an integer (as ``generate`` once wrote it) or a float.
"""

from __future__ import annotations

import dataclasses
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .takes import MAX_FPS, GeneratedSet, fps_is_valid, from_fields

# Uncompressed bytes an input .npz may hold: 1 GiB is ~5,000 takes of 64 frames. The cap is
# checked on the zip's directory before anything is inflated (a 3 MB zip can hold 3 GB).
MAX_NPZ_BYTES = 1 << 30

FILE_DEFAULTS: dict[str, Any] = {
    "z": None,  # the add-on's exports had no latents
    "joint_names": [],
    "parents": [],
    "units": "m",
    "cleanup": "none",
    "model": "",
    "seed": None,
    "truncation": None,
    "vary_noise": False,
}
_DTYPES = {
    "joints": np.float32, "labels": np.int64, "z": np.float32, "parents": np.int64,
    "fps": np.float64, "seed": np.int64, "truncation": np.float64, "vary_noise": np.bool_,
}
# An array holds no None: how "not known" is stored.
_STORED_NONE = {"seed": -1, "truncation": math.nan}


class TakeFileError(Exception):
    """A file that is not a readable take file; the message is one line naming the file."""


def write_npz(
    handle: BinaryIO, takes: GeneratedSet, extra: Mapping[str, np.ndarray] | None = None
) -> None:
    """Write ``takes`` to ``handle`` in the layout above (the caller makes it atomic).

    ``extra`` arrays (a shot's segments and codes) go in beside the fields under their own
    names; readers ignore arrays they do not know.
    """
    arrays = {}
    for name, value in (extra or {}).items():
        if name in takes.fields():
            raise ValueError(f"extra array {name!r} would replace a take field")
        arrays[name] = np.asarray(value)
    for name, value in takes.fields().items():
        value = _STORED_NONE[name] if value is None and name in _STORED_NONE else value
        arrays[name] = np.asarray(value, dtype=_DTYPES.get(name, str))
    np.savez(handle, **arrays)


def read_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> GeneratedSet:
    """The takes in ``path``, after :func:`check_npz`; TakeFileError for a bad file."""
    p = Path(path)
    check_npz(p, max_bytes)
    required = {f.name for f in dataclasses.fields(GeneratedSet)} - set(FILE_DEFAULTS)
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = required - set(data.files)
            if missing:
                raise TakeFileError(f"{p}: not a Kinetic-GAN .npz (missing {sorted(missing)})")
            takes = from_fields({name: data[name] for name in data.files}, FILE_DEFAULTS)
    except FileNotFoundError:
        raise TakeFileError(f"{p}: file not found") from None
    except (ValueError, TypeError, OSError, KeyError) as exc:
        raise TakeFileError(f"{p}: unreadable .npz ({exc})") from None
    if takes.joints.ndim != 4:
        raise TakeFileError(f"{p}: joints must be (N, T, V, C), got {takes.joints.shape}")
    return takes


def check_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> None:
    """Refuse, with one line, an .npz that is not a zip, too big unpacked, or lies.

    Reads only the zip directory, each array's header and the (scalar) ``fps``, so it costs
    nothing for a good file and never inflates a bomb.
    """
    p = Path(path)
    if not p.is_file():
        raise TakeFileError(f"{p}: file not found")
    fps = None
    try:
        with zipfile.ZipFile(p) as archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > max_bytes:
                raise TakeFileError(
                    f"{p}: unpacks to {total / 2**20:,.0f} MiB, over the "
                    f"{max_bytes / 2**20:,.0f} MiB limit for an input .npz"
                )
            for member in members:
                with archive.open(member) as handle:
                    shape, dtype = _npy_header(handle)
                    if dtype.hasobject:
                        raise TakeFileError(f"{p}: {member.filename} holds Python objects")
                    if math.prod(shape) * dtype.itemsize > member.file_size:
                        raise TakeFileError(
                            f"{p}: {member.filename} claims shape {shape}, more than it holds"
                        )
                if member.filename == "fps.npy":
                    with archive.open(member) as handle:
                        fps = np.lib.format.read_array(handle, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise TakeFileError(f"{p}: not a readable .npz (truncated or not a zip: {exc})") from None
    except (OSError, ValueError, EOFError) as exc:
        raise TakeFileError(f"{p}: unreadable .npz ({_first_line(exc)})") from None
    if fps is not None:
        value = fps.item() if fps.shape == () and fps.dtype.kind in "iuf" else None
        if value is None or not fps_is_valid(float(value)):
            raise TakeFileError(
                f"{p}: fps must be one number in 1..{MAX_FPS:g}, got {fps.dtype} {fps.shape}"
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


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
