"""A composed shot: the take, how it was planned and the codes that made it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kinetic_gan.records.shot import ComposedShot, ShotRequest
from kinetic_gan.records.takes import GeneratedSet
from kinetic_gan.shots.plan import Plan


@dataclass(kw_only=True)
class Shot:
    joints: np.ndarray  # (F, V, 3) float32: blended, bent onto the path, keys met, cleaned
    raw_joints: np.ndarray  # (F, V, 3) float32: the blended windows (bones kept, a paced path
    # shot played back in its frames), before the path, the keys and the cleanup
    plan: Plan
    request: ShotRequest  # checked: actions are class indices
    class_names: list[str]
    fps: float
    codes: np.ndarray  # (K, D) each window's optimised w
    placements: np.ndarray  # (K, 3) each window's yaw (rad) and x, z shift (m)
    advance: np.ndarray | None  # (2,) a loop's x, z displacement per cycle
    history: list[dict[str, float]] = field(default_factory=list)  # loss terms per step
    cleanup: tuple[str, ...] = ()
    model: str = ""
    units: str = "m"
    skeleton: str = "ntu"
    joint_names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    pace: float = 1.0  # the plan's timeline was this much longer, played back in ``frames``

    @property
    def frames(self) -> int:
        return len(self.joints)

    @property
    def cost(self) -> int:
        """Frames × optimisation steps: what composing it cost."""
        return self.frames * max(1, self.steps)

    def segment_table(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(start frame, frames, action name) of every segment."""
        lengths = np.asarray([s.frames for s in self.request.segments], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return starts, lengths, [self.class_names[int(s.action)] for s in self.request.segments]

    def to_takes(self) -> GeneratedSet:
        """The shot as a take file's one take (label: its first segment's action)."""
        first = int(self.request.segments[0].action)
        return GeneratedSet(
            joints=self.joints[None].astype(np.float32), labels=np.array([first], np.int64),
            class_names=[self.class_names[first]], z=np.zeros((1, 0), np.float32),
            fps=self.fps, skeleton=self.skeleton, joint_names=self.joint_names,
            parents=self.parents, units=self.units,
            cleanup=",".join(self.cleanup) or "none", model=self.model,
            seed=self.request.seed, truncation=self.request.truncation,
        )

    def composed(self) -> ComposedShot:
        """The shot as the wire carries it: the take and its segment table."""
        starts, lengths, actions = self.segment_table()
        table = tuple((int(a), int(b), c) for a, b, c in zip(starts, lengths, actions,
                                                              strict=True))
        return ComposedShot(self.to_takes(), table)

    def extra_arrays(self) -> dict[str, np.ndarray]:
        """What a shot file holds beyond the take: segments, windows and their codes."""
        starts, lengths, actions = self.segment_table()
        out = {
            "segment_starts": starts, "segment_frames": lengths,
            "segment_actions": np.asarray(actions, dtype=str),
            "window_starts": np.asarray([w.start for w in self.plan.windows], np.int64),
            "window_labels": np.asarray([w.label for w in self.plan.windows], np.int64),
            "window_codes": self.codes.astype(np.float32),
            "window_placements": self.placements.astype(np.float32),
            "loop": np.asarray(self.request.loop_mode or "none", dtype=str),
            "window_pace": np.asarray(self.pace, np.float64),
        }
        if self.advance is not None:
            out["loop_advance"] = self.advance.astype(np.float32)
        if self.request.path is not None:
            out["path"] = np.asarray(self.request.path, np.float64)
        return out
