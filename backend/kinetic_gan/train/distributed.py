"""Data-parallel plumbing for ``torchrun`` (one process per GPU, any number of nodes).

We synchronise gradients ourselves (one flattened all-reduce per update) instead of wrapping
the models in ``DistributedDataParallel``: WGAN-GP differentiates the critic twice (the
gradient penalty's double backward) and alternates which network is updated, and DDP's
reducer assumes one plain backward per forward over a fixed set of parameters. The manual
all-reduce gives the same result — every rank applies the mean gradient — with none of
those constraints. Started without torchrun, everything here degrades to a single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from kinetic_gan.devices import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device_preference: str = "auto") -> Distributed:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local_rank)  # kinetic_gan.devices: one rule
    if world_size <= 1:
        return Distributed(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), local_rank, dist.get_world_size(), device)


def shutdown(ctx: Distributed) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(ctx: Distributed, module: torch.nn.Module) -> None:
    """Make every rank start from rank 0's weights and buffers."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=0)


def average_gradients(ctx: Distributed, params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over ranks, in one all-reduce of a flat buffer."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def any_rank(ctx: Distributed, flag: bool) -> bool:
    """True when ``flag`` is true on at least one rank (e.g. a stop request or time budget)."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def gather_objects(ctx: Distributed, obj: object) -> list[object]:
    """Every rank's ``obj``, in rank order (used for per-rank RNG states in checkpoints)."""
    if not ctx.enabled:
        return [obj]
    out: list[object] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Distributed) -> None:
    if ctx.enabled:
        dist.barrier()


def mean_over_ranks(ctx: Distributed, stats: torch.Tensor, flag_index: int) -> torch.Tensor:
    """Average ``stats`` over ranks, except ``stats[flag_index]``, which becomes the max.

    One small all-reduce per iteration carries both the logged losses and the stop flag.
    """
    if not ctx.enabled:
        return stats
    values = stats.clone()
    values[flag_index] = values[flag_index] * ctx.world_size  # any rank's 1 survives the mean
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    values /= ctx.world_size
    values[flag_index] = (values[flag_index] > 0).float()
    return values


def average_batch_norm_stats(ctx: Distributed, module: torch.nn.Module) -> None:
    """Keep batch-norm running statistics identical on every rank (their mean over ranks).

    Each rank normalizes with its own batch's statistics during training, as DDP does; only
    the running estimates used at inference are shared, so every rank exports the same model.
    """
    if not ctx.enabled:
        return
    stats = [buf for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             for buf in (m.running_mean, m.running_var) if buf is not None]
    if not stats:
        return
    flat = torch.cat([s.reshape(-1) for s in stats])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for s in stats:
        s.copy_(flat[offset : offset + s.numel()].view_as(s))
        offset += s.numel()
