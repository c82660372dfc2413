"""Physical plausibility of motion: what an animator sees that a recogniser does not.

Every statistic takes joints in metres, ``(N, T, V, 3)``, y up, the floor at y = 0 (our
dataset frame), NTU-25 joint order, and the frame rate. They are plain numpy and are
defined (with their thresholds and why) in docs/metrics.md:

- ``bone_cv``            each bone's length variation within a take (std / mean);
- ``proportion_error``   each bone's mean length against a reference set's, relative;
- ``high_freq_share``    the share of velocity power above 6 Hz;
- ``judder``             how much the frame-to-frame speed alternates (0 smooth, 1 stepping);
- ``foot_skating``       horizontal foot speed while the foot is on the floor;
- ``floor_penetration``  how far the lowest joint sinks below the floor;
- ``hover``              how high a take floats: its lowest joint's median height;
- ``hyperextension``     share of frames with a knee / elbow bent the wrong way;
- ``speed_w1`` / ``accel_w1``  Wasserstein-1 distances of per-joint speed and
  acceleration distributions against a reference set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import get_skeleton

HIGH_FREQ_HZ = 6.0
# A foot is in contact when its lower joint is within 5 cm of the floor and moves slower
# than 1.5 m/s horizontally: low enough to exclude a foot swinging over the floor, fast
# enough that a sliding planted foot still counts (it is what we want to measure). Every
# contact threshold of the project, side by side: the add-on's core/contact.py.
CONTACT_HEIGHT_M = 0.05
CONTACT_SPEED_MS = 1.5
# A hinge is hyperextended when it bends more than 10° the wrong way: a straight limb
# (±a few degrees of marker noise) is not counted either way.
HYPEREXTENSION_DEG = 10.0
W1_QUANTILES = 512

_NTU = get_skeleton("ntu")
_J = {name: i for i, name in enumerate(_NTU.joint_names)}
# (upper, hinge, lower) joints of each limb; the hinge's reference side axis.
KNEES = ((_J["HipLeft"], _J["KneeLeft"], _J["AnkleLeft"]),
         (_J["HipRight"], _J["KneeRight"], _J["AnkleRight"]))
ELBOWS = ((_J["ShoulderLeft"], _J["ElbowLeft"], _J["WristLeft"]),
          (_J["ShoulderRight"], _J["ElbowRight"], _J["WristRight"]))
FEET = ((_J["AnkleLeft"], _J["FootLeft"]), (_J["AnkleRight"], _J["FootRight"]))


def check_joints(joints: np.ndarray, source: str = "joints") -> np.ndarray:
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 4 or x.shape[2] != _NTU.num_joints or x.shape[3] != 3 or x.shape[1] < 4:
        raise KineticGanError(
            f"{source}: expected NTU-25 joints (N, T≥4, 25, 3) in metres, got {x.shape}")
    if not np.isfinite(x).all():
        raise KineticGanError(f"{source}: joints contain NaN or infinite values")
    return x


def bone_lengths(joints: np.ndarray, parents: Sequence[int] = _NTU.parents) -> np.ndarray:
    """(N, T, B) length of every bone (child joints with a parent, in joint order)."""
    children = [c for c, p in enumerate(parents) if p >= 0]
    par = [parents[c] for c in children]
    return np.linalg.norm(joints[:, :, children] - joints[:, :, par], axis=-1)


def bone_cv(joints: np.ndarray) -> float:
    """Median over takes and bones of std/mean of the bone's length within the take."""
    lengths = bone_lengths(joints)
    mean = lengths.mean(axis=1)
    cv = lengths.std(axis=1) / np.maximum(mean, 1e-6)
    return float(np.median(cv))


def proportion_error(joints: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and max over bones of |mean length − reference mean length| / reference."""
    ours = bone_lengths(joints).mean(axis=(0, 1))
    ref = bone_lengths(reference).mean(axis=(0, 1))
    rel = np.abs(ours - ref) / np.maximum(ref, 1e-6)
    return float(rel.mean()), float(rel.max())


def velocity(joints: np.ndarray, fps: float) -> np.ndarray:
    return np.diff(joints, axis=1) * fps


def high_freq_share(joints: np.ndarray, fps: float, cutoff_hz: float = HIGH_FREQ_HZ) -> float:
    """Share of the (Hann-windowed, mean-removed) velocity power above ``cutoff_hz``."""
    v = velocity(joints, fps)
    v = v - v.mean(axis=1, keepdims=True)
    window = np.hanning(v.shape[1])[None, :, None, None]
    power = np.abs(np.fft.rfft(v * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(v.shape[1], d=1.0 / fps)
    high = power[:, freqs > cutoff_hz].sum()
    total = power[:, 1:].sum()
    return float(high / total) if total > 0 else 0.0


def judder(joints: np.ndarray, fps: float) -> float:
    """Mean |s(t+1) − 2 s(t) + s(t−1)| / (4 · mean s) of the body's mean joint speed s.

    Constant speed gives 0, speed alternating between fast and still on every other frame
    gives 1. Averaged over takes, weighted by how much each take moves.
    """
    s = np.linalg.norm(velocity(joints, fps), axis=-1).mean(axis=2)  # (N, T-1)
    second = np.abs(s[:, 2:] - 2 * s[:, 1:-1] + s[:, :-2]).mean(axis=1)
    return float(second.sum() / (4 * s.mean(axis=1).sum() + 1e-12))


def foot_contacts(joints: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per foot (ankle, foot tip) the contact mask and horizontal speed, both (N, T-1, 2).

    The lower of the two joints decides, per frame: the heel in a heel strike, the toes
    when on tiptoe.
    """
    masks, speeds = [], []
    for ankle, tip in FEET:
        pair = joints[:, :, [ankle, tip]]
        low = np.argmin(pair[..., 1], axis=2)  # (N, T)
        lowest = np.take_along_axis(pair, low[..., None, None], axis=2)[:, :, 0]  # (N, T, 3)
        step = (lowest[:, 1:] - lowest[:, :-1])[..., [0, 2]]
        speed = np.linalg.norm(step, axis=-1) * fps
        height = np.minimum(lowest[:, 1:, 1], lowest[:, :-1, 1])
        masks.append((height < CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_MS))
        speeds.append(speed)
    return np.stack(masks, axis=-1), np.stack(speeds, axis=-1)


def foot_skating(joints: np.ndarray, fps: float) -> tuple[float, float]:
    """Mean horizontal speed (m/s) of feet in contact, and the share of frames in contact."""
    mask, speed = foot_contacts(joints, fps)
    if not mask.any():
        return 0.0, 0.0
    return float(speed[mask].mean()), float(mask.mean())


def floor_penetration(joints: np.ndarray) -> tuple[float, float]:
    """Mean depth (m) of the lowest joint below y = 0 over all frames, and the share of
    frames where it is more than 1 cm below."""
    lowest = joints[..., 1].min(axis=2)
    depth = np.maximum(0.0, -lowest)
    return float(depth.mean()), float((lowest < -0.01).mean())


def hover(joints: np.ndarray) -> float:
    """Median over takes of the lowest joint's median height (m) within the take.

    A body stands on the floor most of the time, jumps and flips included (real windows:
    3 cm typical, never above 6.6 cm); a generated body that floats scores higher.
    """
    return float(np.median(np.median(joints[..., 1].min(axis=2), axis=1)))


def _signed_bend(joints: np.ndarray, limb: tuple[int, int, int], side: np.ndarray) -> np.ndarray:
    """Bend angle (degrees) of a hinge, positive when it bends the anatomical way."""
    a, b, c = limb
    upper = joints[:, :, b] - joints[:, :, a]
    lower = joints[:, :, c] - joints[:, :, b]
    cross = np.cross(upper, lower)
    sin = np.einsum("ntk,ntk->nt", cross, side)
    cos = np.einsum("ntk,ntk->nt", upper, lower)
    return np.degrees(np.arctan2(sin, cos))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _body_side(joints: np.ndarray, left: str, right: str) -> np.ndarray:
    """Unit vector from the right to the left joint of a pair."""
    return _unit(joints[:, :, _J[left]] - joints[:, :, _J[right]])


def _swing(a: np.ndarray, b: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v`` turned by the shortest rotation taking unit ``a`` to unit ``b`` (Rodrigues)."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    k = axis / np.maximum(sin, 1e-9)
    return v * cos + np.cross(k, v) * sin + k * np.sum(k * v, axis=-1, keepdims=True) * (1 - cos)


def _elbow_axes(joints: np.ndarray, shoulder: int, elbow: int) -> np.ndarray:
    """Each frame's expected elbow flexion axis (pointing to the body's right).

    At rest (arm hanging along the torso) the elbow flexes about the shoulders' axis.
    A raised or abducted arm carries its hinge with it, so the rest axis is swung by the
    shortest rotation from "down the torso" to the upper arm's direction (no humeral
    twist, which positions cannot show). A fixed shoulder axis instead counts 3.4 % of
    real frames as hyperextended (arms out to the side); this, 0.4–0.9 %.
    """
    left = _body_side(joints, "ShoulderLeft", "ShoulderRight")
    up = joints[:, :, _J["SpineShoulder"]] - joints[:, :, _J["SpineBase"]]
    up = _unit(up - np.sum(up * left, axis=-1, keepdims=True) * left)
    upper = _unit(joints[:, :, elbow] - joints[:, :, shoulder])
    return _swing(-up, upper, -left)


def hinge_angles(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed knee and elbow bend angles (degrees), (N, T, 2) each (left, right).

    In a right-handed, y-up frame a knee flexes shin-backwards, so thigh × shin points to
    the body's *left* (the hips' right → left axis: the knee's hinge turns little with
    the hip); an elbow flexes forearm-forwards, so upper arm × forearm points along its
    hinge axis to the body's *right* (``_elbow_axes``). The axes come from the body
    itself, so the test holds lying, upside down or turning. Positive angles are
    flexion, negative ones bending the wrong way.
    """
    hips = _body_side(joints, "HipLeft", "HipRight")
    knees = np.stack([_signed_bend(joints, k, hips) for k in KNEES], axis=-1)
    elbows = np.stack([_signed_bend(joints, e, _elbow_axes(joints, e[0], e[1]))
                       for e in ELBOWS], axis=-1)
    return knees, elbows


def hyperextension(joints: np.ndarray) -> tuple[float, float]:
    """Share of (frame, limb) pairs bent more than 10° the wrong way: knees, elbows."""
    knees, elbows = hinge_angles(joints)
    return (float((knees < -HYPEREXTENSION_DEG).mean()),
            float((elbows < -HYPEREXTENSION_DEG).mean()))


def wasserstein_1d(a: np.ndarray, b: np.ndarray, quantiles: int = W1_QUANTILES) -> float:
    """W1 of two 1-D empirical distributions: the mean gap between their quantile functions."""
    q = (np.arange(quantiles) + 0.5) / quantiles
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def _per_joint_w1(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([wasserstein_1d(x[..., j].ravel(), y[..., j].ravel())
                          for j in range(x.shape[-1])]))


def speeds(joints: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(velocity(joints, fps), axis=-1)


def accelerations(joints: np.ndarray, fps: float) -> np.ndarray:
    return np.linalg.norm(np.diff(joints, n=2, axis=1) * fps * fps, axis=-1)


def speed_w1(joints: np.ndarray, reference: np.ndarray, fps: float) -> float:
    """Mean over joints of W1 between the per-joint speed distributions (m/s)."""
    return _per_joint_w1(speeds(joints, fps), speeds(reference, fps))


def accel_w1(joints: np.ndarray, reference: np.ndarray, fps: float) -> float:
    """Mean over joints of W1 between the per-joint acceleration distributions (m/s²)."""
    return _per_joint_w1(accelerations(joints, fps), accelerations(reference, fps))


def statistics(joints: np.ndarray, fps: float, reference: np.ndarray | None = None,
               source: str = "joints") -> dict[str, float]:
    """Every per-set statistic of one set (``reference`` adds the ones that compare)."""
    x = check_joints(joints, source)
    skate, contact = foot_skating(x, fps)
    depth, below = floor_penetration(x)
    knee, elbow = hyperextension(x)
    out = {
        "bone_cv_pct": 100 * bone_cv(x),
        "high_freq_share": high_freq_share(x, fps),
        "judder": judder(x, fps),
        "foot_skating_ms": skate,
        "foot_contact_share": contact,
        "floor_penetration_cm": 100 * depth,
        "frames_below_floor": below,
        "hover_cm": 100 * hover(x),
        "knee_hyperextension": knee,
        "elbow_hyperextension": elbow,
        "median_accel_ms2": float(np.median(accelerations(x, fps))),
    }
    if reference is not None:
        ref = check_joints(reference, "reference")
        mean_err, max_err = proportion_error(x, ref)
        out.update(proportion_error_pct=100 * mean_err, proportion_error_max_pct=100 * max_err,
                   speed_w1=speed_w1(x, ref, fps), accel_w1=accel_w1(x, ref, fps))
    return out
