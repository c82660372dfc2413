"""A model loaded from ``weights/``: its card, its ``nn.Module``, and for a generator the
folded form that calling it runs.

``load_generator`` returns a :class:`LoadedGenerator` rather than a module with the card
and the folded form hung on it as hidden attributes: what a caller gets is spelled out,
and the module stays an ordinary module (training and fine-tuning use ``.module``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from kinetic_gan.devices import resolve_device
from kinetic_gan.nn import Critic, Generator
from kinetic_gan.nn.fast import FastGenerator
from kinetic_gan.weights.card import ModelCard

Truncation = float | Sequence[float | None] | None


@dataclass(eq=False)
class LoadedGenerator:
    """A generator for inference. ``loaded(z, labels)`` runs the folded form (nn/fast.py).

    The folded form is rebuilt whenever the module's weights changed since it was folded:
    in-place updates (optimiser steps, ``load_state_dict``, edits under ``no_grad``) advance
    torch's per-tensor version counters, so changing weights through ``.module`` never leaves
    calls running the old ones. (Tensors *replaced* on the same device, as
    ``load_state_dict(assign=True)`` does, are not seen; ``refold()`` after that.) While the
    module is in training mode calls run the module form, whose batch norm then uses batch
    statistics as training expects.
    """

    card: ModelCard
    module: Generator
    _folded: FastGenerator | None = field(default=None, init=False, repr=False)
    # The module's tensors when it was folded (listed once: walking the module on every
    # call costs about a tenth of a batch-1 call) and their device and version sum.
    _tensors: list[torch.Tensor] = field(default_factory=list, init=False, repr=False)
    _folded_from: tuple[torch.device, int] | None = field(default=None, init=False, repr=False)

    @property
    def device(self) -> torch.device:
        return self.module.mean_w.device

    @property
    def latent_dim(self) -> int:
        return self.module.latent_dim

    def make_noise(
        self, batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """One ``(N, 1, T_b, V_b)`` CPU tensor per block, as ``Generator.make_noise``."""
        return self.module.make_noise(batch, generator=generator)

    def to(self, device: str | torch.device | None) -> LoadedGenerator:
        """Move the module, and the folded form if still current, to ``device``; returns self."""
        target = resolve_device(device)
        current = self._folded is not None and self._folded_from == self._weights_version()
        self.module.to(target)
        if current:  # moving the folded form is cheaper than folding again
            self._folded = self._folded.to(target)
            self._tensors = self._module_tensors()
            self._folded_from = self._weights_version()
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The module's tensors (what ``save_generator`` writes)."""
        return self.module.state_dict()

    def folded(self) -> FastGenerator:
        """The folded form of the module's current weights, on the module's device."""
        if self._folded is None or self._folded_from != self._weights_version():
            return self.refold()
        return self._folded

    def refold(self) -> FastGenerator:
        """Fold the module's weights now (``folded()`` does when it sees them change)."""
        # Outside any inference_mode of the caller's: the folded tensors outlive the call.
        with torch.inference_mode(False), torch.no_grad():
            self._folded = FastGenerator(self.module).eval()
        self._tensors = self._module_tensors()
        self._folded_from = self._weights_version()
        return self._folded

    @torch.no_grad()
    def __call__(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        *,
        truncation: Truncation = None,
        noise: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``(N, C, T, V)`` in [-1, 1], as ``Generator.forward``; no gradients.

        ``truncation`` is one ψ or one per sample (``None`` or 1 = none); ``noise`` is one
        ``(N, 1, T_b, V_b)`` tensor per block, drawn here when not given. Inputs move to the
        model's device. Keyword-only: ``Generator.forward`` takes noise before truncation.
        """
        device, n = self.device, len(labels)
        z, labels = z.to(device), labels.to(device)
        psi = psi_column(truncation, n, device)
        if psi is not None and not bool(self.module.mean_w_ready):
            raise RuntimeError("truncation needs the cached mean w: call compute_mean_w() first")
        if noise is None:
            blocks = [torch.randn(s, device=device) for s in self.module.noise_shapes(n)]
        else:
            blocks = [n.to(device) for n in noise]
        if self.module.training:
            w = self.module.mapping(z, labels)
            if psi is not None:
                mean = self.module.mean_w[labels]
                w = mean + psi * (w - mean)
            return self.module.synthesis(w, blocks)
        # The folded form computes (N, T, V, C); the permuted view costs no copy, and the
        # metres conversion permutes it straight back.
        return self.folded()(z, labels, blocks, psi).permute(0, 3, 1, 2)

    def _module_tensors(self) -> list[torch.Tensor]:
        return [*self.module.parameters(), *self.module.buffers()]

    def _weights_version(self) -> tuple[torch.device, int]:
        """Changes whenever a weight is updated in place or the module moves."""
        return self.device, sum(t._version for t in self._tensors)


def psi_column(truncation: Truncation, n: int, device: torch.device) -> torch.Tensor | None:
    """ψ as an ``(n, 1)`` column for ``mean + ψ (w - mean)``, or None when nothing truncates."""
    if truncation is None:
        return None
    if isinstance(truncation, (int, float)):
        return None if truncation == 1.0 else torch.full((n, 1), float(truncation), device=device)
    values = [1.0 if t is None else float(t) for t in truncation]
    if len(values) != n:
        raise ValueError(f"{len(values)} truncation values for {n} samples")
    if all(v == 1.0 for v in values):
        return None
    return torch.tensor(values, device=device).view(n, 1)


@dataclass(eq=False)
class LoadedCritic:
    """A critic and its card. ``critic(x, labels)`` runs the module (gradients as usual)."""

    card: ModelCard
    module: Critic

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device | None) -> LoadedCritic:
        self.module.to(resolve_device(device))
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.module(x, labels)
