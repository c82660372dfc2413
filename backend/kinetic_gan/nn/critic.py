"""The Kinetic-GAN critic (WGAN-GP discriminator): the generator's pyramid in reverse.

The label is embedded, broadcast over frames and joints and concatenated to the
input channels; six st-gcn blocks shrink time and drop joints level by level (a
joint survives if the next level keeps it); global average pooling and a linear
head give one unbounded score (the last block keeps T/16 frames and the pooling
averages them). No batch norm: the gradient penalty is per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kinetic_gan.nn.blocks import GraphConv, register_graph, resize_time, temporal_conv
from kinetic_gan.nn.generator import FRAMES
from kinetic_gan.skeletons import get_skeleton


class CriticBlock(nn.Module):
    """Graph conv → temporal conv (+ residual) → LeakyReLU → drop joints → resample time."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        level: int,
        frames: int,
        *,
        keep: list[int] | None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.level, self.frames = level, frames
        self.gcn = GraphConv(in_channels, out_channels, partitions=3)
        self.tcn = temporal_conv(out_channels)
        self.residual: nn.Module | None = None
        if residual:
            self.residual = (
                nn.Identity()
                if in_channels == out_channels
                else nn.Conv2d(in_channels, out_channels, 1)
            )
        if keep is not None:
            self.register_buffer("keep", torch.tensor(keep, dtype=torch.long), persistent=False)
        else:
            self.keep = None

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """Same numbers as: gcn → tcn (+ residual) → LeakyReLU → keep joints → resample time.

        Everything after the graph convolution acts per joint and, with nearest-neighbour
        downsampling by an integer factor s (frames 0, s, 2s, … survive), locally in time.
        So only the kept joints' columns of A are used, and the temporal convolution and
        the residual run with stride s: about a third of the critic's arithmetic.
        """
        t_in = x.shape[2]
        stride = t_in // self.frames if self.frames < t_in and t_in % self.frames == 0 else 1
        if self.keep is None:
            h = self.gcn(x, A)
        else:
            h = self._graph_conv_kept(x, A.index_select(2, self.keep))
        y = F.conv2d(
            h, self.tcn.weight, self.tcn.bias, stride=(stride, 1), padding=self.tcn.padding
        )
        if self.residual is not None:
            kept = x if self.keep is None else x.index_select(3, self.keep)
            y = y + self.residual(kept[:, :, ::stride] if stride > 1 else kept)
        return resize_time(F.leaky_relu(y, 0.2), self.frames)

    def _graph_conv_kept(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """The graph conv evaluated only at the kept joints (A's columns already selected).

        Aggregating over joints first and mixing channels after (one 1×1 conv over K·C_in
        channels) is the same sum in the other order, and cheaper when few joints are kept.
        """
        n, cin, t, _ = x.shape
        k = self.gcn.partitions
        weight = self.gcn.conv.weight.view(k, -1, cin)  # (K, C_out, C_in)
        cout = weight.shape[1]
        gathered = torch.einsum("nctv,kvw->nkctw", x, A).reshape(n, k * cin, t, A.shape[2])
        mixed = weight.permute(1, 0, 2).reshape(cout, k * cin, 1, 1)
        return F.conv2d(gathered, mixed)


class Critic(nn.Module):
    def __init__(self, n_classes: int, skeleton: str = "ntu", frames: int = 64) -> None:
        super().__init__()
        if frames not in FRAMES:
            raise ValueError(f"frames must be one of {FRAMES}, got {frames}")
        sk = get_skeleton(skeleton)
        self.skeleton, self.n_classes, self.frames, self.channels = (
            sk.name,
            n_classes,
            frames,
            sk.channels,
        )
        pyramid = sk.pyramid

        def keep(level: int) -> list[int]:
            return list(pyramid.levels[level + 1].kept)

        self.label_emb = nn.Embedding(n_classes, n_classes)
        # (in, out, level, frames after the block, drop joints?, residual?)
        plan = [
            (n_classes + sk.channels, 32, 0, frames, True, False),
            (32, 64, 1, frames, False, True),
            (64, 128, 1, frames // 2, True, True),
            (128, 256, 2, frames // 4, False, True),
            (256, 512, 2, frames // 8, True, True),
            (512, 512, 3, frames // 16, False, True),
        ]
        self.st_gcn_networks = nn.ModuleList(
            CriticBlock(cin, cout, lvl, t, keep=keep(lvl) if down else None, residual=res)
            for cin, cout, lvl, t, down, res in plan
        )
        self.levels = [blk.level for blk in self.st_gcn_networks]
        self.edge_importance = register_graph(self, pyramid, self.levels)
        self.fcn = nn.Linear(512, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        c = self.label_emb(labels).view(n, -1, 1, 1).expand(-1, -1, t, v)
        x = torch.cat((c, x), dim=1)
        for blk, importance in zip(self.st_gcn_networks, self.edge_importance, strict=True):
            x = blk(x, getattr(self, f"A{blk.level}") * importance)
        return self.fcn(x.mean(dim=(2, 3)))
