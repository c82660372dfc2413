"""What the body does, per frame, whichever way the take faces (numpy only).

The fidelity measure and the independent recogniser read a take through these features,
never through model units, so neither shares an input with the ST-GCN recognisers:

- the take is turned about the vertical so that its first frames face −Z (the hips' and
  shoulders' right→left axis along −X) and moved so that its root starts over the origin:
  a yaw turn of the whole take changes nothing;
- per frame: every joint relative to the root (metres), the root's height (metres) and
  the root's velocity (m/s), all in that one turned frame (a spin still turns).

Input is NTU-25 joints ``(N, T, V, 3)`` in the dataset frame (Y up, metres).
"""

from __future__ import annotations

import numpy as np

from kinetic_gan.skeletons import NTU_JOINTS, get_skeleton

ROOT = NTU_JOINTS.index("SpineBase")
_ACROSS = (("HipLeft", "HipRight"), ("ShoulderLeft", "ShoulderRight"))
FACING_FRAMES = 4  # the facing is read over the first few frames: one noisy frame cannot flip it
NUM_JOINTS = len(NTU_JOINTS)
REL_DIMS = 3 * (NUM_JOINTS - 1)  # the root's own relative position is always zero


def mirror_twins() -> np.ndarray:
    return np.asarray(get_skeleton("ntu").mirror)


def mirrored(joints: np.ndarray) -> np.ndarray:
    """Left–right mirror of ``(..., T, V, 3)`` takes: x → −x, each joint in its twin's place."""
    out = np.array(joints, dtype=np.float32, copy=True)
    out[..., 0] = -out[..., 0]
    return out[..., mirror_twins(), :]


def facing_angles(joints: np.ndarray) -> np.ndarray:
    """(N,) yaw of each take's start: the angle of its right→left axis in the x–z plane."""
    head = joints[:, :FACING_FRAMES]
    across = sum(
        head[:, :, NTU_JOINTS.index(a)] - head[:, :, NTU_JOINTS.index(b)] for a, b in _ACROSS
    ).mean(axis=1)
    return np.arctan2(across[:, 2], across[:, 0])


def canonical(joints: np.ndarray) -> np.ndarray:
    """Each take turned to face −Z at its start, its root's start over the origin."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 4 or joints.shape[2:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected NTU-25 joints (N, T, 25, 3), got {joints.shape}")
    # Turn by θ = φ − π: the right→left axis (angle φ) goes to −X (angle π).
    theta = facing_angles(joints) - np.pi
    c, s = np.cos(theta), np.sin(theta)
    start = joints[:, 0, ROOT] * np.array([1.0, 0.0, 1.0])
    centred = joints - start[:, None, None, :]
    x, y, z = centred[..., 0], centred[..., 1], centred[..., 2]
    cx, sx = c[:, None, None], s[:, None, None]
    return np.stack([cx * x + sx * z, y, -sx * x + cx * z], axis=-1)


def frame_features(joints: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """The three groups, each ``(N, T, D)`` float32: ``pose`` (72), ``height`` (1) and
    ``velocity`` (3)."""
    body = canonical(joints)
    root = body[:, :, ROOT]
    rel = np.delete(body - root[:, :, None, :], ROOT, axis=2)
    n, t = body.shape[:2]
    velocity = np.zeros_like(root)
    if t > 1:
        velocity[:, 1:] = np.diff(root, axis=1) * fps
        velocity[:, 0] = velocity[:, 1]
    return {
        "pose": rel.reshape(n, t, REL_DIMS).astype(np.float32),
        "height": root[:, :, 1:2].astype(np.float32),
        "velocity": velocity.astype(np.float32),
    }
