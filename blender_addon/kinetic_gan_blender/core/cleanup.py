"""Motion cleanup of received takes, before they are animated (no bpy here).

The math is the backend's ``motion_cleanup.py``, bundled as ``vendor/motion_cleanup.py`` by
the add-on build (and before tests), as the records and atomic writes are; this module picks
the steps (the panel's toggles, the batch's ``--cleanup``) and applies them to the takes a
backend sent. Cleanup fits NTU-25 joints in metres; a take of another skeleton, or in
normalized units, is left raw with a note saying so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..vendor import motion_cleanup

# The panel's toggle for each step (properties.KGAN_Settings), in motion_cleanup.STEPS order.
SETTING_OF_STEP = {"filter": "cleanup_filter", "bones": "cleanup_bones", "feet": "cleanup_feet"}


def steps_from_settings(settings: Any) -> tuple[str, ...]:
    """The steps the panel has on (none when its Cleanup box is off)."""
    if not getattr(settings, "use_cleanup", False):
        return ()
    return tuple(step for step, prop in SETTING_OF_STEP.items() if getattr(settings, prop, False))


def why_not(joints: np.ndarray, skeleton: str, units: str) -> str | None:
    """Why cleanup cannot run on these joints, or None when it can."""
    if skeleton != "ntu" or tuple(np.shape(joints)[-2:]) != (25, 3):
        return f"cleanup needs NTU-25 joints; this model gives {skeleton or 'unknown'} joints"
    if units != "m":
        return f"cleanup needs joints in metres; this model gives {units!r}"
    return None


def clean_joints(
    joints: np.ndarray, fps: float, skeleton: str, units: str, steps: tuple[str, ...]
) -> tuple[np.ndarray, str | None]:
    """``(cleaned joints, None)``, or ``(joints, why)`` when cleanup does not fit them.

    ``joints`` is one take ``(T, V, 3)`` or several ``(N, T, V, 3)``; the result has the
    same shape and dtype. Bad input otherwise raises the cleanup's ``CleanupError``
    (a ``ValueError``) naming the problem.
    """
    if not steps:
        return joints, None
    reason = why_not(joints, skeleton, units)
    if reason is not None:
        return joints, f"{reason}: left raw"
    return motion_cleanup.clean_motion(joints, fps, steps), None


def clean_record(record: Any, steps: tuple[str, ...]) -> list[str]:
    """Clean a take record's joints in place: a ``GeneratedSet`` ``(N, T, V, 3)`` or one
    ``Motion`` ``(T, V, 3)`` (``fps``, ``skeleton``, ``units``; ``cleanup`` is set to the
    steps that ran, "none" when none did). Returns the warnings to report (empty when
    cleanup ran or is off). Joints the cleanup refuses (NaN, a bad frame rate) are left raw
    with the reason as the warning.
    """
    try:
        cleaned, note = clean_joints(
            record.joints, record.fps, record.skeleton, record.units, steps
        )
    except ValueError as exc:
        return [f"{exc}: left raw"]
    record.joints = cleaned
    record.cleanup = ",".join(steps) if steps and note is None else "none"
    return [note] if note else []


def clean_generation(result: Any, settings: Any) -> list[str]:
    """``clean_record`` with the steps the panel (``settings``, the scene's Kinetic-GAN
    settings) has on."""
    return clean_record(result, steps_from_settings(settings))
