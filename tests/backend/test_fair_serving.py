"""Fair serving end to end on loopback (random ports, in-process servers, the numpy stand-in
model of helpers.py): a polite client under a flood, deadlines, cancel, departed clients,
long work stopped at its next step, and the same through a broker with two workers. Work
done is read from the server's own counters (``batcher.stats``). Every wait is bounded."""

from __future__ import annotations

import threading
import time

import pytest
import zmq
from helpers import LiveServer, SeededRunner

from kinetic_gan.serve import protocol
from kinetic_gan.serve.batcher import Batcher
from kinetic_gan.serve.broker import Broker, BrokerConfig
from kinetic_gan.serve.client import BackendError, Client
from kinetic_gan.serve.scheduler import Task, Work
from kinetic_gan.serve.server import Dispatcher, ServeConfig, Server, WorkerTransport

WAIT_S = 20.0


def until(condition, timeout_s: float = WAIT_S) -> bool:
    """Polls ``condition`` (which may read a server's state while its thread changes it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except RuntimeError:  # a dict changed size while we read it: look again
            pass
        time.sleep(0.01)
    return False


class Peer:
    """A raw DEALER client: sends requests with chosen ids, collects replies by id."""

    def __init__(self, address: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)
        self.replies: dict[str, dict] = {}

    def send(self, op: str, rid: str, **fields) -> None:
        self.sock.send_multipart([b"", *protocol.request(op, rid, **fields)])

    def wait(self, rid: str, timeout_s: float = WAIT_S) -> dict:
        deadline = time.monotonic() + timeout_s
        while rid not in self.replies and time.monotonic() < deadline:
            if self.sock.poll(50):
                header = protocol.decode(self.sock.recv_multipart()[1:]).header
                self.replies[header["id"]] = header
        assert rid in self.replies, f"no reply to {rid}"
        return self.replies[rid]

    def close(self) -> None:
        self.sock.close(0)


def code(header: dict) -> str:
    return "ok" if header["ok"] else header["error"]["code"]


@pytest.fixture
def runner():
    return SeededRunner()


def busy_device(live: LiveServer, runner: SeededRunner, count: int = 4) -> Peer:
    """A client whose request holds the device (the runner sleeps) until it is answered."""
    holder = Peer(live.address)
    holder.send("generate", "hold", action=0, count=count, seed=1)
    assert until(lambda: runner.batches), "the first batch never started"
    return holder


# --------------------------------------------------------------------------- the server


def test_a_polite_client_is_served_while_a_flood_is_refused(runner):
    runner.delay_s = 0.02
    live = LiveServer(runner, max_batch=8, max_pending=64, max_client_pending=32)
    flood, polite = Peer(live.address), Peer(live.address)
    try:
        for i in range(200):
            flood.send("generate", f"f{i}", action=0, count=1)
        assert until(lambda: live.server.batcher.accepted() >= 32)
        for i in range(5):
            polite.send("generate", f"p{i}", action=1, count=1, seed=i)
            assert code(polite.wait(f"p{i}")) == "ok"
        codes = [code(flood.wait(f"f{i}")) for i in range(200)]
        assert "busy" in codes and "ok" in codes  # the flood, not the polite client, is refused
    finally:
        flood.close()
        polite.close()
        live.close()


def test_cancel_drops_queued_work_before_any_generator_time(runner):
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    other = Peer(live.address)
    try:
        other.send("generate", "b", action=0, count=4, seed=2)
        assert until(lambda: len(live.server.batcher.queue) >= 1)
        other.send("cancel", "c", target="b")
        assert other.wait("c")["result"] == {"target": "b", "found": True}
        assert code(other.wait("b")) == "cancelled"
        assert code(holder.wait("hold")) == "ok"
        other.send("cancel", "c2", target="b")  # answered already: nothing to find
        assert other.wait("c2")["result"]["found"] is False
        stats = live.server.batcher.stats
        assert stats["units_run"] == 4 and stats["dropped_cancelled"] == 1
        assert runner.batches == [[4]]
    finally:
        holder.close()
        other.close()
        live.close()


def test_a_cancel_counts_only_from_the_client_that_sent_the_request(runner):
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    owner, stranger = Peer(live.address), Peer(live.address)
    try:
        owner.send("generate", "mine", action=0, count=1, seed=3)
        assert until(lambda: len(live.server.batcher.queue) >= 1)
        stranger.send("cancel", "x", target="mine")
        assert stranger.wait("x")["result"]["found"] is False
        assert code(owner.wait("mine")) == "ok"
    finally:
        for peer in (holder, owner, stranger):
            peer.close()
        live.close()


def test_cancel_stops_long_work_at_its_next_step(runner):
    runner.delay_s = 0.1
    live = LiveServer(runner, max_batch=4, max_count=64)
    peer = Peer(live.address)
    try:
        peer.send("generate", "long", action=0, count=64, seed=4)  # 16 pieces of 4
        assert until(lambda: runner.batches)
        peer.send("cancel", "c", target="long")
        peer.wait("c")
        at_cancel = live.server.batcher.stats["units_run"]
        assert code(peer.wait("long")) == "cancelled"
        time.sleep(0.3)  # what would have been the next steps
        stats = live.server.batcher.stats
        assert stats["units_run"] - at_cancel <= 4  # at most the step already running
        assert stats["units_run"] < 64
    finally:
        peer.close()
        live.close()


def test_an_expired_request_is_answered_deadline_and_never_computed(runner):
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    late = Peer(live.address)
    try:
        late.send("generate", "late", action=0, count=1, deadline_ms=20)
        reply = late.wait("late")
        assert code(reply) == "deadline" and "deadline_ms" in reply["error"]["message"]
        assert code(holder.wait("hold")) == "ok"
        late.send("generate", "soon", action=0, count=1, deadline_ms=60_000)
        assert code(late.wait("soon")) == "ok"
        stats = live.server.batcher.stats
        assert stats["units_run"] == 5 and stats["dropped_deadline"] == 1
    finally:
        holder.close()
        late.close()
        live.close()


@pytest.mark.parametrize("value", [0, -5, "10", True, 1e12])
def test_a_bad_deadline_is_a_bad_request(runner, value):
    live = LiveServer(runner)
    peer = Peer(live.address)
    try:
        peer.send("generate", "d", action=0, deadline_ms=value)
        reply = peer.wait("d")
        assert code(reply) == "bad_request" and "deadline_ms" in reply["error"]["message"]
    finally:
        peer.close()
        live.close()


def test_a_departed_clients_queued_work_is_dropped(runner):
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    leaver = Peer(live.address)
    try:
        for i in range(3):
            leaver.send("generate", f"l{i}", action=0, count=4, seed=i)
        assert until(lambda: len(live.server.batcher.queue) >= 3)
        leaver.close()
        assert until(lambda: live.server.batcher.stats["dropped_gone"] >= 3)
        assert code(holder.wait("hold")) == "ok"
        assert live.server.batcher.stats["units_run"] == 4
    finally:
        holder.close()
        live.close()


def test_the_client_sends_cancel_when_its_event_is_set(runner):
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    try:
        cancel = threading.Event()
        with Client(live.address, timeout_s=10, retries=0) as client:
            timer = threading.Timer(0.1, cancel.set)
            timer.start()
            with pytest.raises(BackendError) as info:
                client.generate("walk", count=4, seed=9, cancel=cancel)
            timer.join()
            assert info.value.code == "cancelled"
            assert until(lambda: live.server.batcher.stats["dropped_cancelled"] == 1)
            assert client.generate("walk", seed=5).seed == 5
        assert code(holder.wait("hold")) == "ok"
        assert live.server.batcher.stats["units_run"] == 5
    finally:
        holder.close()
        live.close()


def test_work_of_another_kind_polls_should_stop_and_stops_at_its_next_step():
    done: list = []
    batcher = Batcher({}, done.extend, max_batch=4)
    steps: list[int] = []
    cancelled_at: list[int] = []

    def optimise(should_stop) -> str:
        for step in range(500):  # bounded: a long optimisation of small steps
            if should_stop():
                return f"stopped after {step}"
            steps.append(step)
            time.sleep(0.005)
        return "converged"

    shot = Work(b"artist", "shot", cost=500, kind="compose", payload="a shot")
    batcher.start()
    try:
        batcher.submit(shot, [Task(shot, 0, 500, units=1, batch_key=None, payload=optimise)])
        assert until(lambda: len(steps) >= 3)
        work, finished = batcher.cancel(b"artist", "shot")
        cancelled_at.append(len(steps))
        assert work is shot and finished == []  # still running: answered when it returns
        assert until(lambda: done)
    finally:
        batcher.stop(5)
    assert done[0].stopped == "cancelled" and done[0].work is shot
    assert len(steps) - cancelled_at[0] <= 1


# --------------------------------------------------------------------------- the broker


class BrokerStack:
    """A broker and two in-process workers (the stand-in model), on random loopback ports."""

    def __init__(self, delay_s: float, max_batch: int = 4, **broker_config) -> None:
        self.context = zmq.Context()
        front, back = self.context.socket(zmq.ROUTER), self.context.socket(zmq.ROUTER)
        front.setsockopt(zmq.LINGER, 0)
        back.setsockopt(zmq.LINGER, 0)
        back.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.front = f"tcp://127.0.0.1:{front.bind_to_random_port('tcp://127.0.0.1')}"
        back_address = f"tcp://127.0.0.1:{back.bind_to_random_port('tcp://127.0.0.1')}"
        self.sockets = [front, back]
        self.broker = Broker(front, back, BrokerConfig(heartbeat_s=0.5, **broker_config))
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.broker.run, args=(self.stop,), daemon=True)]
        self.runners, self.servers, self.worker_stops = [], [], []
        config = ServeConfig(max_batch=max_batch)
        for _ in range(2):
            runner = SeededRunner(delay_s=delay_s)
            transport = WorkerTransport(self.context, back_address, 2 * max_batch, 0.5)
            server = Server(Dispatcher([runner], config), transport, config)
            stop = threading.Event()
            self.runners.append(runner)
            self.servers.append(server)
            self.worker_stops.append(stop)
            self.threads.append(threading.Thread(target=server.run, args=(stop,), daemon=True))
        for thread in self.threads:
            thread.start()
        assert until(lambda: len(self.broker.workers) == 2)

    def units_run(self) -> int:
        return sum(s.batcher.stats["units_run"] for s in self.servers)

    def close(self) -> None:
        for stop in self.worker_stops:
            stop.set()
        for thread in self.threads[1:]:
            thread.join(10)
        self.stop.set()
        self.threads[0].join(10)
        for sock in self.sockets:
            sock.close(0)
        self.context.term()


def test_through_the_broker_a_polite_client_overtakes_a_waiting_flood():
    stack = BrokerStack(delay_s=0.1)
    flood, polite = Peer(stack.front), Peer(stack.front)
    try:
        for i in range(64):
            flood.send("generate", f"f{i}", action=0, count=1)
        assert until(lambda: stack.broker.queued >= 32)
        flood_id = next(iter({w.client for w in stack.broker.queue.works()}))
        for i in range(3):
            polite.send("generate", f"p{i}", action=1, count=1, seed=i)
            assert code(polite.wait(f"p{i}")) == "ok"
            # Answered while the flood still waits at the broker: not queued behind it.
            assert stack.broker.queue.queued_count(flood_id) > 0
        assert all(code(flood.wait(f"f{i}")) == "ok" for i in range(64))
    finally:
        flood.close()
        polite.close()
        stack.close()


def test_through_the_broker_cancel_deadline_and_departure():
    stack = BrokerStack(delay_s=1.0)
    holder, client, leaver = Peer(stack.front), Peer(stack.front), Peer(stack.front)
    try:
        # Fill both workers to capacity (2 x 4 samples), so what follows waits at the broker.
        for i in range(2):
            holder.send("generate", f"h{i}", action=0, count=8, seed=i)
        assert until(lambda: all(r.batches for r in stack.runners))
        holder.send("generate", "queued", action=0, count=4)
        holder.send("generate", "late", action=0, count=4, deadline_ms=30)
        assert code(holder.wait("late")) == "deadline"
        holder.send("cancel", "c", target="queued")
        assert holder.wait("c")["result"] == {"target": "queued", "found": True}
        assert code(holder.wait("queued")) == "cancelled"
        holder_id = next(iter({p.envelope[0] for p in stack.broker.in_flight.values()}))
        for i in range(3):
            leaver.send("generate", f"l{i}", action=0, count=4, seed=i)
        assert until(lambda: any(w.client != holder_id for w in stack.broker.queue.works()))
        leaver.close()
        # Its queued requests are dropped here, the one at a worker forgotten there.
        assert until(lambda: all(w.client == holder_id for w in stack.broker.queue.works()))
        for i in range(2):
            assert code(holder.wait(f"h{i}")) == "ok"
        client.send("ping", "still")
        assert code(client.wait("still")) == "ok"
        assert until(lambda: not stack.broker.in_flight)
        # The holder's 16 samples, and at most the leaver's one request that was let through
        # (a client with nothing in flight always gets one) before the workers forgot it.
        assert stack.units_run() <= 16 + 4
    finally:
        for peer in (holder, client):
            peer.close()
        stack.close()



def test_the_add_ons_cancel_sends_cancel_through_the_bundled_client(runner):
    import importlib

    pytest.importorskip("bpy")  # the add-on package imports it
    generation = importlib.import_module("kinetic_gan_blender.core.generation")
    runner.delay_s = 0.3
    live = LiveServer(runner, max_batch=4)
    holder = busy_device(live, runner)
    try:
        walk = generation.GenerateRequest(action="walk", count=4, seed=3)
        job = generation.GenerationJob(generation.Request(live.address, walk, timeout_s=10))
        job.start()
        assert until(lambda: len(live.server.batcher.queue) >= 1)
        job.cancel()  # what the panel's Cancel (Esc) calls
        assert job.wait(10) and job.error_code == "cancelled" and job.result is None
        assert until(lambda: live.server.batcher.stats["dropped_cancelled"] == 1)
        assert code(holder.wait("hold")) == "ok"
        assert live.server.batcher.stats["units_run"] == 4
    finally:
        holder.close()
        live.close()
