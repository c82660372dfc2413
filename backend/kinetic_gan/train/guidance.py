"""Class guidance: an optional extra generator loss from a frozen action recogniser.

The paper's conditional WGAN-GP tells the generator about its class only through the
critic, which sees the label as one extra input channel; on a small corpus the critic
learns "is this a plausible motion" long before "is this a plausible *jump*", and the
generator drifts between classes for thousands of updates. Class guidance adds

    λ · CE(R(G(z, y)), y)

to the generator's loss, where R is an action recogniser trained beforehand on the same
dataset (``kinetic-gan train-recognizer``) and kept frozen (eval mode: its batch-norm
statistics never change, and its weights get no gradients). The critic and its loss are
untouched, and so is every weight layout: a guided run exports the same generator as an
unguided one. It is off (λ = 0) in every published setting.

Use a *different* recogniser for evaluation than for guidance (another seed and widths),
otherwise the recognition accuracy measures the guide's own blind spots.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from kinetic_gan.errors import KineticGanError
from kinetic_gan.train.config import TrainConfig

GUIDE_COLUMN = "guide_ce"


class ClassGuide:
    """``guide(fake, labels)`` → the mean cross-entropy of a frozen recogniser, times λ."""

    # What it logs: log.csv's column (read by plot-loss) and its TensorBoard tag.
    names = (GUIDE_COLUMN,)
    tensorboard_tags = ("loss/guide_cross_entropy",)

    @staticmethod
    def postfix(logged: dict[str, float]) -> dict[str, str]:
        """Its part of the progress bar: the cross-entropy."""
        return {"ce": f"{logged[GUIDE_COLUMN]:.3f}"}

    def __init__(self, recognizer: nn.Module, weight: float) -> None:
        if weight <= 0:
            raise KineticGanError(f"class guidance: weight must be positive, got {weight}")
        self.recognizer = recognizer.eval().requires_grad_(False)
        self.weight = weight

    def cross_entropy(self, fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional.cross_entropy(self.recognizer(fake).float(), labels)

    def __call__(self, fake: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """(weighted loss to add, the unweighted cross-entropy for the log)."""
        ce = self.cross_entropy(fake, labels)
        return self.weight * ce, ce.detach().reshape(1)


def guide_for(config: TrainConfig, class_names: list[str], normalization: dict[str, float],
              device: torch.device) -> ClassGuide | None:
    """The run's class guide, or None when ``class_guidance`` is off."""
    if config.class_guidance <= 0:
        return None
    return load_guide(config.guide_recognizer, config.class_guidance, class_names=class_names,
                      normalization=normalization, device=device)


def load_guide(path: str | Path, weight: float, *, class_names: list[str],
               normalization: dict[str, float], device: torch.device) -> ClassGuide:
    """Load the recogniser at ``path`` and check it reads this dataset's motions."""
    from kinetic_gan.metrics.recognizer import load_recognizer

    recognizer, card = load_recognizer(path, device=device)
    if list(card.class_names) != list(class_names):
        raise KineticGanError(
            f"{path}: the guide recogniser was trained on other classes "
            f"({len(card.class_names)}: {', '.join(card.class_names[:3])}, ...) than this "
            f"dataset ({len(class_names)}: {', '.join(class_names[:3])}, ...)")
    # Generator and recogniser must share one [-1, 1] scale, or the guide judges the
    # generator's motions at the wrong size.
    theirs = card.normalization or {}
    for key in ("min", "max"):
        if key not in theirs or not math.isclose(theirs[key], normalization[key],
                                                 rel_tol=1e-5, abs_tol=1e-6):
            raise KineticGanError(
                f"{path}: the guide recogniser's normalization {theirs} differs from this "
                f"dataset's {normalization}; train it on the same dataset")
    return ClassGuide(recognizer, weight)
