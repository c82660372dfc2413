"""What retargeting takes and gives (numpy only): a rig at rest, the keys of one take, the
dataset → Blender axes, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import KineticGanAddonError

# Dataset frame (Y up, facing −Z) → Blender (Z up, facing −Y); det = +1, never a mirror.
DATASET_TO_BLENDER = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


class RetargetError(KineticGanAddonError, ValueError):
    """Joints that cannot drive a rig: the message names the problem."""

    code = "retarget"


@dataclass(frozen=True)
class RigRest:
    """A rig in rest pose, in armature space (what ``bone.matrix_local`` etc. hold)."""

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]  # index of each bone's parent, -1 for roots
    heads: np.ndarray  # (B, 3)
    tails: np.ndarray  # (B, 3)
    matrices: np.ndarray  # (B, 3, 3) rest rotations, columns = bone X, Y, Z axes
    # Bone whose posed transform each bone copies (a full Copy Transforms constraint, as
    # Rigify's ORG bones copy its controls), -1 for none; empty: none anywhere.
    follows: tuple[int, ...] = ()
    # Whether an artist can pose each bone (hidden helper bones are not keyed); empty: all.
    posable: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        count = len(self.bone_names)
        if not self.follows:
            object.__setattr__(self, "follows", (-1,) * count)
        if not self.posable:
            object.__setattr__(self, "posable", (True,) * count)
        if not len(self.parents) == len(self.follows) == len(self.posable) == count:
            raise RetargetError("rig rest: one parent, follow and posable flag per bone")
        for i, (p, f) in enumerate(zip(self.parents, self.follows, strict=True)):
            if p >= i or f >= i:
                raise RetargetError(
                    f"rig bone {self.bone_names[i]!r}: parents and copied bones must come first"
                )

    @classmethod
    def default_character(cls) -> RigRest:
        from .. import character

        names, parents, heads, tails, mats = character.rest_bones()
        return cls(tuple(names), tuple(parents), heads, tails, mats)

    def index(self, name: str) -> int:
        return self.bone_names.index(name)


@dataclass
class Retargeted:
    """Keys for one take: local rotations of the driven bones, translation of the root."""

    bone_names: tuple[str, ...]  # rig bones that get rotation keys
    rotations: np.ndarray  # (T, K, 4) quaternions (w, x, y, z) in each bone's rest frame
    root_bone: str | None  # the rig bone that carries the translation (canonical "hips")
    root_location: np.ndarray | None  # (T, 3) pose-bone location of root_bone
    scale: float  # performer → rig
    skipped: list[str] = field(default_factory=list)  # canonical bones left at rest, with why
    world_rotations: np.ndarray | None = None  # (T, B, 3, 3) armature space, all rig bones
    rest_bones: tuple[str, ...] = ()  # undriven bones between driven ones, keyed at rest


def dataset_to_blender(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ DATASET_TO_BLENDER.T
