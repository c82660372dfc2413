"""The run directory: resolved config, loss log, sample dumps (rank 0 writes all of them).

```
RUN/config.toml                 the resolved TrainConfig
RUN/log.csv                     iteration,epoch,d_loss,g_loss,gp,w_dist,seconds (one row per
                                generator update, flushed; seconds = training wall time so far),
                                then each generator term's own columns (its ``names``): guided
                                runs add guide_ce, the guide's cross-entropy; runs with motion
                                priors hinge, foot_slide, floor, hover, energy and speed,
                                unweighted
RUN/samples/iter_XXXXXXX.npz    samples_per_class per class (generate.save_npz layout, fixed z)
RUN/samples/iter_XXXXXXX.png    one sample per class (when kinetic_gan.preview is available)
RUN/checkpoints/...             see checkpoint.py
RUN/tensorboard/                only when the tensorboard package is installed
```
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinetic_gan.atomic import atomic_write
from kinetic_gan.errors import KineticGanError
from kinetic_gan.train.config import TrainConfig, load_config, to_toml

LOG_HEADER = ("iteration", "epoch", "d_loss", "g_loss", "gp", "w_dist", "seconds")


def create(run_dir: Path, config: TrainConfig, extra_columns: tuple[str, ...] = ()) -> None:
    """Start a fresh run directory; refuse to overwrite one that already has checkpoints.

    ``extra_columns``: the generator terms' logged columns (each term's ``names``), after
    the published ones in ``log.csv``'s header.
    """
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("iter_*.pt")):
        raise KineticGanError(
            f"{run_dir}: already holds a run; continue it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, config)
    with atomic_write(run_dir / "log.csv", "w") as handle:
        handle.write(",".join(LOG_HEADER + extra_columns) + "\n")


def check_resumable(saved: dict[str, Any], config: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume with settings that would make the continuation a different run
    (``saved``: the checkpoint's config)."""
    fixed = ("frames", "layout", "split", "classes", "augment", "latent_dim", "mapping_depth",
             "batch_size", "n_critic", "lambda_gp", "lr", "beta1", "beta2", "ema", "ema_beta",
             "ema_rampup", "seed")
    changed = [k for k in fixed if k in saved and saved[k] != getattr(config, k)]
    if changed:
        raise KineticGanError(f"{run_dir}: cannot change {', '.join(changed)} when resuming")


def sample_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "samples" / f"iter_{iteration:07d}.npz"


def write_config(run_dir: Path, config: TrainConfig) -> None:
    with atomic_write(run_dir / "config.toml", "w") as handle:
        handle.write(to_toml(config))


def read_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.toml"
    if not path.is_file():
        raise KineticGanError(f"{run_dir}: not a training run (no config.toml)")
    return load_config(path)


class LossLog:
    """Appends one flushed CSV row per generator update (and mirrors it to TensorBoard).

    The columns are the ones the file's header names (``LOG_HEADER`` and the terms' columns
    ``create`` wrote), so a resumed run keeps writing the layout it started with.
    ``tags``: the TensorBoard tag of each extra column (the terms' ``tensorboard_tags``).
    """

    def __init__(self, run_dir: Path, resume_from: int | None, tensorboard: bool,
                 header: tuple[str, ...] = LOG_HEADER,
                 tags: Mapping[str, str] | None = None) -> None:
        self._tags = dict(tags or {})
        path = run_dir / "log.csv"
        if resume_from is not None:
            _truncate_log(path, resume_from, header)
        with path.open(newline="", encoding="utf-8") as existing:
            self._columns = next(csv.reader(existing), None) or list(header)
        self._handle = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        self._tb = _tensorboard_writer(run_dir) if tensorboard else None

    def write(self, iteration: int, epoch: int, d_loss: float, g_loss: float, gp: float,
              w_dist: float, seconds: float, extras: dict[str, float] | None = None) -> None:
        """``extras``: the generator terms' values by column (their ``names``)."""
        extras = extras or {}
        cells = {"iteration": iteration, "epoch": epoch, "d_loss": f"{d_loss:.6g}",
                 "g_loss": f"{g_loss:.6g}", "gp": f"{gp:.6g}", "w_dist": f"{w_dist:.6g}",
                 "seconds": f"{seconds:.3f}",
                 **{name: f"{value:.6g}" for name, value in extras.items()}}
        self._writer.writerow([cells.get(column, "") for column in self._columns])
        self._handle.flush()
        if self._tb is not None:
            scalars = [("loss/critic", d_loss), ("loss/generator", g_loss),
                       ("loss/gradient_penalty", gp), ("wasserstein", w_dist)]
            scalars += [(self._tags[name], value) for name, value in extras.items()
                        if name in self._tags]
            for key, value in scalars:
                self._tb.add_scalar(key, value, iteration)

    def close(self) -> None:
        self._handle.close()
        if self._tb is not None:
            self._tb.close()


def _truncate_log(path: Path, iteration: int, header: tuple[str, ...] = LOG_HEADER) -> None:
    """Drop rows logged after the checkpoint we resume from (they will be trained again)."""
    if not path.is_file():
        with atomic_write(path, "w") as handle:
            handle.write(",".join(header) + "\n")
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [lines[0]] if lines else [",".join(header)]
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if head.isdigit() and int(head) <= iteration:
            kept.append(line)
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(kept) + "\n")


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional; the CSV log is the record
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


@torch.no_grad()
def dump_samples(path: Path, generator: torch.nn.Module, *, per_class: int, data_info: dict,
                 seed: int = 0) -> None:
    """``per_class`` samples of every class from fixed z and noise (comparable across dumps).

    Everything is drawn from a private ``torch.Generator`` and the model runs in eval mode,
    so a dump consumes no training randomness and changes no batch statistics.
    """
    from kinetic_gan.data import Normalization
    from kinetic_gan.generate import GeneratedSet, save_npz
    from kinetic_gan.skeletons import get_skeleton

    n_classes = len(data_info["class_names"])
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), generator.latent_dim, generator=rng)
    noise = [n.to(device) for n in generator.make_noise(len(labels), generator=rng)]
    was_training = generator.training
    generator.eval()
    try:
        out = generator(z.to(device), labels.to(device), noise=noise).float().cpu().numpy()
    finally:
        generator.train(was_training)
    norm = data_info.get("normalization")
    joints = out.transpose(0, 2, 3, 1)  # (N, C, T, V) -> (N, T, V, C)
    if norm is not None:
        joints = Normalization.from_dict(norm).denormalize(joints)
    skeleton = get_skeleton(data_info["skeleton"])
    class_names = list(data_info["class_names"])
    save_npz(path, GeneratedSet(
        joints=joints.astype(np.float32), labels=labels.numpy(),
        class_names=[class_names[i] for i in labels.tolist()], z=z.numpy(),
        fps=int(data_info["fps"]), skeleton=skeleton.name,
        joint_names=list(skeleton.joint_names), parents=list(skeleton.parents),
        units="m" if norm is not None else "normalized", seed=seed))
    _preview(path.with_suffix(".png"), joints[::per_class], skeleton.name,
             list(data_info["class_names"]))


_preview_warned = False


def _preview(path: Path, joints: np.ndarray, skeleton: str, titles: list[str]) -> None:
    """A contact sheet of one sample per class, when the preview module is installed."""
    global _preview_warned
    try:
        from kinetic_gan.preview import contact_sheet
    except ImportError:
        return
    try:
        contact_sheet(path, joints, skeleton=skeleton, titles=titles)
    except Exception as exc:  # a preview is a convenience: never stop training for it
        if not _preview_warned:
            print(f"warning: sample preview failed ({exc}); training continues", file=sys.stderr)
            _preview_warned = True
