"""Generator and critic tensors in ``NAME.safetensors``, their model card beside them.

Loading never unpickles anything: safetensors holds only tensors. Every tensor is checked
against the network the card describes before any is copied in, so a file from another
model is one clear error, not a shape traceback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kinetic_gan.atomic import atomic_path
from kinetic_gan.devices import resolve_device
from kinetic_gan.errors import KineticGanError
from kinetic_gan.nn import Critic, Generator
from kinetic_gan.nn.output_head import Architecture
from kinetic_gan.weights.card import FORMAT, ModelCard, read_card, weights_path, write_card
from kinetic_gan.weights.loaded import LoadedCritic, LoadedGenerator

# -- generator ----------------------------------------------------------------------------


def build_generator(card: ModelCard) -> Generator:
    return Generator(
        n_classes=card.n_classes,
        skeleton=card.skeleton,
        frames=card.frames,
        mapping_depth=card.mapping_depth,
        latent_dim=card.latent_dim,
        architecture=Architecture.from_dict(card.architecture or None, card.name),
    )


def save_generator(
    path: str | Path,
    generator: Generator,
    card: ModelCard,
    dtype: torch.dtype = torch.float32,
    half: set[str] | None = None,
) -> Path:
    """Write ``PATH.safetensors`` + ``PATH.json`` atomically; returns the tensors' path.

    Floating tensors are stored as ``dtype``, except those named in ``half``, stored as
    float16 (the loader casts every tensor back to the model's float32).
    """
    if not bool(generator.mean_w_ready):
        raise KineticGanError("the generator has no cached mean w: call compute_mean_w() first")
    half = half or set()

    def stored(name: str, value: torch.Tensor) -> torch.Tensor:
        if not value.is_floating_point():
            return value
        return value.to(torch.float16 if name in half else dtype)

    tensors = {k: stored(k, v) for k, v in generator.state_dict().items()}
    return _save(path, tensors, "generator", card)


def load_generator(path: str | Path, device: str | torch.device | None = "cpu") -> LoadedGenerator:
    """Load ``NAME.safetensors`` + ``NAME.json``: the card and the generator in eval mode."""
    card, generator = _load(path, "generator", build_generator)
    loaded = LoadedGenerator(card, generator.to(resolve_device(device)).eval())
    loaded.folded()  # fold now, so that the first call costs no more than the others
    return loaded


# -- both ---------------------------------------------------------------------------------


def _save(path: str | Path, tensors: dict[str, torch.Tensor], kind: str, card: ModelCard) -> Path:
    """Write the tensors (tagged ``kind``) and the card beside them, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    target = weights_path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "kind": kind})
    write_card(target, card)
    return target


def _load(path: str | Path, kind: str, build) -> tuple[ModelCard, torch.nn.Module]:
    """The card at ``path`` (which must describe a ``kind``) and ``build(card)`` holding the
    file's tensors."""
    target = weights_path(path)
    card = read_card(target)
    if card.kind != kind:
        raise KineticGanError(f"{target}: holds a {card.kind}, not a {kind}")
    module = build(card)
    load_into(module, _load_tensors(target), target)
    return card, module


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise KineticGanError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise KineticGanError(f"{path}: not a readable safetensors file ({exc})") from None


def load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy ``tensors`` into ``module``: all of them, with the shapes it has, or an error."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        raise KineticGanError(f"{path}: weights do not match the model card: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise KineticGanError(
                f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, the model card "
                f"implies {tuple(value.shape)} (wrong skeleton, classes or mapping depth?)"
            )
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)


# -- critic -------------------------------------------------------------------------------


def build_critic(card: ModelCard) -> Critic:
    return Critic(card.n_classes, card.skeleton, card.frames)


def save_critic(path: str | Path, critic: Critic, card: ModelCard) -> Path:
    return _save(path, critic.state_dict(), "critic", dataclasses.replace(card, kind="critic"))


def load_critic(path: str | Path, device: str | torch.device | None = "cpu") -> LoadedCritic:
    card, critic = _load(path, "critic", build_critic)
    return LoadedCritic(card, critic.to(resolve_device(device)).eval())
