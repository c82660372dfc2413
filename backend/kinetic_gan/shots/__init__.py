"""Shots: takes of any length that chain actions, loop, follow a path and meet keys.

``compose(generator, segments, seed=..., truncation=...)`` optimises the latent codes of
overlapping generator windows so that they agree where they overlap (docs/shots.md):

- ``plan``       where the windows of each segment go (and the loop's circle);
- ``placement``  each window's turn and shift on the floor;
- ``blend``      windows → one take, cross-faded over their overlaps;
- ``losses``     agreement, keys, the path's length, the priors on codes and noise;
- ``optimise``   all windows' codes, noise and placements by Adam, cancellable per step;
- ``path``       the root's course bent exactly onto the path;
- ``keys``       the last key gaps carried to zero;
- ``record``     the composed ``Shot``;
- ``measures``   seams, keys, path and plausibility of a shot; ``naive`` the baseline.
"""

from kinetic_gan.shots.engine import check_request, compose, shot_cost
from kinetic_gan.shots.optimise import Settings, ShotCancelled
from kinetic_gan.shots.record import Shot

__all__ = ["Settings", "Shot", "ShotCancelled", "check_request", "compose", "shot_cost"]
