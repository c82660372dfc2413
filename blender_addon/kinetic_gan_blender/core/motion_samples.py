"""A procedural walk in NTU-25 joints, so a rig and its bone map can be checked offline.

It is a kinematic sketch (sinusoidal hip, knee and shoulder angles, a bobbing pelvis), not
captured motion: good for trying a bone map, tests and benchmarks; generated takes come
from the backend. Output is in the dataset frame (Y up, facing −Z, left = −X), metres.
"""

from __future__ import annotations

import numpy as np

from .body import NTU_JOINTS

_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, -1.0])
_LEFT = np.array([-1.0, 0.0, 0.0])


def _toward(angle: np.ndarray, base: np.ndarray, bend: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors: ``base`` rotated towards ``bend`` by ``angle`` radians."""
    return np.cos(angle)[:, None] * base + np.sin(angle)[:, None] * bend


def walk_cycle(
    frames: int = 64, fps: float = 30.0, speed: float = 1.3, period_s: float = 1.1
) -> np.ndarray:
    """Joints (frames, 25, 3) float32 of a person walking forward."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * t / period_s
    j = np.zeros((frames, len(NTU_JOINTS), 3))
    idx = {name: i for i, name in enumerate(NTU_JOINTS)}

    def put(name: str, value: np.ndarray) -> np.ndarray:
        j[:, idx[name]] = value
        return value

    down = -_UP
    pelvis = put(
        "SpineBase",
        0.96 * _UP + 0.025 * np.cos(2 * phase)[:, None] * _UP + (speed * t)[:, None] * _FORWARD,
    )
    lean = np.full(frames, 0.06)
    spine_dir = _toward(lean, _UP, _FORWARD)
    mid = put("SpineMid", pelvis + 0.24 * spine_dir)
    top = put("SpineShoulder", mid + 0.23 * spine_dir)
    neck = put("Neck", top + 0.08 * _UP)
    put("Head", neck + 0.13 * _UP + 0.015 * _FORWARD)
    # Shoulders turn against the hips a little, as people do when they walk.
    twist = 0.08 * np.sin(phase)
    for side, sign, offset in (("Left", 1.0, 0.0), ("Right", -1.0, np.pi)):
        lateral = sign * _LEFT
        p = phase + offset
        hip = put(
            f"Hip{side}", pelvis + 0.09 * lateral + (0.09 * sign * twist)[:, None] * _FORWARD * -1
        )
        hip_flex = 0.42 * np.sin(p)
        knee_flex = (
            0.12
            + 0.55 * np.clip(np.sin(p - 1.2), 0.0, None) ** 1.5
            + 0.1 * np.clip(np.sin(p + 0.4), 0, None)
        )
        knee = put(f"Knee{side}", hip + 0.43 * _toward(hip_flex, down, _FORWARD))
        ankle = put(f"Ankle{side}", knee + 0.42 * _toward(hip_flex - knee_flex, down, _FORWARD))
        toe_pitch = 0.1 * np.sin(p - 0.5)
        put(f"Foot{side}", ankle + 0.15 * _toward(toe_pitch, _FORWARD, down) + 0.02 * lateral)
        shoulder = put(
            f"Shoulder{side}",
            top - 0.03 * _UP + 0.18 * lateral + (sign * twist * 0.18)[:, None] * _FORWARD,
        )
        swing = -0.38 * np.sin(p)
        arm = _toward(swing, down, _FORWARD) + 0.12 * lateral
        arm /= np.linalg.norm(arm, axis=-1, keepdims=True)
        elbow = put(f"Elbow{side}", shoulder + 0.28 * arm)
        forearm = (
            _toward(swing + 0.35 + 0.2 * np.clip(-np.sin(p), 0, None), down, _FORWARD)
            + 0.06 * lateral
        )
        forearm /= np.linalg.norm(forearm, axis=-1, keepdims=True)
        wrist = put(f"Wrist{side}", elbow + 0.26 * forearm)
        hand = put(f"Hand{side}", wrist + 0.07 * forearm)
        put(f"HandTip{side}", hand + 0.08 * forearm)
        put(f"Thumb{side}", hand + 0.02 * forearm + 0.045 * _FORWARD - 0.015 * lateral)
    return j.astype(np.float32)
