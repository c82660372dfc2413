"""Fair scheduling of queued work: per-client cost accounting, admission, deficit round robin.

Generic and pure (stdlib only, no threads, no sockets): the server's batcher and the broker
each hold one :class:`FairQueue` and call it under their own lock. What it schedules:

- a :class:`Work` is one accepted request: who sent it (``client``), its ``request_id``, its
  ``cost`` (in generator windows: a ``generate`` of count N costs N; a shot costs about
  windows x optimisation steps), an optional ``deadline`` and a ``stop`` flag that long work
  polls through :meth:`Work.should_stop`;
- a Work is cut into :class:`Task` s, the pieces a device runs at once: a ``generate`` into
  pieces of at most one device batch, a shot is one task. Tasks with the same ``batch_key``
  may share a device call; ``batch_key=None`` runs alone.

Clients take turns by deficit round robin (Shreedhar & Varghese, 1995): each turn a client
is credited ``quantum`` and runs tasks while their cost fits its credit, so over time every
backlogged client gets the same cost served, whatever its requests' sizes; a client with
little queued work is served within one round. When the queue is full the request refused is
one from the client holding the most accepted work: the newcomer when that is its own client,
else the newest untouched work of the heaviest client is pushed out (and answered "busy").
A client with nothing accepted is always admitted (up to a hard ceiling that bounds memory).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Why a work stopped before it was done (the reply's error code).
CANCELLED, DEADLINE, GONE, BUSY = "cancelled", "deadline", "gone", "busy"
# How deep a client's queue is searched for a task that can share the batch being formed.
SCAN_DEPTH = 64


@dataclass(eq=False)
class Work:
    """One accepted request as the scheduler sees it (kind-specific parts in ``payload``)."""

    client: bytes
    request_id: str
    cost: float
    kind: str = "generate"
    deadline: float | None = None  # time.monotonic() past which it is dropped unrun
    payload: Any = None  # the kind's own description (a generate Job, a shot, ...)
    ticket: Any = None  # what the owner needs to answer (envelope, start time, ...)
    arrived: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    # Kept by the FairQueue:
    tasks: int = 0  # tasks it was cut into
    started: int = 0  # tasks handed out to run
    done: int = 0  # tasks finished
    reason: str | None = None  # why it stopped early (CANCELLED, DEADLINE, GONE, BUSY)
    error: str | None = None  # the one line of a failure ("internal")
    results: list[Any] = field(default_factory=list)  # (task index, result) of finished tasks

    def should_stop(self) -> bool:
        """True once the work is cancelled, its client gone or its deadline passed: long
        work (a shot's optimisation) checks this at every step and returns early."""
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() > self.deadline
        )

    @property
    def finished(self) -> bool:
        """Nothing of it runs any more and nothing is left to run (or it was stopped)."""
        running = self.started - self.done
        return running == 0 and (self.reason is not None or self.done == self.tasks)


@dataclass(eq=False)
class Task:
    """A piece of a Work that runs in one device call."""

    work: Work
    index: int
    cost: float
    units: int = 1  # how much of a device batch it fills (samples)
    batch_key: Hashable | None = 0  # same key: may share a batch; None: runs alone
    payload: Any = None


class Refused(Exception):
    """Admission refused: the queue is full and this client holds the most work."""


class DuplicateId(Exception):
    """The client already has an accepted request of this id."""


class FairQueue:
    """Per-client task queues served by deficit round robin, with cost-accounted admission.

    ``limit`` is the accepted cost (queued + running, not yet answered) past which requests
    compete for room; ``ceiling`` the hard bound no admission passes; ``quantum`` the credit
    a client gets per turn (in cost units).
    """

    def __init__(self, limit: float, ceiling: float | None = None, quantum: float = 1.0) -> None:
        if limit <= 0 or quantum <= 0:
            raise ValueError("limit and quantum must be > 0")
        self.limit = limit
        self.ceiling = 2 * limit if ceiling is None else ceiling
        self.quantum = quantum
        # Backlogged clients in turn order (the next to be visited first).
        self._queues: collections.OrderedDict[bytes, collections.deque[Task]] = (
            collections.OrderedDict()
        )
        self._deficit: dict[bytes, float] = {}
        self._works: dict[tuple[bytes, str], Work] = {}  # accepted, not yet finished
        self._client_cost: dict[bytes, float] = {}
        self.accepted_cost = 0.0
        self.queued_tasks = 0
        self.queued_units = 0
        self._deadlines: list[tuple[float, int, Work]] = []
        self._seq = itertools.count()

    # ------------------------------------------------------------------ accounting

    def client_cost(self, client: bytes) -> float:
        """Cost this client has accepted and not yet answered."""
        return self._client_cost.get(client, 0.0)

    def __len__(self) -> int:
        return self.queued_tasks

    def queued_count(self, client: bytes) -> int:
        """Tasks of this client waiting to run."""
        return len(self._queues.get(client, ()))

    def find(self, client: bytes, request_id: str) -> Work | None:
        return self._works.get((client, request_id))

    def works(self, client: bytes | None = None) -> list[Work]:
        return [w for (c, _), w in self._works.items() if client is None or c == client]

    # ------------------------------------------------------------------ admission

    def admit(self, work: Work, tasks: list[Task]) -> list[Work]:
        """Queue ``work`` (cut into ``tasks``) or raise :class:`Refused`; returns the works
        pushed out to make room (stopped with reason BUSY, to be answered "busy")."""
        if (work.client, work.request_id) in self._works:
            raise DuplicateId(f"request id {work.request_id[:40]!r} is already queued by you")
        evicted = self._make_room(work)
        self._works[(work.client, work.request_id)] = work
        self._client_cost[work.client] = self.client_cost(work.client) + work.cost
        self.accepted_cost += work.cost
        work.tasks = len(tasks)
        queue = self._queues.get(work.client)
        if queue is None:
            queue = self._queues[work.client] = collections.deque()
            self._deficit[work.client] = 0.0
        queue.extend(tasks)
        self.queued_tasks += len(tasks)
        self.queued_units += sum(t.units for t in tasks)
        if work.deadline is not None:
            heapq.heappush(self._deadlines, (work.deadline, next(self._seq), work))
        return evicted

    def _make_room(self, work: Work) -> list[Work]:
        if self.accepted_cost + work.cost <= self.limit:
            return []
        mine = self.client_cost(work.client)
        if self.accepted_cost + work.cost > self.ceiling and mine > 0:
            raise Refused(f"{self.accepted_cost:g} queued (limit {self.limit:g})")
        heaviest = self._heaviest(exclude=work.client)
        if mine > 0 and (heaviest is None or mine >= self.client_cost(heaviest)):
            raise Refused(
                f"{self.accepted_cost:g} queued (limit {self.limit:g}), {mine:g} of it yours"
            )
        evicted: list[Work] = []
        while self.accepted_cost + work.cost > self.limit and heaviest is not None:
            victim = self._newest_untouched(heaviest)
            if victim is None:
                break
            self.stop_work(victim, BUSY)
            evicted.append(victim)
            heaviest = self._heaviest(exclude=work.client)
            if heaviest is not None and mine >= self.client_cost(heaviest) > 0:
                break  # never push another client below this one
        if self.accepted_cost + work.cost > self.ceiling:
            raise Refused(f"{self.accepted_cost:g} queued (hard limit {self.ceiling:g})")
        return evicted

    def _heaviest(self, exclude: bytes) -> bytes | None:
        best, most = None, 0.0
        for client, cost in self._client_cost.items():
            if client != exclude and cost > most and self._newest_untouched(client) is not None:
                best, most = client, cost
        return best

    def _newest_untouched(self, client: bytes) -> Work | None:
        queue = self._queues.get(client)
        for task in reversed(queue or ()):
            if task.work.started == 0 and task.work.reason is None:
                return task.work
        return None

    # ------------------------------------------------------------------ stopping

    def stop_work(self, work: Work, reason: str) -> bool:
        """Stop ``work``: its queued tasks are dropped, running ones finish their step.
        True when it is finished now (nothing of it running)."""
        if work.reason is None:
            work.reason = reason
        work.stop.set()
        queue = self._queues.get(work.client)
        if queue:
            kept = collections.deque(t for t in queue if t.work is not work)
            self.queued_tasks -= len(queue) - len(kept)
            self.queued_units -= sum(t.units for t in queue if t.work is work)
            self._queues[work.client] = kept
            if not kept:
                self._forget_client_turn(work.client)
        if work.finished:
            self._release(work)
            return True
        return False

    def cancel(self, client: bytes, request_id: str, reason: str = CANCELLED) -> Work | None:
        """Stop the client's request ``request_id``; the Work, or None when not known."""
        work = self.find(client, request_id)
        if work is not None:
            self.stop_work(work, reason)
        return work

    def drop_client(self, client: bytes, reason: str = GONE) -> list[Work]:
        """Stop everything of ``client``; the works finished by that (to answer or forget).
        Its queue goes in one piece (not work by work: a flood leaves thousands)."""
        queue = self._queues.pop(client, None)
        self._deficit.pop(client, None)
        if queue:
            self.queued_tasks -= len(queue)
            self.queued_units -= sum(t.units for t in queue)
        finished = []
        for work in self.works(client):
            if work.reason is None:
                work.reason = reason
            work.stop.set()
            if work.finished:
                self._release(work)
                finished.append(work)
        return finished

    def drop_all(self, reason: str = GONE) -> list[Work]:
        finished = []
        for client in {c for c, _ in self._works}:
            finished += self.drop_client(client, reason)
        return finished

    def expire(self, now: float) -> list[Work]:
        """Stop the works whose deadline has passed; those finished by that."""
        finished = []
        while self._deadlines and self._deadlines[0][0] < now:
            _, _, work = heapq.heappop(self._deadlines)
            # Work whose every task already runs is let finish: it costs nothing more.
            live = work.reason is None and work.started < work.tasks
            if live and self.stop_work(work, DEADLINE):
                finished.append(work)
        return finished

    def _forget_client_turn(self, client: bytes) -> None:
        self._queues.pop(client, None)
        self._deficit.pop(client, None)

    def _release(self, work: Work) -> None:
        if self._works.pop((work.client, work.request_id), None) is None:
            return
        left = self.client_cost(work.client) - work.cost
        if left > 1e-9:
            self._client_cost[work.client] = left
        else:
            self._client_cost.pop(work.client, None)
        self.accepted_cost = max(0.0, self.accepted_cost - work.cost)

    def requeue(self, task: Task) -> bool:
        """Put a handed-out task back at the head of its client's queue (its runner was
        lost); True when its Work was stopped meanwhile and is finished now."""
        work = task.work
        work.started -= 1
        if work.reason is not None:
            if work.finished:
                self._release(work)
                return True
            return False
        queue = self._queues.get(work.client)
        if queue is None:
            queue = self._queues[work.client] = collections.deque()
            self._queues.move_to_end(work.client, last=False)
            self._deficit[work.client] = 0.0
        queue.appendleft(task)
        self.queued_tasks += 1
        self.queued_units += task.units
        return False

    def finish(self, task: Task, result: Any = None) -> bool:
        """Record that ``task`` ran; True when its Work is now finished (to be answered)."""
        work = task.work
        work.done += 1
        if work.reason is None:
            work.results.append((task.index, result))
        if work.finished:
            self._release(work)
            return True
        return False

    # ------------------------------------------------------------------ scheduling

    def next_batch(self, max_units: int, fits: Callable[[Task], bool] | None = None) -> list[Task]:
        """Remove and return the next tasks to run together, in deficit-round-robin order.

        They share one ``batch_key`` (the first chosen task's) and fill at most ``max_units``
        (a first task larger than that runs alone); ``fits`` may refuse tasks for now (the
        broker's rule for workers' capacity). Clients whose next task cannot join are passed
        over without credit and keep their place in the turn.
        """
        batch: list[Task] = []
        state = _Batch(max_units)
        # Each pass either takes a task, fast-forwards the credits so that the next pass
        # takes one, or ends: so passes are bounded by the tasks taken plus one.
        for _ in range(max_units + self.queued_tasks + 2):
            if state.room <= 0 or not self._queues or state.alone:
                break
            took = self._round(batch, state, fits)
            if not took and not self._fast_forward(state, fits):
                break
        return batch

    def _round(self, batch: list[Task], state: _Batch, fits) -> bool:
        took = False
        for client in list(self._queues):
            if state.room <= 0 or state.alone:
                break
            position = self._candidate(client, state, fits)
            if position is None:
                continue  # passed over: no credit, keeps its place
            self._deficit[client] += self.quantum
            while position is not None:
                queue = self._queues[client]
                task = queue[position]
                if task.cost > self._deficit[client] + 1e-9:
                    break
                del queue[position]
                self.queued_tasks -= 1
                self.queued_units -= task.units
                self._deficit[client] -= task.cost
                task.work.started += 1
                batch.append(task)
                state.take(task)
                took = True
                position = self._candidate(client, state, fits)
            if self._queues[client]:
                self._queues.move_to_end(client)
            else:
                self._forget_client_turn(client)
        return took

    def _candidate(self, client: bytes, state: _Batch, fits) -> int | None:
        """Index in ``client``'s queue of its first task that may join the batch, or None."""
        queue = self._queues.get(client)
        if not queue or state.room <= 0 or state.alone:
            return None
        for position, task in enumerate(itertools.islice(queue, SCAN_DEPTH)):
            if state.accepts(task) and (fits is None or fits(task)):
                return position
            if state.key is _UNSET:
                return None  # the batch's first task is this client's head or nothing
        return None

    def _fast_forward(self, state: _Batch, fits) -> bool:
        """Credit every client the rounds that the first of them needs to run a task;
        False when no client has a task that could join."""
        rounds = math.inf
        for client, queue in self._queues.items():
            position = self._candidate(client, state, fits)
            if position is not None:
                need = queue[position].cost - self._deficit[client]
                rounds = min(rounds, max(0, math.ceil(need / self.quantum - 1e-9) - 1))
        if rounds is math.inf:
            return False
        for client in self._queues:
            if self._candidate(client, state, fits) is not None:
                self._deficit[client] += rounds * self.quantum
        return True

    def tasks(self) -> Iterator[Task]:
        for queue in self._queues.values():
            yield from queue


_UNSET = object()


class _Batch:
    """The batch being formed: its key, room left, and whether it must run alone."""

    def __init__(self, max_units: int) -> None:
        self.room = max_units
        self.key: Any = _UNSET
        self.alone = False

    def accepts(self, task: Task) -> bool:
        if self.key is _UNSET:
            return True
        return task.batch_key is not None and task.batch_key == self.key and task.units <= self.room

    def take(self, task: Task) -> None:
        if self.key is _UNSET:
            self.key = task.batch_key
            self.alone = task.batch_key is None
        self.room -= task.units
