"""The published Kinetic-GAN checkpoints (a ``state_dict`` saved with ``torch.save``) → ours.

What a checkpoint holds is read from its tensor shapes; the card gets the dataset's class
names and, for a generator, the truncation mean computed here. ``.pth`` files load with
``weights_only=True``, so converting one never unpickles arbitrary objects.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.nn import Critic, Generator
from kinetic_gan.nn.generator import FRAMES, MAPPING_DEPTHS
from kinetic_gan.weights.card import ModelCard
from kinetic_gan.weights.io import build_generator, load_into, save_critic, save_generator

PUBLISHED_SOURCE = "Degardin et al., Kinetic-GAN (WACV 2022), published checkpoint"

_DATASETS = {
    # name: (skeleton, classes, class-table name)
    "ntu": ("ntu", 60, "ntu"),
    "ntu120": ("ntu", 120, "ntu120"),
    "ntu2d": ("ntu2d", 60, "ntu2d"),
    "h36m": ("h36m", None, "h36m"),
}


@dataclass(frozen=True)
class PublishedLayout:
    kind: str  # "generator" | "critic"
    skeleton: str
    n_classes: int
    mapping_depth: int | None


def inspect_published(state: dict[str, torch.Tensor], source: str) -> PublishedLayout:
    """Infer what a published state_dict holds from its tensor shapes."""
    if "label_emb.weight" not in state:
        raise KineticGanError(f"{source}: not a Kinetic-GAN checkpoint (no label_emb.weight)")
    n_classes = int(state["label_emb.weight"].shape[0])
    if "mlp.mlp.0.weight" in state:
        depth = len([k for k in state if re.fullmatch(r"mlp\.mlp\.\d+\.weight", k)])
        joints = int(state["edge_importance.6"].shape[-1])
        channels = int(state["st_gcn_networks.6.tcn.0.weight"].shape[0])
        kind = "generator"
    elif "fcn.weight" in state:
        depth = None
        joints = int(state["edge_importance.0"].shape[-1])
        channels = int(state["st_gcn_networks.0.gcn.conv.weight"].shape[1]) - n_classes
        kind = "critic"
    else:
        raise KineticGanError(f"{source}: neither a generator nor a critic state_dict")
    skeleton = {(25, 3): "ntu", (25, 2): "ntu2d", (16, 3): "h36m"}.get((joints, channels))
    if skeleton is None:
        raise KineticGanError(f"{source}: unknown skeleton ({joints} joints, {channels} channels)")
    if depth is not None and depth not in MAPPING_DEPTHS:
        raise KineticGanError(f"{source}: mapping depth {depth} not in {MAPPING_DEPTHS}")
    return PublishedLayout(kind, skeleton, n_classes, depth)


def load_published(path: str | Path) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.exists():
        raise KineticGanError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/unsafe files
        # torch's own text runs to several lines and suggests weights_only=False, which
        # would unpickle arbitrary code: quote its first line only.
        raise KineticGanError(
            f"{p}: cannot load checkpoint ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise KineticGanError(f"{p}: expected a state_dict of tensors")
    # Checkpoints saved from nn.DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_published(
    src: str | Path,
    out: str | Path,
    *,
    frames: int = 64,
    dataset: str | None = None,
    normalization: dict[str, float] | None = None,
    class_names: list[str] | None = None,
    samples_per_class: int = 10_000,
    name: str | None = None,
) -> Path:
    """Convert a published generator (or critic) checkpoint to ``OUT.safetensors`` + card."""
    state = load_published(src)
    layout = inspect_published(state, str(src))
    if frames not in FRAMES:
        raise KineticGanError(f"--frames must be one of {FRAMES}, not {frames}")
    dataset = dataset or {"ntu": "ntu120" if layout.n_classes == 120 else "ntu"}.get(
        layout.skeleton, layout.skeleton
    )
    if dataset not in _DATASETS:
        raise KineticGanError(f"unknown dataset {dataset!r}: expected one of {sorted(_DATASETS)}")
    skeleton, classes, table = _DATASETS[dataset]
    if skeleton != layout.skeleton:
        raise KineticGanError(
            f"{src}: checkpoint is for a {layout.skeleton} skeleton, not {dataset} ({skeleton})"
        )
    if classes is not None and classes != layout.n_classes:
        raise KineticGanError(
            f"{src}: checkpoint has {layout.n_classes} classes, {dataset} has {classes}"
        )
    if class_names is None:
        class_names = _class_names(table, layout.n_classes)
    if len(class_names) != layout.n_classes:
        raise KineticGanError(
            f"{len(class_names)} class names given for {layout.n_classes} classes in {src}"
        )
    card = ModelCard(
        name=name or Path(out).name,
        dataset=dataset,
        skeleton=layout.skeleton,
        class_names=list(class_names),
        frames=frames,
        fps=30,
        mapping_depth=layout.mapping_depth or 4,
        normalization=normalization,
        licence="see the published Kinetic-GAN repository",
        source=f"{PUBLISHED_SOURCE}: {Path(src).name}",
    )
    if layout.kind == "critic":
        critic = Critic(layout.n_classes, layout.skeleton, frames)
        load_into(critic, state, Path(src))
        return save_critic(out, critic, card)
    generator = build_generator(card)
    load_into(generator, {**state, **_empty_mean(generator)}, Path(src))
    started = time.perf_counter()
    generator.compute_mean_w(samples_per_class=samples_per_class)
    card.truncation = {
        "space": "w",
        "samples_per_class": samples_per_class,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return save_generator(out, generator, card)


def _empty_mean(generator: Generator) -> dict[str, torch.Tensor]:
    return {"mean_w": generator.mean_w, "mean_w_ready": generator.mean_w_ready}


def _class_names(table: str, n_classes: int) -> list[str]:
    try:
        from kinetic_gan.data.classes import class_table

        names = list(class_table(table))
    except (ImportError, KineticGanError, KeyError):
        names = []
    if len(names) >= n_classes:
        return names[:n_classes]
    return [f"class {i}" for i in range(n_classes)]


def normalization_from_data(path: str | Path) -> dict[str, float]:
    """The published global min–max of a training ``.npy`` (body 0 for NTU layouts)."""
    from kinetic_gan.data import open_dataset

    ds = open_dataset(path, frames=None)
    norm = ds.normalization
    lo, hi = float(norm.min), float(norm.max)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise KineticGanError(f"{path}: cannot derive a normalization (min {lo}, max {hi})")
    return {"min": lo, "max": hi}
