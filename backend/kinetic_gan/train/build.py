"""What a training session works on, built once: the data, the models and their optimisers,
the extra generator terms, and the one-iteration step — identical on every rank.

``build_run`` makes a :class:`Run` from a config (a warm start from ``--init`` included);
``make_step`` turns it into the callable the loop runs (or replays as a CUDA graph). The loop
itself (:mod:`kinetic_gan.train.loop`) only restores, steps, logs and checkpoints.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.train import checkpoint, distributed
from kinetic_gan.train.config import TrainConfig
from kinetic_gan.train.cuda_graph import GraphedStep
from kinetic_gan.train.export import dataset_meta
from kinetic_gan.train.guidance import guide_for
from kinetic_gan.train.motion_priors import priors_for
from kinetic_gan.train.step import TrainStep
from kinetic_gan.train.wgan_gp import EMA


@dataclass
class Run:
    """Everything a training session updates or reads, built by ``build_run``."""

    config: TrainConfig
    ctx: distributed.Distributed
    dataset: Any
    data_info: dict[str, Any]  # what checkpoints, samples and the model card record of the data
    # Extra generator losses (class guidance, motion priors), each declaring its log columns.
    terms: list[Any]
    generator: torch.nn.Module
    critic: torch.nn.Module
    ema: EMA | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    graphs: bool  # one iteration captured as a CUDA graph
    use_bf16: bool
    init_info: dict[str, Any] | None = None  # the warm-start chain (None: from scratch)
    log_columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # In the order the training step returns the terms' logged parts.
        self.log_columns = tuple(name for term in self.terms for name in term.names)

    @property
    def models(self) -> list[torch.nn.Module]:
        """The weights every rank must hold identically (checked at each checkpoint)."""
        models = [self.generator, self.critic]
        return models if self.ema is None else [*models, self.ema.model]

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator the sample dumps show (the EMA when kept)."""
        return self.ema.model if self.ema is not None else self.generator


def build_run(config: TrainConfig, ctx: distributed.Distributed, *, resume: bool) -> Run:
    """The run's data, terms, models and optimisers; a warm start (``config.init``) only for
    a new run. Models are identical on every rank: same seed, then rank 0's copy broadcast."""
    device = ctx.device
    if config.batch_size % ctx.world_size:
        raise KineticGanError(f"batch_size {config.batch_size} does not split evenly over "
                              f"{ctx.world_size} processes")
    graphs = use_cuda_graphs(config, device, ctx.world_size)
    _set_cuda_backends(device, graphs)
    use_bf16 = _use_bf16(config, device)

    dataset = open_training_data(config)
    data_info = {
        "name": Path(config.data).name, "class_names": list(dataset.class_names),
        "skeleton": dataset.skeleton, "fps": int(dataset.fps), "samples": len(dataset),
        "normalization": dataset.normalization.to_dict(), **dataset_meta(config.data),
    }
    terms = [term for term in (
        guide_for(config, list(dataset.class_names), data_info["normalization"], device),
        priors_for(config, dataset, data_info["normalization"]),
    ) if term is not None]

    torch.manual_seed(config.seed)
    generator, critic = build_models(config, len(dataset.class_names), dataset.skeleton,
                                     dataset)
    init_info, init_ema = None, None
    if config.init and not resume:
        init_info, init_ema = _warm_start(Path(config.init), generator, critic,
                                          list(dataset.class_names))
    generator.to(device).train()
    critic.to(device).train()
    distributed.broadcast_parameters(ctx, generator)
    distributed.broadcast_parameters(ctx, critic)
    ema = EMA(generator, config.ema_beta, config.ema_rampup) if config.ema else None
    if ema is not None and init_ema is not None:
        ema.model.load_state_dict(_with_new_output_head(init_ema, ema.model))
    return Run(config, ctx, dataset, data_info, terms, generator, critic, ema,
               make_optimizer(generator, config, device, capturable=graphs),
               make_optimizer(critic, config, device, capturable=graphs),
               graphs, use_bf16, init_info)


def make_step(run: Run) -> Callable:
    """One iteration as a callable (``TrainStep``), captured as a CUDA graph when on."""
    config, ctx = run.config, run.ctx
    # torch.compile speeds up the generator's forward passes; the critic is differentiated
    # twice by the gradient penalty, which compiled graphs do not support, so it stays eager.
    g_forward = torch.compile(run.generator) if config.compile else run.generator
    step = TrainStep(g_forward, run.generator, run.critic, run.opt_g, run.opt_d, run.ema,
                     latent_dim=config.latent_dim, lambda_gp=config.lambda_gp,
                     autocast=_autocast(ctx.device, run.use_bf16, run.graphs),
                     sync_d=functools.partial(_average_gradients, ctx, run.critic),
                     sync_g=functools.partial(_average_gradients, ctx, run.generator),
                     after_generator=functools.partial(distributed.average_batch_norm_stats,
                                                       ctx, run.generator),
                     terms=run.terms)
    return GraphedStep(step, [run.generator, run.critic]) if run.graphs else step


def _average_gradients(ctx: distributed.Distributed, model: torch.nn.Module) -> None:
    distributed.average_gradients(ctx, model.parameters())


def _autocast(device: torch.device, use_bf16: bool,
              graphs: bool) -> Callable[[], contextlib.AbstractContextManager]:
    if not use_bf16:
        return contextlib.nullcontext
    # A captured graph must not keep autocast's cached weight casts between replays.
    return functools.partial(torch.autocast, device.type, dtype=torch.bfloat16,
                             cache_enabled=not graphs)


def _set_cuda_backends(device: torch.device, graphs: bool) -> None:
    if device.type != "cuda":
        return
    # Fixed shapes: let cuDNN time its kernels once — but not under CUDA graphs: a captured
    # pass whose buffers differ in alignment from the warm-up's would be timed mid-capture,
    # which breaks the capture. (Graphs with autotuning are untested: the first H200 capture
    # failed inside cuDNN, but from another thread invalidating it.)
    torch.backends.cudnn.benchmark = not graphs
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def _use_bf16(config: TrainConfig, device: torch.device) -> bool:
    use_bf16 = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda")
    if use_bf16 and device.type == "cpu" and not cpu_has_bf16():
        print("note: this CPU has no bfloat16 instructions (AVX512-BF16/AMX); training in "
              "float32", file=sys.stderr)
        return False
    return use_bf16


def open_training_data(config: TrainConfig):
    from kinetic_gan.data import Augment, open_dataset

    if not config.data:
        raise KineticGanError("train: no dataset given (use --data PATH)")
    augment = None
    if config.augment:
        augment = Augment(yaw_deg=config.augment_yaw_deg, mirror_p=config.augment_mirror_p,
                          time_warp=tuple(config.augment_time_warp),
                          bone_jitter=config.augment_bone_jitter, seed=config.seed)
    dataset = open_dataset(config.data, layout=config.layout, split=config.split,
                           frames=config.frames, classes=config.classes, augment=augment)
    # The published layouts tile short items to the run's length; our builders (a meta.json
    # beside the arrays) cut windows of a chosen length, so a longer run would silently
    # train on windows repeated end to start.
    built_here = Path(config.data).is_dir() and (Path(config.data) / "meta.json").is_file()
    if built_here and dataset.stored_frames < config.frames:
        raise KineticGanError(
            f"train: the windows of {config.data} are {dataset.stored_frames} frames and the "
            f"config asks for {config.frames} (pass --set frames={dataset.stored_frames})"
        )
    return dataset


def data_workers(config: TrainConfig, device: torch.device) -> int:
    """Reader processes: on a GPU per-item augmentation would starve it; a CPU is the
    bottleneck itself, so there a background thread is enough."""
    if config.data_workers >= 0:
        return config.data_workers
    if device.type != "cuda" or not config.augment:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_process = (cores or 1) // max(1, torch.cuda.device_count())
    # A replayed CUDA-graph iteration consumes n_critic batches in milliseconds: feed it.
    return max(0, min(12, per_process - 2))


def cpu_has_bf16() -> bool:
    """bf16 autocast pays on a CPU only with native bf16 arithmetic (measured on a 2-core AMD
    EPYC with AVX512-BF16: a deepmimic15 iteration at batch 32 in 3.1 s instead of 5.2 s)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def use_cuda_graphs(config: TrainConfig, device: torch.device, world_size: int) -> bool:
    """Graphs replay a single process's iteration; DDP's all-reduce and torch.compile's
    own graphs stay eager."""
    return config.cuda_graphs and device.type == "cuda" and world_size == 1 and not config.compile


def build_models(config: TrainConfig, n_classes: int, skeleton: str, dataset=None):
    """The run's generator and critic; a kinematic generator takes its bone lengths (model
    units) from ``dataset``, the un-augmented training motions."""
    from kinetic_gan.nn import Critic, Generator

    generator = Generator(n_classes=n_classes, skeleton=skeleton, frames=config.frames,
                          mapping_depth=config.mapping_depth, latent_dim=config.latent_dim,
                          architecture=config.architecture())
    head = generator.output_head
    if head is not None and head.kinematic is not None:
        if dataset is None:
            raise KineticGanError("a kinematic generator needs the training data's bone lengths")
        head.kinematic.set_bone_lengths(dataset_bone_lengths(dataset))
    critic = Critic(n_classes=n_classes, skeleton=skeleton, frames=config.frames)
    return generator, critic


def dataset_bone_lengths(dataset) -> torch.Tensor:
    """Mean length of every bone over the dataset's motions, in model units."""
    from kinetic_gan.nn.output_head import bone_lengths
    from kinetic_gan.skeletons import get_skeleton

    motions = torch.from_numpy(np.asarray(dataset.array(normalized=True), dtype=np.float32))
    return bone_lengths(motions, get_skeleton(dataset.skeleton).parents)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device, *,
                   capturable: bool = False):
    # fused Adam is one kernel per step on CUDA; the CPU path keeps the reference loop.
    # capturable keeps every piece of optimiser state on the GPU, as CUDA-graph capture needs.
    fused = device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 betas=(config.beta1, config.beta2), fused=fused or None,
                                 capturable=capturable)
    if capturable:
        # The warm-up iterations before capture run uncaptured by design: skip torch's warning.
        optimizer._warned_capturable_if_run_uncaptured = True
    return optimizer


def _warm_start(path: Path, generator: torch.nn.Module, critic: torch.nn.Module,
                class_names: list[str],
                ) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Load a checkpoint's (or training-weights file's) models into a new run.

    Returns what the models were trained for before (for the model card) and the EMA
    weights, if the source kept them.
    """
    state = _shipped_generator_state(path) if path.suffix == ".safetensors" else \
        checkpoint.load_models(path)
    trained_on = list(state.get("data", {}).get("class_names", class_names))
    if trained_on != class_names:
        # Same count, other meaning: label 3 would silently change action.
        raise KineticGanError(f"--init {path}: trained on classes {trained_on[:4]}..., this "
                              f"dataset has {class_names[:4]}...; the labels would not match")
    for name, model in (("generator", generator), ("critic", critic)):
        if name not in state:
            continue  # a shipped generator brings no critic: this run's fresh one learns
        try:
            model.load_state_dict(_with_new_output_head(state[name], model))
        except (RuntimeError, KeyError, TypeError) as exc:
            first = first_line(exc)
            raise KineticGanError(
                f"--init {path}: its {name} does not fit this run's config (classes, frames, "
                f"latent_dim, mapping_depth): {first}") from None
    info = {"source": path.name, **checkpoint.prior_training(state)}
    return info, state.get("ema")


def _shipped_generator_state(path: Path) -> dict[str, Any]:
    """A model from ``weights/`` as a warm start: its generator (also the EMA's start), no
    critic; the card says how long it trained."""
    from kinetic_gan.weights import load_generator

    loaded = load_generator(path)
    training = loaded.card.training
    tensors = {k: v.float() for k, v in loaded.state_dict().items()}
    iterations = int(training.get("total_iterations", training.get("iterations", 0)))
    seconds = float(training.get("total_wall_time_seconds",
                                 training.get("wall_time_seconds", 0.0)))
    return {"generator": tensors, "ema": dict(tensors),
            "data": {"class_names": list(loaded.card.class_names)},
            "iteration": iterations, "elapsed_seconds": seconds,
            "init": {"runs": max(0, len(training.get("history", [1])) - 1)}}


def _with_new_output_head(tensors: dict[str, torch.Tensor],
                          model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Warm-starting a kinematic generator from a positions one: the output head's buffers
    (the dataset's bone lengths) are this run's, everything else the source's."""
    own = model.state_dict()
    extra = {k: v for k, v in own.items() if k.startswith("output_head.") and k not in tensors}
    return {**tensors, **extra}
