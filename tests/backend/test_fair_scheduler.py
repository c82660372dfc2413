"""The fair queue alone (no sockets, no threads): deficit round robin by cost, admission
that refuses the client holding the most, deadlines, cancellation, departed clients."""

from __future__ import annotations

import collections

import pytest

from kinetic_gan.serve.scheduler import (
    BUSY,
    CANCELLED,
    DEADLINE,
    GONE,
    DuplicateId,
    FairQueue,
    Refused,
    Task,
    Work,
)


def work(client: bytes, rid: str, cost: float, pieces: int = 1, deadline=None):
    w = Work(client, rid, cost, deadline=deadline)
    each = cost / pieces
    return w, [Task(w, i, each, units=int(each), batch_key="m") for i in range(pieces)]


def admit(queue: FairQueue, client: bytes, rid: str, cost: float, pieces: int = 1, **kw):
    w, tasks = work(client, rid, cost, pieces, **kw)
    return w, queue.admit(w, tasks)


def drain(queue: FairQueue, max_units: int, batches: int) -> list[list[Task]]:
    out = []
    for _ in range(batches):
        batch = queue.next_batch(max_units)
        if not batch:
            break
        for task in batch:
            queue.finish(task)
        out.append(batch)
    return out


def test_clients_get_equal_cost_whatever_their_request_sizes():
    queue = FairQueue(limit=10_000)
    for i in range(40):
        admit(queue, b"big", f"b{i}", 16, pieces=1)
    for i in range(400):
        admit(queue, b"small", f"s{i}", 1)
    served: collections.Counter[bytes] = collections.Counter()
    for batch in drain(queue, 32, 20):
        for task in batch:
            served[task.work.client] += task.cost
    assert served[b"big"] > 0 and served[b"small"] > 0
    assert abs(served[b"big"] - served[b"small"]) <= 16 + 32  # one task and one batch apart


def test_a_newcomer_runs_in_the_next_batch_behind_a_flood():
    queue = FairQueue(limit=10_000)
    for i in range(200):
        admit(queue, b"flood", f"f{i}", 1)
    queue.next_batch(64)  # the flood has the device
    admit(queue, b"polite", "p0", 1)
    assert b"polite" in {t.work.client for t in queue.next_batch(64)}


def test_a_large_request_is_served_in_pieces_between_others():
    queue = FairQueue(limit=10_000)
    admit(queue, b"big", "b", 256, pieces=4)  # four 64-sample pieces
    admit(queue, b"small", "s0", 1)
    admit(queue, b"small", "s1", 1)
    order = [[t.work.request_id for t in batch] for batch in drain(queue, 64, 10)]
    assert "s0" in order[0] and "b" not in order[0]  # the cheap ones do not wait for 256
    assert sum(batch.count("b") for batch in order) == 4


def test_batches_hold_one_key_and_never_exceed_the_room():
    queue = FairQueue(limit=10_000)
    for i in range(10):
        w = Work(b"a", f"a{i}", 3)
        queue.admit(w, [Task(w, 0, 3, units=3, batch_key="m" if i % 2 else "n")])
    for batch in drain(queue, 8, 10):
        assert len({t.batch_key for t in batch}) == 1 and sum(t.units for t in batch) <= 8
    assert len(queue) == 0


def test_work_of_another_kind_runs_alone():
    queue = FairQueue(limit=10_000)
    shot = Work(b"c", "shot", 500, kind="compose")
    queue.admit(shot, [Task(shot, 0, 500, units=1, batch_key=None)])
    admit(queue, b"d", "g", 1)
    batches = drain(queue, 64, 5)
    assert [len(b) for b in batches] == [1, 1]
    assert {b[0].work.kind for b in batches} == {"compose", "generate"}


def test_when_full_the_heaviest_client_is_refused():
    queue = FairQueue(limit=8)
    for i in range(8):
        admit(queue, b"flood", f"f{i}", 1)
    with pytest.raises(Refused):
        admit(queue, b"flood", "f8", 1)


def test_a_client_with_nothing_queued_is_admitted_and_the_heaviest_pushed_out():
    queue = FairQueue(limit=8)
    flood = [admit(queue, b"flood", f"f{i}", 1)[0] for i in range(8)]
    _, evicted = admit(queue, b"polite", "p", 1)
    assert evicted == [flood[-1]] and flood[-1].reason == BUSY
    assert queue.accepted_cost == 8 and queue.client_cost(b"polite") == 1
    # A second client with work of its own but less than the flood still gets in.
    _, evicted = admit(queue, b"polite", "p2", 1)
    assert evicted == [flood[-2]]


def test_the_hard_ceiling_holds_for_everyone():
    queue = FairQueue(limit=4, ceiling=6)
    admit(queue, b"a", "a", 4)
    queue.next_batch(4)  # running: cannot be pushed out
    admit(queue, b"b", "b", 2)  # nothing queued: admitted up to the ceiling
    queue.next_batch(4)
    with pytest.raises(Refused):  # nothing left to push out, and over the ceiling
        admit(queue, b"c", "c", 1)


def test_a_duplicate_id_from_one_client_is_refused():
    queue = FairQueue(limit=100)
    admit(queue, b"a", "x", 1)
    admit(queue, b"b", "x", 1)  # another client may use the same id
    with pytest.raises(DuplicateId):
        admit(queue, b"a", "x", 1)


def test_cancel_drops_queued_pieces_and_lets_the_running_one_finish():
    queue = FairQueue(limit=100)
    w, _ = admit(queue, b"a", "long", 40, pieces=4)
    running = queue.next_batch(10)
    assert [t.index for t in running] == [0]
    assert queue.cancel(b"a", "long") is w and w.reason == CANCELLED and w.should_stop()
    assert len(queue) == 0  # the three queued pieces are gone
    assert not w.finished
    assert queue.finish(running[0]) and w.finished and queue.accepted_cost == 0
    assert queue.cancel(b"a", "long") is None and queue.cancel(b"b", "other") is None


def test_expired_work_is_dropped_before_it_runs():
    queue = FairQueue(limit=100)
    late, _ = admit(queue, b"a", "late", 1, deadline=10.0)
    admit(queue, b"a", "fine", 1, deadline=1e12)
    assert queue.expire(now=11.0) == [late] and late.reason == DEADLINE
    assert [t.work.request_id for t in queue.next_batch(10)] == ["fine"]


def test_a_departed_client_loses_its_queue_only():
    queue = FairQueue(limit=100)
    for i in range(5):
        admit(queue, b"gone", f"g{i}", 1)
    admit(queue, b"stays", "s", 1)
    dropped = queue.drop_client(b"gone", GONE)
    assert len(dropped) == 5 and all(w.reason == GONE for w in dropped)
    assert [t.work.client for t in queue.next_batch(10)] == [b"stays"]


def test_fits_holds_back_tasks_without_stalling_the_others():
    queue = FairQueue(limit=100)
    admit(queue, b"a", "a", 5)
    admit(queue, b"b", "b", 1)
    chosen = queue.next_batch(1, fits=lambda task: task.work.client == b"b")
    assert [t.work.client for t in chosen] == [b"b"]
    assert queue.next_batch(1, fits=lambda task: False) == []
    assert [t.work.client for t in queue.next_batch(1)] == [b"a"]


def test_a_requeued_task_runs_again_first():
    queue = FairQueue(limit=100)
    admit(queue, b"a", "a0", 1)
    admit(queue, b"a", "a1", 1)
    first = queue.next_batch(1)[0]
    assert not queue.requeue(first)
    assert queue.next_batch(1)[0] is first
