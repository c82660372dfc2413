"""Windows → one take: each frame is the weighted mean of the windows that cover it.

The plan's weights cross-fade each overlap with a smoothstep; a window frame past the loop
seam counts for the shot frame it wraps to, moved back by the loop's displacement per
cycle. Written in torch and kept differentiable, so the optimiser's losses on keys and on
the path see the take as it will be blended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kinetic_gan.shots.plan import Plan


@dataclass
class Blender:
    index: torch.Tensor  # (K·T,) shot frame of each window frame
    weight: torch.Tensor  # (K·T,) its normalised weight (0 where unused)
    cycles: torch.Tensor  # (K·T,) its cycle (-1, 0, 1)
    frames: int

    @classmethod
    def of(cls, plan: Plan) -> Blender:
        w = plan.weights()
        index = np.stack([plan.window_frames(k) for k in range(len(plan.windows))])
        total = np.zeros(plan.frames)
        np.add.at(total, index.ravel(), w.ravel())
        norm = w / np.maximum(total[index], 1e-12)
        return cls(torch.from_numpy(index.ravel()).long(),
                   torch.from_numpy(norm.ravel()).float(),
                   torch.from_numpy(plan.cycles().ravel()).float(), plan.frames)

    def to(self, device: torch.device) -> Blender:
        return Blender(self.index.to(device), self.weight.to(device), self.cycles.to(device),
                       self.frames)

    def __call__(self, world: torch.Tensor, advance: torch.Tensor | None = None) -> torch.Tensor:
        """(K, T, V, 3) placed windows → (F, V, 3); ``advance`` (2,) the loop's x, z per cycle."""
        k, t, v, c = world.shape
        flat = world.reshape(k * t, v, c)
        if advance is not None:
            step = torch.stack((advance[0], advance.new_zeros(()), advance[1]))
            flat = flat - self.cycles.view(-1, 1, 1) * step
        out = world.new_zeros(self.frames, v, c)
        return out.index_add(0, self.index, flat * self.weight.view(-1, 1, 1))
