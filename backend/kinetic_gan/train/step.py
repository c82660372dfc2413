"""One training iteration as a single callable: ``n_critic`` critic updates, one generator
update, the EMA. The loop calls it eagerly, or :mod:`kinetic_gan.train.cuda_graph` captures
it once and replays it.

Everything inside stays on the device (no ``.item()``, no Python branch on a tensor's value),
which is what lets one CUDA graph hold the whole iteration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from kinetic_gan.train.wgan_gp import EMA, GeneratorTerm, critic_step, generator_step


def _no_sync() -> None:
    return None


@dataclass
class TrainStep:
    generator: nn.Module  # the module whose forward is called (possibly torch.compile'd)
    trained_generator: nn.Module  # the parameters the EMA follows
    critic: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    latent_dim: int
    lambda_gp: float
    autocast: Callable[[], contextlib.AbstractContextManager]
    sync_d: Callable[[], None] = _no_sync
    sync_g: Callable[[], None] = _no_sync
    after_generator: Callable[[], None] = _no_sync  # e.g. average BN statistics over ranks
    # Extra generator losses (class guidance, motion priors), none by default.
    terms: Sequence[GeneratorTerm] = ()

    def __call__(self, reals: Sequence[torch.Tensor],
                 labels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic updates on ``reals[k], labels[k]`` for each k, then the generator update
        with the last batch's labels. Returns the mean (d_loss, gp, w_dist) over the critic
        updates and (g_loss, each term's logged parts...) as device tensors."""
        totals = None
        for real, label in zip(reals, labels, strict=True):
            losses = critic_step(self.generator, self.critic, self.opt_d, real, label,
                                 latent_dim=self.latent_dim, lambda_gp=self.lambda_gp,
                                 autocast=self.autocast, sync_grads=self.sync_d)
            stats = torch.stack((losses.d_loss, losses.gp, losses.w_dist))
            totals = stats if totals is None else totals + stats
        if totals is None:
            raise ValueError("TrainStep: at least one critic batch is needed")
        g_loss, logged = generator_step(self.generator, self.critic, self.opt_g, labels[-1],
                                        latent_dim=self.latent_dim, autocast=self.autocast,
                                        sync_grads=self.sync_g, terms=self.terms)
        self.after_generator()
        if self.ema is not None:
            self.ema.update(self.trained_generator)
        return totals / len(reals), torch.cat((g_loss.reshape(1), logged))
