"""A BVH (Biovision hierarchy) reader and its forward kinematics.

The format: ``HIERARCHY`` — nested ``ROOT``/``JOINT name { OFFSET x y z  CHANNELS n ... }``
blocks, leaves closed by ``End Site { OFFSET x y z }`` — then ``MOTION``, ``Frames: F``,
``Frame Time: s`` and F lines of numbers, one per channel in hierarchy order.

A joint's local transform is a translation (its OFFSET plus any position channels) and a
rotation: the product of its rotation channels *in the order listed* (``Zrotation Xrotation
Yrotation`` is ``Rz · Rx · Ry``), in degrees. World positions are in the file's units and
axes; end sites are reported as points named ``<parent>_end``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.data.rotations import axis_angle_matrix
from kinetic_gan.errors import KineticGanError

_CHANNELS = {"Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"}


@dataclass(frozen=True)
class BvhJoint:
    name: str
    parent: int  # index into BvhMotion.joints, -1 for the root
    offset: tuple[float, float, float]
    channels: tuple[str, ...]  # empty for end sites
    end_site: bool = False


@dataclass(frozen=True)
class BvhMotion:
    joints: tuple[BvhJoint, ...]  # parents before children; end sites included
    frame_time: float
    motion: np.ndarray  # (F, total channels) float64

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def __len__(self) -> int:
        return len(self.motion)

    def world_positions(self, frames: np.ndarray | None = None) -> np.ndarray:
        """(F, J, 3) positions of every joint and end site, in the file's units and axes.

        ``frames``: indices of the frames wanted (default all) — a builder that resamples
        120 fps to 30 needs only the frames its interpolation reads.
        """
        motion = self.motion if frames is None else self.motion[np.asarray(frames)]
        return _forward_kinematics(self.joints, motion)

    def rest_positions(self) -> np.ndarray:
        """(J, 3) the skeleton as its OFFSETs place it, every rotation zero, root at 0."""
        return _forward_kinematics(self.joints, np.zeros((1, self.motion.shape[1])))[0]


def _forward_kinematics(joints: tuple[BvhJoint, ...], motion: np.ndarray) -> np.ndarray:
    frames = len(motion)
    positions = np.zeros((frames, len(joints), 3))
    rotations = np.zeros((frames, len(joints), 3, 3))
    col = 0
    for k, joint in enumerate(joints):
        translation = np.tile(np.asarray(joint.offset, dtype=np.float64), (frames, 1))
        rotation = None  # identity until a rotation channel says otherwise
        for channel in joint.channels:
            values = motion[:, col]
            col += 1
            axis = channel[0].lower()
            if channel.endswith("position"):
                translation[:, "xyz".index(axis)] += values
            else:
                turn = axis_angle_matrix(axis, np.deg2rad(values))
                rotation = turn if rotation is None else rotation @ turn
        if rotation is None:
            rotation = np.broadcast_to(np.eye(3), (frames, 3, 3))
        if joint.parent < 0:
            positions[:, k], rotations[:, k] = translation, rotation
        else:
            parent_rot = rotations[:, joint.parent]
            positions[:, k] = positions[:, joint.parent] + np.einsum(
                "fij,fj->fi", parent_rot, translation)
            if not joint.end_site:
                rotations[:, k] = parent_rot @ rotation
    return positions


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file; one clear error naming the line for anything malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise KineticGanError(f"BVH {path}: not readable ({exc})") from exc
    return parse_bvh(text, where=f"BVH {path}")


def parse_bvh(text: str, where: str = "BVH") -> BvhMotion:
    header, numbers = _split_motion(text)
    tokens = _Tokens(header, where)
    tokens.expect("HIERARCHY")
    joints: list[BvhJoint] = []
    kind = tokens.next()
    if kind != "ROOT":
        tokens.fail(f"expected ROOT, got {kind!r}")
    _parse_joint(tokens, joints, parent=-1)
    tokens.expect("MOTION")
    tokens.expect("Frames:")
    frames = tokens.integer()
    tokens.expect("Frame")
    tokens.expect("Time:")
    frame_time = tokens.number()
    if frames < 1 or not frame_time > 0:
        tokens.fail(f"need Frames ≥ 1 and Frame Time > 0, got {frames} and {frame_time}")
    width = sum(len(j.channels) for j in joints)
    rest = tokens.rest()
    motion = _motion_numbers(numbers, rest, frames, width, where)
    if not np.isfinite(motion).all():
        raise KineticGanError(f"{where}: MOTION contains NaN or Inf")
    return BvhMotion(joints=tuple(joints), frame_time=frame_time, motion=motion)


# The header ends at the line after ``Frame Time:``; what follows is only numbers.
_FRAME_TIME = re.compile(r"^[ \t]*MOTION\b.*?Frame[ \t]+Time:[^\n]*\n?", re.S | re.M)


def _split_motion(text: str) -> tuple[str, str]:
    """(header with its line numbers intact, the numbers after ``Frame Time:``).

    A take of 10 minutes at 120 fps holds millions of numbers: they are parsed by numpy
    in one pass, not as tokens that remember their lines.
    """
    match = _FRAME_TIME.search(text)
    if match is None:
        return text, ""
    return text[: match.end()], text[match.end():]


def _motion_numbers(numbers: str, extra: list[str], frames: int, width: int,
                    where: str) -> np.ndarray:
    expected = frames * width
    if not extra:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a short read is reported below, by count
            values = np.fromstring(numbers, dtype=np.float64, sep=" ")
        if values.size == expected and _only_numbers_read(numbers, expected):
            return values.reshape(frames, width)
    # the slow path names the problem: a count that does not match, or a word
    words = extra + numbers.split()
    if len(words) != expected:
        raise KineticGanError(
            f"{where}: MOTION holds {len(words)} numbers, expected {frames} frames × "
            f"{width} channels = {expected}"
        )
    try:
        return np.asarray(words, dtype=np.float64).reshape(frames, width)
    except ValueError as exc:
        raise KineticGanError(f"{where}: MOTION has a value that is not a number ({exc})") from exc


def _only_numbers_read(numbers: str, expected: int) -> bool:
    """numpy's reader stops quietly at the first word it cannot read, so a matching count
    could still hide a word after the last number: any letter sends us the slow way."""
    return _NOT_A_NUMBER.search(numbers) is None


_NOT_A_NUMBER = re.compile(r"[^0-9eE+\-.\s]")


def _parse_joint(tokens: _Tokens, joints: list[BvhJoint], parent: int) -> None:
    name = tokens.next()
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = (tokens.number(), tokens.number(), tokens.number())
    tokens.expect("CHANNELS")
    count = tokens.integer()
    channels = tuple(tokens.next() for _ in range(count))
    bad = [c for c in channels if c not in _CHANNELS]
    if bad:
        tokens.fail(f"joint {name!r}: unknown channel {bad[0]!r}")
    if any(j.name == name for j in joints):
        tokens.fail(f"joint name {name!r} used twice")
    index = len(joints)
    joints.append(BvhJoint(name, parent, offset, channels))
    while True:
        token = tokens.next()
        if token == "}":
            return
        if token == "JOINT":
            _parse_joint(tokens, joints, index)
        elif token == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end = (tokens.number(), tokens.number(), tokens.number())
            tokens.expect("}")
            joints.append(BvhJoint(f"{name}_end", index, end, (), end_site=True))
        else:
            tokens.fail(f"joint {name!r}: expected JOINT, End Site or '}}', got {token!r}")


class _Tokens:
    """Whitespace-separated tokens that remember their line numbers (for error messages)."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.items: list[tuple[str, int]] = []
        motion_line = None
        for number, line in enumerate(text.splitlines(), start=1):
            if motion_line is None and line.strip().startswith("MOTION"):
                motion_line = number
            self.items.extend((token, number) for token in line.split())
        self.pos = 0

    def fail(self, message: str) -> None:
        line = self.items[min(self.pos, len(self.items)) - 1][1] if self.items else 0
        raise KineticGanError(f"{self.where}, line {line}: {message}")

    def next(self) -> str:
        if self.pos >= len(self.items):
            self.pos += 1
            self.fail("unexpected end of file")
        token = self.items[self.pos][0]
        self.pos += 1
        return token

    def expect(self, word: str) -> None:
        token = self.next()
        if token != word:
            self.fail(f"expected {word!r}, got {token!r}")

    def number(self) -> float:
        token = self.next()
        try:
            return float(token)
        except ValueError:
            self.fail(f"expected a number, got {token!r}")
            raise  # unreachable: fail() raises

    def integer(self) -> int:
        token = self.next()
        if not token.isdigit():
            self.fail(f"expected a whole number, got {token!r}")
        return int(token)

    def rest(self) -> list[str]:
        out = [t for t, _ in self.items[self.pos :]]
        self.pos = len(self.items)
        return out
