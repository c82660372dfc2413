"""Physical priors: optional extra generator losses that penalise what an animator rejects.

The critic judges motion as a whole; on a corpus of a few hundred windows it tolerates
knees bent backwards and feet that slide, because plenty of real windows have a leg nearly
straight or a foot sliding a little. These terms add, to the generator's loss only,

    λ_hinge · mean relu(−sin θ)         knees and elbows bent the wrong way
    λ_foot  · mean w · |v_xz|           horizontal speed (m/s) of feet on the floor
    λ_floor · mean relu(−y_lowest)      how far (m) the lowest joint sinks below the floor
    λ_hover · mean relu(median_t y_lowest − 5 cm)   takes that float above the floor
    λ_energy · mean relu(log e_lo[c] − log e) + relu(log e − log e_hi[c])
                    + relu(log r − log r_hi[c])   takes that move slower (or faster, or
                                        more roughly) than their class does
    λ_speed · mean |q_k(s_j) − Q_k,j[c]|   each joint's speed distribution over a take
                                        against its class's (quantiles, m/s)

with θ the signed bend of each hinge (positive = the anatomical way) and w a soft,
gradient-free contact weight from the foot joint's height. They are the differentiable
counterparts of ``kinetic_gan.metrics.plausibility``'s hyperextension, foot skating, floor
penetration and hover, with the same joints, axes and thresholds, so what the metric
measures is what training pushes down. NTU-25 skeletons only; everything is in metres, y up, the
floor at y = 0 (our dataset frame), recovered from the model units by the dataset's
normalization. Off (all λ = 0) in every published setting; no weight layout changes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import plausibility
from kinetic_gan.skeletons import get_skeleton
from kinetic_gan.train.config import TrainConfig

# The metric's joints and contact height, so training pushes down what it measures (every
# contact threshold of the project, side by side: the add-on's core/contact.py).
CONTACT_HEIGHT_M = plausibility.CONTACT_HEIGHT_M
# The soft edge keeps feet just above the threshold from being pushed as hard as feet on it.
CONTACT_SOFTNESS_M = 0.01

_J = plausibility._J
KNEES, ELBOWS = plausibility.KNEES, plausibility.ELBOWS
FOOT_JOINTS = tuple(joint for foot in plausibility.FEET for joint in foot)

# Real takes stand on the floor most of the time: the lowest joint's median height over a
# take is under 6.6 cm in every training window of deepmimic15 (jumps and flips included),
# so a take whose median is above 5 cm floats. The floor penalty alone lets the generator
# lift the whole body clear of the floor (median 9 cm, up to 42 cm, measured).
HOVER_M = 0.05
# A take's energy is its mean joint speed (m/s). The critic and the other priors let the
# retrained model settle at about half the real energy (walk roots at 0.70 vs 0.97 m/s,
# spin kicks at 1.2 vs 2.7 m/s, measured): slow motion is never implausible frame by
# frame, only dull. The band is each class's 10th–90th percentile over the training
# windows, widened by the augmentation's time warp (the critic is shown the clips played
# 0.8–1.25× as fast), so a take may be anywhere in the range its class covers in training
# (diversity is not traded for energy), not pulled to a mean. A band on acceleration was met
# with jitter (judder 1.0 → 1.5× real within 300 iterations, measured: wiggling is the
# cheapest way to accelerate), and the speed band alone left spin kicks, jumps, cartwheels
# and dances rough (judder 1.5–3.5× their class's), so the band also caps each take's
# roughness (the protocol's judder of the take) at its class's 90th percentile.
ENERGY_QUANTILES = (0.1, 0.9)
# The band keeps a take's mean speed in its class's range but leaves the shape of the
# distribution free: the model met it with every joint moving at a middling speed (median
# acceleration 6.5 vs 9.7 m/s², speed W1 85× the train-vs-test floor, measured), never
# as still or as fast as the mocap's limbs are in turn. The speed term matches, per joint,
# the quantiles of a take's frame speeds to its class's over the training windows as stored
# (not time-warped: the protocol measures against the clips as they are), the 1-D W1
# between the two distributions as the protocol measures it, per class.
SPEED_QUANTILES = tuple((k + 0.5) / 16 for k in range(16))
NAMES = ("hinge", "foot_slide", "floor", "hover", "energy", "speed")


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def _swing(a: Tensor, b: Tensor, v: Tensor) -> Tensor:
    """``v`` turned by the shortest rotation taking unit ``a`` to unit ``b`` (Rodrigues)."""
    axis = torch.linalg.cross(a, b)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    k = axis / sin.clamp_min(1e-6)
    return v * cos + torch.linalg.cross(k, v) * sin + k * (k * v).sum(-1, keepdim=True) * (1 - cos)


def _signed_sine(joints: Tensor, limb: tuple[int, int, int], axis: Tensor) -> Tensor:
    """Sine of a hinge's bend about ``axis``, positive when it bends the anatomical way."""
    a, b, c = limb
    upper = joints[:, :, b] - joints[:, :, a]
    lower = joints[:, :, c] - joints[:, :, b]
    cross = torch.linalg.cross(upper, lower)
    norm = (upper.norm(dim=-1) * lower.norm(dim=-1)).clamp_min(1e-6)
    return (cross * axis).sum(-1) / norm


def hinge_sines(joints: Tensor) -> Tensor:
    """(N, T, 4) signed bend sines of the left/right knee, then the left/right elbow.

    Axes as in ``metrics.plausibility.hinge_angles``: a knee flexes about the hips' right →
    left axis, an elbow about the shoulders' left → right axis swung with the upper arm.
    """
    hips = _unit(joints[:, :, _J["HipLeft"]] - joints[:, :, _J["HipRight"]])
    left = _unit(joints[:, :, _J["ShoulderLeft"]] - joints[:, :, _J["ShoulderRight"]])
    up = joints[:, :, _J["SpineShoulder"]] - joints[:, :, _J["SpineBase"]]
    up = _unit(up - (up * left).sum(-1, keepdim=True) * left)
    sines = [_signed_sine(joints, knee, hips) for knee in KNEES]
    for elbow in ELBOWS:
        upper_arm = _unit(joints[:, :, elbow[1]] - joints[:, :, elbow[0]])
        sines.append(_signed_sine(joints, elbow, _swing(-up, upper_arm, -left)))
    return torch.stack(sines, dim=-1)


def hinge_penalty(joints: Tensor) -> Tensor:
    return torch.relu(-hinge_sines(joints)).mean()


def foot_slide_penalty(joints: Tensor, fps: float) -> Tensor:
    """Mean over (take, frame, foot joint) of contact weight × horizontal speed (m/s)."""
    feet = joints[:, :, FOOT_JOINTS]  # (N, T, 4, 3)
    step = (feet[:, 1:] - feet[:, :-1])[..., [0, 2]]
    speed = step.norm(dim=-1) * fps
    height = torch.minimum(feet[:, 1:, :, 1], feet[:, :-1, :, 1])
    # Which frames count as contact is a fact about the take, not something to optimise:
    # without detach the cheapest fix is to lift every foot off the floor.
    weight = torch.sigmoid((CONTACT_HEIGHT_M - height) / CONTACT_SOFTNESS_M).detach()
    return (weight * speed).mean()


def floor_penalty(joints: Tensor) -> Tensor:
    return torch.relu(-joints[..., 1].amin(dim=2)).mean()


def hover_penalty(joints: Tensor) -> Tensor:
    """Mean over takes of how far (m) the lowest joint's median height exceeds 5 cm."""
    lowest = joints[..., 1].amin(dim=2)  # (N, T)
    return torch.relu(lowest.median(dim=1).values - HOVER_M).mean()


def joint_speeds(joints: Tensor, fps: float) -> Tensor:
    """(N, T-1, V) each joint's speed (m/s) between frames of ``joints`` (N, T, V, 3)."""
    velocity = (joints[:, 1:] - joints[:, :-1]) * fps
    # The small floor keeps the gradient of a joint standing perfectly still finite.
    return velocity.square().sum(-1).clamp_min(1e-8).sqrt()


def take_energy(joints: Tensor, fps: float) -> Tensor:
    """(N, 2) per take the log of its mean joint speed (m/s) and the log of its roughness,
    ``metrics.plausibility.judder`` of the take alone (how much that speed jumps about)."""
    speed = joint_speeds(joints, fps).mean(dim=2)  # (N, T-1)
    second = (speed[:, 2:] - 2 * speed[:, 1:-1] + speed[:, :-2]).abs().mean(dim=1)
    mean = speed.mean(dim=1)
    return torch.stack((mean, second.clamp_min(1e-8) / (4 * mean)), dim=-1).log()


def class_energy_band(joints: Tensor, labels: Tensor, n_classes: int, fps: float,
                      time_warp: tuple[float, float] = (1.0, 1.0),
                      quantiles: tuple[float, float] = ENERGY_QUANTILES) -> Tensor:
    """(K, 3) per class, in log units: the (low, high) speed quantiles and the high
    roughness quantile of real takes ``joints`` (N, T, V, 3) in metres with ``labels``
    (N,), widened by playing them ``time_warp`` = (slowest, fastest) × as fast (speed scales
    with the rate, roughness with its square)."""
    slow, fast = (float(w) for w in time_warp)
    if not 0 < slow <= fast:
        raise KineticGanError(f"motion priors: time_warp must be 0 < low <= high, got {time_warp}")
    energy = take_energy(joints.double(), fps)
    q = torch.tensor(quantiles, dtype=energy.dtype)
    band = torch.empty(n_classes, 3, dtype=torch.float32)
    for c in range(n_classes):
        rows = energy[labels == c]
        if len(rows) == 0:
            raise KineticGanError(f"motion priors: class {c} has no real takes for its "
                                  "energy band; set energy_penalty to 0")
        band[c, :2] = torch.quantile(rows[:, 0], q).float()
        band[c, 2] = torch.quantile(rows[:, 1], q[1]).float()
    return band + torch.log(torch.tensor([slow, fast, fast * fast]))


def class_speed_quantiles(joints: Tensor, labels: Tensor, n_classes: int, fps: float,
                          quantiles: tuple[float, ...] = SPEED_QUANTILES) -> Tensor:
    """(K, V, Q) per class and joint, the ``quantiles`` of the frame speeds (m/s) of real
    takes ``joints`` (N, T, V, 3) in metres with ``labels`` (N,), pooled over the class."""
    speed = joint_speeds(joints.double(), fps)  # (N, T-1, V)
    q = torch.tensor(quantiles, dtype=speed.dtype)
    table = torch.empty(n_classes, speed.shape[2], len(quantiles), dtype=torch.float32)
    for c in range(n_classes):
        rows = speed[labels == c]
        if len(rows) == 0:
            raise KineticGanError(f"motion priors: class {c} has no real takes for its "
                                  "speed quantiles; set speed_penalty to 0")
        table[c] = torch.quantile(rows.permute(2, 0, 1).reshape(speed.shape[2], -1), q,
                                  dim=1).T.float()
    return table


def speed_penalty(joints: Tensor, labels: Tensor, table: Tensor, fps: float) -> Tensor:
    """Mean over takes and joints of the W1 (m/s, through ``table``'s quantile levels)
    between a take's frame speeds of each joint and its class's (``class_speed_quantiles``)."""
    speed = joint_speeds(joints, fps)  # (N, T-1, V)
    levels = torch.tensor(SPEED_QUANTILES, dtype=speed.dtype, device=speed.device)
    if table.shape[-1] != len(levels):
        raise KineticGanError(f"motion priors: speed table has {table.shape[-1]} quantiles, "
                              f"expected {len(levels)}")
    ours = torch.quantile(speed, levels, dim=1).permute(1, 2, 0)  # (N, V, Q)
    return (ours - table[labels]).abs().mean()


def energy_penalty(joints: Tensor, labels: Tensor, band: Tensor, fps: float) -> Tensor:
    """Mean over takes of how far (in log units) each take's speed lies outside its class's
    band, plus how far its roughness lies above the band's top."""
    energy = take_energy(joints, fps)  # (N, 2)
    low, high, rough = band[labels, 0], band[labels, 1], band[labels, 2]
    return (torch.relu(low - energy[:, 0]) + torch.relu(energy[:, 0] - high)
            + torch.relu(energy[:, 1] - rough)).mean()


class MotionPriors:
    """``priors(fake, labels)`` → (weighted sum to add to the generator loss, the
    unweighted terms for the log, in ``NAMES`` order), with ``fake`` in model units,
    (N, 3, T, V[, 1]). ``energy_band`` (from ``class_energy_band``) is needed when
    ``energy`` > 0, ``speed_table`` (from ``class_speed_quantiles``) when ``speed`` > 0."""

    # What it logs: log.csv's columns (unweighted terms) and their TensorBoard tags.
    names = NAMES
    tensorboard_tags = tuple(f"prior/{name}" for name in NAMES)

    @staticmethod
    def postfix(logged: dict[str, float]) -> dict[str, str]:
        """Its part of the progress bar: the four contact and posture terms."""
        return {"prior": "/".join(f"{logged[k]:.3g}"
                                  for k in ("hinge", "foot_slide", "floor", "hover"))}

    def __init__(self, *, hinge: float, foot_slide: float, floor: float, skeleton: str,
                 normalization: dict[str, float], fps: float, hover: float = 0.0,
                 energy: float = 0.0, energy_band: Tensor | None = None,
                 speed: float = 0.0, speed_table: Tensor | None = None) -> None:
        if get_skeleton(skeleton).name != "ntu":
            raise KineticGanError(
                f"motion priors: defined for NTU-25 skeletons (knees, elbows, feet), not "
                f"{skeleton!r}; set the hinge, foot_slide, floor, hover, energy and speed "
                "penalties to 0")
        weights = (hinge, foot_slide, floor, hover, energy, speed)
        if min(weights) < 0 or max(weights) == 0:
            raise KineticGanError(f"motion priors: weights must be >= 0, one > 0, got {weights}")
        if energy > 0 and energy_band is None:
            raise KineticGanError("motion priors: the energy prior needs the classes' energy "
                                  "band (class_energy_band of the training takes)")
        if speed > 0 and speed_table is None:
            raise KineticGanError("motion priors: the speed prior needs the classes' speed "
                                  "quantiles (class_speed_quantiles of the training takes)")
        self.weights = torch.tensor(weights)
        self.energy_band = energy_band
        self.speed_table = speed_table
        lo, hi = float(normalization["min"]), float(normalization["max"])
        self.scale, self.offset = 0.5 * (hi - lo), 0.5 * (hi - lo) + lo
        self.fps = float(fps)

    def joints(self, fake: Tensor) -> Tensor:
        """Model units (N, 3, T, V[, 1]) → metres (N, T, V, 3)."""
        if fake.dim() == 5:
            fake = fake[..., 0]
        if fake.dim() != 4 or fake.shape[1] != 3 or fake.shape[3] != len(_J):
            raise KineticGanError(f"motion priors: expected (N, 3, T, 25), got {tuple(fake.shape)}")
        return (fake.float() * self.scale + self.offset).permute(0, 2, 3, 1)

    def terms(self, fake: Tensor, labels: Tensor | None = None) -> Tensor:
        x = self.joints(fake)
        if self.energy_band is None or labels is None:
            energy = x.new_zeros(())
        else:
            band = self.energy_band.to(x.device)
            energy = energy_penalty(x, labels.to(x.device).long(), band, self.fps)
        if self.speed_table is None or labels is None:
            speed = x.new_zeros(())
        else:
            speed = speed_penalty(x, labels.to(x.device).long(), self.speed_table.to(x.device),
                                  self.fps)
        return torch.stack((hinge_penalty(x), foot_slide_penalty(x, self.fps), floor_penalty(x),
                            hover_penalty(x), energy, speed))

    def __call__(self, fake: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        terms = self.terms(fake, labels)
        return (self.weights.to(terms.device) * terms).sum(), terms.detach()


def priors_for(config: TrainConfig, dataset, normalization: dict[str, float]
               ) -> MotionPriors | None:
    """The run's motion priors, or None when every penalty is 0; the energy band and the
    speed table are measured on ``dataset``'s training takes (read once for both)."""
    if not config.uses_motion_priors():
        return None
    warp = tuple(config.augment_time_warp) if config.augment else (1.0, 1.0)
    band = speeds = None
    if config.energy_penalty > 0 or config.speed_penalty > 0:
        real = training_metres(dataset)
        classes, fps = dataset.num_classes, float(dataset.fps)
        if config.energy_penalty > 0:
            band = class_energy_band(*real, classes, fps, warp)
        if config.speed_penalty > 0:
            speeds = class_speed_quantiles(*real, classes, fps)
    return MotionPriors(hinge=config.hinge_penalty, foot_slide=config.foot_slide_penalty,
                        floor=config.floor_penalty, hover=config.hover_penalty,
                        energy=config.energy_penalty, energy_band=band,
                        speed=config.speed_penalty, speed_table=speeds,
                        skeleton=dataset.skeleton, normalization=normalization, fps=dataset.fps)


def training_metres(dataset) -> tuple[Tensor, Tensor]:
    """The training takes as stored (N, T, V, 3) in metres, and their labels: what the
    energy band and the speed term are measured on (no augmentation)."""
    joints = dataset.array(normalized=False).transpose(0, 2, 3, 1)
    return (torch.from_numpy(np.ascontiguousarray(joints)),
            torch.as_tensor(np.asarray(dataset.labels)).long())
