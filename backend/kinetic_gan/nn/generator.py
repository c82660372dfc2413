"""The Kinetic-GAN generator: mapping network + spatial-temporal graph synthesis.

z (512) and a learned label embedding go through an MLP (the mapping network) to a
style vector w. w is a 1-frame, 1-joint "skeleton" at the top of the graph pyramid;
seven st-gcn blocks grow it coarse-to-fine, doubling time with nearest-neighbour
resampling and adding joints by spatial upsampling, each block adding per-joint noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from kinetic_gan.nn.blocks import (
    GraphConv,
    NoiseInjection,
    register_graph,
    resize_time,
    temporal_conv,
)
from kinetic_gan.nn.output_head import Architecture, OutputHead
from kinetic_gan.skeletons import Pyramid, get_skeleton

LATENT_DIM = 512
FRAMES = (32, 64, 128, 256, 512, 1024)
MAPPING_DEPTHS = (4, 6, 8)


def upsample_matrix(pyramid: Pyramid, level: int) -> np.ndarray:
    """(V_coarse, V_fine) matrix taking features from ``level + 1`` to ``level``.

    A kept joint copies its coarse node; a dropped joint takes the mean of its kept
    neighbours. The published model halves that mean once more when growing level 2
    from the single top node; we keep that so published weights behave identically.
    """
    fine, coarse = pyramid.levels[level], pyramid.levels[level + 1]
    up = np.zeros((coarse.num_nodes, fine.num_nodes), dtype=np.float32)
    for c, f in enumerate(coarse.kept):
        up[c, f] = 1.0
    scale = 0.5 if level == 2 else 1.0
    for f, nbrs in pyramid.upsample_neighbours(level).items():
        up[list(nbrs), f] = scale / len(nbrs)
    return up


class MappingNetwork(nn.Module):
    """An MLP of ``depth`` equal-width linear layers with LeakyReLU(0.2)."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            linear = nn.Linear(width, width)
            nn.init.normal_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.LeakyReLU(0.2)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class SynthesisBlock(nn.Module):
    """Upsample (time, then optionally joints) → graph conv → temporal conv → noise → activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        level: int,
        frames: int,
        *,
        upsample: np.ndarray | None,
        batch_norm: bool = True,
        residual: bool = True,
        last: bool = False,
        time_upsample: str = "nearest",
    ) -> None:
        super().__init__()
        self.level, self.frames, self.last = level, frames, last
        self.time_upsample = time_upsample
        self.gcn = GraphConv(in_channels, out_channels, partitions=3)
        tcn: list[nn.Module] = [temporal_conv(out_channels)]
        if batch_norm:
            tcn.append(nn.BatchNorm2d(out_channels))
        self.tcn = nn.Sequential(*tcn)
        self.residual: nn.Module | None = None
        if residual:
            self.residual = (
                nn.Identity()
                if in_channels == out_channels
                else nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)
                )
            )
        self.noise = NoiseInjection(out_channels)
        self.activation: nn.Module = nn.Tanh() if last else nn.LeakyReLU(0.2)
        if upsample is not None:
            self.register_buffer("up_s", torch.from_numpy(upsample), persistent=False)
        else:
            self.up_s = None

    def forward(self, x: torch.Tensor, A: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.up_s is not None:
            x = torch.einsum("nctv,vw->nctw", x, self.up_s)
        x = resize_time(x, self.frames, self.time_upsample)
        res = 0 if self.residual is None else self.residual(x)
        x = self.tcn(self.gcn(x, A)) + res
        return self.activation(self.noise(x, noise))


class Generator(nn.Module):
    def __init__(
        self,
        n_classes: int,
        skeleton: str = "ntu",
        frames: int = 64,
        mapping_depth: int = 4,
        latent_dim: int = LATENT_DIM,
        architecture: Architecture | None = None,
    ) -> None:
        super().__init__()
        self.architecture = architecture or Architecture()
        if frames not in FRAMES:
            raise ValueError(f"frames must be one of {FRAMES}, got {frames}")
        sk = get_skeleton(skeleton)
        self.skeleton, self.n_classes, self.frames = sk.name, n_classes, frames
        self.latent_dim, self.mapping_depth, self.channels = latent_dim, mapping_depth, sk.channels
        pyramid = sk.pyramid
        width = latent_dim + n_classes
        self.label_emb = nn.Embedding(n_classes, n_classes)
        self.mlp = MappingNetwork(width, mapping_depth)
        c = sk.channels
        # (in, out, level, frames, spatial upsample?, batch norm?, residual?)
        plan = [
            (width, 512, 3, 1, False, False, False),
            (512, 256, 3, frames // 16, False, True, True),
            (256, 128, 2, frames // 16, True, False, True),
            (128, 64, 2, frames // 8, False, True, True),
            (64, 32, 1, frames // 4, True, False, True),
            (32, c, 1, frames // 2, False, True, True),
            (c, c, 0, frames, True, False, True),
        ]
        self.st_gcn_networks = nn.ModuleList(
            SynthesisBlock(
                cin, cout, lvl, t,
                upsample=upsample_matrix(pyramid, lvl) if up else None,
                batch_norm=bn, residual=res, last=i == len(plan) - 1,
                time_upsample=self.architecture.time_upsample,
            )
            for i, (cin, cout, lvl, t, up, bn, res) in enumerate(plan)
        )
        self.levels = [blk.level for blk in self.st_gcn_networks]
        self.edge_importance = register_graph(self, pyramid, self.levels)
        # Our optional output stages (smoothing, kinematics); absent in published models,
        # so their state_dict keys stay exactly the published ones.
        self.output_head = (
            None if self.architecture.is_published else OutputHead(self.architecture, sk.parents)
        )
        self.register_buffer("mean_w", torch.zeros(n_classes, width))
        self.register_buffer("mean_w_ready", torch.zeros((), dtype=torch.bool))

    # -- shapes -----------------------------------------------------------------------
    def noise_shapes(self, batch: int) -> list[tuple[int, int, int, int]]:
        """Shape of the noise each block draws: (N, 1, T, V)."""
        shapes = []
        for blk in self.st_gcn_networks:
            joints = getattr(self, f"A{blk.level}").shape[-1]
            shapes.append((batch, 1, blk.frames, joints))
        return shapes

    def make_noise(
        self, batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        return [torch.randn(s, generator=generator) for s in self.noise_shapes(batch)]

    # -- mapping ----------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat((self.label_emb(labels), z), dim=-1))

    @torch.no_grad()
    def compute_mean_w(
        self, samples_per_class: int = 10_000, seed: int = 0, chunk: int = 8192
    ) -> None:
        """Cache the per-class mean style vector used by the truncation trick."""
        rng = torch.Generator().manual_seed(seed)
        device = self.mean_w.device
        for label in range(self.n_classes):
            total = torch.zeros(self.mean_w.shape[1], dtype=torch.float64, device=device)
            done = 0
            while done < samples_per_class:
                n = min(chunk, samples_per_class - done)
                z = torch.randn(n, self.latent_dim, generator=rng).to(device)
                labels = torch.full((n,), label, dtype=torch.long, device=device)
                total += self.mapping(z, labels).double().sum(0)
                done += n
            self.mean_w[label] = (total / samples_per_class).to(self.mean_w.dtype)
        self.mean_w_ready.fill_(True)

    def truncate(self, w: torch.Tensor, labels: torch.Tensor, psi: float) -> torch.Tensor:
        if not bool(self.mean_w_ready):
            raise RuntimeError("truncation needs the cached mean w: call compute_mean_w() first")
        mean = self.mean_w[labels]
        return mean + psi * (w - mean)

    # -- synthesis --------------------------------------------------------------------
    def synthesis(
        self, w: torch.Tensor, noise: Sequence[torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = w.view(*w.shape, 1, 1)
        if noise is None:
            noise = [
                torch.randn(s, device=w.device, dtype=w.dtype) for s in self.noise_shapes(len(w))
            ]
        for i, (blk, importance) in enumerate(
            zip(self.st_gcn_networks, self.edge_importance, strict=True)
        ):
            A = getattr(self, f"A{blk.level}") * importance
            x = blk(x, A, noise[i].to(device=x.device, dtype=x.dtype))
        return x if self.output_head is None else self.output_head(x)

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        noise: Sequence[torch.Tensor] | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        w = self.mapping(z, labels)
        if truncation is not None and truncation != 1.0:
            w = self.truncate(w, labels, float(truncation))
        return self.synthesis(w, noise)
