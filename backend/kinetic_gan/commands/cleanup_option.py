"""The ``--cleanup`` option of ``generate`` and ``request``: raw unless asked.

Both commands save what the model gave by default (so a file is the generator's own
output, which evaluation needs); ``--cleanup`` runs ``kinetic_gan.motion_cleanup`` on the
joints first, and the .npz records which steps ran in its ``cleanup`` field.
"""

from __future__ import annotations

import argparse

import numpy as np

from kinetic_gan import motion_cleanup
from kinetic_gan.errors import KineticGanError

RAW = "none"


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cleanup", nargs="?", const="all", default=RAW, metavar="STEPS",
        help="clean the joints before saving: all (the default when the flag is given), none, "
        f"or some of {','.join(motion_cleanup.STEPS)} (constant bones, a 6 Hz zero-phase "
        "low-pass, feet held during contacts; docs/cleanup.md). Default: none (raw output)",
    )


def parse(text: str) -> tuple[str, ...]:
    try:
        return motion_cleanup.parse_steps(text)
    except motion_cleanup.CleanupError as exc:
        raise KineticGanError(f"--cleanup: {exc}") from None


def record(steps: tuple[str, ...]) -> str:
    """What the .npz ``cleanup`` field says: the steps that ran, or ``none``."""
    return ",".join(steps) or RAW


def apply(
    joints: np.ndarray, fps: float, skeleton: str, units: str, steps: tuple[str, ...], source: str
) -> np.ndarray:
    """``joints`` (N, T, V, 3) cleaned by ``steps``; one clear error when they cannot be."""
    if not steps:
        return joints
    if skeleton != "ntu" or units != "m" or tuple(np.shape(joints)[2:]) != (25, 3):
        raise KineticGanError(
            f"--cleanup needs NTU-25 joints in metres; {source} gives {skeleton} joints "
            f"{tuple(np.shape(joints))} in {units!r} (leave --cleanup out for raw output)"
        )
    try:
        return motion_cleanup.clean_motion(joints, fps, steps).astype(np.float32)
    except motion_cleanup.CleanupError as exc:
        raise KineticGanError(f"{source}: {exc}") from None
