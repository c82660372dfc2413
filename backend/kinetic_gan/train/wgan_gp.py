"""The two WGAN-GP updates (Gulrajani et al. 2017), as Kinetic-GAN trains them.

Critic: maximise D(real) − D(fake) with the gradient penalty λ·(‖∇D(x̂)‖₂ − 1)² at random
points x̂ between real and fake samples of the same class. Generator: maximise D(G(z)).
Each function does one optimiser step and returns detached losses (no host sync).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class CriticLosses:
    d_loss: torch.Tensor
    gp: torch.Tensor
    w_dist: torch.Tensor  # D(real) − D(fake): the critic's Wasserstein estimate


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """E[(‖∇ₓ D(x̂)‖₂ − 1)²] with x̂ = α·real + (1 − α)·fake, one α per sample."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score = critic(mixed, labels)
    # create_graph: the penalty itself is differentiated w.r.t. the critic's weights.
    (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).square().mean()


def critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer,
                real: torch.Tensor, labels: torch.Tensor, *, latent_dim: int, lambda_gp: float,
                autocast: Callable[[], contextlib.AbstractContextManager],
                sync_grads: Callable[[], None]) -> CriticLosses:
    z = torch.randn(real.shape[0], latent_dim, device=real.device)
    # The fakes are constants here: no generator graph is built or back-propagated.
    with torch.no_grad(), autocast():
        fake = generator(z, labels)
    fake = fake.float()
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        # Real and fake share one critic pass (the critic has no batch statistics).
        scores = critic(torch.cat((real, fake)), torch.cat((labels, labels))).float()
    d_real, d_fake = scores.chunk(2)
    w_dist = d_real.mean() - d_fake.mean()
    # Two backward passes into the same gradients: the real/fake graph is freed before the
    # penalty builds its (double-backward) graph, so peak memory is the larger of the two
    # rather than their sum; the arithmetic is the same.
    (-w_dist).backward()
    with autocast():
        gp = gradient_penalty(critic, real, fake, labels)
    (lambda_gp * gp).backward()
    sync_grads()
    optimizer.step()
    loss = lambda_gp * gp.detach() - w_dist.detach()
    return CriticLosses(loss, gp.detach(), w_dist.detach())


# An extra generator loss (class guidance, motion priors): ``term(fake, labels)`` returns
# (weighted loss to add, its unweighted parts for the log as a 1-D tensor).
GeneratorTerm = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def generator_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer,
                   labels: torch.Tensor, *, latent_dim: int,
                   autocast: Callable[[], contextlib.AbstractContextManager],
                   sync_grads: Callable[[], None],
                   terms: Sequence[GeneratorTerm] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the adversarial loss −D(G(z)) and the extra ``terms``' logged parts, one
    1-D tensor (empty without terms)."""
    z = torch.randn(labels.shape[0], latent_dim, device=labels.device)
    # The critic is a fixed function in this step: skip its weight gradients entirely.
    critic.requires_grad_(False)
    parts = [torch.zeros(0, device=labels.device)]
    try:
        with autocast():
            fake = generator(z, labels)
            adversarial = -critic(fake, labels).float().mean()
            loss = adversarial
            for term in terms:
                weighted, logged = term(fake, labels)
                loss = loss + weighted
                parts.append(logged.float().reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        critic.requires_grad_(True)
    sync_grads()
    optimizer.step()
    return adversarial.detach(), torch.cat(parts)


class EMA:
    """Exponential moving average of the generator's weights (buffers are copied as they are).

    ``rampup`` (StyleGAN2-ADA's ``ema_rampup``, for short runs and small datasets): the
    average's half-life, ``ln 2 / ln(1/beta)`` generator updates, is capped at ``rampup``
    times the updates done so far, so early weights are forgotten quickly; ``None`` keeps
    ``beta`` throughout. The rate lives in a device tensor that :meth:`set_iteration`
    rewrites in place, so a captured CUDA graph reads the current value on every replay.
    """

    def __init__(self, model: nn.Module, beta: float, rampup: float | None = None) -> None:
        self.beta = beta
        self.rampup = rampup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        device = next(self.model.parameters()).device
        self.rate = torch.full((), 1.0 - beta, device=device)  # weight of the new value

    def beta_at(self, iteration: int) -> float:
        """The decay used by the update that completes generator update ``iteration`` (≥ 1)."""
        if self.rampup is None:
            return self.beta
        half_life = math.log(0.5) / math.log(self.beta)
        half_life = min(half_life, self.rampup * max(iteration, 1))
        return 0.5 ** (1.0 / half_life)

    def set_iteration(self, iteration: int) -> None:
        self.rate.fill_(1.0 - self.beta_at(iteration))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """ema += rate · (param − ema): multi-tensor kernels, no host sync."""
        averaged = list(self.model.parameters())
        step = torch._foreach_sub(list(model.parameters()), averaged)
        torch._foreach_mul_(step, self.rate)
        torch._foreach_add_(averaged, step)
        buffers = list(self.model.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(model.buffers()))
