"""The ``compose`` op on the server: a shot as one scheduled Work of the batcher.

A shot runs alone on the compute thread (its windows are one optimisation), costed by its
frames (``protocol.compose_cost``); between its optimisation steps the batcher runs the
generate batches queued meanwhile and checks whether the shot was cancelled, its client left
or its deadline passed (``Work.should_stop``), so a long shot neither holds up other clients'
takes nor computes on after a ``cancel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinetic_gan.records.shot import ComposedShot, ShotRequest
from kinetic_gan.serve import protocol
from kinetic_gan.serve.scheduler import DEADLINE, Task, Work


@dataclass
class ComposeJob:
    """One accepted ``compose`` request, checked against its model's classes."""

    model: str
    request: ShotRequest  # checked: actions are class indices
    client: bytes = b""
    deadline: float | None = None  # time.monotonic() past which it is dropped or stopped
    ticket: Any = None

    @property
    def frames(self) -> int:
        return self.request.frames


def compose_work(job: ComposeJob, generator, request_id: str) -> tuple[Work, list[Task]]:
    """The scheduler's record of ``job`` and its one task, run with ``generator``."""
    segments = [[s.action, s.frames] for s in job.request.segments]
    cost = protocol.compose_cost(segments)
    work = Work(client=job.client, request_id=request_id, cost=cost, kind="compose",
                deadline=job.deadline, payload=job, ticket=job.ticket)

    def run(should_stop) -> ComposedShot:
        from kinetic_gan.shots import ShotCancelled, compose

        shot = job.request
        try:
            composed = compose(generator, shot.segments, seed=shot.seed,
                               truncation=shot.truncation, loop=shot.loop, path=shot.path,
                               keys=shot.keys, should_stop=should_stop)
        except ShotCancelled:
            # Stopped between two steps: by a cancel or its client leaving (the reason is
            # set already), else because its deadline passed while it ran.
            if work.reason is None:
                work.reason = DEADLINE
            raise
        return composed.composed()

    return work, [Task(work, 0, cost=cost, units=1, batch_key=None, payload=run)]
