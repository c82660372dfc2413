"""Following a ground-plane path exactly: the root's course is bent onto it.

The root's course is its ground track low-passed over about a stride (so the sway of the
steps stays local motion). Every joint is written in the course's moving frame — along it,
across it, up — and put back in the path's frame at the same distance travelled: the
course becomes the path, and everything the body does about its course (sway, the turn of
a spin, a cartwheel's sideways travel) is kept. The distance travelled is scaled so that
the last frame ends at the path's last point; ``course_loss`` in the optimisation makes
the motion's own travel close to the path's length first, so the scale stays near one.

The ground plane is complex, u = z + i·x (``placement.py``): a heading is arg(du).
Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Below this course speed (m per frame; 0.15 m/s at 30 fps) the course has no direction:
# the heading is held from the nearest frame that moves.
STILL_M_PER_FRAME = 0.005
# Path tangents are smoothed over this many metres, so a polyline's corners turn the body
# over a step or two rather than within a frame.
TANGENT_SMOOTHING_M = 0.25
RESAMPLE_M = 0.02


@dataclass(frozen=True)
class Polyline:
    points: np.ndarray  # (P, 2) x, z; consecutive duplicates removed
    arclength: np.ndarray  # (P,) cumulative metres
    tangent_s: np.ndarray  # samples of arclength for the smoothed heading
    heading: np.ndarray  # unwrapped heading (rad) at tangent_s

    @classmethod
    def of(cls, points: np.ndarray) -> Polyline:
        p = np.asarray(points, np.float64)
        steps = np.linalg.norm(np.diff(p, axis=0), axis=1)
        keep = np.concatenate([[True], steps > 1e-9])
        p = p[keep]
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
        samples = np.linspace(0.0, s[-1], max(2, int(np.ceil(s[-1] / RESAMPLE_M)) + 1))
        q = _interp_complex(samples, s, p)
        d = np.gradient(q)
        heading = _smooth(np.unwrap(np.angle(d)), TANGENT_SMOOTHING_M / max(
            samples[1] - samples[0], 1e-9))
        return cls(p, s, samples, heading)

    @property
    def length(self) -> float:
        return float(self.arclength[-1])

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Complex position and heading at distances ``s`` along the path."""
        s = np.clip(s, 0.0, self.length)
        return _interp_complex(s, self.arclength, self.points), np.interp(
            s, self.tangent_s, self.heading)

    def distance(self, xz: np.ndarray) -> np.ndarray:
        """(N,) distance (m) of points (N, 2: x, z) from the polyline."""
        a, b = self.points[:-1], self.points[1:]
        ab = b - a
        t = np.einsum("nsk,sk->ns", xz[:, None] - a[None], ab) / np.maximum(
            np.einsum("sk,sk->s", ab, ab), 1e-12)
        closest = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]
        return np.linalg.norm(xz[:, None] - closest, axis=-1).min(axis=1)


def course(joints: np.ndarray, sigma: float) -> np.ndarray:
    """(F,) complex: the root's ground track low-passed with a Gaussian of ``sigma`` frames."""
    root = joints[:, 0, 2] + 1j * joints[:, 0, 0]
    return _smooth(root.real, sigma) + 1j * _smooth(root.imag, sigma)


def course_heading(track: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(F,) unwrapped heading of the course, held over frames where it stands still."""
    d = np.gradient(track) if len(track) > 1 else np.zeros(1, complex)
    moving = np.abs(d) > STILL_M_PER_FRAME
    if not moving.any():
        return np.full(len(track), facing(joints[0]))
    frames = np.arange(len(track))
    angles = np.unwrap(np.angle(d[moving]))
    return np.interp(frames, frames[moving], angles)


def facing(pose: np.ndarray) -> float:
    """Heading (rad) the body faces in one pose: perpendicular to its hips, forward."""
    left, right = pose[12], pose[16]  # HipLeft, HipRight
    across = (left[2] - right[2]) + 1j * (left[0] - right[0])
    # The subject faces -Z with its left at -X: across = -i (left at -X), forward = -1 = -i·across.
    return float(np.angle(across * -1j))


def bend(joints: np.ndarray, points: np.ndarray, sigma: float = 12.0) -> np.ndarray:
    """``joints`` (F, V, 3) with the root's course laid along the polyline ``points``."""
    line = Polyline.of(points)
    track = course(joints, sigma)
    heading = course_heading(track, joints)
    travelled = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(track)))])
    scale = line.length / travelled[-1] if travelled[-1] > 1e-6 else 0.0
    position, path_heading = line.at(travelled * scale)
    u = joints[..., 2] + 1j * joints[..., 0]  # (F, V)
    local = (u - track[:, None]) * np.exp(-1j * heading)[:, None]
    bent = position[:, None] + local * np.exp(1j * path_heading)[:, None]
    out = joints.copy()
    out[..., 0], out[..., 2] = bent.imag, bent.real
    return out


def travel_scale(joints: np.ndarray, points: np.ndarray, sigma: float = 12.0) -> float:
    """How much ``bend`` stretches the course's length to the path's (1: not at all)."""
    track = course(joints, sigma)
    travelled = float(np.abs(np.diff(track)).sum())
    return Polyline.of(points).length / travelled if travelled > 1e-6 else float("inf")


def _interp_complex(s: np.ndarray, grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.interp(s, grid, points[:, 1]) + 1j * np.interp(s, grid, points[:, 0])


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    radius = max(1, int(3 * sigma))
    t = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (t / sigma) ** 2)
    taps /= taps.sum()
    # Odd reflection continues a steady trend through the ends (edge padding would pull
    # the course back by a fraction of σ at each end: 19 cm for a walk, measured).
    if len(x) > radius:
        padded = np.pad(x, radius, mode="reflect", reflect_type="odd")
    else:
        padded = np.pad(x, radius, mode="edge")
    return np.convolve(padded, taps, mode="valid")
