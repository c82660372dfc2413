"""An inference-only form of the generator: each block folded into a few matmuls.

The module form (``Generator``) mirrors the published layers one by one, which is what
training and weight compatibility need. For generation the same maths collapses:

* features live as ``(N, T, V·C)`` (joint-major), so every per-frame linear map is one
  matmul;
* spatial upsampling, the graph convolution (all partitions, edge importance included)
  and the residual branch are all linear per frame, so they fold into a single matrix
  ``[M_gcn | M_res]`` applied *before* the temporal upsampling (nearest or linear, both
  of which commute with per-frame maps) — at the coarse frame rate, not the fine one;
* batch norm (eval) folds into the temporal convolution and the residual weights;
* the temporal convolution becomes one matmul over three stacked, shifted frames.

Outputs equal the module form up to float32 rounding. It is a snapshot of the weights it
was built from: ``LoadedGenerator`` (weights/loaded.py) builds one and rebuilds it when
they change.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetic_gan.nn.generator import Generator, SynthesisBlock


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm2d):
    """Fold an eval-mode BatchNorm into the conv before it (weight's dim 0 = out channels)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return weight * scale.view(shape), (bias - bn.running_mean) * scale + bn.bias


class _FastBlock(nn.Module):
    def __init__(self, blk: SynthesisBlock, A: torch.Tensor, coarse_joints: int) -> None:
        super().__init__()
        fine_joints = A.shape[-1]
        cin = blk.gcn.conv.weight.shape[1]
        cout = blk.gcn.conv.weight.shape[0] // blk.gcn.partitions
        up = blk.up_s if blk.up_s is not None else torch.eye(fine_joints)
        # Graph conv: M[(u, ci), (w, co)] = Σ_k Σ_v U[u, v] A_k[v, w] W_k[co, ci].
        W = blk.gcn.conv.weight.view(blk.gcn.partitions, cout, cin)
        UA = torch.einsum("uv,kvw->kuw", up, A)
        m_gcn = torch.einsum("kuw,koi->uiwo", UA, W).reshape(coarse_joints * cin, -1)
        # Residual: R[(u, ci), (w, co)] = U[u, w] W_res[co, ci]; BN folded in.
        b_res = torch.zeros(fine_joints * cout)
        if blk.residual is None:
            m_res = None
        elif isinstance(blk.residual, nn.Identity):
            m_res = torch.einsum("uw,oi->uiwo", up, torch.eye(cout)).reshape(
                coarse_joints * cin, -1
            )
        else:
            conv, bn = blk.residual[0], blk.residual[1]
            w, b = _fold_bn(conv.weight[:, :, 0, 0], conv.bias, bn)
            m_res = torch.einsum("uw,oi->uiwo", up, w).reshape(coarse_joints * cin, -1)
            b_res = b.repeat(fine_joints)
        self.register_buffer("m_gcn", m_gcn.contiguous())
        self.register_buffer("m_res", None if m_res is None else m_res.contiguous())
        # Temporal conv (+ BN) as one (C, 3·C) matmul whose three outputs per frame are
        # the contributions to frames t+1, t and t-1, summed by shifted adds afterwards.
        tconv = blk.tcn[0]
        w_t, b_t = tconv.weight[:, :, :, 0], tconv.bias
        if len(blk.tcn) > 1:
            w_t, b_t = _fold_bn(w_t, b_t, blk.tcn[1])
        taps = w_t.permute(1, 2, 0)  # (C_in, tap, C_out); tap 0 reads frame t-1
        if blk.frames == 1:  # a single frame only sees the centre tap (the rest is padding)
            taps = taps[:, 1:2]
        self.register_buffer("w_t", taps.reshape(cout, -1).contiguous())
        self.register_buffer("bias", (b_t.repeat(fine_joints) + b_res).view(fine_joints, cout))
        self.register_buffer("noise_w", blk.noise.weight.view(cout))
        self.frames, self.joints, self.channels, self.last = blk.frames, fine_joints, cout, blk.last
        self.linear_time = blk.time_upsample == "linear"

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        n, t_in, _ = x.shape
        v, c, t = self.joints, self.channels, self.frames
        rows = x.reshape(n * t_in, -1)
        # Graph conv, the temporal conv's taps and the residual are all per-frame linear
        # maps, so they run at the coarse frame rate; the upsampling then resamples the results.
        taps = ((rows @ self.m_gcn).view(-1, c) @ self.w_t).view(n, t_in, v, -1)
        res = None if self.m_res is None else (rows @ self.m_res).view(n, t_in, v, c)
        if t_in != t:
            taps = self._upsample(taps, t)
            res = None if res is None else self._upsample(res, t)
        if t == 1:
            out = taps + self.bias
        else:
            out = taps[..., c : 2 * c] + self.bias
            out[:, 1:] += taps[:, :-1, :, :c]  # frame t-1 through tap 0
            out[:, :-1] += taps[:, 1:, :, 2 * c :]  # frame t+1 through tap 2
        if res is not None:
            out += res
        out = torch.addcmul(out, noise.view(n, t, v, 1), self.noise_w)
        out = torch.tanh(out) if self.last else F.leaky_relu(out, 0.2)
        return out.view(n, t, v * c)

    def _upsample(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(N, T_in, V, K) → (N, frames, V, K), as the module's ``resize_time`` does."""
        if not self.linear_time:
            return x.repeat_interleave(frames // x.shape[1], dim=1)
        n, t_in, v, k = x.shape
        rows = x.reshape(n, t_in, v * k).transpose(1, 2)
        rows = F.interpolate(rows, size=frames, mode="linear", align_corners=False)
        return rows.transpose(1, 2).reshape(n, frames, v, k)


class FastGenerator(nn.Module):
    """Same inputs as ``Generator.forward``; returns ``(N, T, V, C)`` in [-1, 1]."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        g = generator
        with torch.no_grad():
            self.label_emb = nn.Embedding.from_pretrained(g.label_emb.weight.detach().clone())
            linears = [m for m in g.mlp.mlp if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linears):
                self.register_buffer(f"mlp_w{i}", lin.weight.detach().t().contiguous())
                self.register_buffer(f"mlp_b{i}", lin.bias.detach().clone())
            self.register_buffer("mean_w", g.mean_w.detach().clone())
            blocks = []
            joints = 1
            for blk, imp in zip(g.st_gcn_networks, g.edge_importance, strict=True):
                A = (getattr(g, f"A{blk.level}") * imp).detach().float().cpu()
                blocks.append(_FastBlock(_cpu(blk), A, joints))
                joints = A.shape[-1]
        self.blocks = nn.ModuleList(blocks)
        self.output_head = None if g.output_head is None else copy.deepcopy(g.output_head)
        self.depth = len(linears)
        self.to(g.mean_w.device)

    def mapping(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.label_emb(labels), z), dim=-1)
        for i in range(self.depth):
            x = torch.addmm(getattr(self, f"mlp_b{i}"), x, getattr(self, f"mlp_w{i}"))
            x = F.leaky_relu(x, 0.2)
        return x

    def synthesis(self, w: torch.Tensor, noise: Sequence[torch.Tensor]) -> torch.Tensor:
        x = w.unsqueeze(1)  # (N, T=1, V·C = 1·width)
        for blk, nz in zip(self.blocks, noise, strict=True):
            x = blk(x, nz)
        last = self.blocks[-1]
        x = x.view(x.shape[0], last.frames, last.joints, last.channels)
        if self.output_head is not None:
            x = self.output_head(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x

    def forward(self, z, labels, noise, psi: torch.Tensor | None = None) -> torch.Tensor:
        w = self.mapping(z, labels)
        if psi is not None:
            mean = self.mean_w[labels]
            w = mean + psi * (w - mean)
        return self.synthesis(w, noise)


def _cpu(blk: SynthesisBlock) -> SynthesisBlock:
    """Fold on the CPU in float32 whatever device the generator lives on."""
    return copy.deepcopy(blk).float().cpu()

