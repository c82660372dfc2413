"""Each driven bone's direction and twist, from the joints alone (numpy only).

A bone's *twist* about its segment is set by references: the hips' left-right line for the
spine, the limb's hinge plane for arms and legs, the toes, the thumb. A reference that is
ill-defined in a frame (a straight arm has no elbow plane) fades out, and the next one, or
no twist at all, takes over — at the roll the two were apart where both were defined
(``_hand_over``), so limbs never spin, even where the two disagree.

Blending twists is done on X axes rather than angles — each reference alone fixes the aim
frame's X axis; the weighted sum of those axes plus the unclaimed weight times the swung X
axis, normalized, is the blended twist — so every reference of every bone is evaluated for
all frames in one pass (``aim``), and a bone whose references claim all of its twist
needs nothing from its parent. The unclaimed weight's X axis depends on the parent: it is
formed while posing (``pose``), held at the references' last roll (``held_roll``).
"""

from __future__ import annotations

import numpy as np

from ..filters import smoothstep
from ..vectors import EPS, cross, cross_first, dot_first, norm_first, normalize_first
from .plan import Plan

# Where a reference is this close to parallel with its bone, or a limb this close to
# straight, its twist is faded out (values are sines / perpendicular fractions).
_PERPENDICULAR_FADE = (0.15, 0.45)
_HINGE_FADE = (0.08, 0.30)
# Where a reference and its successor both claim at least this much of the bone's twist,
# the roll between them is measured (and carried over the frames where one fades).
HANDOVER_CLAIM = 0.5


def aim(by_axis: np.ndarray, plan: Plan) -> tuple[np.ndarray, ...]:
    """Per driven bone and frame, what needs no parent: the bone's direction and its twist.

    ``by_axis``: (3, V, T) points. Returns ``direction`` (D, T, 3), unit or zero;
    ``aimed`` (D, T), whether it has one; ``twist_x`` (D, T, 3), the weighted sum of the X
    axes each twist reference alone would give the bone; ``free`` (D, T), the weight no
    reference claimed, which goes to "no twist" (the swung X axis, which depends on the
    parent) so fading stays continuous.
    """
    refs = plan.references
    bone = by_axis[:, plan.driver_tails] - by_axis[:, plan.driver_heads]
    direction, length = normalize_first(bone)
    aimed = length > EPS
    free = aimed.astype(np.float64)
    twist_x = np.zeros_like(direction)
    if len(refs.owner):
        second = by_axis[:, refs.second]
        target = second - by_axis[:, refs.first]
        hinge = np.ones(target.shape[1:])
        if len(refs.planes):
            # A limb's hinge axis, faded out as the limb straightens and the plane vanishes.
            upper = target[:, refs.planes]
            lower = by_axis[:, refs.third] - second[:, refs.planes]
            normal = cross_first(upper, lower)
            sine = norm_first(normal) / np.maximum(norm_first(upper) * norm_first(lower), 1e-12)
            hinge[refs.planes] = smoothstep(sine, *_HINGE_FADE)
            target[:, refs.planes] = normal
        axis = direction[:, refs.owner]
        perpendicular, perpendicular_len = normalize_first(target - dot_first(target, axis) * axis)
        fraction = perpendicular_len / np.maximum(norm_first(target), 1e-12)
        claim = hinge * smoothstep(fraction, *_PERPENDICULAR_FADE)
        # The X axis of the frame whose Y is the bone and which puts the rest reference
        # (rest_x, 0, rest_z) onto the data's: x = rest_x·p − rest_z·(p × y).
        x_axis = refs.rest_x[:, None] * perpendicular - refs.rest_z[:, None] * cross_first(
            perpendicular, axis
        )
        _hand_over(x_axis, claim, axis, refs.successor)
        # A bone's first usable reference claims what it can, the next one from the rest.
        for chosen in refs.slots:
            owners = refs.owner[chosen]
            weight = claim[chosen] * free[owners]
            free[owners] -= weight
            twist_x[:, owners] += weight * x_axis[:, chosen]
    # Posing works on whole matrices: hand the vectors over component-last.
    last = (np.ascontiguousarray(np.moveaxis(v, 0, -1)) for v in (direction, twist_x))
    return next(last), aimed, next(last), free


def _hand_over(
    x_axis: np.ndarray, claim: np.ndarray, axis: np.ndarray, successor: np.ndarray
) -> None:
    """Where a reference fades, let its successor take over at the roll the two were
    apart where both were defined, instead of at its own (in place, on ``x_axis``).

    A limb's hinge plane and the next reference (the toes for a leg, the thumb for an
    arm) need not agree: a knee that bends the other way (hyperextended, as generated
    takes have) or a foot turned out puts them up to 180° apart, and when the limb
    straightens — the plane vanishes, often within a frame — the bone would turn by that
    much about its own axis. A straight limb's roll cannot be seen in its joints, so it is
    carried: the successor's X axis is turned by the angle from it to the reference's,
    measured in the frames where both claim at least half their twist and interpolated in
    time between them (held before the first and after the last). Where the two agree
    this changes nothing; where the reference is never defined the successor stands as is.

    ``x_axis`` (3, R, T): each reference's X axis; ``claim`` (R, T); ``axis`` (3, R, T):
    the owner's direction; ``successor`` (R,): the owner's next reference or -1.
    """
    leads = np.flatnonzero(successor >= 0)
    if not len(leads):
        return
    takes = successor[leads]
    lead_x, take_x, y = x_axis[:, leads], x_axis[:, takes], axis[:, leads]
    # The angle about the bone from the successor's X axis to the reference's.
    apart = np.arctan2(dot_first(y, cross_first(take_x, lead_x)), dot_first(take_x, lead_x))
    both = (claim[leads] >= HANDOVER_CLAIM) & (claim[takes] >= HANDOVER_CLAIM)
    carried = _carried_angles(apart, both)
    turned = np.cos(carried) * take_x + np.sin(carried) * cross_first(y, take_x)
    has = both.any(axis=1)
    x_axis[:, takes[has]] = turned[:, has]


def _carried_angles(apart: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(R, T) angles ``apart`` where ``known`` (R, T), interpolated in time between those
    frames (unwrapped, so a roll carried across ±π does not spin) and held before the first
    and after the last; 0 in rows with no known frame."""
    frames = np.arange(apart.shape[1])
    carried = np.zeros_like(apart)
    for k in np.flatnonzero(known.any(axis=1)):
        at = np.flatnonzero(known[k])
        carried[k] = np.interp(frames, at, np.unwrap(apart[k, at]))
    return carried


def held_roll(swung_x: np.ndarray, y: np.ndarray, twist_x: np.ndarray,
              free: np.ndarray) -> np.ndarray:
    """The "no twist" X axis a bone falls back on where its references fade, turned by the
    roll they held over it (K, T, 3; component-last like the arguments).

    A bone's last reference has no successor to hand over to (a hand's thumb, a foot's
    shin): where it fades the bone would take the swung X axis, which follows the parent
    and can lie up to 180° from where the reference left it — a generated hand whose thumb
    folds along its fingers turned by 110–140° within a frame. Its roll cannot be seen in
    the joints then, so it is carried, as ``_hand_over`` carries one reference's over
    the next: the angle about the bone from the swung X axis to the references' is
    measured where they claim at least half the twist and interpolated in time between
    those frames (held before the first and after the last). A bone its references never
    claim keeps the plain swing.
    """
    claimed = free <= 1.0 - HANDOVER_CLAIM
    rows = np.flatnonzero(claimed.any(axis=1) & (free > 0).any(axis=1))
    if not len(rows):
        return swung_x
    sx, ty, tx = swung_x[rows], y[rows], twist_x[rows]
    apart = np.arctan2(np.sum(ty * cross(sx, tx), -1), np.sum(sx * tx, -1))
    held = _carried_angles(apart, claimed[rows])
    out = swung_x.copy()
    out[rows] = np.cos(held)[..., None] * sx + np.sin(held)[..., None] * cross(ty, sx)
    return out
