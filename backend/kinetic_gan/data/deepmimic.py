"""DeepMimic motion clips: parsing and forward kinematics of the humanoid.

A clip is JSON ``{"Loop": "wrap" | "none", "Frames": [[44 numbers], ...]}``. A frame is
``dt`` (seconds to the next frame), the root position (3, metres), the root orientation,
then twelve joints in the order of ``JOINTS``: spherical joints as quaternions
(w, x, y, z), knees and elbows as one angle about their local z axis. Each rotation is
the child body's orientation relative to its parent.

Body offsets are those of ``pybullet_data/humanoid/humanoid.urdf`` times the 0.25 scale
DeepMimic loads it with (tested against the fetched file). Frame of the simulation: Y up,
the humanoid faces +x and its right side is +z.

Besides the joint origins, FK reports *sites*: points fixed on a body that the URDF has no
joint for (head centre, foot, hand, finger tips, thumb), placed from the collision shapes
of the URDF; ``docs/data.md`` explains each. All of them are what ``to_ntu`` maps to NTU-25.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.data.rotations import (
    axis_angle_matrix,
    normalize_quat,
    quat_multiply,
    quat_to_matrix,
    slerp,
)
from kinetic_gan.errors import KineticGanError

SCALE = 0.25

# (joint, parent body, offset from the parent's origin in URDF units, DoF) in frame order.
JOINTS: tuple[tuple[str, str, tuple[float, float, float], int], ...] = (
    ("chest", "root", (0.0, 0.944604, 0.0), 4),
    ("neck", "chest", (0.0, 0.895576, 0.0), 4),
    ("right_hip", "root", (0.0, 0.0, 0.339548), 4),
    ("right_knee", "right_hip", (0.0, -1.686184, 0.0), 1),
    ("right_ankle", "right_knee", (0.0, -1.639480, 0.0), 4),
    ("right_shoulder", "chest", (-0.0962, 0.974, 0.73244), 4),
    ("right_elbow", "right_shoulder", (0.0, -1.099152, 0.0), 1),
    ("left_hip", "root", (0.0, 0.0, -0.339548), 4),
    ("left_knee", "left_hip", (0.0, -1.686184, 0.0), 1),
    ("left_ankle", "left_knee", (0.0, -1.639480, 0.0), 4),
    ("left_shoulder", "chest", (-0.0962, 0.974, -0.73244), 4),
    ("left_elbow", "left_shoulder", (0.0, -1.099152, 0.0), 1),
)
FRAME_SIZE = 1 + 3 + 4 + sum(dof for *_, dof in JOINTS)  # 44

# Points fixed on a body, in that body's frame, in metres (already scaled):
# name -> (body, offset). Derivations in docs/data.md.
SITES: dict[str, tuple[str, tuple[float, float, float]]] = {
    # the fixed wrist joint of the URDF: 1.035788 below the elbow
    "right_wrist": ("right_elbow", (0.0, -1.035788 * SCALE, 0.0)),
    "left_wrist": ("left_elbow", (0.0, -1.035788 * SCALE, 0.0)),
    # head sphere: centre 0.7 above the neck joint, radius 0.41 (URDF units)
    "head": ("neck", (0.0, 0.70 * SCALE, 0.0)),
    "neck_top": ("neck", (0.0, (0.70 - 0.41) * SCALE, 0.0)),
    # the foot box (centre (0.18, -0.09, 0), length 0.708): a point halfway between its
    # centre and its front face, at the centre's height — the Kinect's "foot" joint
    "right_foot": ("right_ankle", ((0.18 + 0.708 / 4) * SCALE, -0.09 * SCALE, 0.0)),
    "left_foot": ("left_ankle", ((0.18 + 0.708 / 4) * SCALE, -0.09 * SCALE, 0.0)),
    # the humanoid has no hands (a 0.16-radius ball at the wrist); an adult hand is about
    # 0.18 m from wrist to finger tip, carried on by the forearm (the wrist has no DoF).
    # The palm faces the thigh in the rest pose, so the thumb is in front (+x).
    "right_hand": ("right_elbow", (0.0, -1.035788 * SCALE - 0.08, 0.0)),
    "left_hand": ("left_elbow", (0.0, -1.035788 * SCALE - 0.08, 0.0)),
    "right_hand_tip": ("right_elbow", (0.0, -1.035788 * SCALE - 0.17, 0.0)),
    "left_hand_tip": ("left_elbow", (0.0, -1.035788 * SCALE - 0.17, 0.0)),
    "right_thumb": ("right_elbow", (0.045, -1.035788 * SCALE - 0.085, 0.0)),
    "left_thumb": ("left_elbow", (0.045, -1.035788 * SCALE - 0.085, 0.0)),
}

POINT_NAMES: tuple[str, ...] = ("root", *(j for j, *_ in JOINTS), *SITES)


@dataclass(frozen=True)
class Clip:
    name: str
    loop: bool  # "Loop": "wrap" — the last frame flows back into the first
    frames: np.ndarray  # (F, 44) float64, as stored

    @property
    def dt(self) -> np.ndarray:
        return self.frames[:, 0]

    @property
    def times(self) -> np.ndarray:
        """Time stamp of every frame, starting at 0."""
        return np.concatenate([[0.0], np.cumsum(self.dt[:-1])])

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def load_clip(path: str | Path, name: str | None = None) -> Clip:
    """Parse a DeepMimic clip file, with one clear error for anything malformed."""
    path = Path(path)
    where = f"DeepMimic clip {path}"
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KineticGanError(f"{where}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict) or "Frames" not in doc:
        raise KineticGanError(f"{where}: expected an object with 'Frames'")
    loop = doc.get("Loop", "none")
    if loop not in ("wrap", "none"):
        raise KineticGanError(f"{where}: 'Loop' must be 'wrap' or 'none', got {loop!r}")
    try:
        frames = np.asarray(doc["Frames"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KineticGanError(
            f"{where}: 'Frames' is not a list of equal-length number lists"
        ) from exc
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or len(frames) < 2:
        raise KineticGanError(
            f"{where}: expected at least 2 frames of {FRAME_SIZE} numbers, got shape {frames.shape}"
        )
    if not np.isfinite(frames).all():
        raise KineticGanError(f"{where}: contains NaN or Inf")
    if (frames[:-1, 0] <= 0).any():
        raise KineticGanError(f"{where}: every frame but the last needs dt > 0")
    stem = path.stem.removeprefix("humanoid3d_")
    return Clip(name=name or stem, loop=loop == "wrap", frames=frames)


def sample_poses(clip: Clip, times: np.ndarray) -> np.ndarray:
    """Poses (len(times), 44) at the given times in [0, duration], interpolated.

    Positions and 1-DoF angles interpolate linearly, quaternions by slerp, so forward
    kinematics of an interpolated pose keeps every bone length exact.
    """
    stamps = clip.times
    t = np.clip(np.asarray(times, dtype=np.float64), 0.0, stamps[-1])
    i = np.clip(np.searchsorted(stamps, t, side="right") - 1, 0, len(stamps) - 2)
    alpha = (t - stamps[i]) / (stamps[i + 1] - stamps[i])
    return blend_poses(clip.frames[i], clip.frames[i + 1], alpha)


# Length of the cross-fade into the next cycle of a looping clip (seconds, at most D / 4).
LOOP_BLEND_S = 0.2


def cycle_shift(clip: Clip) -> np.ndarray:
    """(3,) how far one cycle of a looping clip carries the body over the floor.

    As DeepMimic itself loops a clip: the root's displacement from the first frame to the
    last, with no change of height and no turn.
    """
    shift = clip.frames[-1, 1:4] - clip.frames[0, 1:4]
    shift[1] = 0.0
    return shift


def clip_points(clip: Clip, times: np.ndarray) -> np.ndarray:
    """(len(times), len(POINT_NAMES), 3) positions at any times, in the simulation frame.

    A non-looping clip holds its first pose before 0 and its last after its end. A looping
    clip repeats, each cycle shifted by ``cycle_shift``. Mocap loops do not close exactly
    (the last pose is a few cm to 0.5 m off the shifted first pose), so over the last
    ``LOOP_BLEND_S`` of each cycle the pose eases — in joint space, so bone lengths stay
    exact — into the shifted first pose, where the next cycle starts.
    """
    times = np.asarray(times, dtype=np.float64)
    if not clip.loop:
        return forward_kinematics(sample_poses(clip, times))
    period = clip.duration
    cycle = np.floor(times / period).astype(int)
    local = times - cycle * period
    poses = sample_poses(clip, local)
    shift = cycle_shift(clip)
    blend = min(LOOP_BLEND_S, period / 4)
    fading = local > period - blend
    if fading.any():
        w = (local[fading] - (period - blend)) / blend
        w = w * w * (3 - 2 * w)  # smoothstep: no kink where the correction begins or ends
        next_start = clip.frames[0].copy()
        next_start[1:4] += shift
        poses[fading] = _ease_into(poses[fading], clip.frames[-1], next_start, w)
    return forward_kinematics(poses) + (cycle[:, None] * shift)[:, None, :]


def _ease_into(poses: np.ndarray, end: np.ndarray, start: np.ndarray,
               w: np.ndarray) -> np.ndarray:
    """Add to ``poses`` a growing share ``w`` of the gap from ``end`` to ``start``.

    Positions and angles get ``w (start − end)``; rotations are pre-multiplied by the
    fraction ``w`` of the turn from ``end`` to ``start``. The motion keeps its own velocity
    (a perfect loop is left untouched) and reaches ``start`` exactly when ``w`` = 1.
    """
    out = poses + w[:, None] * (start - end)
    for col in _quaternion_columns():
        q = slice(col, col + 4)
        a, b = normalize_quat(end[q]), normalize_quat(start[q])
        gap = quat_multiply(b, a * [1.0, -1.0, -1.0, -1.0])  # b ⊗ a⁻¹
        identity = np.broadcast_to([1.0, 0.0, 0.0, 0.0], (len(w), 4))
        share = slerp(identity, np.broadcast_to(gap, (len(w), 4)), w)
        out[:, q] = quat_multiply(share, poses[:, q])
    return out


def blend_poses(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Poses (F, 44) from a (w = 0) to b (w = 1): lerp positions and angles, slerp rotations."""
    w = np.asarray(w, dtype=np.float64)
    out = a + w[:, None] * (b - a)
    for start in _quaternion_columns():
        q = slice(start, start + 4)
        out[:, q] = slerp(a[:, q], b[:, q], w)
    return out


def _quaternion_columns() -> list[int]:
    """First column of every quaternion in a frame (root orientation first)."""
    starts, col = [4], 8
    for *_, dof in JOINTS:
        if dof == 4:
            starts.append(col)
        col += dof
    return starts


def forward_kinematics(poses: np.ndarray) -> np.ndarray:
    """(F, 44) poses → (F, len(POINT_NAMES), 3) world positions in the simulation frame."""
    poses = np.asarray(poses, dtype=np.float64)
    frames = len(poses)
    position = {"root": poses[:, 1:4]}
    rotation = {"root": quat_to_matrix(poses[:, 4:8])}
    col = 8
    for joint, parent, offset, dof in JOINTS:
        local = (quat_to_matrix(poses[:, col : col + 4]) if dof == 4
                 else axis_angle_matrix("z", poses[:, col]))
        col += dof
        position[joint] = position[parent] + rotation[parent] @ (np.asarray(offset) * SCALE)
        rotation[joint] = rotation[parent] @ local
    for site, (body, offset) in SITES.items():
        position[site] = position[body] + rotation[body] @ np.asarray(offset)
    for side in ("left", "right"):
        _bend_hand_at_floor(position, side)
    out = np.empty((frames, len(POINT_NAMES), 3))
    for k, name in enumerate(POINT_NAMES):
        out[:, k] = position[name]
    return out


def _bend_hand_at_floor(position: dict[str, np.ndarray], side: str) -> None:
    """Pivot a derived hand about its wrist so it rests on the floor instead of going through.

    The humanoid has no wrist joint: it plants the ball at the end of its forearm, and a hand
    carried straight on along the forearm would reach up to ~20 cm under the floor. A real
    wrist bends back; we turn the hand's points (hand, tip, thumb) rigidly about the wrist, in
    the vertical plane of the forearm, just enough for the finger tip to reach y = 0 — the
    distances from the wrist stay exact. Where the wrist itself is below the floor the hand
    is laid flat.
    """
    wrist = position[f"{side}_wrist"]
    tip = position[f"{side}_hand_tip"]
    reach = tip - wrist
    length = np.linalg.norm(reach, axis=-1)
    low = tip[:, 1] < 0.0
    if not low.any():
        return
    d = reach[low] / length[low, None]
    horizontal = np.array([1.0, 0.0, 1.0])
    # the hand turns towards where it already points; a hand hanging straight down turns
    # the way its thumb points (the palm's front)
    thumb_way = (position[f"{side}_thumb"][low] - position[f"{side}_hand"][low]) * horizontal
    flat = d * horizontal
    flat = np.where(np.linalg.norm(flat, axis=-1, keepdims=True) > 1e-6, flat, thumb_way)
    flat /= np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-12)
    # the tip's height wrist_y + length * target_y must be 0 (flat when the wrist is under)
    target_y = np.clip(-wrist[low, 1] / length[low], -1.0, 0.0)
    target = flat * np.sqrt(1 - target_y**2)[:, None] + np.outer(target_y, [0.0, 1.0, 0.0])
    turn = _rotation_between(d, target)
    for site in (f"{side}_hand", f"{side}_hand_tip", f"{side}_thumb"):
        rel = position[site][low] - wrist[low]
        position[site][low] = wrist[low] + np.einsum("fij,fj->fi", turn, rel)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations turning unit vectors a onto unit vectors b (Rodrigues)."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    k = axis / np.maximum(sin, 1e-12)[:, None]
    kx = np.zeros((len(a), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx -= kx.transpose(0, 2, 1)
    return np.eye(3) + sin[:, None, None] * kx + (1 - cos)[:, None, None] * (kx @ kx)


def urdf_offsets(urdf: str | Path) -> dict[str, tuple[float, float, float]]:
    """Joint origins (URDF units) read from ``humanoid.urdf`` — to check ``JOINTS`` against.

    The shipped file has stray bytes after ``</robot>``, so it is cut there and scanned
    with a pattern rather than handed to an XML parser.
    """
    try:
        text = Path(urdf).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise KineticGanError(f"URDF {urdf}: not readable ({exc})") from exc
    text = text.split("</robot>")[0]
    offsets = {}
    for match in _JOINT_ORIGIN.finditer(text):
        offsets[match["name"]] = tuple(float(v) for v in match["xyz"].split())
    if not offsets:
        raise KineticGanError(f"URDF {urdf}: no joints found")
    return offsets


_JOINT_ORIGIN = re.compile(
    r'<joint\s+name\s*=\s*"(?P<name>[^"]+)".*?<origin[^>]*?xyz\s*=\s*"(?P<xyz>[^"]+)"', re.S
)
