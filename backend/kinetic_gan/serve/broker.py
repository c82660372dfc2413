"""A broker between clients and generation workers (Paranoid Pirate heartbeats).

Clients connect to the *frontend* (a ROUTER) and speak the ordinary protocol: to them the
broker is a server. Workers (``kinetic-gan serve --connect``) connect to the *backend*
(another ROUTER) and speak the small worker protocol of ``worker_protocol.py``. The broker
reads a request's header only for its id, op, cost and deadline; workers do all the checking.

A worker silent for ``liveness`` heartbeats is dropped and its in-flight requests go back to
the head of the queue for another worker, so a killed worker loses no request. A reply is
taken only from the worker its ``seq`` was sent to, and only while that worker holds it; any
other (a late duplicate, a forgery by another peer) is dropped.

Fairness (docs/protocol.md, "Fair serving"): requests wait in a
:class:`~kinetic_gan.serve.scheduler.FairQueue`, accounted per client by cost, and go to the
workers in deficit-round-robin order. A worker is sent no more than its capacity (in cost)
except by a client with less than half a capacity in flight (or nothing), so a worker's
queue is never filled by one client while another waits; the worker's own scheduler then
serves that request in its next batch. When the queue is full the client holding the most
is refused.
Deadlines are kept here too (what is left of one travels on to the worker), ``cancel`` drops
a queued request or is passed to the worker that holds it, and a client that disconnects
has its queued requests dropped and its workers told to forget it.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import zmq

from kinetic_gan.memory import release_free_memory
from kinetic_gan.serve import protocol
from kinetic_gan.serve.peers import PeerWatch
from kinetic_gan.serve.scheduler import (
    CANCELLED,
    GONE,
    DuplicateId,
    FairQueue,
    Refused,
    Task,
    Work,
)
from kinetic_gan.serve.worker_protocol import (
    DISCONNECT,
    FORGET,
    HEARTBEAT,
    HEARTBEAT_S,
    LIVENESS,
    PROTOCOL,
    READY,
    REPLY,
    REQUEST,
)

log = logging.getLogger("kinetic_gan.broker")

# Unread replies queued for one client (ZMQ_SNDHWM) before further ones are dropped.
REPLIES_PER_CLIENT = 4
# Requests one worker holds at most, whatever their cost (pings and cancels cost nothing).
MAX_WORKER_REQUESTS = 1024
# Messages read per loop turn: a flood of client requests (mostly refused) is read in short
# runs, so that replies coming back and requests going out wait for no more than one run.
WORKER_MESSAGES, CLIENT_MESSAGES = 1024, 128
# Replies held per client beyond ZeroMQ's REPLIES_PER_CLIENT, in bytes.
BACKLOG_BYTES = 1 << 20
# Departed client identities remembered (to drop what they sent before leaving).
DEPARTED_KEPT = 4096
# How often queued requests are checked against queue_ttl_s.
TTL_SWEEP_S = 1.0


@dataclass
class Worker:
    identity: bytes
    capacity: int
    expires: float
    in_flight: dict[int, Pending] = field(default_factory=dict)
    load: float = 0.0  # cost of the requests in flight
    draining: bool = False
    last_sent: float = 0.0


@dataclass
class Pending:
    """A client request held by the broker until a worker answers it."""

    seq: int
    envelope: list[bytes]  # client identity (+ empty delimiter): how to answer
    body: list[bytes]
    queued_at: float
    attempts: int = 0
    worker: bytes | None = None
    request_id: str | None = None
    cost: float = 0.0
    task: Task | None = None  # None: a cancel passed on to a worker (no queue entry)
    reply_id: str | None = None  # the id to answer with (None when it could not be read)


@dataclass(frozen=True)
class BrokerConfig:
    heartbeat_s: float = HEARTBEAT_S
    liveness: int = LIVENESS
    max_queue: int = 10_000  # requests held (queued or at workers) before answering "busy"
    max_client_queue: int = 64  # queued requests per client before answering it "busy"
    max_attempts: int = 3  # workers a request may be lost on before answering "internal"
    queue_ttl_s: float = 60.0  # the client has long given up on a request queued this long
    max_message_bytes: int = protocol.MAX_REQUEST_BYTES  # client frames (ZMQ_MAXMSGSIZE)
    # Cost (samples) held past which the client holding the most is refused (or pushed out).
    max_pending: int = 16_384
    quantum: float = 1.0  # credit (samples) per client per turn


def parse_capacity(frames: list[bytes]) -> int:
    try:
        return max(0, min(int(frames[0]), 100_000)) if frames else 1
    except ValueError:
        return 1


def reply_id(header: dict) -> str | None:
    raw = header.get("id")
    return raw if isinstance(raw, str) and 0 < len(raw) <= protocol.MAX_ID_CHARS else None


def peek_header(body: list[bytes]) -> dict:
    """A request's header as far as the broker needs it ({} when it is not JSON)."""
    if not body:
        return {}
    try:
        header = json.loads(body[0])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return header if isinstance(header, dict) else {}


class Broker:
    def __init__(self, frontend: zmq.Socket, backend: zmq.Socket, config: BrokerConfig) -> None:
        self.frontend, self.backend, self.config = frontend, backend, config
        self.workers: dict[bytes, Worker] = {}
        self.queue = FairQueue(config.max_pending, 2 * config.max_pending, config.quantum)
        self.in_flight: dict[int, Pending] = {}
        # Per client: requests and cost at workers.
        self._client_in_flight: collections.Counter[bytes] = collections.Counter()
        self._client_load: collections.Counter[bytes] = collections.Counter()
        self._next_seq = 0
        self._last_beat = 0.0
        self._last_sweep = 0.0
        self.watch = PeerWatch(frontend)
        # A reply ZeroMQ cannot queue now (the client's REPLIES_PER_CLIENT are unread) waits
        # here, up to BACKLOG_BYTES per client: a burst of small replies to a client that
        # does read is delivered, large replies to one that never reads are dropped.
        frontend.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._backlog: dict[bytes, collections.deque[list[bytes]]] = {}
        self._backlog_bytes: dict[bytes, int] = {}
        self.dropped_replies = 0
        self._drop_logged = 0.0
        self._departed: set[bytes] = set()

    @property
    def queued(self) -> int:
        return len(self.queue)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        tick_ms = max(1, int(self.config.heartbeat_s * 1000 / 4))
        try:
            while not stop.is_set():
                events = dict(poller.poll(5 if self._backlog else tick_ms))
                self._flush_backlog()
                if self.backend in events:
                    self._drain(self.backend, self._from_worker, WORKER_MESSAGES)
                for client in self.watch.gone():
                    self._client_left(client)
                if self.frontend in events:
                    self._drain(self.frontend, self._from_client, CLIENT_MESSAGES, self.watch)
                now = time.monotonic()
                self._expire(now)
                self._dispatch(now)
                self._heartbeat(now)
        finally:
            self.watch.close()

    @staticmethod
    def _drain(sock: zmq.Socket, handle, most: int, watch: PeerWatch | None = None) -> None:
        for _ in range(most):
            if not sock.poll(0, zmq.POLLIN):
                return
            frames = sock.recv_multipart(copy=False)
            if len(frames) > protocol.MAX_FRAMES + 8:
                # More frames than any message of ours: drop it unread (ZeroMQ bounds each
                # frame, not their number) and give the memory back at once.
                count = len(frames)
                del frames
                release_free_memory()
                log.warning("dropped a message of %d frames", count)
                continue
            try:
                if watch is not None:
                    watch.seen(frames[0], frames[0].bytes)
                frames = [frame.bytes for frame in frames]
                handle(frames)
            except Exception:
                # One bad message is dropped; the broker keeps routing.
                log.exception("dropped a message that broke the broker")

    # ------------------------------------------------------------------ clients

    def _from_client(self, frames: list[bytes]) -> None:
        if len(frames) > 1 and frames[1] == b"":
            envelope, body = frames[:2], frames[2:]
        else:
            envelope, body = frames[:1], frames[1:]
        client = envelope[0]
        if client in self._departed:
            return  # sent before it left, read only now: nobody to serve
        header = peek_header(body)
        if header.get("op") == "cancel":
            self._cancel(envelope, body, header)
            return
        held = len(self.queue) + len(self.in_flight)
        if held >= self.config.max_queue:
            self._answer_error(envelope, reply_id(header), "busy", f"{held} requests queued")
            return
        mine = self.queue.queued_count(client)
        if mine >= self.config.max_client_queue:
            self._answer_error(
                envelope,
                reply_id(header),
                "busy",
                f"{mine} of your requests queued (limit {self.config.max_client_queue})",
            )
            return
        self._next_seq += 1
        now = time.monotonic()
        request_id = reply_id(header) or f"?{self._next_seq}"
        pending = Pending(
            self._next_seq,
            envelope,
            body,
            now,
            request_id=request_id,
            cost=protocol.request_cost(header),
            reply_id=reply_id(header),
        )
        deadline_ms = protocol.request_deadline_ms(header)
        work = Work(
            client,
            request_id,
            pending.cost,
            kind=str(header.get("op", "?")),
            deadline=None if deadline_ms is None else now + deadline_ms / 1000.0,
            payload=pending,
            arrived=now,
        )
        pending.task = Task(work, 0, pending.cost, units=1, batch_key=0, payload=pending)
        try:
            evicted = self.queue.admit(work, [pending.task])
        except DuplicateId:
            work.request_id = f"{request_id}#{self._next_seq}"  # still served; not cancellable
            evicted = self.queue.admit(work, [pending.task])
        except Refused as exc:
            self._answer_error(envelope, reply_id(header), "busy", str(exc))
            return
        for victim in evicted:
            self._answer_error(
                victim.payload.envelope,
                victim.payload.reply_id,
                "busy",
                "pushed out of a full queue by lighter clients' requests",
            )

    def _cancel(self, envelope: list[bytes], body: list[bytes], header: dict) -> None:
        """Drop the target when it waits here; pass the cancel to its worker when it runs."""
        client = envelope[0]
        try:
            target = protocol.parse_cancel(header)
        except protocol.ProtocolError as exc:
            self._answer_error(envelope, reply_id(header), exc.code, exc.message)
            return
        work = self.queue.find(client, target)
        holder = self.workers.get(work.payload.worker) if work is not None else None
        if work is not None and work.started and holder is not None:
            self._next_seq += 1
            order = Pending(
                self._next_seq, envelope, body, time.monotonic(), worker=holder.identity
            )
            seq = order.seq.to_bytes(8, "big")
            if self._send(self.backend, [holder.identity, PROTOCOL, REQUEST, seq, client, *body]):
                holder.in_flight[order.seq] = order
                self.in_flight[order.seq] = order
                return
        found = work is not None
        if found and self.queue.stop_work(work, CANCELLED):
            self._answer_error(
                work.payload.envelope, work.payload.reply_id, "cancelled", "cancelled by the client"
            )
        reply = protocol.ok_reply(header.get("id"), "cancel", {"target": target, "found": found})
        self._to_client([*envelope, *reply])

    def _client_left(self, client: bytes) -> None:
        """Its queued requests are dropped; workers holding some are told to forget it."""
        if len(self._departed) > DEPARTED_KEPT:  # identities are per connection
            self._departed.clear()
        self._departed.add(client)
        self._backlog.pop(client, None)
        self._backlog_bytes.pop(client, None)
        self.queue.drop_client(client, GONE)
        holders = {p.worker for p in self.in_flight.values() if p.envelope[0] == client}
        for identity in holders:
            if identity in self.workers:
                self._send(self.backend, [identity, PROTOCOL, FORGET, client])
        log.debug("client left id=%s workers_told=%d", client[:16].hex(), len(holders))

    def _answer_error(
        self, envelope: list[bytes], request_id: str | None, code: str, text: str
    ) -> None:
        self._to_client([*envelope, *protocol.error_reply(request_id, code, text)])

    # ------------------------------------------------------------------ workers

    def _from_worker(self, frames: list[bytes]) -> None:
        if len(frames) < 3 or frames[1] != PROTOCOL:
            return  # not a worker of ours; nothing to answer
        identity, kind, rest = frames[0], frames[2], frames[3:]
        now = time.monotonic()
        worker = self.workers.get(identity)
        if kind in (READY, HEARTBEAT):
            if worker is None:
                worker = Worker(identity, parse_capacity(rest), 0.0)
                self.workers[identity] = worker
                log.info(
                    "worker joined id=%s capacity=%d workers=%d",
                    identity.hex(),
                    worker.capacity,
                    len(self.workers),
                )
            worker.capacity = parse_capacity(rest)
            worker.draining = False
        elif kind == DISCONNECT and worker is not None:
            worker.draining = True
        elif kind == REPLY and len(rest) >= 2 and worker is not None:
            self._reply(worker, rest)
        if worker is not None:
            worker.expires = now + self.config.heartbeat_s * self.config.liveness
            if worker.draining and not worker.in_flight and kind == DISCONNECT and rest == [b"0"]:
                # The worker is closing for good and owes nothing.
                del self.workers[identity]
                log.info("worker left id=%s workers=%d", identity.hex(), len(self.workers))

    def _reply(self, worker: Worker, rest: list[bytes]) -> None:
        seq = int.from_bytes(rest[0][:8], "big")
        # Only the worker holding this request may answer it.
        pending = worker.in_flight.pop(seq, None)
        if pending is None:
            log.warning("dropped a reply for seq=%d from id=%s", seq, worker.identity.hex())
            return
        self.in_flight.pop(seq, None)
        if pending.task is not None:
            self._release(worker, pending)
            self.queue.finish(pending.task)
        self._to_client([*pending.envelope, *rest[1:]])

    def _release(self, worker: Worker, pending: Pending) -> None:
        worker.load = max(0.0, worker.load - pending.cost)
        client = pending.envelope[0]
        self._client_in_flight[client] -= 1
        self._client_load[client] -= pending.cost
        if self._client_in_flight[client] <= 0:
            del self._client_in_flight[client], self._client_load[client]

    def _expire(self, now: float) -> None:
        dead = [w for w in self.workers.values() if w.expires < now]
        for worker in dead:
            self._lose(worker)
        for work in self.queue.expire(now):
            self._answer_error(
                work.payload.envelope,
                work.payload.reply_id,
                "deadline",
                "its deadline_ms passed before a worker was free",
            )
        if now - self._last_sweep >= TTL_SWEEP_S:
            self._last_sweep = now
            for work in self.queue.works():
                if not work.started and now - work.arrived > self.config.queue_ttl_s:
                    self.queue.stop_work(work, GONE)

    def _lose(self, worker: Worker) -> None:
        del self.workers[worker.identity]
        lost = [
            self.in_flight.pop(seq)
            for seq in sorted(worker.in_flight, reverse=True)
            if seq in self.in_flight
        ]
        log.warning(
            "worker lost id=%s requeued=%d workers=%d",
            worker.identity.hex(),
            len(lost),
            len(self.workers),
        )
        for pending in lost:  # reversed above, so requeueing at the head keeps arrival order
            if pending.task is None:
                continue  # a cancel passed on: its target is requeued (or answered) itself
            self._release(worker, pending)
            pending.attempts += 1
            pending.worker = None
            work = pending.task.work
            if pending.attempts >= self.config.max_attempts:
                self.queue.stop_work(work, "internal")
                self.queue.requeue(pending.task)
                self._answer_error(
                    pending.envelope,
                    pending.reply_id,
                    "internal",
                    f"request lost with {pending.attempts} workers",
                )
            elif self.queue.requeue(pending.task) and work.reason == CANCELLED:
                self._answer_error(
                    pending.envelope, pending.reply_id, "cancelled", "cancelled by the client"
                )

    def _fits(self, task: Task) -> bool:
        return self._worker_for(task) is not None

    def _worker_for(self, task: Task) -> Worker | None:
        """The least-loaded worker that may take ``task`` now, or None."""
        client = task.work.client
        load = self._client_load.get(client, 0.0)
        # Beyond the workers' capacity a client may still have a little in flight: anything
        # when it has nothing there, else up to half a worker's capacity (one batch). So a
        # light client never waits here for the heavy ones' work to drain.
        exempt_cost = max((w.capacity for w in self.workers.values()), default=0) / 2
        first = self._client_in_flight.get(client, 0) == 0 or load + task.cost <= exempt_cost
        best, best_key = None, None
        for worker in self.workers.values():
            if worker.draining or len(worker.in_flight) >= MAX_WORKER_REQUESTS:
                continue
            within = worker.load + task.cost <= worker.capacity
            if not (within or task.cost == 0 or first):
                continue
            key = (worker.load / max(worker.capacity, 1), worker.last_sent)
            if best_key is None or key < best_key:
                best, best_key = worker, key
        return best

    def _dispatch(self, now: float) -> None:
        for _ in range(len(self.queue)):
            tasks = self.queue.next_batch(1, fits=self._fits)
            if not tasks:
                return
            task = tasks[0]
            pending: Pending = task.payload
            worker = self._worker_for(task)
            body = self._with_deadline_left(task.work, pending.body, now)
            seq = pending.seq.to_bytes(8, "big")
            client = pending.envelope[0]
            if worker is None or not self._send(
                self.backend, [worker.identity, PROTOCOL, REQUEST, seq, client, *body]
            ):
                self.queue.requeue(task)
                return
            pending.worker = worker.identity
            worker.in_flight[pending.seq] = pending
            worker.load += pending.cost
            worker.last_sent = now
            self._client_in_flight[client] += 1
            self._client_load[client] += pending.cost
            self.in_flight[pending.seq] = pending

    @staticmethod
    def _with_deadline_left(work: Work, body: list[bytes], now: float) -> list[bytes]:
        """The request with its ``deadline_ms`` made what is left of it (the time it waited
        here is spent); unchanged without a deadline."""
        if work.deadline is None:
            return body
        header = peek_header(body)
        header["deadline_ms"] = max(1.0, round((work.deadline - now) * 1000.0, 1))
        return [json.dumps(header, separators=(",", ":")).encode(), *body[1:]]

    def _heartbeat(self, now: float) -> None:
        if now - self._last_beat < self.config.heartbeat_s:
            return
        self._last_beat = now
        for worker in self.workers.values():
            self._send(self.backend, [worker.identity, PROTOCOL, HEARTBEAT])

    def _to_client(self, frames: list[bytes]) -> None:
        peer = frames[0]
        if peer not in self._backlog:
            try:
                self.frontend.send_multipart(frames, flags=zmq.NOBLOCK)
                return
            except zmq.Again:
                pass
            except zmq.ZMQError:  # EHOSTUNREACH: the client left
                return
        size = sum(len(f) for f in frames)
        held = self._backlog_bytes.get(peer, 0)
        if held + size > BACKLOG_BYTES:
            self.dropped_replies += 1
            now = time.monotonic()
            if now - self._drop_logged >= 1.0:  # a flood drops thousands: one line a second
                self._drop_logged = now
                log.warning(
                    "replies dropped client=%s (not reading) dropped=%d",
                    peer[:16].hex(),
                    self.dropped_replies,
                )
            return
        self._backlog.setdefault(peer, collections.deque()).append(frames)
        self._backlog_bytes[peer] = held + size

    def _flush_backlog(self) -> None:
        for peer in list(self._backlog):
            queue = self._backlog[peer]
            while queue:
                try:
                    self.frontend.send_multipart(queue[0], flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                except zmq.ZMQError:
                    queue.clear()
                    break
                self._backlog_bytes[peer] -= sum(len(f) for f in queue.popleft())
            if not queue:
                del self._backlog[peer], self._backlog_bytes[peer]

    @staticmethod
    def _send(sock: zmq.Socket, frames: list[bytes]) -> bool:
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone (ROUTER_MANDATORY) or its queue is full
            return False
        return True
