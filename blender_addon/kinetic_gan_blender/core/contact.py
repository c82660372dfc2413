"""When a foot is "in contact" with the floor: every definition the project uses, side by
side, with why each differs from the others (numpy only).

Four parts of the project ask the question, for four different jobs, so they answer it
with different thresholds on purpose. Each threshold is defined once, in the part that
uses it; the backend's cannot be imported here (the add-on never imports ``kinetic_gan``),
so they are listed with where they live, and ``tests/addon/test_contact.py`` checks the
list against the backend's own constants.

- **the metrics** (``kinetic_gan.metrics.plausibility``): the lower foot joint under 5 cm
  and slower than 1.5 m/s. They *measure* sliding, so a sliding planted foot must still
  count as planted.
- **the cleanup** (``kinetic_gan.motion_cleanup``, bundled here in ``vendor/``): under 5 cm
  and slower than 1.0 m/s. It *locks* feet; locking everything under 1.5 m/s would also
  pin the pivots and drags of real motion (a spin turns on a foot moving ≈ 0.5 m/s).
- **the training priors** (``kinetic_gan.train.motion_priors``): soft, a weight
  sigmoid((5 cm − height) / 1 cm), no speed. A gradient-free weight per frame: a hard edge
  would make the penalty jump as feet cross it.
- **the grounding** (``PLANTED_HEIGHT_M``, ``PLANTED_SPEED_M_S`` below): fading from 6 to
  3.5 cm over the take's own floor (its 5th percentile) and from 0.7 to 0.4 m/s. It weights
  the rig's root correction frame by frame, so the weight fades, or the root would pop as
  contacts start and end; and it measures from the take's own floor, because a generated
  take's floor is not exactly at 0.

The add-on uses two of them: the cleanup's (through the bundled ``vendor/motion_cleanup.py``,
re-exported below) and the grounding's (defined here).
"""

from __future__ import annotations

import numpy as np

from ..vendor import motion_cleanup
from .filters import percentile, smoothstep

# The grounding's: a foot counts as planted below this height over the take's floor
# (metres, fading from the first to the second value) and slower than this (m/s, the
# same way).
PLANTED_HEIGHT_M = (0.06, 0.035)
PLANTED_SPEED_M_S = (0.7, 0.4)

# The cleanup's, from its one definition (the bundled backend module).
CLEANUP_HEIGHT_M = motion_cleanup.CONTACT_HEIGHT_M
CLEANUP_SPEED_M_S = motion_cleanup.CONTACT_SPEED_MS

# The backend's others, as documented above (checked against the backend by the tests).
METRIC_HEIGHT_M, METRIC_SPEED_M_S = 0.05, 1.5  # kinetic_gan.metrics.plausibility
PRIOR_HEIGHT_M, PRIOR_SOFTNESS_M = 0.05, 0.01  # kinetic_gan.train.motion_priors


def planted_weights(heights_m: np.ndarray, flat_m: np.ndarray, fps: float) -> np.ndarray:
    """The grounding's contacts: how planted each foot is per frame, 0…1, (S, T) from its
    lowest point's height over the take's floor (S, T) and its horizontal track (S, T, 3),
    in metres."""
    floor = percentile(heights_m.min(axis=0), 5)
    step = np.linalg.norm(np.diff(flat_m, axis=1), axis=-1) * fps
    # One frame has no speed: it stands still.
    speed = np.concatenate([step[:, :1], step], axis=1) if step.shape[1] else 0 * heights_m
    return smoothstep(heights_m - floor, *PLANTED_HEIGHT_M) * smoothstep(speed, *PLANTED_SPEED_M_S)
