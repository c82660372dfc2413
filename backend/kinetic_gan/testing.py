"""Models for tests, benchmarks and tools that need any valid model, not a good one."""

from __future__ import annotations

from pathlib import Path

import torch

from kinetic_gan.nn import Generator
from kinetic_gan.skeletons import get_skeleton
from kinetic_gan.weights.card import ModelCard
from kinetic_gan.weights.io import save_generator


def random_generator_weights(
    path: str | Path,
    n_classes: int,
    skeleton: str = "ntu",
    frames: int = 64,
    mapping_depth: int = 4,
    class_names: list[str] | None = None,
    samples_per_class: int = 64,
    seed: int = 0,
    normalization: dict[str, float] | None = None,
) -> Path:
    """Write an *untrained* generator (``PATH.safetensors`` + card); returns its path."""
    torch.manual_seed(seed)
    generator = Generator(n_classes, skeleton, frames, mapping_depth).eval()
    # The paper's N(0, 1) mapping init blows activations up to ~1e5, where float32
    # rounding shows; trained models live near O(1), so scale like a fan-in init.
    with torch.no_grad():
        for layer in generator.mlp.mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(layer.in_features**-0.5)
    generator.compute_mean_w(samples_per_class=samples_per_class, seed=seed)
    card = ModelCard(
        name=Path(path).stem,
        dataset="untrained",
        skeleton=get_skeleton(skeleton).name,
        class_names=class_names or [f"action {i}" for i in range(n_classes)],
        frames=frames,
        mapping_depth=mapping_depth,
        normalization=normalization or {"min": -1.0, "max": 1.0},
        truncation={"space": "w", "samples_per_class": samples_per_class},
        licence="CC0-1.0",
        source="random initialisation (untrained)",
    )
    return save_generator(path, generator, card)
