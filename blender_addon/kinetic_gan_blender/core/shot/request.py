"""The panel's segment list and options as one checked ``ShotRequest``.

Every problem the artist can fix (an empty shot, a segment without an action or length,
keys outside the shot) is one ``UserError`` naming it, raised before anything is sent or
anything on the rig is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...vendor.records.shot import Keys, Segment, ShotError, ShotRequest
from ..errors import UserError


@dataclass(frozen=True)
class SegmentRow:
    """One row of the panel's list: an action and a length in ``unit`` ("FRAMES"/"SECONDS")."""

    action: str
    length: float
    unit: str = "FRAMES"

    def frames(self, fps: float) -> int:
        if self.unit == "SECONDS":
            return max(0, round(self.length * fps))
        return round(self.length)


def segments_from_rows(rows: Sequence[SegmentRow], fps: float) -> tuple[Segment, ...]:
    if not rows:
        raise UserError("Shot: add at least one segment (the + button of the Shot list)")
    out = []
    for i, row in enumerate(rows, start=1):
        if not row.action.strip():
            raise UserError(f"Shot: segment {i} has no action (Connect fills the list)")
        frames = row.frames(fps)
        if frames < 1:
            raise UserError(f"Shot: segment {i} ({row.action}) lasts no frames")
        out.append(Segment(row.action.strip(), frames))
    return tuple(out)


def segment_starts(segments: Sequence[Segment]) -> list[tuple[int, int, str]]:
    """(start frame, frames, action) per segment, from frame 0 (markers when the backend
    sends none)."""
    out, start = [], 0
    for s in segments:
        out.append((start, s.frames, str(s.action)))
        start += s.frames
    return out


def build_request(
    rows: Sequence[SegmentRow],
    *,
    fps: float,
    seed: int,
    truncation: float | None,
    loop: bool = False,
    path: np.ndarray | None = None,
    keys: Keys | None = None,
    class_names: Sequence[str] | None = None,
) -> ShotRequest:
    """The checked request (actions stay names: the server maps them)."""
    segments = segments_from_rows(rows, fps)
    request = ShotRequest(segments, seed=seed, truncation=truncation, loop=loop, path=path,
                          keys=keys)
    try:
        request.checked(class_names=class_names, fps=fps)
    except ShotError as exc:
        raise UserError(f"Shot: {exc}") from None
    return request
