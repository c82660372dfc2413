"""Generated takes: the one record that ``generate``, a server's reply, a client, ``.npz``
files and the add-on all hand around.

A :class:`GeneratedSet` holds N takes of one skeleton; :meth:`GeneratedSet.sample` gives
one of them as a :class:`Motion`. Joints are in metres in the dataset frame (Y up, the
subject facing −Z) unless ``units`` is :data:`NORMALIZED_UNITS`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# The fields that are arrays (a reply's binary frames); the others are plain values.
ARRAY_FIELDS = ("joints", "labels", "z")
MAX_FPS = 1000.0
# ``units`` of a model without a metres scale. The value keeps its published spelling (model
# cards, the wire protocol and take files carry it); the code spells the word "normalize".
NORMALIZED_UNITS = "normalised"


@dataclass(kw_only=True)
class MotionFormat:
    """How to read joint positions: whose joints, how often, in what units, how cleaned."""

    fps: float
    skeleton: str
    joint_names: list[str]
    parents: list[int]  # -1 for the root
    units: str = "m"  # "m", or NORMALIZED_UNITS for a model without a metres scale
    cleanup: str = "none"  # the motion-cleanup steps the joints went through, comma-separated


@dataclass(kw_only=True)
class Motion(MotionFormat):
    """One take."""

    joints: np.ndarray  # (T, V, C) float32
    label: int = -1  # its class index; -1 when not known


@dataclass(kw_only=True)
class GeneratedSet(MotionFormat):
    """N generated takes and how they were made (``seed`` etc. None when not known)."""

    joints: np.ndarray  # (N, T, V, C) float32
    labels: np.ndarray  # (N,) int64
    class_names: list[str]  # one per take
    z: np.ndarray  # (N, latent) float32; (N, 0) when the latents are not known
    model: str = ""
    seed: int | None = None
    truncation: float | None = None
    vary_noise: bool = False

    @property
    def action(self) -> str:
        """The class of the first take: a ``generate`` request's action (one per request)."""
        return self.class_names[0] if self.class_names else ""

    def sample(self, index: int) -> Motion:
        """Take ``index`` on its own."""
        return Motion(
            joints=self.joints[index], label=int(self.labels[index]),
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(MotionFormat)},
        )

    def fields(self) -> dict[str, Any]:
        """Every field by name, lists and scalars as plain Python values (arrays as they are)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(
            class_names=[str(n) for n in self.class_names],
            joint_names=[str(n) for n in self.joint_names],
            parents=[int(p) for p in self.parents],
        )
        return values


def from_fields(fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> GeneratedSet:
    """The record whose fields ``fields`` holds (plain or numpy values), typed.

    A field ``fields`` lacks takes its value from ``defaults`` (what files written before it
    existed mean), else KeyError; a value of the wrong kind raises TypeError or ValueError.
    """

    def get(name: str) -> Any:
        return fields[name] if name in fields else defaults[name]

    joints = np.asarray(get("joints")).astype(np.float32, copy=False)
    z = get("z")
    return GeneratedSet(
        joints=joints,
        labels=np.asarray(get("labels")).astype(np.int64, copy=False),
        class_names=[str(n) for n in get("class_names")],
        z=np.zeros((len(joints), 0), np.float32) if z is None else np.asarray(z, np.float32),
        fps=float(get("fps")),
        skeleton=str(get("skeleton")),
        joint_names=[str(n) for n in get("joint_names")],
        parents=[int(p) for p in get("parents")],
        units=str(get("units")),
        cleanup=str(get("cleanup")),
        model=str(get("model")),
        seed=_optional_int(get("seed")),
        truncation=_optional_float(get("truncation")),
        vary_noise=bool(get("vary_noise")),
    )


def check_generated(takes: GeneratedSet, count: int) -> str | None:
    """What is wrong with ``takes`` as the answer to a request for ``count`` takes, or None.

    The client trusts no server: every consumer (``request``, Blender) may then index the
    arrays and divide by the frame rate without checking again.
    """
    joints = takes.joints
    if joints.ndim != 4:
        return f"joints must be (N, T, V, C), got shape {joints.shape}"
    n, frames, joint_count, channels = joints.shape
    if n != count:
        return f"{n} samples for a request of {count}"
    if frames < 1 or channels not in (2, 3):
        return f"joints of shape {joints.shape} (need T >= 1 frames and 2 or 3 channels)"
    if takes.labels.shape != (count,) or takes.z.ndim != 2 or len(takes.z) != count:
        return f"labels {takes.labels.shape} and z {takes.z.shape} do not match {count} samples"
    if len(takes.class_names) != count:
        return f"{len(takes.class_names)} class names for {count} samples"
    if len(takes.joint_names) != joint_count or len(takes.parents) != joint_count:
        names, parents = len(takes.joint_names), len(takes.parents)
        return f"{joint_count} joints but {names} joint names and {parents} parents"
    if any(not -1 <= p < joint_count for p in takes.parents):
        return "parents index outside the skeleton"
    if not fps_is_valid(takes.fps):
        return f"fps {takes.fps!r} (must be a number in 1..{MAX_FPS:g})"
    if not np.isfinite(joints).all():
        return "joints hold NaN or infinite values"
    return None


def fps_is_valid(fps: float) -> bool:
    return math.isfinite(fps) and 1.0 <= fps <= MAX_FPS


def _optional_int(value: Any) -> int | None:
    # A take file stores "no seed" as -1 (its arrays hold no None).
    return None if value is None or int(value) < 0 else int(value)


def _optional_float(value: Any) -> float | None:
    # ... and "no truncation" as NaN.
    return None if value is None or math.isnan(float(value)) else float(value)
