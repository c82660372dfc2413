"""Optional output stages of our generators (not in the paper; off for published weights).

The published generator ends in a 3-channel block whose tanh output *is* the joint
positions. Nothing ties a bone's two ends together, so bone lengths drift within a take,
and the last block repeats every frame of its input (nearest-neighbour upsampling), which
shows as motion that steps on every other frame. Two stages fix that at the cause:

* ``GaussianSmoothing`` — a fixed (not learned) zero-phase Gaussian filter over time.
  With σ = 1 frame it passes 45 % of a 6 Hz component at 30 fps and 0.7 % at Nyquist,
  so a frame-to-frame alternation cannot reach the output whatever the network does.
* ``KinematicOutput`` — the network's value at joint v minus its value at v's parent is
  read as the *direction* of bone parent(v)→v; the dataset's bone lengths scale the unit
  directions and forward kinematics accumulates them from the root, whose output is
  kept as the root trajectory. Bone lengths are then constant and the proportions the
  dataset's by construction. Reading directions as differences (rather than as the raw
  value itself) keeps the coarse-to-fine pyramid meaningful — neighbouring joints share
  features — and lets a generator trained on positions warm-start a kinematic one.

Both act on ``(N, C, T, V)`` in model units and are shared by the module form and the
folded inference form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kinetic_gan.errors import KineticGanError

TIME_UPSAMPLING = ("nearest", "linear")
OUTPUTS = ("positions", "kinematic")
# Below this length a bone's difference vector has no reliable direction; the soft norm
# keeps gradients finite there (model units, where the whole body spans ~1).
DIRECTION_EPS = 1e-4


@dataclass(frozen=True)
class Architecture:
    """Our generator options; the defaults are the published network exactly."""

    time_upsample: str = "nearest"  # nearest (published) | linear
    output: str = "positions"  # positions (published) | kinematic
    output_smoothing: float = 0.0  # σ in frames of the fixed Gaussian output filter; 0 = off

    def __post_init__(self) -> None:
        if self.time_upsample not in TIME_UPSAMPLING:
            raise KineticGanError(
                f"time_upsample must be one of {TIME_UPSAMPLING}, got {self.time_upsample!r}")
        if self.output not in OUTPUTS:
            raise KineticGanError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        smoothing = self.output_smoothing
        if isinstance(smoothing, bool) or not isinstance(smoothing, int | float) or not (
            math.isfinite(smoothing) and 0.0 <= smoothing <= 8.0
        ):
            raise KineticGanError(
                f"output_smoothing must be a number of frames in [0, 8], got {smoothing!r}")

    @property
    def is_published(self) -> bool:
        return self == Architecture()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object, source: str = "architecture") -> Architecture:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise KineticGanError(f"{source}: architecture must be an object, got {data!r}")
        unknown = sorted(set(data) - {"time_upsample", "output", "output_smoothing"})
        if unknown:
            raise KineticGanError(f"{source}: unknown architecture key {unknown[0]!r}")
        try:
            return cls(**data)
        except KineticGanError as exc:
            raise KineticGanError(f"{source}: {exc}") from None


def gaussian_taps(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (t / sigma) ** 2)
    return (taps / taps.sum()).float()


class GaussianSmoothing(nn.Module):
    """Zero-phase Gaussian low-pass over time; edges by reflection (replicate if too short)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.register_buffer("taps", gaussian_taps(sigma), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        radius = self.taps.numel() // 2
        rows = x.permute(0, 1, 3, 2).reshape(n * c * v, 1, t)
        mode = "reflect" if t > radius else "replicate"
        rows = F.pad(rows, (radius, radius), mode=mode)
        rows = F.conv1d(rows, self.taps.to(rows.dtype).view(1, 1, -1))
        return rows.view(n, c, v, t).permute(0, 1, 3, 2)


def ancestor_matrix(parents: Sequence[int]) -> torch.Tensor:
    """(V, V) with M[u, v] = 1 when bone u (parent(u)→u) lies on the path root→v."""
    v = len(parents)
    m = torch.zeros(v, v)
    for joint in range(v):
        node, seen = joint, 0
        while parents[node] >= 0:
            m[node, joint] = 1.0
            node = parents[node]
            seen += 1
            if seen > v:
                raise ValueError("parents do not form a tree")
    return m


class KinematicOutput(nn.Module):
    """Raw per-joint values → joint positions with fixed bone lengths (model units)."""

    def __init__(self, parents: Sequence[int]) -> None:
        super().__init__()
        roots = [j for j, p in enumerate(parents) if p < 0]
        if len(roots) != 1 or roots[0] != 0:
            raise ValueError("the kinematic output needs a single root at joint 0")
        parent_index = torch.tensor([max(p, 0) for p in parents], dtype=torch.long)
        self.register_buffer("parent_index", parent_index, persistent=False)
        self.register_buffer("ancestors", ancestor_matrix(parents), persistent=False)
        # Per-bone length in model units (0 for the root); saved with the weights so a
        # model file is self-contained. Set from the training data by ``set_bone_lengths``.
        self.register_buffer("bone_lengths", torch.zeros(len(parents)))

    @torch.no_grad()
    def set_bone_lengths(self, lengths: torch.Tensor) -> None:
        lengths = torch.as_tensor(lengths, dtype=torch.float32).flatten()
        if lengths.shape != self.bone_lengths.shape or not torch.isfinite(lengths).all():
            raise KineticGanError(
                f"bone lengths: expected {self.bone_lengths.numel()} finite values, "
                f"got shape {tuple(lengths.shape)}")
        lengths = lengths.clone()
        lengths[0] = 0.0
        self.bone_lengths.copy_(lengths.to(self.bone_lengths.device))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        d = raw - raw.index_select(3, self.parent_index)
        unit = d * torch.rsqrt((d * d).sum(1, keepdim=True) + DIRECTION_EPS**2)
        offsets = unit * self.bone_lengths.to(raw.dtype)
        positions = torch.einsum("nctu,uv->nctv", offsets, self.ancestors.to(raw.dtype))
        return positions + raw[..., :1]


class OutputHead(nn.Module):
    """The optional stages in order: smoothing, then kinematics (identity when both are off)."""

    def __init__(self, arch: Architecture, parents: Sequence[int]) -> None:
        super().__init__()
        self.smooth = (
            GaussianSmoothing(arch.output_smoothing) if arch.output_smoothing > 0 else None
        )
        self.kinematic = KinematicOutput(parents) if arch.output == "kinematic" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.smooth is not None:
            x = self.smooth(x)
        if self.kinematic is not None:
            x = self.kinematic(x)
        return x


def bone_lengths(motions: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """Mean length of each bone over (N, C, T, V) motions (0 for the root)."""
    parent_index = torch.tensor([max(p, 0) for p in parents], dtype=torch.long)
    d = motions - motions.index_select(3, parent_index)
    return d.norm(dim=1).mean(dim=(0, 1))
