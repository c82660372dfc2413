"""A training run's generator → ``weights/NAME.safetensors`` + ``NAME.json`` model card.

The EMA generator is exported when the run kept one. The truncation mean w is computed once
here (``mean_w_samples`` per class) and shipped in the weights.

Precision: tensors are stored in float16 where that is lossless enough, float32 elsewhere.
Every tensor whose values fit float16's range is a candidate (the published mapping
network's N(0, 1) initialisation makes some batch-norm running variances ~1e7 and the mean w
~1e5, beyond float16's 65504: those stay float32). The rounded model must reproduce the
float32 model's output within ``FP16_TOLERANCE`` (normalized units, of the [-1, 1] range)
on fixed inputs, with and without truncation; while it does not, the tensors with the most
output error per byte saved go back to float32 (rounding errors of an untrained or lightly
trained model are spread over many tensors, so the result is often a mix).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.train import checkpoint
from kinetic_gan.train.config import from_dict

FP16_TOLERANCE = 2e-3
FILE_OVERHEAD_BYTES = 64 * 1024  # safetensors header (names, shapes, the card): a margin
CHECK_SAMPLES_PER_CLASS = 4
CHECK_TRUNCATIONS = (None, 0.7)


@dataclass
class ExportReport:
    weights: Path
    dtype: str
    fp16_max_abs_diff: float
    used_ema: bool
    iteration: int


def float16_candidates(generator: torch.nn.Module) -> set[str]:
    """Floating tensors whose values all fit comfortably in float16's range."""
    return {name for name, t in generator.state_dict().items() if checkpoint.fits_float16(t)}


class Float16Probe:
    """Measures how far the output moves when a chosen set of tensors is rounded to float16.

    The float32 outputs on fixed inputs (every class, with and without truncation) are
    computed once; each probe rounds the chosen tensors in a private copy and compares.
    """

    def __init__(self, generator: torch.nn.Module, seed: int = 0) -> None:
        self.exact = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        self.rounded = copy.deepcopy(generator).eval()
        device = next(generator.parameters()).device
        rng = torch.Generator().manual_seed(seed)
        labels = torch.arange(generator.n_classes).repeat(CHECK_SAMPLES_PER_CLASS)
        z = torch.randn(len(labels), generator.latent_dim, generator=rng).to(device)
        noise = [n.to(device) for n in generator.make_noise(len(labels), generator=rng)]
        self.inputs = (z, labels.to(device), noise)
        with torch.no_grad():
            self.reference = [generator(z, self.inputs[1], noise=noise, truncation=psi)
                              for psi in CHECK_TRUNCATIONS]

    def max_abs_diff(self, names: set[str]) -> float:
        """Largest output difference with ``names`` rounded; non-finite counts as infinite."""
        z, labels, noise = self.inputs
        worst = 0.0
        with torch.no_grad():
            for name, tensor in self.rounded.state_dict().items():
                if tensor.is_floating_point():
                    value = self.exact[name]
                    tensor.copy_(value.half().float() if name in names else value)
            for psi, reference in zip(CHECK_TRUNCATIONS, self.reference, strict=True):
                diff = (self.rounded(z, labels, noise=noise, truncation=psi) - reference)
                diff = diff.abs().max()
                worst = max(worst, float(diff) if bool(torch.isfinite(diff)) else math.inf)
        return worst


def fp16_max_abs_diff(generator: torch.nn.Module, names: set[str] | None = None) -> float:
    """Largest |output(float32) − output(``names`` rounded to float16)| over fixed inputs."""
    names = float16_candidates(generator) if names is None else names
    return Float16Probe(generator).max_abs_diff(names)


def choose_float16(generator: torch.nn.Module, tolerance: float,
                   max_bytes: int | None = None) -> tuple[set[str], float]:
    """The tensors to store as float16, and the output difference that choice costs.

    All in-range tensors if that stays within ``tolerance``; otherwise tensors go back to
    float32 one at a time, those with the largest error per byte saved first, until it does
    — or until one more would take the tensors past ``max_bytes``: then the size cap wins
    and the returned difference (above ``tolerance``) says what it cost.
    """
    probe = Float16Probe(generator)
    half = float16_candidates(generator)
    diff = probe.max_abs_diff(half)
    if diff <= tolerance:
        return half, diff
    tensors = generator.state_dict()
    sizes = {k: v.numel() for k, v in tensors.items()}
    used = tensor_bytes(tensors, half)
    cost = {name: probe.max_abs_diff({name}) / sizes[name] for name in half}
    for name in sorted(half, key=cost.__getitem__, reverse=True):
        grown = used + 2 * sizes[name]  # float32 instead of float16: two more bytes each
        if max_bytes is not None and grown > max_bytes:
            continue  # a smaller tensor further down may still fit
        half, used = half - {name}, grown
        diff = probe.max_abs_diff(half)
        if diff <= tolerance:
            return half, diff
    return half, diff


def tensor_bytes(tensors: dict[str, torch.Tensor], half: set[str]) -> int:
    """Bytes of the tensor data with ``half`` stored as float16 (the file adds a small header)."""
    return sum(v.numel() * (2 if k in half else v.element_size()) for k, v in tensors.items())


def export_run(run_dir: str | Path, out: str | Path, *, checkpoint_file: str | Path | None = None,
               dtype: str = "auto", use_ema: bool = True, mean_w_samples: int | None = None,
               name: str | None = None, licence: str | None = None,
               device: str = "cpu", max_mib: float | None = None) -> ExportReport:
    from kinetic_gan.nn import Generator
    from kinetic_gan.nn.conditioning import balance_mapping_scale
    from kinetic_gan.weights import ModelCard, save_generator

    if dtype not in ("auto", "float16", "float32"):
        raise KineticGanError(f"--dtype must be auto, float16 or float32, got {dtype!r}")
    run_dir = Path(run_dir)
    path = Path(checkpoint_file) if checkpoint_file else checkpoint.latest_path(run_dir)
    state = checkpoint.load(path)
    config = from_dict({k: v for k, v in state["config"].items() if v is not None}, str(path))
    data = state["data"]
    ema_state = state.get("ema") if use_ema else None
    generator = Generator(n_classes=len(data["class_names"]), skeleton=data["skeleton"],
                          frames=config.frames, mapping_depth=config.mapping_depth,
                          latent_dim=config.latent_dim, architecture=config.architecture())
    generator.load_state_dict(ema_state if ema_state is not None else state["generator"])
    generator.to(torch.device(device)).eval()

    samples = mean_w_samples or config.mean_w_samples
    started = time.monotonic()
    generator.compute_mean_w(samples_per_class=samples, seed=0)
    mean_w_seconds = time.monotonic() - started
    # Same function, w ~ O(1) instead of ~1e5: most tensors then round to float16 safely.
    balance_mapping_scale(generator)

    if dtype == "float32":
        half, diff = set(), 0.0
    elif dtype == "float16":  # the user's call: every in-range tensor, measured, not checked
        half = float16_candidates(generator)
        diff = fp16_max_abs_diff(generator, half)
    else:
        cap = None if max_mib is None else int(max_mib * 2**20) - FILE_OVERHEAD_BYTES
        half, diff = choose_float16(generator, FP16_TOLERANCE, max_bytes=cap)
        if diff > FP16_TOLERANCE:
            print(f"note: within {max_mib} MiB the float16 output differs by up to {diff:.2e} "
                  f"(tolerance {FP16_TOLERANCE:.0e}); the card records it", file=sys.stderr)
    floating = {k for k, v in generator.state_dict().items() if v.is_floating_point()}
    kept_float32 = sorted(floating - half)
    chosen = "float32" if not half else ("float16" if not kept_float32 else "float16+float32")
    stem = Path(out)
    card = ModelCard(
        name=name or stem.name, dataset=data.get("name", "unknown"), skeleton=data["skeleton"],
        class_names=list(data["class_names"]), frames=config.frames, fps=int(data["fps"]),
        mapping_depth=config.mapping_depth, latent_dim=config.latent_dim,
        normalization=data.get("normalization"),
        architecture={} if config.architecture().is_published else config.architecture().to_dict(),
        truncation={"space": "w", "samples_per_class": samples, "seed": 0},
        training=training_info(state, config.to_dict(), ema_state is not None, chosen, diff,
                               path, mean_w_seconds, kept_float32 if half else [], max_mib),
        licence=licence or data.get("licence") or "unknown",
        source=data.get("source") or f"trained with kinetic-gan train ({run_dir.name})",
    )
    generator.cpu()
    # ``half`` names exactly the float16 tensors whatever ``chosen`` says (all floating
    # tensors for "float16", none for "float32"): one call writes every case.
    weights = save_generator(stem, generator, card, half=half)
    return ExportReport(weights, chosen, diff, ema_state is not None, int(state["iteration"]))


def training_info(state: dict[str, Any], config: dict[str, Any], used_ema: bool, dtype: str,
                  fp16_diff: float, path: Path, mean_w_seconds: float,
                  kept_float32: list[str], max_mib: float | None = None) -> dict[str, Any]:
    seconds = float(state["elapsed_seconds"])
    warm = {}
    if state.get("init"):
        # Trained on from another run's models: say so, and the totals.
        total = checkpoint.prior_training(state)
        warm = {"warm_start": dict(state["init"]), "total_iterations": total["iterations"],
                "total_wall_time_seconds": total["seconds"]}
    return {
        "iterations": int(state["iteration"]),
        "critic_updates": int(state["iteration"]) * int(config["n_critic"]),
        "epochs": state.get("epoch"),
        "wall_time_seconds": round(seconds, 1),
        "wall_time": _duration(seconds),
        "processes": int(state["world_size"]),
        "final_losses": {k: round(float(v), 6) for k, v in state.get("losses", {}).items()},
        "exported": "ema" if used_ema else "generator",
        "checkpoint": path.name,
        "dtype": dtype,
        "fp16_max_abs_diff": float(f"{fp16_diff:.3g}") if math.isfinite(fp16_diff) else None,
        "float32_tensors": len(kept_float32),  # the rest of the floating tensors are float16
        **({"size_cap_mib": max_mib} if max_mib is not None else {}),
        "mean_w_seconds": round(mean_w_seconds, 1),
        "config": {k: v for k, v in config.items() if v is not None and k != "data"},
        "dataset_samples": state["data"].get("samples"),
        "torch": torch.__version__,
        **warm,
    }


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def dataset_meta(data_path: str) -> dict[str, Any]:
    """Licence and source from our builder's ``meta.json`` (empty for published layouts)."""
    meta = Path(data_path) / "meta.json"
    if not meta.is_file():
        return {}
    try:
        found = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    out = {}
    if isinstance(found.get("licence"), str):
        out["licence"] = found["licence"]
    source = found.get("source")
    if isinstance(source, dict):
        out["source"] = ", ".join(f"{k}: {v}" for k, v in source.items())
    elif isinstance(source, str):
        out["source"] = source
    if isinstance(found.get("name"), str):
        out["name"] = found["name"]
    return out
