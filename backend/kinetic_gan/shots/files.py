"""A shot on disk: the take file layout (one take of all frames) plus the shot's arrays.

``segment_starts``/``segment_frames``/``segment_actions``, ``window_starts``,
``window_labels``, ``window_codes`` (each window's optimised w), ``window_placements``
(yaw, x, z), ``window_pace`` (a path shot's windows are planned on a timeline that much
longer and played back in its frames: window starts are on that timeline), ``loop``
(none | in_place | advance), ``loop_advance`` and ``path`` when they apply. Take-file
readers ignore arrays they do not know, so ``load_npz``, ``kinetic-gan preview`` and the
add-on read a shot file as one take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_write
from kinetic_gan.records import take_file
from kinetic_gan.shots.record import Shot


def save_shot(path: str | Path, shot: Shot) -> Path:
    target = Path(path)
    with atomic_write(target, "wb") as fh:
        take_file.write_npz(fh, shot.to_takes(), extra=shot.extra_arrays())
    return target


def read_segments(path: str | Path) -> list[tuple[int, int, str]]:
    """(start frame, frames, action) of each segment of a shot file."""
    with np.load(path, allow_pickle=False) as data:
        return [(int(s), int(f), str(a)) for s, f, a in zip(
            data["segment_starts"], data["segment_frames"], data["segment_actions"], strict=True)]
