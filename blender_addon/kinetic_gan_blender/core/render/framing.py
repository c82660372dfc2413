"""Where the camera, the lights, the captions and the takes of a grid go (numpy only).

Blender frame: Z up, metres, characters face −Y, so "in front" is −Y. A camera is
described like Blender's: its matrix columns are the camera's X (right), Y (up) and Z
(backwards — it looks down its −Z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class View:
    """Which way the camera looks at the scene, and how wide."""

    azimuth_deg: float = 25.0  # around Z; 0 = straight in front, + = from the character's left
    elevation_deg: float = 10.0  # above the horizon
    fov_x_deg: float = 40.0  # horizontal field of view
    aspect: float = 4 / 3  # image width / height

    @property
    def tan_half_x(self) -> float:
        return math.tan(math.radians(self.fov_x_deg) / 2)

    @property
    def tan_half_y(self) -> float:
        return self.tan_half_x / self.aspect


@dataclass(frozen=True)
class Margins:
    """Empty border kept on each side, as a fraction of the half-frame (0.1 = 5 % of the image)."""

    left: float = 0.08
    right: float = 0.08
    top: float = 0.08
    bottom: float = 0.08

    def below_caption(self, share: float) -> Margins:
        """These margins with the top ``share`` of the picture kept for a caption band."""
        return replace(self, top=self.top + 2 * share)


@dataclass(frozen=True)
class CameraPose:
    location: np.ndarray  # (3,)
    matrix: np.ndarray  # (3, 3) columns: right, up, backwards
    tan_half_x: float
    tan_half_y: float

    @property
    def forward(self) -> np.ndarray:
        return -self.matrix[:, 2]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized image coordinates (P, 2), −1…1 edge to edge (y up), and depth (P,)."""
        q = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.location
        depth = q @ self.forward
        safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
        uv = np.stack(
            [(q @ self.matrix[:, 0]) / (safe * self.tan_half_x),
             (q @ self.matrix[:, 1]) / (safe * self.tan_half_y)],
            axis=1,
        )
        return uv, depth

    def camera_space(self, uv: np.ndarray, depth: float) -> np.ndarray:
        """Points in the camera's own frame that appear at image coordinates ``uv``."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return np.stack(
            [uv[:, 0] * self.tan_half_x * depth,
             uv[:, 1] * self.tan_half_y * depth,
             np.full(len(uv), -float(depth))],
            axis=1,
        )


def view_basis(view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's right, up and forward unit vectors for ``view``."""
    az, el = math.radians(view.azimuth_deg), math.radians(view.elevation_deg)
    to_camera = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    forward = -to_camera
    right = np.cross(forward, UP)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return right, up, forward


def _distance(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, limits: tuple[float, float, float, float], near
) -> float:
    # A point at lateral offset x and depth offset z is inside the frame when
    # |x| <= (D + z) * limit, i.e. D >= |x| / limit - z: the tightest point decides.
    right, left, top, bottom = limits
    needed = np.concatenate(
        [np.maximum(x, 0) / right - z, np.maximum(-x, 0) / left - z,
         np.maximum(y, 0) / top - z, np.maximum(-y, 0) / bottom - z, near - z]
    )
    return float(needed.max())


def frame_points(
    points: np.ndarray, view: View = View(), margins: Margins = Margins(), near: float = 0.5
) -> CameraPose:
    """A camera looking along ``view`` that sees every point inside the margins.

    The aim point is shifted sideways so the content sits centred between the margins,
    then the camera backs off exactly as far as the tightest point needs.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts) == 0:
        raise ValueError("nothing to frame: no finite points")
    right, up, forward = view_basis(view)
    center = (pts.min(axis=0) + pts.max(axis=0)) / 2
    q = pts - center
    x, y, z = q @ right, q @ up, q @ forward
    tx, ty = view.tan_half_x, view.tan_half_y
    limits = (
        tx * (1 - margins.right), tx * (1 - margins.left),
        ty * (1 - margins.top), ty * (1 - margins.bottom),
    )
    sx = (x.max() + x.min()) / 2
    sy = (y.max() + y.min()) / 2
    for _ in range(4):
        d = _distance(x - sx, y - sy, z, limits, near)
        depth = d + z
        u, v = (x - sx) / depth, (y - sy) / depth
        # Equal slack on both sides: shifting the aim by s moves projections by -s / depth.
        sx += d / 2 * (u.max() + u.min() + limits[1] - limits[0])
        sy += d / 2 * (v.max() + v.min() + limits[3] - limits[2])
    d = _distance(x - sx, y - sy, z, limits, near)
    location = center + sx * right + sy * up - d * forward
    matrix = np.stack([right, up, -forward], axis=1)
    return CameraPose(location, matrix, tx, ty)


def look_at(location: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) of an object at ``location`` whose −Z points at ``target``."""
    back = np.asarray(location, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    back /= max(np.linalg.norm(back), 1e-9)
    right = np.cross(UP, back)
    if np.linalg.norm(right) < 1e-6:  # straight above: any right will do
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(back, right), back], axis=1)


@dataclass(frozen=True)
class LightPlacement:
    name: str
    location: np.ndarray
    matrix: np.ndarray  # −Z points at the subject
    power: float  # relative to the key
    size: float  # metres (area light edge)


# (name, azimuth offset from the camera, elevation, relative power, size). The key is
# high and large: a soft light from above keeps each shadow short and under the feet,
# where it shows the contact with the floor, instead of a long silhouette beside them.
_THREE_POINT = (
    ("Key", 35.0, 62.0, 1.0, 3.0),
    ("Fill", -55.0, 20.0, 0.35, 3.0),
    ("Rim", 160.0, 45.0, 0.8, 1.0),
)


def _direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])


def key_light_direction(view: View) -> np.ndarray:
    """Unit vector (world) from the subject towards the key light.

    Workbench draws its shadows from this one direction; being high, its shadow volumes
    run down and away, so their vanishing point stays out of the picture.
    """
    _, d_az, el, _, _ = _THREE_POINT[0]
    return _direction(view.azimuth_deg + d_az, el)


def workbench_light_setting(to_light: np.ndarray) -> tuple[float, float, float]:
    """``scene.display.light_direction`` for a light standing in world direction ``to_light``.

    Workbench reads the setting (x, y, z) as its light travelling along (−x, z, −y) in
    the world (axes turned for its user interface); this is the inverse of that.
    """
    x, y, z = -np.asarray(to_light, dtype=np.float64) / np.linalg.norm(to_light)
    return (float(-x), float(-z), float(y))


def three_point_lights(target: np.ndarray, view: View, distance: float) -> list[LightPlacement]:
    """Key (high, beside the camera), fill (low, other side, soft) and rim (behind) lights."""
    target = np.asarray(target, dtype=np.float64)
    out = []
    for name, d_az, el, power, size in _THREE_POINT:
        direction = _direction(view.azimuth_deg + d_az, el)
        location = target + distance * direction
        out.append(LightPlacement(name, location, look_at(location, target), power, size))
    return out


def motion_hull(points: np.ndarray, pad: float) -> np.ndarray:
    """Corners (8F, 3) of each frame's bounding box of ``points`` (F, P, 3), grown by ``pad``.

    Bones are lines; ``pad`` stands in for the flesh around them. Nothing goes below the
    floor (z = 0), and the floor under a jump stays in view for its shadow.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 2:
        pts = pts[None]
    lo = pts.min(axis=1) - pad
    hi = pts.max(axis=1) + pad
    lo[:, 2] = 0.0
    hi[:, 2] = np.maximum(hi[:, 2], 0.0)
    corners = [
        np.stack([(lo, hi)[i][:, 0], (lo, hi)[j][:, 1], (lo, hi)[k][:, 2]], axis=1)
        for i in (0, 1) for j in (0, 1) for k in (0, 1)
    ]
    return np.concatenate(corners)


def footprint(points: np.ndarray) -> np.ndarray:
    """(xmin, ymin, xmax, ymax) of points (…, 3) on the floor plane."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])


def grid_shape(n: int, cell_width: float, row_height: float, aspect: float) -> tuple[int, int]:
    """(rows, columns) that show ``n`` cells of ``cell_width`` largest in an image of ``aspect``.

    Rows stand behind one another, spaced so each row shows above the one in front
    (see :func:`row_spacing`): a row costs about ``row_height`` of picture height.
    """
    if n < 1:
        raise ValueError("a grid needs at least one take")
    best, best_scale = (1, n), 0.0
    for rows in range(1, n + 1):
        cols = math.ceil(n / rows)
        if (rows - 1) * cols >= n:
            continue  # the last row would be empty
        # Rows further back also look smaller: count each extra row as 1.3 rows.
        scale = min(aspect / (cols * cell_width), 1.0 / ((1 + 1.3 * (rows - 1)) * row_height))
        if scale > best_scale + 1e-12:
            best, best_scale = (rows, cols), scale
    return best


def row_spacing(height: float, elevation_deg: float, caption: float = 0.6) -> float:
    """Depth between grid rows so a row's feet (and caption) show above the heads in front.

    Seen from ``elevation_deg`` a floor point ``d`` further back rises by ``d sin e`` in
    the picture while a head of ``height`` stands ``height cos e`` tall.
    """
    e = math.radians(max(elevation_deg, 5.0))
    return (height + caption) * math.cos(e) / math.sin(e)


def grid_offsets(
    footprints: np.ndarray, columns: int, gap: float = 0.6, row_depth: float = 0.0
) -> np.ndarray:
    """World offsets (n, 3) that centre take i's footprint in cell (i // columns, i % columns).

    Row 0 is nearest the camera (−Y); rows are at least ``row_depth`` apart; the whole
    grid is centred on the origin.
    """
    fp = np.asarray(footprints, dtype=np.float64).reshape(-1, 4)
    n = len(fp)
    rows = math.ceil(n / columns)
    width = float((fp[:, 2] - fp[:, 0]).max()) + gap
    depth = max(float((fp[:, 3] - fp[:, 1]).max()) + gap, row_depth)
    offsets = np.zeros((n, 3))
    for i in range(n):
        row, col = divmod(i, columns)
        in_row = min(columns, n - row * columns)  # a short last row is centred too
        cell = np.array([(col - (in_row - 1) / 2) * width, (row - (rows - 1) / 2) * depth])
        middle = (fp[i, :2] + fp[i, 2:]) / 2
        offsets[i, :2] = cell - middle
    return offsets
