"""Checkpoints: everything needed to continue a run exactly, written atomically.

``RUN/checkpoints/iter_0001000.pt`` holds models, optimisers, EMA, the position in the data
order, the wall time spent and every rank's RNG states; ``RUN/checkpoints/latest`` names the
newest one. All values are tensors or plain Python containers, so checkpoints load with
``torch.load(weights_only=True)`` — nothing arbitrary is ever unpickled.

A *training-weights* file (``kinetic-gan export RUN --training-state F.pt``) keeps only the
models — generator, critic, EMA — in float16 where their values fit: a quarter of a
checkpoint, small enough to move between machines, and what ``kinetic-gan train --init F``
starts a new run from (fresh optimisers, a new data order: a warm start, not a resume).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinetic_gan.atomic import atomic_write
from kinetic_gan.errors import KineticGanError, first_line

FORMAT = "kinetic-gan-checkpoint/1"
WEIGHTS_FORMAT = "kinetic-gan-training-weights/1"
MODELS = ("generator", "critic", "ema")
FLOAT16_SAFE_MAX = 3.0e4  # well inside float16's 65504, so rounding never overflows
LATEST = "latest"


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:07d}.pt"


def weights_digest(*modules: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer: equal digests mean bit-identical models."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def capture_rng() -> dict[str, Any]:
    """The RNG states this process draws from: torch (CPU and CUDA), numpy and Python."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, iteration: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``state`` as this iteration's checkpoint, point ``latest`` at it, prune old ones."""
    folder = Path(run_dir) / "checkpoints"
    path = folder / checkpoint_name(iteration)
    remove_stale_temps(folder)
    with atomic_write(path, "wb") as handle:
        torch.save({"format": FORMAT, **state}, handle)
    with atomic_write(folder / LATEST, "w") as handle:
        handle.write(path.name + "\n")
    if keep > 0:
        for old in sorted(folder.glob("iter_*.pt"))[:-keep]:
            old.unlink(missing_ok=True)
    return path


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files a killed write left (``.iter_*.pt.*.tmp``, ``.latest.*.tmp``).

    ``save`` calls it before every write, so a run (fresh or resumed) clears them with its
    first checkpoint. Only the one process that writes a run's checkpoints may call it: an
    export reading a live run must not delete the trainer's temp file under it.
    """
    removed = []
    for pattern in (".iter_*.pt.*.tmp", f".{LATEST}.*.tmp"):
        for tmp in Path(folder).glob(pattern):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def latest_path(run_dir: Path) -> Path:
    """The checkpoint ``RUN/checkpoints/latest`` names (falls back to the newest file)."""
    folder = Path(run_dir) / "checkpoints"
    pointer = folder / LATEST
    if pointer.is_file():
        path = folder / pointer.read_text(encoding="utf-8").strip()
        if path.is_file():
            return path
    found = sorted(folder.glob("iter_*.pt"))
    if not found:
        raise KineticGanError(f"{run_dir}: no checkpoint found (expected {folder}/iter_*.pt)")
    return found[-1]


def load(path: Path, map_location: str | torch.device = "cpu", *,
         formats: tuple[str, ...] = (FORMAT,)) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: name it, don't dump a traceback
        # torch's message runs to several lines and suggests weights_only=False: one line.
        raise KineticGanError(f"{path}: not a readable checkpoint ({first_line(exc)})") from None
    if not isinstance(state, dict) or state.get("format") not in formats:
        raise KineticGanError(f"{path}: not a kinetic-gan training checkpoint")
    return state


def prior_training(state: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint's models have been trained for, warm starts before it included."""
    before = state.get("init") or {}
    return {"iterations": int(before.get("iterations", 0)) + int(state["iteration"]),
            "seconds": round(float(before.get("seconds", 0.0))
                             + float(state["elapsed_seconds"]), 1),
            "runs": int(before.get("runs", 0)) + 1}


def save_training_weights(state: dict[str, Any], path: Path) -> Path:
    """A checkpoint's models only (float16 where in range), for ``train --init``."""
    def compact(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.half() if fits_float16(v) else v for k, v in tensors.items()}

    out = {"format": WEIGHTS_FORMAT, "iteration": int(state["iteration"]),
           "elapsed_seconds": float(state["elapsed_seconds"]), "config": state["config"],
           "data": state["data"], "init": state.get("init"),
           **{m: None if state.get(m) is None else compact(state[m]) for m in MODELS}}
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(out, handle)
    return path


def fits_float16(tensor: torch.Tensor) -> bool:
    """A floating tensor whose values are finite and well inside float16's range."""
    return (tensor.is_floating_point() and tensor.numel() > 0
            and bool(torch.isfinite(tensor).all())
            and float(tensor.abs().max()) <= FLOAT16_SAFE_MAX)


def load_models(path: Path) -> dict[str, Any]:
    """A checkpoint or training-weights file, for a warm start."""
    return load(Path(path), formats=(FORMAT, WEIGHTS_FORMAT))


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
