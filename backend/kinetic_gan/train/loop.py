"""The training loop: read top to bottom, it is the whole algorithm.

One *iteration* is ``n_critic`` critic updates (each on a fresh batch) followed by one
generator update — so ``iterations`` counts generator updates, like the log and checkpoints.
A session is three steps: build the run (:mod:`kinetic_gan.train.build`: data, models,
optimisers, the extra generator terms), restore it (or start the run directory), loop.
The losses live outside, in :mod:`kinetic_gan.train.step` and its terms, as StyleGAN2-ADA's
training loop keeps its ``loss.py``.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinetic_gan.train import checkpoint, distributed, rundir
from kinetic_gan.train.batches import BatchStream
from kinetic_gan.train.build import (
    Run,
    build_models,
    build_run,
    cpu_has_bf16,
    data_workers,
    make_step,
    open_training_data,
    use_cuda_graphs,
)
from kinetic_gan.train.config import TrainConfig

# build_models, cpu_has_bf16, use_cuda_graphs and open_training_data are re-exported: tests
# and tools import them from here, where they lived while the trainer was one function.
__all__ = ["TrainSummary", "build_models", "cpu_has_bf16", "open_training_data", "train",
           "use_cuda_graphs"]


@dataclass
class TrainSummary:
    run_dir: Path
    iteration: int
    finished: bool  # reached config.iterations (False: stopped by budget or signal)
    seconds: float  # training wall time, all sessions together
    losses: dict[str, float]


@dataclass
class _Position:
    """Where a run stands: what the log, a checkpoint and the summary record."""

    iteration: int = 0
    batches: int = 0  # critic batches consumed: the data order's position
    seconds_before: float = 0.0  # training wall time of the earlier sessions
    losses: dict[str, float] = field(default_factory=dict)


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
          progress: bool = True) -> TrainSummary:
    """Train (or, with ``resume``, continue) the run in ``run_dir``; rank 0 does all file I/O."""
    run_dir = Path(run_dir)
    ctx = distributed.init(config.device)
    try:
        return _train(config, run_dir, ctx, resume=resume, progress=progress)
    finally:
        distributed.shutdown(ctx)


def _train(config: TrainConfig, run_dir: Path, ctx: distributed.Distributed, *, resume: bool,
           progress: bool) -> TrainSummary:
    run = build_run(config, ctx, resume=resume)
    at = _restore(run, run_dir) if resume else _start(run, run_dir)
    distributed.barrier(ctx)
    at, clock, stopped = _loop(run, run_dir, at, resume=resume, progress=progress)
    distributed.barrier(ctx)
    seconds = clock.total()
    finished = at.iteration >= config.iterations
    if ctx.is_main and not finished:
        why = "stop requested" if stopped else f"time budget of {config.max_minutes} min"
        print(f"stopped at iteration {at.iteration} ({why}); continue with --resume {run_dir}",
              file=sys.stderr)
    return TrainSummary(run_dir, at.iteration, finished, seconds, at.losses)


def _start(run: Run, run_dir: Path) -> _Position:
    """A new run: its directory (rank 0) and this rank's random streams."""
    if run.ctx.is_main:
        rundir.create(run_dir, run.config, run.log_columns)
    _seed_all(run.config.seed + run.ctx.rank)  # per-rank latent and noise draws
    return _Position()


def _restore(run: Run, run_dir: Path) -> _Position:
    """Load the latest checkpoint into the models, optimisers and this rank's RNGs."""
    config, ctx = run.config, run.ctx
    # On the CPU: RNG states must stay CPU tensors; load_state_dict copies to the device.
    state = checkpoint.load(checkpoint.latest_path(run_dir), map_location="cpu")
    rundir.check_resumable(state["config"], config, run_dir)
    run.generator.load_state_dict(state["generator"])
    run.critic.load_state_dict(state["critic"])
    if run.ema is not None:
        run.ema.model.load_state_dict(state["ema"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    iteration = int(state["iteration"])
    if state["world_size"] == ctx.world_size:
        checkpoint.restore_rng(state["rng"][ctx.rank])
    else:
        _seed_all(config.seed + ctx.rank + 7919 * iteration)
        if ctx.is_main:
            print(f"note: resuming on {ctx.world_size} processes (was {state['world_size']}):"
                  " random streams restart, the data order continues", file=sys.stderr)
    run.init_info = state.get("init")
    if ctx.is_main:
        rundir.write_config(run_dir, config)  # records any budget/schedule overrides
    return _Position(iteration, iteration * config.n_critic, float(state["elapsed_seconds"]),
                     dict(state.get("losses", {})))


def _loop(run: Run, run_dir: Path, at: _Position, *, resume: bool,
          progress: bool) -> tuple[_Position, _Clock, bool]:
    """Iterate until ``config.iterations``, the time budget or a stop request; returns the
    position, the training clock and whether a stop was requested."""
    config, ctx = run.config, run.ctx
    stream = BatchStream(run.dataset, config.batch_size // ctx.world_size, rank=ctx.rank,
                         world_size=ctx.world_size, seed=config.seed, device=ctx.device,
                         workers=data_workers(config, ctx.device), start=at.batches)
    batches = iter(stream)
    step = make_step(run)
    report = _Report(run, run_dir, at.iteration, resume=resume, progress=progress)
    stop = _StopRequest()
    clock = _Clock(at.seconds_before, config.max_minutes)
    saved_at = at.iteration if resume else -1
    try:
        with stop.installed():
            while at.iteration < config.iterations:
                reals, labels = zip(*(next(batches) for _ in range(config.n_critic)),
                                    strict=True)
                if run.ema is not None:
                    run.ema.set_iteration(at.iteration + 1)
                critic_means, generator_losses = step(reals, labels)
                at.batches += config.n_critic
                at.iteration += 1
                session = clock.session()
                at.losses, over = _synced_losses(run, critic_means, generator_losses,
                                                 session >= clock.budget or stop.requested)
                report.write(at, stream.epoch_of(at.batches), clock.before + session)
                if ctx.is_main and _samples_due(config, at.iteration):
                    rundir.dump_samples(rundir.sample_path(run_dir, at.iteration), run.sampler,
                                        per_class=config.samples_per_class,
                                        data_info=run.data_info, seed=config.seed)
                if at.iteration % config.checkpoint_every == 0:
                    _save_checkpoint(run, run_dir, at, stream.epoch_of(at.batches), clock.total())
                    saved_at = at.iteration
                if over:
                    break
        if saved_at != at.iteration:
            _save_checkpoint(run, run_dir, at, stream.epoch_of(at.batches), clock.total())
    finally:
        batches.close()  # stops the reader thread or worker processes
        report.close()
    return at, clock, stop.requested


def _samples_due(config: TrainConfig, iteration: int) -> bool:
    return iteration % config.sample_every == 0 and config.samples_per_class > 0


def _synced_losses(run: Run, critic_means: torch.Tensor, generator_losses: torch.Tensor,
                   over: bool) -> tuple[dict[str, float], bool]:
    """The iteration's one host sync: its losses (means over ranks) by name, and whether
    any rank asks to stop."""
    stats = torch.cat((critic_means, generator_losses.float(),
                       torch.tensor([1.0 if over else 0.0], device=run.ctx.device)))
    stats = distributed.mean_over_ranks(run.ctx, stats, flag_index=len(stats) - 1).tolist()
    losses = {"d_loss": stats[0], "gp": stats[1], "w_dist": stats[2], "g_loss": stats[3]}
    losses.update(zip(run.log_columns, stats[4:-1], strict=True))
    return losses, stats[-1] > 0


def _save_checkpoint(run: Run, run_dir: Path, at: _Position, epoch: int,
                     seconds: float) -> None:
    """Every rank's RNG states and weight digest go to rank 0, which writes the checkpoint."""
    ctx = run.ctx
    gathered = distributed.gather_objects(
        ctx, (checkpoint.capture_rng(), checkpoint.weights_digest(*run.models)))
    rng_states = [rng for rng, _ in gathered]
    digests = [digest for _, digest in gathered]
    if not ctx.is_main:
        return
    if len(set(digests)) > 1:
        print(f"warning: at iteration {at.iteration} the ranks hold different weights "
              f"({', '.join(d[:12] for d in digests)}); data-parallel sync is broken",
              file=sys.stderr)
    ema = run.ema
    checkpoint.save(run_dir, at.iteration, {
        "iteration": at.iteration, "batches": at.batches, "epoch": epoch,
        "elapsed_seconds": seconds, "world_size": ctx.world_size,
        "config": run.config.to_dict(), "data": run.data_info, "losses": at.losses,
        "generator": run.generator.state_dict(), "critic": run.critic.state_dict(),
        "ema": None if ema is None else ema.model.state_dict(),
        "opt_g": run.opt_g.state_dict(), "opt_d": run.opt_d.state_dict(), "rng": rng_states,
        "rank_digests": digests, "init": run.init_info,
    }, keep=run.config.keep_checkpoints)


class _Report:
    """The loss log (rank 0) and the progress bar: one row and one update per iteration."""

    def __init__(self, run: Run, run_dir: Path, start: int, *, resume: bool,
                 progress: bool) -> None:
        config, is_main = run.config, run.ctx.is_main
        self.terms, self.columns = run.terms, run.log_columns
        tags = {name: tag for term in run.terms
                for name, tag in zip(term.names, term.tensorboard_tags, strict=True)}
        self.log = rundir.LossLog(run_dir, start if resume else None, config.tensorboard,
                                  rundir.LOG_HEADER + self.columns, tags) if is_main else None
        self.bar = tqdm(total=config.iterations, initial=start, unit="it", dynamic_ncols=True,
                        disable=not (progress and is_main), smoothing=0.05)

    def write(self, at: _Position, epoch: int, seconds: float) -> None:
        losses = at.losses
        extras = {name: losses[name] for name in self.columns}
        if self.log is not None:
            self.log.write(at.iteration, epoch, losses["d_loss"], losses["g_loss"], losses["gp"],
                           losses["w_dist"], seconds, extras)
        self.bar.update(1)
        postfix = {"d": f"{losses['d_loss']:.3f}", "g": f"{losses['g_loss']:.3f}",
                   "w": f"{losses['w_dist']:.3f}"}
        for term in self.terms:
            postfix.update(term.postfix(extras))
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()
        if self.log is not None:
            self.log.close()


class _Clock:
    """Training wall time: earlier sessions' plus this one's, against the session budget."""

    def __init__(self, before: float, max_minutes: float | None) -> None:
        self.before = before
        self.budget = math.inf if max_minutes is None else max_minutes * 60.0
        self.start = time.monotonic()

    def session(self) -> float:
        return time.monotonic() - self.start

    def total(self) -> float:
        return self.before + self.session()


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
