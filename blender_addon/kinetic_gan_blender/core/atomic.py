"""Atomic file writes for the add-on: the backend's ``atomic.py``, bundled as
``vendor/atomic.py`` (one copy of the logic), and ``write_text`` for small text files.

A file is either complete or absent: write to a temp file beside it, then rename.
"""

from __future__ import annotations

import os

from ..vendor.atomic import atomic_path, atomic_write

__all__ = ["atomic_path", "atomic_write", "write_text"]


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
