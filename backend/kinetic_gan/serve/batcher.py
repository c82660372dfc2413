"""Merge concurrent ``generate`` requests for one model into one device batch.

The server's socket thread submits :class:`Job` s; one compute thread forms batches and hands
finished jobs back through a callback. Requests are never split: a batch takes whole jobs of
the same model (each keeps its own ψ), in arrival order, while their counts fit in ``max_batch``
(the first job always fits, so ``max_batch=1`` turns batching off).

A batch is held open for up to ``max_delay`` only while more than one client is active: a
lone client gains nothing from waiting, so its requests run at once. Clients take turns
(round-robin) when more is queued than one batch holds.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # annotations only: importing the batcher never imports torch
    from kinetic_gan.weights import LoadedGenerator

# A client counts as active for this long after its last request.
ACTIVE_CLIENT_S = 0.25


@dataclass
class Job:
    """One accepted ``generate`` request, resolved against its model."""

    model: str
    label: int
    count: int
    seed: int
    truncation: float | None
    vary_noise: bool
    client: bytes = b""
    # Opaque to the batcher: what the server needs to answer (envelope, id, start time).
    ticket: Any = None
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class Output:
    """A finished job: arrays on success, ``error`` (one line) on failure."""

    job: Job
    joints: np.ndarray | None = None  # (count, T, V, C) float32
    labels: np.ndarray | None = None  # (count,) int64
    z: np.ndarray | None = None  # (count, latent) float32
    error: str | None = None


class Runner(Protocol):
    """Runs a batch of jobs on one model; returns (joints, labels, z) per job, in order."""

    def run(self, jobs: Sequence[Job]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]: ...


class GeneratorRunner:
    """A loaded generator behind the batcher: one ``synthesize`` call for a batch of jobs."""

    def __init__(self, generator: LoadedGenerator) -> None:
        self.generator = generator
        self.card = generator.card

    @property
    def name(self) -> str:
        return str(self.card.name)

    def describe(self) -> dict[str, Any]:
        """This model's entry in the ``info`` reply."""
        card = self.card
        return {
            "name": card.name,
            "skeleton": card.skeleton,
            "joint_names": list(card.joint_names),
            "parents": [int(p) for p in card.parents],
            "class_names": list(card.class_names),
            "frames": int(card.frames),
            "fps": card.fps,
            "channels": int(card.channels),
            "units": card.units,
            "dataset": card.dataset,
        }

    def resolve(self, action: str | int) -> int:
        """Class index of ``action``; KineticGanError (listing close names) if unknown."""
        from kinetic_gan.generate import resolve_action

        return int(resolve_action(self.card, action))

    def run(self, jobs: Sequence[Job]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        from kinetic_gan.generate import Inputs, sample_inputs, synthesize

        # Each job draws its own z and noise from its own seed, exactly as generate() would;
        # only the forward pass is shared.
        parts = [
            sample_inputs(
                self.generator,
                labels=[job.label] * job.count,
                seed=job.seed,
                vary_noise=job.vary_noise,
            )
            for job in jobs
        ]
        batch = parts[0] if len(parts) == 1 else Inputs.cat(parts)
        # One ψ per sample, so requests with different truncation still share a device call.
        psi = [job.truncation for job in jobs for _ in range(job.count)]
        joints = synthesize(self.generator, batch, truncation=psi)
        z = batch.z.detach().cpu().numpy().astype(np.float32, copy=False)
        labels = batch.labels.detach().cpu().numpy().astype(np.int64, copy=False)
        out, start = [], 0
        for job in jobs:
            stop = start + job.count
            out.append((joints[start:stop], labels[start:stop], z[start:stop]))
            start = stop
        return out


def take_batch(pending: collections.deque[Job], max_batch: int) -> list[Job]:
    """Remove and return the next batch from ``pending`` (first job + compatible followers).

    Clients take turns: jobs are considered by their rank among their own client's jobs,
    then by arrival, so one client's long queue cannot keep the others' first jobs waiting.
    """
    jobs = list(pending)
    ranks: dict[bytes, int] = {}
    order = []
    for index, job in enumerate(jobs):
        rank = ranks.get(job.client, 0)
        ranks[job.client] = rank + 1
        order.append((rank, index))
    order.sort()
    first = jobs[order[0][1]]
    chosen, total = {order[0][1]}, first.count
    for _, index in order[1:]:
        job = jobs[index]
        if job.model == first.model and total + job.count <= max_batch:
            chosen.add(index)
            total += job.count
    pending.clear()
    pending.extend(job for index, job in enumerate(jobs) if index not in chosen)
    return [jobs[index] for _, index in order if index in chosen]


class Batcher:
    """The compute thread: forms batches from submitted jobs and reports each job's Output."""

    def __init__(
        self,
        runners: dict[str, Runner],
        on_done: Callable[[list[Output]], None],
        max_batch: int = 64,
        max_delay_s: float = 0.005,
    ) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_s >= 0")
        self.runners = runners
        self.on_done = on_done
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._pending: collections.deque[Job] = collections.deque()
        self._clients: dict[bytes, float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="kinetic-gan-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                raise RuntimeError("batcher is stopping")
            self._pending.append(job)
            self._clients[job.client] = job.arrived
            self._cond.notify()

    def stop(self, timeout_s: float | None = None) -> None:
        """Finish every submitted job, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _active_clients(self, now: float) -> int:
        stale = [c for c, seen in self._clients.items() if now - seen > ACTIVE_CLIENT_S]
        for client in stale:
            del self._clients[client]
        return len(self._clients)

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._pending:
                if self._stopping:
                    return None
                self._cond.wait()
            opened = time.monotonic()
            if self._active_clients(opened) > 1:
                deadline = opened + self.max_delay_s
                while not self._stopping:
                    queued = sum(j.count for j in self._pending)
                    left = deadline - time.monotonic()
                    if queued >= self.max_batch or left <= 0:
                        break
                    self._cond.wait(left)
            return take_batch(self._pending, self.max_batch)

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            self.on_done(self._run(batch))

    def _run(self, batch: list[Job]) -> list[Output]:
        try:
            results = self.runners[batch[0].model].run(batch)
        except Exception as exc:
            # One line for the client; the server logs it. The batcher itself keeps going.
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            return [Output(job, error=message) for job in batch]
        return [
            Output(job, joints=j, labels=lab, z=z)
            for job, (j, lab, z) in zip(batch, results, strict=True)
        ]
