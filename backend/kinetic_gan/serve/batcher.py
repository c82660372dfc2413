"""The compute thread: fair turns between clients, merged device batches, deadlines, cancels.

The server's socket thread submits work; one compute thread takes the next tasks from a
:class:`~kinetic_gan.serve.scheduler.FairQueue` (deficit round robin over clients, by cost),
runs them, and hands finished work back through a callback. A ``generate`` request (a
:class:`Job`) is cut into pieces of at most ``max_batch`` samples, so a large request never
holds the device for longer than one batch while others wait; the pieces of any clients'
jobs for the same model share a device call (each keeps its own ψ, z and noise). Work of
other kinds plugs in as a :class:`~kinetic_gan.serve.scheduler.Work` whose tasks are
callables: ``task.payload(should_stop)`` runs it alone (``batch_key=None``) on this thread.

A batch is held open for up to ``max_delay`` only while more than one client is active: a
lone client gains nothing from waiting, so its requests run at once.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kinetic_gan.serve.scheduler import CANCELLED, FairQueue, Task, Work

if TYPE_CHECKING:  # annotations only: importing the batcher never imports torch
    from kinetic_gan.weights import LoadedGenerator

# A client counts as active for this long after its last request.
ACTIVE_CLIENT_S = 0.25


@dataclass
class Job:
    """One accepted ``generate`` request (or a piece of one), resolved against its model."""

    model: str
    label: int
    count: int
    seed: int
    truncation: float | None
    vary_noise: bool
    client: bytes = b""
    mix_seed: int | None = None  # blend toward this seed's draws by ``mix`` (generate.py)
    mix: float = 0.0
    # Opaque to the batcher: what the server needs to answer (envelope, id, start time).
    ticket: Any = None
    arrived: float = field(default_factory=time.monotonic)
    deadline: float | None = None  # time.monotonic() past which it is dropped unrun
    # A piece computes samples offset .. offset + count of its ``whole`` request: z and noise
    # are drawn once for the whole (from its seed) and sliced, so pieces equal one call.
    offset: int = 0
    whole: Job | None = field(default=None, repr=False)
    inputs: Any = field(default=None, repr=False)  # the whole request's drawn inputs


@dataclass
class Output:
    """A finished job: arrays on success, ``error`` (one line) on failure, or ``stopped``
    (the scheduler's reason: cancelled, deadline, busy, gone) when dropped before the end."""

    job: Any  # the Work's payload: a generate Job, or another kind's own record
    joints: np.ndarray | None = None  # (count, T, V, C) float32
    labels: np.ndarray | None = None  # (count,) int64
    z: np.ndarray | None = None  # (count, latent) float32
    error: str | None = None
    work: Work | None = None
    stopped: str | None = None
    result: Any = None  # another kind's result (generate's is in the arrays above)


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

    def _inputs(self, job: Job):
        from kinetic_gan.generate import Inputs, sample_inputs

        whole = job.whole or job
        if whole.inputs is None:
            whole.inputs = sample_inputs(
                self.generator,
                labels=[whole.label] * whole.count,
                seed=whole.seed,
                vary_noise=whole.vary_noise,
                mix_seed=whole.mix_seed,
                mix=whole.mix,
            )
        if job.whole is None:
            return whole.inputs
        rows = slice(job.offset, job.offset + job.count)
        drawn = whole.inputs
        return Inputs(drawn.z[rows], drawn.labels[rows], [n[rows] for n in drawn.noise])

    def run(self, jobs: Sequence[Job]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        from kinetic_gan.generate import Inputs, synthesize

        # Each job draws its own z and noise from its own seed, exactly as generate() would;
        # only the forward pass is shared.
        parts = [self._inputs(job) for job in jobs]
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


def job_tasks(work: Work, job: Job, piece: int) -> list[Task]:
    """A generate Job cut into tasks of at most ``piece`` samples, one model per batch."""
    if job.count <= piece:
        return [Task(work, 0, cost=job.count, units=job.count, batch_key=job.model, payload=job)]
    tasks = []
    for index, offset in enumerate(range(0, job.count, piece)):
        count = min(piece, job.count - offset)
        part = dataclasses.replace(job, count=count, offset=offset, whole=job, inputs=None)
        tasks.append(Task(work, index, cost=count, units=count, batch_key=job.model, payload=part))
    return tasks


_job_ids = itertools.count()


def job_work(job: Job, request_id: str | None = None) -> Work:
    """The scheduler's record of a generate Job: it costs one unit per sample."""
    return Work(
        client=job.client,
        request_id=request_id if request_id is not None else f"job-{next(_job_ids)}",
        cost=job.count,
        kind="generate",
        deadline=job.deadline,
        payload=job,
        ticket=job.ticket,
        arrived=job.arrived,
    )


def take_batch(pending: collections.deque[Job], max_batch: int) -> list[Job]:
    """Remove and return the next batch from ``pending`` as the batcher would choose it.

    Clients take turns (deficit round robin by samples), so one client's long queue cannot
    keep the others' first jobs waiting; jobs of the first one's model join in their own
    client's order while their counts fit in ``max_batch`` (the first always fits).
    """
    queue = FairQueue(limit=math.inf)
    for job in pending:
        work = job_work(job)
        queue.admit(work, [Task(work, 0, job.count, job.count, job.model, job)])
    chosen = queue.next_batch(max_batch)
    taken = {id(task.payload) for task in chosen}
    kept = [job for job in pending if id(job) not in taken]
    pending.clear()
    pending.extend(kept)
    return [task.payload for task in chosen]


class Batcher:
    """The compute thread: forms batches from submitted work and reports each one's Output.

    ``limit``/``ceiling`` bound the accepted cost (samples) as :class:`FairQueue` does;
    ``quantum`` is its per-turn credit. Every public method but the constructor may be
    called from any thread.
    """

    def __init__(
        self,
        runners: dict[str, Runner],
        on_done: Callable[[list[Output]], None],
        max_batch: int = 64,
        max_delay_s: float = 0.005,
        *,
        limit: float = math.inf,
        ceiling: float | None = None,
        quantum: float = 1.0,
    ) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_s >= 0")
        self.runners = runners
        self.on_done = on_done
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.queue = FairQueue(limit, ceiling, quantum)
        # The server's own counters: what the device computed and what was dropped unrun.
        self.stats: collections.Counter[str] = collections.Counter()
        self._clients: dict[bytes, float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="kinetic-gan-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: Job | Work, tasks: list[Task] | None = None) -> list[Output]:
        """Queue a Job (or a Work cut into ``tasks``); returns the outputs of works pushed
        out to make room (answer them "busy"); raises ``scheduler.Refused`` when full."""
        work = job_work(item) if isinstance(item, Job) else item
        if tasks is None:
            tasks = job_tasks(work, work.payload, self.max_batch)
        with self._cond:
            if self._stopping:
                raise RuntimeError("batcher is stopping")
            evicted = self.queue.admit(work, tasks)
            self._clients[work.client] = work.arrived
            self._cond.notify()
            return [self._stopped_output(w) for w in evicted]

    def cancel(self, client: bytes, request_id: str) -> tuple[Work | None, list[Output]]:
        """Stop one request of ``client``: (its Work or None, outputs finished by that)."""
        with self._cond:
            work = self.queue.find(client, request_id)
            if work is None:
                return None, []
            done = self.queue.stop_work(work, CANCELLED)
            return work, [self._stopped_output(work)] if done else []

    def drop_client(self, client: bytes, reason: str) -> list[Output]:
        """Stop all of ``client``'s work (it left); outputs of the works finished by that."""
        with self._cond:
            return [self._stopped_output(w) for w in self.queue.drop_client(client, reason)]

    def drop_all(self, reason: str) -> list[Output]:
        with self._cond:
            return [self._stopped_output(w) for w in self.queue.drop_all(reason)]

    def expire(self, now: float | None = None) -> list[Output]:
        """Drop the work whose deadline passed; outputs of the works finished by that."""
        with self._cond:
            finished = self.queue.expire(time.monotonic() if now is None else now)
            return [self._stopped_output(w) for w in finished]

    def accepted(self, client: bytes | None = None) -> float:
        """Cost accepted and not yet answered: in all, or ``client``'s."""
        if client is None:
            return self.queue.accepted_cost
        return self.queue.client_cost(client)

    def stop(self, timeout_s: float | None = None) -> None:
        """Finish every submitted job, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _stopped_output(self, work: Work) -> Output:
        self.stats[f"dropped_{work.reason}"] += 1
        self._forget_inputs(work)
        return Output(work.payload, work=work, stopped=work.reason, error=work_error(work))

    @staticmethod
    def _forget_inputs(work: Work) -> None:
        if isinstance(work.payload, Job):
            work.payload.inputs = None

    def _active_clients(self, now: float) -> int:
        stale = [c for c, seen in self._clients.items() if now - seen > ACTIVE_CLIENT_S]
        for client in stale:
            del self._clients[client]
        return len(self._clients)

    def _next_batch(self) -> tuple[list[Task], list[Output]] | None:
        with self._cond:
            while not len(self.queue):
                if self._stopping:
                    return None
                self._cond.wait()
            opened = time.monotonic()
            if self._active_clients(opened) > 1:
                deadline = opened + self.max_delay_s
                while not self._stopping:
                    left = deadline - time.monotonic()
                    if self.queue.queued_units >= self.max_batch or left <= 0:
                        break
                    self._cond.wait(left)
            # Expired work is dropped before it is computed.
            expired = self.queue.expire(time.monotonic())
            return self.queue.next_batch(self.max_batch), [self._stopped_output(w) for w in expired]

    def _loop(self) -> None:
        while (step := self._next_batch()) is not None:
            tasks, expired = step
            if expired:
                self.on_done(expired)
            if tasks:
                self.on_done(self._run(tasks))

    def _run(self, tasks: list[Task]) -> list[Output]:
        with self._cond:
            self.stats["batches"] += 1
            self.stats["tasks_run"] += len(tasks)
            self.stats["units_run"] += sum(task.units for task in tasks)
        started = time.perf_counter()
        try:
            results = self._compute(tasks)
            error = None
        except Exception as exc:
            # One line for the client; the server logs it. The batcher itself keeps going.
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            results = [None] * len(tasks)
        outputs = []
        with self._cond:
            self.stats["compute_ms"] += round((time.perf_counter() - started) * 1000.0)
            for task, result in zip(tasks, results, strict=True):
                work = task.work
                if error is not None and work.reason is None:
                    work.results.clear()
                    work.error = error
                    self.queue.stop_work(work, "internal")
                if self.queue.finish(task, result):
                    outputs.append(self._output(work))
        return outputs

    def _compute(self, tasks: list[Task]) -> list[Any]:
        key = tasks[0].batch_key
        if key is None:  # work of another kind runs alone and polls its stop flag
            task = tasks[0]
            return [task.payload(self._between_steps(task.work))]
        return self.runners[key].run([task.payload for task in tasks])

    def _between_steps(self, work: Work) -> Callable[[], bool]:
        """The stop check a long task (a shot) calls at each step: first the generate
        batches queued meanwhile run, so a shot of seconds holds up no one's takes by more
        than one of its steps; then whether the long task itself should stop."""

        def check() -> bool:
            self._serve_batches()
            return work.should_stop()

        return check

    def _serve_batches(self) -> None:
        with self._cond:
            expired = self.queue.expire(time.monotonic())
            outputs = [self._stopped_output(w) for w in expired]
            tasks = []
            if len(self.queue):
                tasks = self.queue.next_batch(self.max_batch, fits=_batched)
        if outputs:
            self.on_done(outputs)
        if tasks:
            self.on_done(self._run(tasks))

    def _output(self, work: Work) -> Output:
        if work.reason is not None:
            return self._stopped_output(work)
        self._forget_inputs(work)
        results = [r for _, r in sorted(work.results, key=lambda pair: pair[0])]
        if not isinstance(work.payload, Job):
            return Output(work.payload, work=work, result=results[0] if results else None)
        columns = zip(*results, strict=True)
        joints, labels, z = (np.concatenate(c) if len(c) > 1 else c[0] for c in columns)
        return Output(work.payload, joints=joints, labels=labels, z=z, work=work)


def _batched(task: Task) -> bool:
    """Tasks that may run between a long task's steps: device batches, not another long
    task (which would nest)."""
    return task.batch_key is not None


def work_error(work: Work) -> str:
    """The one line a stopped work is answered with."""
    reason = work.reason
    if reason == "internal":
        return work.error or "generation failed"
    messages = {
        "cancelled": "cancelled by the client",
        "deadline": "its deadline_ms passed before it could run",
        "busy": "pushed out of a full queue by lighter clients' requests; try again",
        "gone": "the client went away",
    }
    return messages.get(str(reason), str(reason))
