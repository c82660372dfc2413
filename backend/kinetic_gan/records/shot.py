"""A ``compose`` request: the segments of a shot and its options, checked.

A shot is an ordered list of segments (an action and a length in frames) that comes back
as one continuous take; options make it loop, follow a ground-plane path, or meet the
animator's keyed poses. The backend's ``kinetic_gan.shots.compose`` takes these fields,
the CLI builds them from ``--shot "walk:150,jump:90"``, and the wire protocol will carry
them as ``to_dict()`` (JSON) plus the path and keys as arrays.

Standard library and numpy only (bundled into the add-on, like the other records): class
names are checked only when the caller knows them (``checked(class_names=...)``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .request import MAX_SEED, parse_action
from .takes import GeneratedSet

# Ten minutes at the dataset's 30 fps: longer shots are refused, not slowly optimised.
MAX_SHOT_SECONDS = 600.0
DEFAULT_FPS = 30.0
JOINTS = 25
MAX_PATH_POINTS = 100_000
LOOPS = ("in_place", "advance")


class ShotError(ValueError):
    """A shot field of the wrong type or out of range; the message names the field."""


@dataclass(frozen=True)
class Segment:
    """One action of a shot, ``frames`` long."""

    action: str | int  # a class name, or its index
    frames: int


@dataclass(frozen=True)
class Keys:
    """Poses the shot must meet: ``joints[k]`` at frame ``frames[k]``, joints where ``mask``."""

    frames: np.ndarray  # (K,) int64, frames of the shot
    joints: np.ndarray  # (K, 25, 3) float64, metres in the dataset frame
    mask: np.ndarray  # (K, 25) bool: which joints are keyed

    @classmethod
    def from_arrays(cls, frames: Any, joints: Any, mask: Any = None) -> Keys:
        f = np.asarray(frames)
        if f.ndim != 1 or len(f) < 1 or f.dtype.kind not in "iu":
            raise ShotError(f"keys: frames must be (K,) integers, K >= 1, got {f.dtype} {f.shape}")
        j = np.asarray(joints, dtype=np.float64)
        if j.shape != (len(f), JOINTS, 3):
            raise ShotError(f"keys: joints must be (K, {JOINTS}, 3) = ({len(f)}, {JOINTS}, 3), "
                            f"got {j.shape}")
        m = np.ones((len(f), JOINTS), bool) if mask is None else np.asarray(mask)
        if m.shape != (len(f), JOINTS) or m.dtype.kind not in "biu":
            raise ShotError(f"keys: mask must be (K, {JOINTS}) booleans, got {m.dtype} {m.shape}")
        m = m.astype(bool)
        if not np.isfinite(j[m]).all():
            raise ShotError("keys: keyed joints hold NaN or infinite values")
        if len(np.unique(f)) != len(f):
            raise ShotError("keys: a frame is keyed twice")
        order = np.argsort(f, kind="stable")
        return cls(f[order].astype(np.int64), np.where(m[..., None], j, 0.0)[order], m[order])


@dataclass(frozen=True)
class ShotRequest:
    """What to compose. ``loop``: False, True (= "advance"), "in_place" or "advance"."""

    segments: tuple[Segment, ...]
    seed: int = 0
    truncation: float | None = 0.7
    loop: bool | str = False
    path: np.ndarray | None = None  # (P, 2) metres: x and z of the ground plane
    keys: Keys | None = None

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def loop_mode(self) -> str | None:
        """None, "in_place" or "advance"."""
        if self.loop is True:
            return "advance"
        return self.loop or None

    def checked(
        self, class_names: Sequence[str] | None = None, fps: float = DEFAULT_FPS
    ) -> ShotRequest:
        """This request with every field checked (ShotError names the first that is wrong);
        with ``class_names``, actions become class indices."""
        segments = _checked_segments(self.segments, class_names, fps)
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ShotError(f"seed: must be an integer in 0..{MAX_SEED}, got {self.seed!r}")
        psi = self.truncation
        if psi is not None:
            real = isinstance(psi, numbers.Real) and not isinstance(psi, bool)
            psi = float(psi) if real else math.nan
            if not (math.isfinite(psi) and 0.0 <= psi <= 1.0):
                raise ShotError(f"truncation: must be null or a number in 0..1, got "
                                f"{self.truncation!r}")
        if not (isinstance(self.loop, bool) or self.loop in LOOPS):
            raise ShotError(f"loop: must be true, false or one of {LOOPS}, got {self.loop!r}")
        path = None if self.path is None else check_path(self.path)
        if path is not None and self.loop_mode is not None:
            raise ShotError("loop: a looping shot cannot also follow a path")
        keys = self.keys
        if keys is not None:
            if not isinstance(keys, Keys):
                raise ShotError("keys: must be a Keys record (frames, joints, mask)")
            total = sum(s.frames for s in segments)
            outside = keys.frames[(keys.frames < 0) | (keys.frames >= total)]
            if len(outside):
                raise ShotError(f"keys: frame {int(outside[0])} is outside the shot "
                                f"(frames 0..{total - 1})")
        return dataclasses.replace(self, segments=segments, truncation=psi, path=path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the path and keys as nested lists)."""
        out: dict[str, Any] = {
            "segments": [[s.action, s.frames] for s in self.segments],
            "seed": self.seed, "truncation": self.truncation, "loop": self.loop,
            "path": None if self.path is None else np.asarray(self.path).tolist(),
            "keys": None,
        }
        if self.keys is not None:
            out["keys"] = {"frames": self.keys.frames.tolist(),
                           "joints": self.keys.joints.tolist(), "mask": self.keys.mask.tolist()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShotRequest:
        """The request ``to_dict`` wrote (or a client sent); not yet ``checked``."""
        if not isinstance(data, Mapping):
            raise ShotError("shot: must be an object")
        unknown = sorted(set(data) - {"segments", "seed", "truncation", "loop", "path", "keys"})
        if unknown:
            raise ShotError(f"shot: unknown fields {unknown[:8]}")
        if "segments" not in data:
            raise ShotError("segments: missing (a list of [action, frames])")
        segments = _segments_from(data["segments"])
        keys = data.get("keys")
        if keys is not None:
            if not isinstance(keys, Mapping) or not {"frames", "joints"} <= set(keys):
                raise ShotError("keys: must be an object with frames, joints and optionally mask")
            keys = Keys.from_arrays(keys["frames"], keys["joints"], keys.get("mask"))
        path = data.get("path")
        return cls(
            segments=segments, seed=data.get("seed", 0), truncation=data.get("truncation", 0.7),
            loop=data.get("loop", False), path=None if path is None else np.asarray(path),
            keys=keys,
        )


@dataclass(frozen=True)
class ComposedShot:
    """A composed shot as it travels: one take of all its frames and where each segment
    starts. What the ``compose`` op answers and ``Client.compose`` returns."""

    takes: GeneratedSet  # one take (1, F, V, 3), metres in the dataset frame
    segments: tuple[tuple[int, int, str], ...]  # (start frame, frames, action name)

    def __post_init__(self) -> None:
        if len(self.takes.joints) != 1:
            raise ShotError(f"shot: a composed shot is one take, got {len(self.takes.joints)}")
        frames = self.takes.joints.shape[1]
        end = 0
        for start, length, action in self.segments:
            if start != end or length < 1 or not isinstance(action, str):
                raise ShotError(f"shot: segment ({start}, {length}, {action!r}) does not "
                                f"follow the one before")
            end = start + length
        if end != frames:
            raise ShotError(f"shot: segments cover {end} frames of a {frames}-frame take")


def parse_segments(text: str) -> tuple[Segment, ...]:
    """``"walk:150,jump:90"`` → segments; an action may be a class name or an index."""
    if not isinstance(text, str) or not text.strip():
        raise ShotError('segments: empty (write them as "walk:150,jump:90")')
    segments = []
    for part in text.split(","):
        action, sep, frames = part.strip().rpartition(":")
        if not sep or not action.strip():
            raise ShotError(f"segments: {part.strip()!r} is not ACTION:FRAMES")
        token = frames.strip()
        if not (token.lstrip("-").isascii() and token.lstrip("-").isdigit()):
            raise ShotError(f"segments: the length of {part.strip()!r} is not a whole number "
                            "of frames")
        segments.append(Segment(parse_action(action.strip()), int(token)))
    return tuple(segments)


def check_path(points: Any) -> np.ndarray:
    """A ground-plane polyline as (P, 2) float64 metres (x, z), at least two distinct points."""
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShotError("path: must be a list of [x, z] points in metres") from None
    if p.ndim != 2 or p.shape[1] != 2:
        raise ShotError(f"path: must be (P, 2) points [x, z], got shape {p.shape}")
    if len(p) < 2:
        raise ShotError(f"path: needs at least 2 points, got {len(p)}")
    if len(p) > MAX_PATH_POINTS:
        raise ShotError(f"path: at most {MAX_PATH_POINTS} points, got {len(p)}")
    if not np.isfinite(p).all():
        raise ShotError("path: holds NaN or infinite values")
    if np.linalg.norm(np.diff(p, axis=0), axis=1).sum() <= 1e-6:
        raise ShotError("path: has no length (all its points are the same)")
    return p


def _segments_from(items: Any) -> tuple[Segment, ...]:
    if isinstance(items, str):
        return parse_segments(items)
    if not isinstance(items, Sequence) or not items:
        raise ShotError("segments: must be a non-empty list of [action, frames]")
    out = []
    for item in items:
        if isinstance(item, Segment):
            out.append(item)
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            out.append(Segment(item[0], item[1]))
        else:
            raise ShotError(f"segments: {item!r} is not [action, frames]")
    return tuple(out)


def _checked_segments(
    segments: Any, class_names: Sequence[str] | None, fps: float
) -> tuple[Segment, ...]:
    segments = _segments_from(segments)
    lowered = None if class_names is None else [str(n).lower() for n in class_names]
    out = []
    for i, seg in enumerate(segments):
        if not _is_int(seg.frames) or seg.frames < 1:
            raise ShotError(f"segments: segment {i + 1} ({seg.action!r}) must last at least one "
                            f"frame, got {seg.frames!r}")
        out.append(Segment(_checked_action(seg.action, lowered, i), int(seg.frames)))
    total = sum(s.frames for s in out)
    if total > MAX_SHOT_SECONDS * fps:
        raise ShotError(f"segments: the shot lasts {total / fps:.1f} s, over the "
                        f"{MAX_SHOT_SECONDS / 60:g} minute limit ({int(MAX_SHOT_SECONDS * fps)} "
                        "frames)")
    return tuple(out)


def _checked_action(action: Any, lowered: list[str] | None, i: int) -> str | int:
    if isinstance(action, str):
        action = parse_action(action)
    if _is_int(action):
        if lowered is not None and not 0 <= action < len(lowered):
            raise ShotError(f"segments: action index {action} of segment {i + 1} is out of "
                            f"range (the model has {len(lowered)} actions)")
        return int(action)
    if not isinstance(action, str) or not action.strip():
        raise ShotError(f"segments: the action of segment {i + 1} must be a class name or index")
    if lowered is None:
        return action.strip()
    wanted = action.strip().lower()
    if wanted not in lowered:
        raise ShotError(f"segments: unknown action {action!r} in segment {i + 1} (the model "
                        f"has {', '.join(lowered)})")
    return lowered.index(wanted)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
