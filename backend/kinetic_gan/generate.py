"""Sampling actions from a trained generator, and saving them.

The pieces are separate so that a server can batch many requests into one device
call: ``sample_inputs`` draws z and noise for one request (deterministic per seed,
on the CPU so every device sees the same numbers), ``Inputs.cat`` merges requests,
``synthesize`` runs the network and returns joints in metres.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.motion_files import load_npz, save_npz, save_original
from kinetic_gan.nn import Generator
from kinetic_gan.records.request import MAX_SEED, parse_action
from kinetic_gan.records.takes import GeneratedSet

if TYPE_CHECKING:  # only annotations: generating needs no weights files of its own
    from kinetic_gan.weights import LoadedGenerator

__all__ = [
    "GeneratedSet",
    "Inputs",
    "generate",
    "load_npz",
    "resolve_action",
    "sample_inputs",
    "save_npz",
    "save_original",
    "synthesize",
]


@dataclass
class Inputs:
    """Everything random about a batch: latent codes, labels and per-block noise (CPU)."""

    z: torch.Tensor  # (N, latent)
    labels: torch.Tensor  # (N,) int64
    noise: list[torch.Tensor]  # one (N, 1, T_b, V_b) tensor per block

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def cat(parts: Sequence[Inputs]) -> Inputs:
        return Inputs(
            torch.cat([p.z for p in parts]),
            torch.cat([p.labels for p in parts]),
            [torch.cat(blocks) for blocks in zip(*(p.noise for p in parts), strict=True)],
        )

    def split(self, counts: Sequence[int]) -> list[Inputs]:
        zs, ls = self.z.split(list(counts)), self.labels.split(list(counts))
        noises = [n.split(list(counts)) for n in self.noise]
        return [Inputs(zs[i], ls[i], [n[i] for n in noises]) for i in range(len(counts))]


def resolve_action(card, action: str | int) -> int:
    """A class index from a name (case-insensitive) or an index; errors list close matches."""
    names = list(card.class_names)
    if isinstance(action, str):
        action = parse_action(action)
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
        index = int(action)
        if not 0 <= index < len(names):
            raise KineticGanError(f"action index {index} out of range: the model has {len(names)}")
        return index
    if not isinstance(action, str) or not action.strip():
        raise KineticGanError(f"action must be a class name or an index, not {action!r}")
    wanted = action.strip().lower()
    lowered = [n.lower() for n in names]
    if wanted in lowered:
        return lowered.index(wanted)
    close = difflib.get_close_matches(wanted, lowered, n=5, cutoff=0.5)
    close += [n for n in lowered if wanted in n and n not in close][: 5 - len(close)]
    hint = (
        f"; did you mean {', '.join(repr(names[lowered.index(c)]) for c in close)}?"
        if close
        else ""
    )
    raise KineticGanError(f"unknown action {action!r}{hint} (the model has {len(names)} actions)")


def check_truncation(truncation: float | None) -> float | None:
    if truncation is None:
        return None
    try:
        psi = float(truncation)
    except (TypeError, ValueError):
        raise KineticGanError(
            f"truncation must be a number in [0, 1], not {truncation!r}"
        ) from None
    if not (math.isfinite(psi) and 0.0 <= psi <= 1.0):
        raise KineticGanError(f"truncation must be in [0, 1], got {truncation}")
    return psi


def new_seed() -> int:
    return int(torch.randint(0, 2**31 - 1, ()).item())


def sample_inputs(
    generator: LoadedGenerator | Generator,
    labels: Sequence[int],
    seed: int,
    vary_noise: bool = False,
    mix_seed: int | None = None,
    mix: float = 0.0,
) -> Inputs:
    """Draw z and noise for ``labels``, reproducibly from ``seed``.

    ``vary_noise`` keeps one z for every sample and varies only the noise: the same
    motion with different stochastic detail (the paper's stochastic variation).
    ``mix_seed`` and ``mix`` (0..1) move each sample's z and noise from the draw of
    ``seed`` toward the same sample's draw of ``mix_seed`` (see :func:`blend_draws`).
    """
    n = len(labels)
    if n < 1:
        raise KineticGanError("count must be at least 1")
    z, noise = _draw(generator, n, seed, vary_noise)
    if mix_seed is not None:
        z_b, noise_b = _draw(generator, n, mix_seed, vary_noise)
        z, noise = blend_draws((z, noise), (z_b, noise_b), mix)
    return Inputs(z, torch.as_tensor(list(labels), dtype=torch.long), noise)


def _draw(generator, n: int, seed: int, vary_noise: bool):
    if not 0 <= int(seed) <= MAX_SEED:
        raise KineticGanError(f"seed must be in [0, {MAX_SEED}], got {seed}")
    rng = torch.Generator().manual_seed(int(seed))
    if vary_noise:
        z = torch.randn(1, generator.latent_dim, generator=rng).expand(n, -1).clone()
    else:
        z = torch.randn(n, generator.latent_dim, generator=rng)
    return z, generator.make_noise(n, generator=rng)


def blend_draws(a, b, mix: float):
    """``cos(πm/2)·a + sin(πm/2)·b`` for z and every noise tensor.

    Two independent standard normal draws blended with weights whose squares sum to one
    are again standard normal, so every point of the way is a draw the model was trained
    on (a straight lerp shrinks the midpoint's z and noise by √2 toward the mean).
    """
    if not (math.isfinite(mix) and 0.0 <= mix <= 1.0):
        raise KineticGanError(f"mix must be in [0, 1], got {mix}")
    ca, cb = math.cos(0.5 * math.pi * mix), math.sin(0.5 * math.pi * mix)
    z = ca * a[0] + cb * b[0]
    noise = [ca * na + cb * nb for na, nb in zip(a[1], b[1], strict=True)]
    return z, noise


def to_joints(x: torch.Tensor, card, layout: str = "NCTV") -> np.ndarray:
    """Normalized model output → (N, T, V, C) float32 in metres when the card knows the scale."""
    if layout == "NCTV":
        x = x.permute(0, 2, 3, 1)
    joints = x.float().cpu().numpy()
    norm = card.normalization
    if norm:
        lo, hi = float(norm["min"]), float(norm["max"])
        joints = (joints + 1.0) * 0.5 * (hi - lo) + lo
    return np.ascontiguousarray(joints, dtype=np.float32)


@torch.inference_mode()
def synthesize(
    generator: LoadedGenerator,
    inputs: Inputs,
    truncation: float | Sequence[float | None] | None = None,
) -> np.ndarray:
    """Joints (N, T, V, C) for ``inputs``, through the folded form.

    ``truncation`` is one ψ for the batch or one per sample (``None`` = no truncation),
    so that requests with different ψ can share a device call.
    """
    x = generator(inputs.z, inputs.labels, truncation=truncation, noise=inputs.noise)
    return to_joints(x, generator.card)


def generate(
    generator: LoadedGenerator,
    action: str | int,
    count: int = 1,
    seed: int | None = None,
    truncation: float | None = None,
    vary_noise: bool = False,
    batch_size: int = 256,
    progress: bool = False,
    mix_seed: int | None = None,
    mix: float = 0.0,
) -> GeneratedSet:
    """Generate ``count`` samples of one action. The same seed gives the same samples;
    ``mix_seed``/``mix`` blend them toward the samples of another seed (0: ``seed``'s,
    1: ``mix_seed``'s)."""
    card = generator.card
    label = resolve_action(card, action)
    psi = check_truncation(truncation)
    if count < 1:
        raise KineticGanError(f"count must be at least 1, got {count}")
    seed = new_seed() if seed is None else int(seed)
    inputs = sample_inputs(generator, [label] * count, seed, vary_noise, mix_seed, float(mix))
    chunks = inputs.split(_chunks(count, batch_size))
    bar = None
    if progress and len(chunks) > 1:
        from tqdm import tqdm

        bar = tqdm(total=count, unit="sample", desc=card.class_names[label])
    out = []
    for chunk in chunks:
        out.append(synthesize(generator, chunk, psi))
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return GeneratedSet(
        joints=np.concatenate(out),
        labels=np.full(count, label, dtype=np.int64),
        class_names=[card.class_names[label]] * count,
        z=inputs.z.numpy().astype(np.float32),
        fps=card.fps,
        skeleton=card.skeleton,
        joint_names=card.joint_names,
        parents=card.parents,
        units=card.units,
        model=card.name,
        seed=seed,
        truncation=psi,
        vary_noise=vary_noise,
    )


def _chunks(count: int, size: int) -> list[int]:
    return [min(size, count - i) for i in range(0, count, size)]


def concat_sets(sets: Sequence[GeneratedSet]) -> GeneratedSet:
    """One set of all the takes in ``sets`` (of one model), in order."""
    first = sets[0]
    # Sets drawn from different seeds (the CLI's seed + i per action) have no one seed.
    seeds = {s.seed for s in sets}
    return dataclasses.replace(
        first,
        joints=np.concatenate([s.joints for s in sets]),
        labels=np.concatenate([s.labels for s in sets]),
        class_names=[n for s in sets for n in s.class_names],
        z=np.concatenate([s.z for s in sets]),
        seed=first.seed if len(seeds) == 1 else None,
    )
