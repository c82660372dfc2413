"""Skeleton animations people can look at: GIF, MP4 and contact sheets (matplotlib, headless).

Input is always joints ``(N, T, V, C)`` in the dataset frame (Y up, the subject facing
−Z, metres — or normalized units, which draw the same way). 3-D skeletons are drawn in
perspective over a ground plane with their shadow; 2-D skeletons (NTU-2D) flat. Bones
are coloured by side — left warm, right cool, spine dark — so a mirrored motion is
visible at a glance. Axes are fixed for the whole clip and shared by all samples, so
motion and size compare honestly across the grid.

Figures are built with matplotlib's object API on an Agg canvas — never pyplot — so
rendering is headless and safe in threads. Every frame is drawn in full and copied
out before the next one, so no frame can come out empty (the published script's blank-frame bug).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

from kinetic_gan.atomic import atomic_path
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import Skeleton, get_skeleton

BACKGROUND = "#fbfaf7"
SIDE_COLOURS = {"left": "#d1495b", "right": "#2e86ab", "centre": "#3d405b"}
FLOOR_FILL, FLOOR_GRID, SHADOW = "#ece7de", "#d6cfc3", "#c2b9aa"
DPI = 100
CELL_PX = (256, 288)  # width, height of one animated sample; multiples of 16 suit video codecs
SHEET_CELL_PX = 128
_EMPTY_3D = [np.zeros((2, 3))]  # mplot3d cannot start a collection with no segments
VIEW_ELEVATION, VIEW_AZIMUTH = 14.0, 62.0  # a three-quarter view from the subject's front


def bone_sides(sk: Skeleton) -> dict[str, list[tuple[int, int]]]:
    """Bones (parent, child) grouped by the side of the child joint's name."""
    sides: dict[str, list[tuple[int, int]]] = {"left": [], "right": [], "centre": []}
    for parent, child in sk.edges:
        name = sk.joint_names[child].lower()
        side = "left" if "left" in name else "right" if "right" in name else "centre"
        sides[side].append((parent, child))
    return sides


def _check(joints: np.ndarray, skeleton: str, titles: Sequence[str] | None) -> Skeleton:
    sk = get_skeleton(skeleton)
    joints = np.asarray(joints)
    if joints.ndim != 4:
        raise KineticGanError(f"preview: joints must be (N, T, V, C), got shape {joints.shape}")
    n, t, v, c = joints.shape
    if v != sk.num_joints or c not in (2, 3):
        raise KineticGanError(
            f"preview: skeleton {sk.name} has {sk.num_joints} joints, got (N, T, V, C) = "
            f"{joints.shape}"
        )
    if n == 0 or t == 0:
        raise KineticGanError("preview: nothing to draw (no samples or no frames)")
    if not np.isfinite(joints).all():
        raise KineticGanError("preview: joints contain NaN or Inf")
    if titles is not None and len(titles) != n:
        raise KineticGanError(f"preview: {len(titles)} titles for {n} samples")
    return sk


def _to_plot(joints: np.ndarray) -> np.ndarray:
    """Dataset frame (x, y up, z) → matplotlib's (x, −z, y up): a rotation, never a mirror."""
    if joints.shape[-1] == 2:
        return joints
    return np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)


@dataclass(frozen=True)
class _Bounds:
    """Where each cell looks: the camera follows the subject, the scale is shared."""

    centres: np.ndarray  # (N, T, C - 1) horizontal plot-space centre of each frame's view
    floors: np.ndarray  # (N,) height of each sample's ground
    half: float  # half-size of every view box, so sizes compare across cells


def _follow(track: np.ndarray, window: int = 15) -> np.ndarray:
    """Moving average over time of (N, T, D): a camera that follows without shaking."""
    t = track.shape[1]
    w = min(window, t) | 1  # odd, so the window is centred
    padded = np.pad(track, ((0, 0), (w // 2, w // 2), (0, 0)), mode="edge")
    sums = np.cumsum(np.pad(padded, ((0, 0), (1, 0), (0, 0))), axis=1)
    return (sums[:, w:] - sums[:, :-w]) / w


def _bounds(points: np.ndarray, root: int) -> _Bounds:
    up = points.shape[-1] - 1  # the last plot axis is "up" in both 2-D and 3-D
    floors = points[..., up].min(axis=(1, 2))
    centres = _follow(points[:, :, root, :up])
    # Big enough for the widest pose around its centre and the highest point above the floor.
    reach = np.abs(points[..., :up] - centres[:, :, None, :]).max()
    height = (points[..., up] - floors[:, None, None]).max()
    half = float(max(reach, height / 2.0, 1e-3) * 1.1)
    return _Bounds(centres, floors, half)


def _grid_step(half: float) -> float:
    """A round floor-grid spacing giving about four to eight squares across the view."""
    for step in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0):
        if 2 * half / step <= 8:
            return step
    return 10.0 ** math.ceil(math.log10(half / 4))


def _grid_shape(n: int, grid: bool) -> tuple[int, int]:
    if not grid:
        return 1, n
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


class _Animation:
    """One figure with a cell per sample; ``frame(t)`` returns that frame as RGB pixels."""

    def __init__(
        self,
        points: np.ndarray,
        sk: Skeleton,
        titles: Sequence[str] | None,
        grid: bool,
        bounds: _Bounds | None = None,
        cell_px: tuple[int, int] = CELL_PX,
        title_size: float = 11,
    ):
        self.points, self.sides = points, bone_sides(sk)
        self.three_d = points.shape[-1] == 3
        n = len(points)
        rows, cols = _grid_shape(n, grid)
        width, height = cell_px
        self.figure = Figure(figsize=(cols * width / DPI, rows * height / DPI), dpi=DPI)
        self.figure.patch.set_facecolor(BACKGROUND)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0, right=1, bottom=0, top=0.93, wspace=0, hspace=0.08)
        self.bounds = bounds or _bounds(points, sk.parents.index(-1))
        self.step = _grid_step(self.bounds.half)
        self.artists = []
        for i in range(n):
            kw = {"projection": "3d"} if self.three_d else {}
            ax = self.figure.add_subplot(rows, cols, i + 1, **kw)
            ax.set_facecolor(BACKGROUND)
            title = titles[i] if titles is not None else f"sample {i}"
            ax.set_title(title, fontsize=title_size, color="#2b2d42", pad=2)
            self.artists.append(self._setup(ax, self.bounds.floors[i], self.bounds.half))

    def _setup(self, ax, floor: float, half: float) -> dict[str, object]:
        artists: dict[str, object] = {"ax": ax, "floor": floor}
        if self.three_d:
            ax.set_zlim(floor, floor + 2 * half)
            ax.set_box_aspect((1, 1, 1), zoom=1.38)
            # The floor is always below the body in this view; fixed layers keep mplot3d's
            # per-collection depth sort from drawing the floor over the legs.
            ax.computed_zorder = False
            ax.view_init(elev=VIEW_ELEVATION, azim=VIEW_AZIMUTH)
            ax.set_axis_off()
            artists["ground"] = ax.add_collection3d(
                Poly3DCollection(
                    [np.zeros((4, 3))], facecolor=FLOOR_FILL, edgecolor="none", zorder=0
                ),
                autolim=False,
            )
            artists["grid"] = ax.add_collection3d(
                Line3DCollection(_EMPTY_3D, colors=FLOOR_GRID, linewidths=0.6, zorder=1),
                autolim=False,
            )
            artists["shadow"] = ax.add_collection3d(
                Line3DCollection(_EMPTY_3D, colors=SHADOW, linewidths=3.0, alpha=0.7, zorder=2),
                autolim=False,
            )
            for side, colour in SIDE_COLOURS.items():
                artists[side] = ax.add_collection3d(
                    Line3DCollection(
                        _EMPTY_3D, colors=colour, linewidths=2.6, capstyle="round", zorder=3
                    ),
                    autolim=False,
                )
            artists["joints"] = ax.scatter([], [], [], s=3, c="#2b2d42", depthshade=False, zorder=4)
        else:
            ax.set_ylim(floor - 0.05 * half, floor + 1.95 * half)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.axhline(floor, color=FLOOR_GRID, linewidth=2.0, zorder=0)
            artists["ticks"] = ax.add_collection(
                LineCollection([], colors=FLOOR_GRID, linewidths=1.2, zorder=0)
            )
            for side, colour in SIDE_COLOURS.items():
                artists[side] = ax.add_collection(
                    LineCollection([], colors=colour, linewidths=2.6, capstyle="round")
                )
            (artists["joints"],) = ax.plot([], [], "o", ms=2.5, color="#2b2d42")
        return artists

    def _move_camera(self, artists: dict, centre: np.ndarray) -> None:
        """Centre the view on ``centre``; the floor grid stays fixed in the world and scrolls."""
        ax, floor, half, step = artists["ax"], artists["floor"], self.bounds.half, self.step
        lo, hi = centre - half, centre + half
        ax.set_xlim(lo[0], hi[0])
        if not self.three_d:
            xs = np.arange(math.ceil(lo[0] / step), math.floor(hi[0] / step) + 1) * step
            artists["ticks"].set_segments([[(x, floor), (x, floor - 0.04 * half)] for x in xs])
            return
        ax.set_ylim(lo[1], hi[1])
        corners = [(lo[0], lo[1], floor), (hi[0], lo[1], floor), (hi[0], hi[1], floor),
                   (lo[0], hi[1], floor)]
        artists["ground"].set_verts([corners])
        xs = np.arange(math.ceil(lo[0] / step), math.floor(hi[0] / step) + 1) * step
        ys = np.arange(math.ceil(lo[1] / step), math.floor(hi[1] / step) + 1) * step
        lines = [[(x, lo[1], floor), (x, hi[1], floor)] for x in xs]
        lines += [[(lo[0], y, floor), (hi[0], y, floor)] for y in ys]
        artists["grid"].set_segments(lines or _EMPTY_3D)

    def frame(self, t: int) -> np.ndarray:
        for i, (pose_seq, artists) in enumerate(zip(self.points, self.artists, strict=True)):
            self._move_camera(artists, self.bounds.centres[i, t])
            pose = pose_seq[t]
            for side in SIDE_COLOURS:
                artists[side].set_segments([pose[[a, b]] for a, b in self.sides[side]])
            if self.three_d:
                flat = pose.copy()
                flat[:, 2] = artists["floor"]
                bones = [b for side in self.sides.values() for b in side]
                artists["shadow"].set_segments([flat[[a, b]] for a, b in bones])
                artists["joints"]._offsets3d = (pose[:, 0], pose[:, 1], pose[:, 2])
            else:
                artists["joints"].set_data(pose[:, 0], pose[:, 1])
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def render_frames(
    joints: np.ndarray,
    skeleton: str = "ntu",
    titles: Sequence[str] | None = None,
    grid: bool = True,
) -> Iterator[np.ndarray]:
    """Yield the animation's frames as (H, W, 3) uint8 images, one per time step."""
    sk = _check(joints, skeleton, titles)
    animation = _Animation(_to_plot(np.asarray(joints, dtype=np.float64)), sk, titles, grid)
    for t in range(np.shape(joints)[1]):
        yield animation.frame(t)


def render_gif(
    path: str | Path,
    joints: np.ndarray,
    skeleton: str = "ntu",
    titles: Sequence[str] | None = None,
    fps: float = 30,
    grid: bool = True,
) -> Path:
    """Write a looping GIF of the samples side by side (a near-square grid when ``grid``)."""
    import imageio.v3 as iio

    frames = np.stack(list(render_frames(joints, skeleton, titles, grid)))
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
    return path


def render_mp4(
    path: str | Path,
    joints: np.ndarray,
    skeleton: str = "ntu",
    titles: Sequence[str] | None = None,
    fps: float = 30,
    grid: bool = True,
) -> Path:
    """Write an H.264 MP4 (the ffmpeg of the imageio-ffmpeg wheel)."""
    import imageio.v2 as iio2

    path = Path(path)
    with atomic_path(path) as tmp:
        writer = iio2.get_writer(
            tmp, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p", quality=8
        )
        try:
            for frame in render_frames(joints, skeleton, titles, grid):
                writer.append_data(frame)
        finally:
            writer.close()
    return path


def contact_sheet(
    path: str | Path,
    joints: np.ndarray,
    skeleton: str = "ntu",
    titles: Sequence[str] | None = None,
    frames_per_row: int = 8,
) -> Path:
    """A PNG with one row per sample and ``frames_per_row`` evenly spaced frames across it."""
    from PIL import Image

    sk = _check(joints, skeleton, titles)
    points = _to_plot(np.asarray(joints, dtype=np.float64))
    n, t = points.shape[:2]
    picks = np.unique(np.linspace(0, t - 1, max(1, min(frames_per_row, t))).round().astype(int))
    shared = _bounds(points, sk.parents.index(-1))  # one scale for the whole sheet
    rows = []
    for i in range(n):
        label = titles[i] if titles is not None else f"sample {i}"
        cell_titles = [label if k == 0 else "" for k in range(len(picks))]
        cell_titles = [f"{c}  {p + 1}/{t}".strip() for c, p in zip(cell_titles, picks, strict=True)]
        # Each picked pose is a one-frame "sample" of a one-row figure, all in the same box.
        box = _Bounds(
            shared.centres[i, picks][:, None],  # each cell follows the sample at its frame
            np.repeat(shared.floors[i : i + 1], len(picks)),
            shared.half,
        )
        row = _Animation(
            points[i, picks][:, None], sk, cell_titles, grid=False, bounds=box,
            cell_px=(SHEET_CELL_PX, int(SHEET_CELL_PX * 1.15)), title_size=8,
        )
        rows.append(row.frame(0))
    sheet = np.concatenate(rows, axis=0)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG", optimize=True)
    return path
