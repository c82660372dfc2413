"""Every "foot in contact" threshold of the project is listed once, in the add-on's
``core/contact.py``: the add-on's own, and the backend's (which the add-on cannot import)
as they really are."""

from __future__ import annotations

import numpy as np

from kinetic_gan import motion_cleanup
from kinetic_gan.metrics import plausibility
from kinetic_gan_blender.core import contact


def test_the_backend_thresholds_listed_are_the_backends_own():
    from kinetic_gan.train import motion_priors

    assert (contact.METRIC_HEIGHT_M, contact.METRIC_SPEED_M_S) == (
        plausibility.CONTACT_HEIGHT_M, plausibility.CONTACT_SPEED_MS)
    assert (contact.PRIOR_HEIGHT_M, contact.PRIOR_SOFTNESS_M) == (
        motion_priors.CONTACT_HEIGHT_M, motion_priors.CONTACT_SOFTNESS_M)
    assert (contact.CLEANUP_HEIGHT_M, contact.CLEANUP_SPEED_M_S) == (
        motion_cleanup.CONTACT_HEIGHT_M, motion_cleanup.CONTACT_SPEED_MS)


def test_a_foot_standing_on_the_floor_is_planted_and_one_swinging_over_it_is_not():
    frames = 30
    heights = np.stack([np.zeros(frames), np.full(frames, 0.2)])  # (S, T) metres
    track = np.zeros((2, frames, 3))
    track[1, :, 0] = np.arange(frames) / 30.0 * 2.0  # the swinging foot moves at 2 m/s
    weights = contact.planted_weights(heights, track, fps=30.0)
    assert np.all(weights[0] == 1.0) and np.all(weights[1] == 0.0)
