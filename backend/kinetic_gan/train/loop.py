"""The training loop: read top to bottom, it is the whole algorithm.

One *iteration* is ``n_critic`` critic updates (each on a fresh batch) followed by one
generator update — so ``iterations`` counts generator updates, like the log and checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.train import checkpoint, distributed, rundir
from kinetic_gan.train.batches import BatchStream
from kinetic_gan.train.config import TrainConfig
from kinetic_gan.train.cuda_graph import GraphedStep
from kinetic_gan.train.export import dataset_meta
from kinetic_gan.train.guidance import load_guide
from kinetic_gan.train.motion_priors import (
    MotionPriors,
    class_energy_band,
    class_speed_quantiles,
)
from kinetic_gan.train.step import TrainStep
from kinetic_gan.train.wgan_gp import EMA


@dataclass
class TrainSummary:
    run_dir: Path
    iteration: int
    finished: bool  # reached config.iterations (False: stopped by budget or signal)
    seconds: float  # training wall time, all sessions together
    losses: dict[str, float]


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
          progress: bool = True) -> TrainSummary:
    """Train (or, with ``resume``, continue) the run in ``run_dir``; rank 0 does all file I/O."""
    run_dir = Path(run_dir)
    ctx = distributed.init(config.device)
    try:
        return _train(config, run_dir, ctx, resume=resume, progress=progress)
    finally:
        distributed.shutdown(ctx)


def open_training_data(config: TrainConfig):
    from kinetic_gan.data import Augment, open_dataset

    if not config.data:
        raise KineticGanError("train: no dataset given (use --data PATH)")
    augment = None
    if config.augment:
        augment = Augment(yaw_deg=config.augment_yaw_deg, mirror_p=config.augment_mirror_p,
                          time_warp=tuple(config.augment_time_warp),
                          bone_jitter=config.augment_bone_jitter, seed=config.seed)
    return open_dataset(config.data, layout=config.layout, split=config.split,
                        frames=config.frames, classes=config.classes, augment=augment)


def _training_metres(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The training takes as stored (N, T, V, 3) in metres, and their labels: what the
    energy band and the speed term are measured on (no augmentation)."""
    joints = dataset.array(normalized=False).transpose(0, 2, 3, 1)
    return (torch.from_numpy(np.ascontiguousarray(joints)),
            torch.as_tensor(np.asarray(dataset.labels)).long())


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


def _train(config: TrainConfig, run_dir: Path, ctx: distributed.Distributed, *, resume: bool,  # noqa: C901  (split in the next commit, issue 27 item 4)
           progress: bool) -> TrainSummary:
    device = ctx.device
    if config.batch_size % ctx.world_size:
        raise KineticGanError(f"batch_size {config.batch_size} does not split evenly over "
                              f"{ctx.world_size} processes")
    graphs = use_cuda_graphs(config, device, ctx.world_size)
    if device.type == "cuda":
        # Fixed shapes: let cuDNN time its kernels once — but not under CUDA graphs: a
        # captured pass whose buffers differ in alignment from the warm-up's would be timed
        # mid-capture, which breaks the capture. (Graphs with autotuning are untested: the
        # first H200 capture failed inside cuDNN, but from another thread invalidating it.)
        torch.backends.cudnn.benchmark = not graphs
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda")
    if use_bf16 and device.type == "cpu" and not cpu_has_bf16():
        print("note: this CPU has no bfloat16 instructions (AVX512-BF16/AMX); training in "
              "float32", file=sys.stderr)
        use_bf16 = False

    def autocast() -> contextlib.AbstractContextManager:
        if use_bf16:
            # A captured graph must not keep autocast's cached weight casts between replays.
            return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not graphs)
        return contextlib.nullcontext()

    # -- data ---------------------------------------------------------------------------
    dataset = open_training_data(config)
    data_info = {
        "name": Path(config.data).name, "class_names": list(dataset.class_names),
        "skeleton": dataset.skeleton, "fps": int(dataset.fps), "samples": len(dataset),
        "normalization": dataset.normalization.to_dict(), **dataset_meta(config.data),
    }

    # Extra generator losses, in the order of rundir.extra_columns (their logged parts).
    terms = []
    if config.class_guidance > 0:
        terms.append(load_guide(config.guide_recognizer, config.class_guidance,
                                class_names=list(dataset.class_names),
                                normalization=data_info["normalization"], device=device))
    if config.uses_motion_priors():
        warp = tuple(config.augment_time_warp) if config.augment else (1.0, 1.0)
        band = speeds = None
        if config.energy_penalty > 0 or config.speed_penalty > 0:
            real = _training_metres(dataset)  # read once for both
            classes, fps = dataset.num_classes, float(dataset.fps)
            if config.energy_penalty > 0:
                band = class_energy_band(*real, classes, fps, warp)
            if config.speed_penalty > 0:
                speeds = class_speed_quantiles(*real, classes, fps)
        terms.append(MotionPriors(hinge=config.hinge_penalty,
                                  foot_slide=config.foot_slide_penalty,
                                  floor=config.floor_penalty, hover=config.hover_penalty,
                                  energy=config.energy_penalty, energy_band=band,
                                  speed=config.speed_penalty, speed_table=speeds,
                                  skeleton=dataset.skeleton,
                                  normalization=data_info["normalization"], fps=dataset.fps))
    extra_names = rundir.extra_columns(config)

    # -- models (identical on every rank: same seed, then rank 0's copy broadcast) ------
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
    opt_g = make_optimizer(generator, config, device, capturable=graphs)
    opt_d = make_optimizer(critic, config, device, capturable=graphs)

    start_iteration, elapsed_before, last = 0, 0.0, {}
    if resume:
        start_iteration, elapsed_before, last, init_info = _restore(
            run_dir, config, ctx, generator, critic, ema, opt_g, opt_d)
        if ctx.is_main:
            rundir.write_config(run_dir, config)  # records any budget/schedule overrides
    else:
        if ctx.is_main:
            rundir.create(run_dir, config)
        _seed_all(config.seed + ctx.rank)  # per-rank latent and noise draws
    distributed.barrier(ctx)

    per_rank_batch = config.batch_size // ctx.world_size
    batches_done = start_iteration * config.n_critic
    stream = BatchStream(dataset, per_rank_batch, rank=ctx.rank, world_size=ctx.world_size,
                         seed=config.seed, device=device, workers=data_workers(config, device),
                         start=batches_done)
    batches = iter(stream)

    # torch.compile speeds up the generator's forward passes; the critic is differentiated
    # twice by the gradient penalty, which compiled graphs do not support, so it stays eager.
    g_forward = torch.compile(generator) if config.compile else generator

    def sync_g() -> None:
        distributed.average_gradients(ctx, generator.parameters())

    def sync_d() -> None:
        distributed.average_gradients(ctx, critic.parameters())

    def sync_batch_norm() -> None:
        if ctx.enabled:
            distributed.average_batch_norm_stats(ctx, generator)

    step = TrainStep(g_forward, generator, critic, opt_g, opt_d, ema,
                     latent_dim=config.latent_dim, lambda_gp=config.lambda_gp, autocast=autocast,
                     sync_d=sync_d, sync_g=sync_g, after_generator=sync_batch_norm, terms=terms)
    run_step = GraphedStep(step, [generator, critic]) if graphs else step

    log = rundir.LossLog(run_dir, start_iteration if resume else None, config.tensorboard,
                         rundir.log_header(config)) if ctx.is_main else None
    stop = _StopRequest()
    bar = tqdm(total=config.iterations, initial=start_iteration, unit="it", dynamic_ncols=True,
               disable=not (progress and ctx.is_main), smoothing=0.05)
    session_start = time.monotonic()
    budget = math.inf if config.max_minutes is None else config.max_minutes * 60.0
    iteration = start_iteration
    saved_at = start_iteration if resume else -1

    models = [generator, critic] if ema is None else [generator, critic, ema.model]

    def save_checkpoint() -> None:
        gathered = distributed.gather_objects(
            ctx, (checkpoint.capture_rng(), checkpoint.weights_digest(*models)))
        rng_states = [rng for rng, _ in gathered]
        digests = [digest for _, digest in gathered]
        if ctx.is_main and len(set(digests)) > 1:
            print(f"warning: at iteration {iteration} the ranks hold different weights "
                  f"({', '.join(d[:12] for d in digests)}); data-parallel sync is broken",
                  file=sys.stderr)
        if ctx.is_main:
            checkpoint.save(run_dir, iteration, {
                "iteration": iteration, "batches": batches_done,
                "epoch": stream.epoch_of(batches_done),
                "elapsed_seconds": elapsed_before + time.monotonic() - session_start,
                "world_size": ctx.world_size, "config": config.to_dict(), "data": data_info,
                "losses": last, "generator": generator.state_dict(), "critic": critic.state_dict(),
                "ema": None if ema is None else ema.model.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": rng_states,
                "rank_digests": digests, "init": init_info,
            }, keep=config.keep_checkpoints)

    try:
        with stop.installed():
            while iteration < config.iterations:
                reals, labels = zip(*(next(batches) for _ in range(config.n_critic)),
                                    strict=True)
                if ema is not None:
                    ema.set_iteration(iteration + 1)
                # critic means (d_loss, gp, w_dist), (g_loss, the terms' parts...), on the device
                critic_means, generator_losses = run_step(reals, labels)
                batches_done += config.n_critic
                iteration += 1

                # One host sync per iteration: the losses for the log and the stop decision.
                elapsed = time.monotonic() - session_start
                over = elapsed >= budget or stop.requested
                stats = torch.cat((critic_means, generator_losses.float(),
                                   torch.tensor([1.0 if over else 0.0], device=device)))
                stats = distributed.mean_over_ranks(ctx, stats,
                                                    flag_index=len(stats) - 1).tolist()
                last = {"d_loss": stats[0], "gp": stats[1], "w_dist": stats[2], "g_loss": stats[3]}
                extras = dict(zip(extra_names, stats[4:-1], strict=True))
                last.update(extras)
                if log is not None:
                    log.write(iteration, stream.epoch_of(batches_done), last["d_loss"],
                              last["g_loss"], last["gp"], last["w_dist"], elapsed_before + elapsed,
                              extras)
                bar.update(1)
                postfix = {"d": f"{last['d_loss']:.3f}", "g": f"{last['g_loss']:.3f}",
                           "w": f"{last['w_dist']:.3f}"}
                if "guide_ce" in extras:
                    postfix["ce"] = f"{extras['guide_ce']:.3f}"
                if "hinge" in extras:
                    postfix["prior"] = "/".join(f"{extras[k]:.3g}"
                                                for k in ("hinge", "foot_slide", "floor",
                                                          "hover"))
                bar.set_postfix(postfix, refresh=False)

                sample_due = iteration % config.sample_every == 0 and config.samples_per_class
                if ctx.is_main and sample_due:
                    rundir.dump_samples(run_dir / "samples" / f"iter_{iteration:07d}.npz",
                                        ema.model if ema is not None else generator,
                                        per_class=config.samples_per_class, data_info=data_info,
                                        seed=config.seed)
                if iteration % config.checkpoint_every == 0:
                    save_checkpoint()
                    saved_at = iteration
                if stats[-1] > 0:
                    break
        if saved_at != iteration:
            save_checkpoint()
    finally:
        batches.close()  # stops the reader thread or worker processes
        bar.close()
        if log is not None:
            log.close()
    distributed.barrier(ctx)
    finished = iteration >= config.iterations
    seconds = elapsed_before + time.monotonic() - session_start
    if ctx.is_main and not finished:
        why = "stop requested" if stop.requested else f"time budget of {config.max_minutes} min"
        print(f"stopped at iteration {iteration} ({why}); continue with --resume {run_dir}",
              file=sys.stderr)
    return TrainSummary(run_dir, iteration, finished, seconds, last)


def _restore(run_dir: Path, config: TrainConfig, ctx: distributed.Distributed,
             generator: torch.nn.Module, critic: torch.nn.Module, ema: EMA | None,
             opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             ) -> tuple[int, float, dict[str, float], dict[str, Any] | None]:
    """Load the latest checkpoint into the models, optimisers and this rank's RNGs."""
    # On the CPU: RNG states must stay CPU tensors; load_state_dict copies to the device.
    state = checkpoint.load(checkpoint.latest_path(run_dir), map_location="cpu")
    _check_same_run(state, config, run_dir)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    if ema is not None:
        ema.model.load_state_dict(state["ema"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    iteration = int(state["iteration"])
    if state["world_size"] == ctx.world_size:
        checkpoint.restore_rng(state["rng"][ctx.rank])
    else:
        _seed_all(config.seed + ctx.rank + 7919 * iteration)
        if ctx.is_main:
            print(f"note: resuming on {ctx.world_size} processes (was {state['world_size']}):"
                  " random streams restart, the data order continues", file=sys.stderr)
    return (iteration, float(state["elapsed_seconds"]), dict(state.get("losses", {})),
            state.get("init"))


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


def _check_same_run(state: dict[str, Any], config: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume with settings that would make the continuation a different run."""
    fixed = ("frames", "layout", "split", "classes", "augment", "latent_dim", "mapping_depth",
             "batch_size", "n_critic", "lambda_gp", "lr", "beta1", "beta2", "ema", "ema_beta",
             "ema_rampup", "seed")
    saved = state["config"]
    changed = [k for k in fixed if k in saved and saved[k] != getattr(config, k)]
    if changed:
        raise KineticGanError(f"{run_dir}: cannot change {', '.join(changed)} when resuming")


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class _StopRequest:
    """SIGINT/SIGTERM ask the loop to checkpoint and leave at the end of the iteration."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:  # a second Ctrl-C: leave now
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
