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

    def world_positions(self) -> np.ndarray:
        """(F, J, 3) positions of every joint and end site, in the file's units and axes."""
        frames = len(self.motion)
        positions = np.zeros((frames, len(self.joints), 3))
        rotations = np.zeros((frames, len(self.joints), 3, 3))
        col = 0
        for k, joint in enumerate(self.joints):
            translation = np.tile(np.asarray(joint.offset, dtype=np.float64), (frames, 1))
            rotation = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
            for channel in joint.channels:
                values = self.motion[:, col]
                col += 1
                axis = channel[0].lower()
                if channel.endswith("position"):
                    translation[:, "xyz".index(axis)] += values
                else:
                    rotation = rotation @ axis_angle_matrix(axis, np.deg2rad(values))
            if joint.parent < 0:
                positions[:, k], rotations[:, k] = translation, rotation
            else:
                parent_rot = rotations[:, joint.parent]
                positions[:, k] = positions[:, joint.parent] + np.einsum(
                    "fij,fj->fi", parent_rot, translation)
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
    tokens = _Tokens(text, where)
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
    values = tokens.rest()
    if len(values) != frames * width:
        raise KineticGanError(
            f"{where}: MOTION holds {len(values)} numbers, expected {frames} frames × "
            f"{width} channels = {frames * width}"
        )
    try:
        motion = np.asarray(values, dtype=np.float64).reshape(frames, width)
    except ValueError as exc:
        raise KineticGanError(f"{where}: MOTION has a value that is not a number ({exc})") from exc
    if not np.isfinite(motion).all():
        raise KineticGanError(f"{where}: MOTION contains NaN or Inf")
    return BvhMotion(joints=tuple(joints), frame_time=frame_time, motion=motion)


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
