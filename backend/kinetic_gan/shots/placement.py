"""Where each window stands: a turn about the vertical and a shift on the floor.

The generator draws every window in its own frame (facing −Z near the origin), so a shot
places window k by a yaw θ_k and a ground-plane translation t_k. They start from a chain
of least-squares fits (each window onto the one before, over their overlap) and are then
optimised with the codes.

The ground plane is handled as complex numbers u = z + i·x: a right-handed turn by θ about
+Y (x' = x cos θ + z sin θ, z' = −x sin θ + z cos θ) is then u' = e^{iθ} u, and the best turn
taking points b onto a (centroids removed) is arg Σ a·conj(b) (2-D Procrustes).
"""

from __future__ import annotations

import numpy as np
import torch

from kinetic_gan.shots.plan import Plan


def place(x: torch.Tensor, yaw: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Windows ``x`` (K, T, V, 3) turned by ``yaw`` (K,) and moved by ``shift`` (K, 2: x, z)."""
    c = torch.cos(yaw).view(-1, 1, 1)
    s = torch.sin(yaw).view(-1, 1, 1)
    px, py, pz = x[..., 0], x[..., 1], x[..., 2]
    wx = c * px + s * pz + shift[:, 0].view(-1, 1, 1)
    wz = -s * px + c * pz + shift[:, 1].view(-1, 1, 1)
    return torch.stack((wx, py, wz), dim=-1)


def to_complex(xz: np.ndarray) -> np.ndarray:
    """(..., 3) points → their ground-plane positions as z + i·x."""
    return xz[..., 2] + 1j * xz[..., 0]


def fit_yaw(target: np.ndarray, source: np.ndarray) -> tuple[float, complex]:
    """Yaw θ and translation τ (complex) with e^{iθ}·source + τ closest to ``target``."""
    a, b = to_complex(target).ravel(), to_complex(source).ravel()
    ca, cb = a.mean(), b.mean()
    cross = np.sum((a - ca) * np.conj(b - cb))
    theta = float(np.angle(cross)) if abs(cross) > 1e-12 else 0.0
    return theta, complex(ca - np.exp(1j * theta) * cb)


def chain(windows: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Initial yaw (K,) and shift (K, 2) placing each window onto the one before it."""
    k_count = len(windows)
    yaw = np.zeros(k_count)
    tau = np.zeros(k_count, complex)
    world = windows.copy()
    for o in plan.overlaps:
        if o.shift or o.second != o.first + 1:
            continue
        ja = np.arange(*o.frames) - plan.windows[o.first].start
        jb = np.arange(*o.frames) - plan.windows[o.second].start
        theta, t = fit_yaw(world[o.first, ja], windows[o.second, jb])
        yaw[o.second], tau[o.second] = theta, t
        world[o.second] = apply(windows[o.second], theta, t)
    return yaw, np.stack((tau.imag, tau.real), axis=1)


def apply(points: np.ndarray, theta: float, tau: complex) -> np.ndarray:
    """``points`` (..., 3) turned by θ and moved by τ (numpy, as ``place``)."""
    u = np.exp(1j * theta) * to_complex(points) + tau
    out = points.copy()
    out[..., 0], out[..., 2] = u.imag, u.real
    return out
