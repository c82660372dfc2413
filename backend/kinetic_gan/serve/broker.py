"""A broker between clients and generation workers (Paranoid Pirate heartbeats).

Clients connect to the *frontend* (a ROUTER) and speak the ordinary protocol: to them the
broker is a server. Workers (``kinetic-gan serve --connect``) connect to the *backend*
(another ROUTER) and speak the small worker protocol of ``worker_protocol.py``. The broker
never parses a request beyond its id (to answer "busy"); workers do all the checking.

A worker silent for ``liveness`` heartbeats is dropped and its in-flight requests go back to
the head of the queue for another worker, so a killed worker loses no request. A reply is
taken only from the worker its ``seq`` was sent to, and only while that worker holds it; any
other (a late duplicate, a forgery by another peer) is dropped.

Fairness: each client has its own queue, capped at ``max_client_queue`` requests, and
workers are fed from the client queues in turn (round-robin), so a flooding client fills
only its own queue and never starves the others.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

import zmq

from kinetic_gan.memory import release_free_memory
from kinetic_gan.serve import protocol
from kinetic_gan.serve.worker_protocol import (
    DISCONNECT,
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


@dataclass
class Worker:
    identity: bytes
    capacity: int
    expires: float
    in_flight: set[int] = field(default_factory=set)
    draining: bool = False
    last_sent: float = 0.0

    @property
    def free(self) -> int:
        return 0 if self.draining else self.capacity - len(self.in_flight)


@dataclass
class Pending:
    """A client request held by the broker until a worker answers it."""

    seq: int
    envelope: list[bytes]  # client identity (+ empty delimiter): how to answer
    body: list[bytes]
    queued_at: float
    attempts: int = 0
    worker: bytes | None = None


@dataclass(frozen=True)
class BrokerConfig:
    heartbeat_s: float = HEARTBEAT_S
    liveness: int = LIVENESS
    max_queue: int = 10_000  # queued requests before answering "busy"
    max_client_queue: int = 64  # queued requests per client before answering it "busy"
    max_attempts: int = 3  # workers a request may be lost on before answering "internal"
    queue_ttl_s: float = 60.0  # the client has long given up on a request queued this long
    max_message_bytes: int = protocol.MAX_REQUEST_BYTES  # client frames (ZMQ_MAXMSGSIZE)


def parse_capacity(frames: list[bytes]) -> int:
    try:
        return max(0, min(int(frames[0]), 100_000)) if frames else 1
    except ValueError:
        return 1


class Broker:
    def __init__(self, frontend: zmq.Socket, backend: zmq.Socket, config: BrokerConfig) -> None:
        self.frontend, self.backend, self.config = frontend, backend, config
        self.workers: dict[bytes, Worker] = {}
        # One queue per client, in the order they take turns (the next to serve is first).
        self.queues: collections.OrderedDict[bytes, collections.deque[Pending]] = (
            collections.OrderedDict()
        )
        self.queued = 0
        self.in_flight: dict[int, Pending] = {}
        self._next_seq = 0
        self._last_beat = 0.0

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        tick_ms = max(1, int(self.config.heartbeat_s * 1000 / 4))
        while not stop.is_set():
            events = dict(poller.poll(tick_ms))
            if self.backend in events:
                self._drain(self.backend, self._from_worker)
            if self.frontend in events:
                self._drain(self.frontend, self._from_client)
            now = time.monotonic()
            self._expire(now)
            self._dispatch(now)
            self._heartbeat(now)

    @staticmethod
    def _drain(sock: zmq.Socket, handle) -> None:
        for _ in range(1024):
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
        mine = self.queues.get(client)
        if self.queued >= self.config.max_queue:
            self._answer_error(envelope, body, "busy", f"{self.queued} requests queued")
            return
        if mine is not None and len(mine) >= self.config.max_client_queue:
            self._answer_error(
                envelope,
                body,
                "busy",
                f"{len(mine)} of your requests queued (limit {self.config.max_client_queue})",
            )
            return
        self._next_seq += 1
        self._enqueue(Pending(self._next_seq, envelope, body, time.monotonic()))

    def _enqueue(self, pending: Pending, front: bool = False) -> None:
        queue = self.queues.setdefault(pending.envelope[0], collections.deque())
        if front:
            queue.appendleft(pending)
        else:
            queue.append(pending)
        self.queued += 1

    def _next_pending(self) -> Pending | None:
        """The head of the next client's queue; that client goes to the back of the turn."""
        while self.queues:
            client, queue = next(iter(self.queues.items()))
            if not queue:
                del self.queues[client]
                continue
            pending = queue.popleft()
            self.queued -= 1
            if queue:
                self.queues.move_to_end(client)
            else:
                del self.queues[client]
            return pending
        return None

    def _answer_error(self, envelope: list[bytes], body: list[bytes], code: str, text: str) -> None:
        request_id = None
        with contextlib.suppress(protocol.ProtocolError, IndexError):
            raw = protocol.decode(body[:1]).header.get("id")
            request_id = raw if isinstance(raw, str) and len(raw) <= protocol.MAX_ID_CHARS else None
        self._send(self.frontend, [*envelope, *protocol.error_reply(request_id, code, text)])

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
            seq = int.from_bytes(rest[0][:8], "big")
            # Only the worker holding this request may answer it.
            if seq in worker.in_flight:
                worker.in_flight.discard(seq)
                pending = self.in_flight.pop(seq, None)
                if pending is not None:
                    self._send(self.frontend, [*pending.envelope, *rest[1:]])
            else:
                log.warning("dropped a reply for seq=%d from id=%s", seq, identity.hex())
        if worker is not None:
            worker.expires = now + self.config.heartbeat_s * self.config.liveness
            if worker.draining and not worker.in_flight and kind == DISCONNECT and rest == [b"0"]:
                # The worker is closing for good and owes nothing.
                del self.workers[identity]
                log.info("worker left id=%s workers=%d", identity.hex(), len(self.workers))

    def _expire(self, now: float) -> None:
        dead = [w for w in self.workers.values() if w.expires < now]
        for worker in dead:
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
            for pending in lost:  # reversed above, so appendleft restores arrival order
                pending.attempts += 1
                pending.worker = None
                if pending.attempts >= self.config.max_attempts:
                    self._answer_error(
                        pending.envelope,
                        pending.body,
                        "internal",
                        f"request lost with {pending.attempts} workers",
                    )
                else:
                    self._enqueue(pending, front=True)
        for client, queue in list(self.queues.items()):
            while queue and now - queue[0].queued_at > self.config.queue_ttl_s:
                queue.popleft()
                self.queued -= 1
            if not queue:
                del self.queues[client]

    def _dispatch(self, now: float) -> None:
        while self.queued:
            ready = [w for w in self.workers.values() if w.free > 0]
            if not ready:
                return
            # The least-loaded worker; among equals the one idle longest.
            worker = min(ready, key=lambda w: (len(w.in_flight) / max(w.capacity, 1), w.last_sent))
            pending = self._next_pending()
            if pending is None:
                return
            client = pending.envelope[0]
            seq = pending.seq.to_bytes(8, "big")
            if not self._send(
                self.backend, [worker.identity, PROTOCOL, REQUEST, seq, client, *pending.body]
            ):
                self._enqueue(pending, front=True)
                return
            pending.worker = worker.identity
            worker.in_flight.add(pending.seq)
            worker.last_sent = now
            self.in_flight[pending.seq] = pending

    def _heartbeat(self, now: float) -> None:
        if now - self._last_beat < self.config.heartbeat_s:
            return
        self._last_beat = now
        for worker in self.workers.values():
            self._send(self.backend, [worker.identity, PROTOCOL, HEARTBEAT])

    @staticmethod
    def _send(sock: zmq.Socket, frames: list[bytes]) -> bool:
        try:
            sock.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone (ROUTER_MANDATORY) or its queue is full
            return False
        return True
