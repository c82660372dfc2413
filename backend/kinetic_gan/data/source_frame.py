"""A BVH file's units and up axis, detected from its skeleton and motion.

*Units*: the rest pose (every rotation zero) of a standing adult measures about 1.55 m from
the head's centre to the ankles' midpoint, whatever the axes; the file's units are the ones
among metres, centimetres and millimetres that bring its skeleton nearest that.
*Up*: the median over the take of the ankles-to-head vector points up even when the
performer lies down for part of it; its largest component (with its sign) is the up axis.
Both are measured on the NTU joints the skeleton maps to, so they work for every rig.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS

# metres per file unit
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}

# file axes → dataset axes (Y up), proper rotations (det = +1): M · file = dataset, so the
# column of the file's up axis is +Y
UP_AXES: dict[str, np.ndarray] = {
    "+y": np.eye(3),
    "-y": np.diag([1.0, -1.0, -1.0]),
    "+z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "+x": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "-x": np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}

# Detection picks among units a factor 10 or more apart, so a crouched rest pose (a take of
# our own export, whose rest pose is its first frame) cannot be mistaken; inches (2.54 cm)
# are read only when given (--units in).
_DETECTED = ("m", "cm", "mm")
HEAD_TO_ANKLES_M = 1.55  # an adult's rest pose, head centre to the ankles' midpoint
_PLAUSIBLE_M = (0.5, 3.0)  # a rest pose outside this in every unit is not a person

_J = {name: i for i, name in enumerate(NTU_JOINTS)}


@dataclass(frozen=True)
class SourceFrame:
    units: str  # key of UNITS
    up: str  # key of UP_AXES
    units_detected: bool
    up_detected: bool
    height_m: float  # the rest pose's head-to-ankles length in metres

    @property
    def scale(self) -> float:
        return UNITS[self.units]

    @property
    def matrix(self) -> np.ndarray:
        return UP_AXES[self.up]

    def describe(self) -> str:
        units = f"{self.units}{' (detected)' if self.units_detected else ''}"
        up = f"{self.up.lstrip('+').upper() if self.up[0] == '+' else self.up.upper()} up"
        return f"{units}, {up}{' (detected)' if self.up_detected else ''}"


def _head_to_ankles(joints: np.ndarray) -> np.ndarray:
    """(..., 25, 3) NTU joints → (..., 3) the vector from the ankles' midpoint to the head."""
    ankles = 0.5 * (joints[..., _J["AnkleLeft"], :] + joints[..., _J["AnkleRight"], :])
    return joints[..., _J["Head"], :] - ankles


def detect_units(rest_joints: np.ndarray) -> tuple[str, float]:
    """(25, 3) NTU joints of the rest pose in file units → (units, height in those units)."""
    length = float(np.linalg.norm(_head_to_ankles(rest_joints)))
    if not length > 0:
        raise KineticGanError("units: the rest pose has no height (all offsets zero?) — "
                              "give --units")
    best = min(_DETECTED, key=lambda u: abs(np.log(length * UNITS[u] / HEAD_TO_ANKLES_M)))
    metres = length * UNITS[best]
    if not _PLAUSIBLE_M[0] <= metres <= _PLAUSIBLE_M[1]:
        raise KineticGanError(
            f"units: the rest pose is {length:.3g} units from head to ankles, not a person in "
            f"m, cm or mm — give --units")
    return best, length


def detect_up(joints: np.ndarray) -> str:
    """(F, 25, 3) NTU joints in file axes → the up axis (``+y``, ``+z``, ...)."""
    median = np.median(_head_to_ankles(joints), axis=0)
    axis = int(np.argmax(np.abs(median)))
    if not abs(median[axis]) > 0:
        raise KineticGanError("up axis: the head is never above the ankles — give --up")
    return ("+" if median[axis] > 0 else "-") + "xyz"[axis]


def source_frame(rest_joints: np.ndarray, joints: np.ndarray, units: str = "auto",
                 up: str = "auto") -> SourceFrame:
    """Units and up axis of a take: detected (``"auto"``) or as given."""
    if units != "auto" and units not in UNITS:
        raise KineticGanError(f"units: expected auto or one of {', '.join(UNITS)}, got {units!r}")
    if up != "auto" and up not in UP_AXES:
        raise KineticGanError(f"up: expected auto or one of {', '.join(UP_AXES)}, got {up!r}")
    if units == "auto":
        found, length = detect_units(rest_joints)
    else:
        found, length = units, float(np.linalg.norm(_head_to_ankles(rest_joints)))
    axis = detect_up(joints) if up == "auto" else up
    return SourceFrame(units=found, up=axis, units_detected=units == "auto",
                       up_detected=up == "auto", height_m=length * UNITS[found])
