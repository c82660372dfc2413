"""Weights on disk: ``NAME.safetensors`` (tensors) + ``NAME.json`` (the model card).

A package rather than one module because the jobs are separate: ``card`` (the model card
and the file naming), ``io`` (tensors in and out, checked against the card), ``loaded``
(what loading returns) and ``published`` (converting the published ``.pth`` checkpoints).
Callers import from ``kinetic_gan.weights`` as before; the names below are its public face.

Test fixtures moved to ``kinetic_gan.testing``; ``random_generator_weights`` is still found
here (lazily, since ``testing`` imports this package) so that older imports keep working.
Devices are resolved by ``kinetic_gan.devices``; ``resolve_device`` is re-exported likewise.
"""

from __future__ import annotations

from typing import Any

from kinetic_gan.devices import resolve_device
from kinetic_gan.weights.card import (
    FORMAT,
    ModelCard,
    available_weights,
    card_path,
    card_problem,
    read_card,
    weights_path,
    write_card,
)
from kinetic_gan.weights.io import (
    build_generator,
    load_critic,
    load_generator,
    save_critic,
    save_generator,
)
from kinetic_gan.weights.loaded import LoadedCritic, LoadedGenerator
from kinetic_gan.weights.published import (
    PUBLISHED_SOURCE,
    PublishedLayout,
    convert_published,
    inspect_published,
    load_published,
    normalization_from_data,
)

__all__ = [
    "FORMAT",
    "PUBLISHED_SOURCE",
    "LoadedCritic",
    "LoadedGenerator",
    "ModelCard",
    "PublishedLayout",
    "available_weights",
    "build_generator",
    "card_path",
    "card_problem",
    "convert_published",
    "inspect_published",
    "load_critic",
    "load_generator",
    "load_published",
    "normalization_from_data",
    "read_card",
    "resolve_device",
    "save_critic",
    "save_generator",
    "weights_path",
    "write_card",
]


def __getattr__(name: str) -> Any:
    if name == "random_generator_weights":
        from kinetic_gan import testing

        return testing.random_generator_weights
    raise AttributeError(f"module 'kinetic_gan.weights' has no attribute {name!r}")
