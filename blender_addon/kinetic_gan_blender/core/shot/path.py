"""A Blender curve's points as the shot's path on the dataset's floor.

Retargeting turns dataset points into Blender ones by the proper rotation
``(x, y, z) → (−x, z, y)`` (``core/retarget/types.DATASET_TO_BLENDER``); a rotation's
inverse is its transpose, ``(X, Y, Z) → (−X, Z, Y)``, so a world point's floor
coordinates in the dataset frame are (x, z) = (−X, Y). The take's origin is the target
armature's location, so the path is sent relative to it (``origin_xy``).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..retarget.types import DATASET_TO_BLENDER


def blender_to_dataset(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ DATASET_TO_BLENDER  # (R^T)^T = R


def curve_to_path(
    world_points: np.ndarray, name: str = "curve", origin_xy: np.ndarray | None = None
) -> np.ndarray:
    """World points (P, 3) of a curve → (P, 2) metres (x, z) on the dataset floor, relative
    to ``origin_xy`` (Blender X, Y; the armature's location). Repeated points are
    dropped; fewer than two distinct points is one ``UserError`` naming the curve."""
    p = np.asarray(world_points, dtype=np.float64).reshape(-1, 3).copy()
    if origin_xy is not None:
        p[:, :2] -= np.asarray(origin_xy, dtype=np.float64)
    if len(p) and not np.isfinite(p).all():
        raise UserError(f"Follow Curve: {name!r} has points at infinity or NaN")
    floor = blender_to_dataset(p)[:, [0, 2]]
    if len(floor):
        keep = np.concatenate([[True], np.linalg.norm(np.diff(floor, axis=0), axis=1) > 1e-6])
        floor = floor[keep]
    if len(floor) < 2:
        raise UserError(f"Follow Curve: {name!r} needs at least two distinct points on the "
                        f"floor, it has {len(floor)}")
    return floor
