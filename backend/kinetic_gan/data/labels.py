"""Reading the published ``(sample_names, labels)`` pickles — safely.

Pickles can run code when loaded, so we only load local files the user names, and with an
unpickler that refuses every global except plain containers and numpy scalars/arrays (the
published label files hold lists of str and int, sometimes numpy ints).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError

_ALLOWED = {
    ("builtins", "list"), ("builtins", "tuple"), ("builtins", "dict"), ("builtins", "set"),
    ("builtins", "str"), ("builtins", "int"), ("builtins", "float"), ("builtins", "bytes"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_labels(path: str | Path) -> tuple[list[str], np.ndarray]:
    """``(sample_names, labels)`` from a published label pickle; labels as int64."""
    path = Path(path)
    where = f"labels {path}"
    if not path.is_file():
        raise KineticGanError(f"{where}: file not found")
    try:
        with open(path, "rb") as handle:
            obj = _RestrictedUnpickler(handle).load()
    except pickle.UnpicklingError as exc:
        raise KineticGanError(f"{where}: unreadable or unsafe pickle ({exc})") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            ImportError, MemoryError, OverflowError, UnicodeDecodeError) as exc:
        raise KineticGanError(f"{where}: unreadable pickle ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(obj, tuple | list) and len(obj) == 2):
        raise KineticGanError(f"{where}: expected a (sample_names, labels) pair")
    names, labels = obj
    try:
        names = [str(n) for n in names]
        raw = np.asarray(labels)
        if raw.ndim != 1 or not (np.issubdtype(raw.dtype, np.integer) or raw.size == 0):
            raise ValueError(f"labels must be a flat list of integers, got dtype {raw.dtype}")
        labels = raw.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise KineticGanError(f"{where}: {exc}") from exc
    if len(names) != len(labels):
        raise KineticGanError(f"{where}: {len(names)} sample names but {len(labels)} labels")
    if (labels < 0).any():
        raise KineticGanError(f"{where}: negative labels")
    return names, labels
