"""The generation server: a socket thread that answers requests, a batcher that generates.

The socket thread never runs the generator: ``ping``, ``info``, ``cancel`` and every error
are answered at once, and ``generate`` jobs go to the
:class:`~kinetic_gan.serve.batcher.Batcher`, whose finished work comes back through a pipe
the socket thread polls. So a slow batch delays no ping and no malformed message can stop
the loop. Admission, turns between clients, deadlines and cancellation are the batcher's
:class:`~kinetic_gan.serve.scheduler.FairQueue`'s (docs/protocol.md, "Fair serving").

Two ways to face clients (a *transport*): bound as a ROUTER (a stand-alone server), or
connected as a DEALER worker to a ``kinetic-gan broker`` with heartbeats (Paranoid Pirate).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from kinetic_gan.errors import KineticGanError
from kinetic_gan.memory import release_free_memory
from kinetic_gan.records.shot import ShotError
from kinetic_gan.records.takes import GeneratedSet
from kinetic_gan.serve import protocol
from kinetic_gan.serve import worker_protocol as wp
from kinetic_gan.serve.batcher import Batcher, GeneratorRunner, Job, Output, job_work
from kinetic_gan.serve.compose_job import ComposeJob, compose_work
from kinetic_gan.serve.curve import CurveServer
from kinetic_gan.serve.peers import PeerWatch
from kinetic_gan.serve.scheduler import GONE, DuplicateId, Refused

log = logging.getLogger("kinetic_gan.server")

# A new random seed fits a signed 32-bit integer, so UIs (Blender's IntProperty) can show it.
RANDOM_SEED_LIMIT = 2**31
# Frames of one inbound message: routing envelope (broker: 5 frames) + header + arrays.
MAX_INBOUND_FRAMES = protocol.MAX_FRAMES + 8
# Why a work was stopped -> the error code its reply carries ("reset": no reply at all, the
# broker that sent it is gone and has given it to another worker).
STOPPED_CODES = {
    "cancelled": "cancelled",
    "gone": "cancelled",
    "deadline": "deadline",
    "busy": "busy",
    "internal": "internal",
}
RESET = "reset"
STATS_S = 10.0  # how often the counters are logged while the server works


def server_version() -> str:
    try:
        from importlib.metadata import version

        return version("kinetic-gan")
    except Exception:
        return "0.1.0"


@dataclass(frozen=True)
class ServeConfig:
    max_batch: int = 64  # samples per device batch; 1 turns batching off
    max_delay_ms: float = 5.0  # longest a batch waits for more requests (only under load)
    max_count: int = 256  # samples per request
    # Samples (cost) accepted but not yet answered past which requests compete for room:
    # the client holding the most is refused (or its newest untouched work pushed out); a
    # client with nothing accepted is always admitted, up to twice this (memory's bound).
    max_pending: int = 4096
    max_client_pending: int = 1024  # samples one client may have accepted and unanswered
    quantum: float = 1.0  # the credit (samples) each client gets per turn of the scheduler
    replies_per_peer: int = 4  # unread replies queued per peer in ZeroMQ (ZMQ_SNDHWM)
    backlog_bytes_per_peer: int = 16 << 20  # then held by us up to this, then dropped
    max_message_bytes: int = protocol.MAX_REQUEST_BYTES  # inbound ZMQ_MAXMSGSIZE, per frame


@dataclass
class Ticket:
    """What the socket thread needs to answer a job once the batcher is done with it."""

    envelope: list[bytes]
    request_id: str
    started: float


@dataclass(frozen=True)
class CancelOrder:
    """A ``cancel`` request: stop this client's request ``target``."""

    target: str


class Dispatcher:
    """Turns one request body into a reply, an accepted job or a cancel order; no sockets,
    no threads."""

    def __init__(self, runners: Sequence[GeneratorRunner], config: ServeConfig) -> None:
        if not runners:
            raise KineticGanError("serve: no models to serve")
        self.runners: dict[str, GeneratorRunner] = {}
        for runner in runners:
            if runner.name in self.runners:
                raise KineticGanError(f"serve: two models are called {runner.name!r}")
            self.runners[runner.name] = runner
        self.default_model = runners[0].name
        self.config = config
        self._info = {
            "server": server_version(),
            "protocol": protocol.PROTOCOL_VERSION,
            "models": [r.describe() for r in runners],
        }

    def handle(
        self, body: Sequence[bytes], client: bytes, pending: int, client_pending: int = 0
    ) -> tuple[str, str, list[bytes] | Job | CancelOrder, str]:
        """``(request_id, op, outcome, status)``: outcome is reply frames, a :class:`Job` or
        a :class:`CancelOrder`.

        ``pending`` is the cost (samples) accepted and not yet answered, ``client_pending``
        the part of it that is this client's (for "busy"; the queue's own admission decides
        the rest); ``status`` is "ok", "accepted" or the error code sent.
        """
        request_id: str | None = None
        op = "?"
        try:
            message = protocol.decode(body, max_array_bytes=self.config.max_message_bytes)
            raw_id = message.header.get("id")
            if isinstance(raw_id, str) and 0 < len(raw_id) <= protocol.MAX_ID_CHARS:
                request_id = raw_id
            request_id, op = protocol.request_op(message.header)
            if op == "ping":
                return request_id, op, protocol.ok_reply(request_id, op, {}), "ok"
            if op == "info":
                return request_id, op, protocol.ok_reply(request_id, op, self._info), "ok"
            if op == "cancel":
                return request_id, op, CancelOrder(protocol.parse_cancel(message.header)), "ok"
            if op == "compose":
                return request_id, op, self._compose_job(message, client), "accepted"
            if client_pending >= self.config.max_client_pending:
                # A flooding client is refused before its request is read further: under a
                # flood this is most of what the socket thread does.
                self._check_quota(1, pending, client_pending)
            job = self._generate_job(message.header, client, pending, client_pending)
            return request_id, op, job, "accepted"
        except protocol.ProtocolError as exc:
            reply = protocol.error_reply(request_id, exc.code, exc.message)
            return request_id or "-", op, reply, exc.code
        except Exception as exc:
            # A bug met by one request fails that request, never the server.
            log.exception("internal error handling id=%s", _printable(request_id or "-", 40))
            reply = protocol.error_reply(request_id, "internal", _one_line(exc))
            return request_id or "-", op, reply, "internal"

    def _generate_job(
        self, header: dict[str, Any], client: bytes, pending: int, client_pending: int
    ) -> Job:
        req = protocol.parse_generate(header)
        name = req.model or self.default_model
        runner = self.runners.get(name)
        if runner is None:
            raise protocol.ProtocolError(
                "unknown_model", f"no model {name[:64]!r} (loaded: {', '.join(self.runners)})"
            )
        if req.count > self.config.max_count:
            raise protocol.ProtocolError(
                "too_large",
                f"count {req.count} is over this server's limit of {self.config.max_count}",
            )
        self._check_quota(req.count, pending, client_pending)
        try:
            label = runner.resolve(req.action)
        except KineticGanError as exc:
            raise protocol.ProtocolError("unknown_action", str(exc)) from None
        seed = (
            req.seed if req.seed is not None else random.SystemRandom().randrange(RANDOM_SEED_LIMIT)
        )
        deadline = None
        if req.deadline_ms is not None:
            deadline = time.monotonic() + req.deadline_ms / 1000.0
        return Job(
            model=name,
            label=label,
            count=req.count,
            seed=seed,
            truncation=req.truncation,
            vary_noise=req.vary_noise,
            client=client,
            deadline=deadline,
            mix_seed=req.mix_seed,
            mix=req.mix,
        )

    def _compose_job(self, message: protocol.Message, client: bytes) -> ComposeJob:
        shot, model, deadline_ms = protocol.parse_compose(message)
        runner = self._runner(model)
        card = runner.card
        try:
            shot = shot.checked(list(card.class_names), float(card.fps))
        except ShotError as exc:
            code = "unknown_action" if "unknown action" in str(exc) else "bad_request"
            raise protocol.ProtocolError(code, str(exc)) from None
        deadline = None if deadline_ms is None else time.monotonic() + deadline_ms / 1000.0
        return ComposeJob(model=runner.name, request=shot, client=client, deadline=deadline)

    def _runner(self, model: str | None) -> GeneratorRunner:
        name = model or self.default_model
        runner = self.runners.get(name)
        if runner is None:
            raise protocol.ProtocolError(
                "unknown_model", f"no model {name[:64]!r} (loaded: {', '.join(self.runners)})"
            )
        return runner

    def _check_quota(self, count: int, pending: float, client_pending: float) -> None:
        limit, mine = self.config.max_pending, self.config.max_client_pending
        if client_pending and client_pending + count > mine:
            raise protocol.ProtocolError(
                "busy", f"{client_pending:g} of your samples queued (limit {mine}); try again"
            )
        # Past max_pending the queue decides who is refused (the client holding the most);
        # only the hard ceiling, memory's bound, is checked here.
        if pending and pending + count > 2 * limit:
            raise protocol.ProtocolError(
                "busy", f"{pending:g} samples queued (limit {limit}); try again"
            )

    def reply_for(self, output: Output, ticket: Ticket) -> tuple[list[bytes], str]:
        """Reply frames and a status word for a finished job."""
        job = output.job
        if output.stopped is not None and output.stopped != "internal":
            code = STOPPED_CODES.get(output.stopped, "internal")
            return protocol.error_reply(ticket.request_id, code, output.error or code), code
        if output.error is not None:
            return protocol.error_reply(ticket.request_id, "internal", output.error), "internal"
        if isinstance(job, ComposeJob):
            return protocol.compose_reply(ticket.request_id, output.result), "ok"
        card = self.runners[job.model].card
        names = list(card.class_names)
        takes = GeneratedSet(
            joints=output.joints,
            labels=output.labels,
            class_names=[names[int(i)] for i in output.labels],
            z=output.z,
            fps=card.fps,
            skeleton=card.skeleton,
            joint_names=list(card.joint_names),
            parents=[int(p) for p in card.parents],
            units=card.units,
            model=job.model,
            seed=job.seed,
            truncation=job.truncation,
            vary_noise=job.vary_noise,
        )
        return protocol.generate_reply(ticket.request_id, takes), "ok"


# --------------------------------------------------------------------------- transports


class RouterTransport:
    """A bound ROUTER: clients (REQ, or DEALER with an empty delimiter) connect directly."""

    def __init__(
        self, context: zmq.Context, bind: str, config: ServeConfig, curve: CurveServer | None
    ):
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
        self.socket.setsockopt(zmq.LINGER, 2000)
        # A peer that never reads gets at most this many replies queued in ZeroMQ; with
        # ROUTER_MANDATORY a further send raises instead of queueing, and the reply waits in
        # a small backlog of ours, bounded in bytes, past which it is dropped (and logged).
        self.socket.setsockopt(zmq.SNDHWM, config.replies_per_peer)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.backlog_bytes = config.backlog_bytes_per_peer
        self._backlog: dict[bytes, collections.deque[list[bytes]]] = {}
        self._backlog_size: dict[bytes, int] = {}
        self.dropped = 0
        self._gone: set[bytes] = set()
        if curve is not None:
            curve.secure(self.socket)
        try:
            self.socket.bind(bind)
        except zmq.ZMQError as exc:
            self.socket.close(0)
            raise KineticGanError(f"--bind {bind}: {exc}") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.watch = PeerWatch(self.socket)

    @property
    def busy(self) -> bool:
        """True while replies wait in the backlog (the loop then polls more often)."""
        return bool(self._backlog)

    def departed(self) -> list[bytes]:
        """Clients whose connection closed since the last call (their replies are void)."""
        peers = self.watch.gone()
        for peer in peers:
            self._gone.add(peer)
            self._backlog.pop(peer, None)
            self._backlog_size.pop(peer, None)
        return peers

    def receive(self) -> tuple[list[bytes], bytes, list[bytes]] | None:
        frames = receive_bounded(self.socket, watch=self.watch)
        if frames is None:
            return None
        if len(frames) > 1 and frames[1] == b"":
            return frames[:2], frames[0], frames[2:]
        return frames[:1], frames[0], frames[1:]

    def send(self, envelope: list[bytes], reply: list[bytes]) -> None:
        peer, message = envelope[0], [*envelope, *reply]
        if peer not in self._backlog and self._try_send(peer, message):
            return
        size = sum(len(f) for f in message)
        held = self._backlog_size.get(peer, 0)
        if held + size <= self.backlog_bytes and self._alive(peer):
            self._backlog.setdefault(peer, collections.deque()).append(message)
            self._backlog_size[peer] = held + size
            return
        self._drop(peer, "not reading")

    def _alive(self, peer: bytes) -> bool:
        return peer not in self._gone

    def is_gone(self, peer: bytes) -> bool:
        """True for a client whose connection closed: what it sent before closing and we
        read only now (ZeroMQ queues it) is dropped unread."""
        return peer in self._gone

    def _try_send(self, peer: bytes, message: list[bytes]) -> bool:
        """True when sent or when the peer is gone (nothing left to do); False: try later."""
        try:
            self.socket.send_multipart(message, flags=zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError:  # EHOSTUNREACH: the peer left
            self._gone.add(peer)
            self._drop(peer, "gone")
        return True

    def _drop(self, peer: bytes, reason: str) -> None:
        self.dropped += 1
        log.warning(
            "reply dropped peer=%s reason=%s dropped=%d", peer[:16].hex(), reason, self.dropped
        )

    def tick(self, draining: bool) -> None:
        for peer in list(self._backlog):
            queue = self._backlog[peer]
            while queue:
                message = queue[0]
                if not self._try_send(peer, message):
                    break
                queue.popleft()
                self._backlog_size[peer] -= sum(len(f) for f in message)
            if not queue:
                del self._backlog[peer], self._backlog_size[peer]
        if len(self._gone) > 4096:  # identities are per connection; forget old ones
            self._gone.clear()

    def close(self) -> None:
        self.watch.close()
        self.socket.close()


class WorkerTransport:
    """A DEALER connected to a broker: READY, heartbeats both ways, reconnect on silence."""

    def __init__(
        self,
        context: zmq.Context,
        connect: str,
        capacity: int,
        heartbeat_s: float,
        liveness: int = wp.LIVENESS,
        curve_client: tuple[bytes, bytes, bytes] | None = None,
    ):
        self.context, self.connect, self.capacity = context, connect, capacity
        self.heartbeat_s, self.liveness = heartbeat_s, liveness
        self.curve_client = curve_client
        self.endpoint = connect
        self.socket: zmq.Socket = self._open()
        self._backoff_s = heartbeat_s
        # Set when the broker went silent and we reconnected: it has given our requests to
        # other workers, so the server drops them (and sends no reply).
        self.reset = False

    def _open(self) -> zmq.Socket:
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 2000)
        if self.curve_client is not None:
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self.curve_client
        sock.connect(self.connect)
        sock.send_multipart([wp.PROTOCOL, wp.READY, str(self.capacity).encode()])
        now = time.monotonic()
        self._heard, self._said = now, now
        return sock

    def receive(self) -> tuple[list[bytes], bytes, list[bytes] | None] | None:
        """``(envelope, client, body)``; body None: the broker says that client left."""
        frames = receive_bounded(self.socket)
        self._heard = time.monotonic()
        if frames is None:
            return None
        self._backoff_s = self.heartbeat_s
        if len(frames) >= 4 and frames[0] == wp.PROTOCOL and frames[1] == wp.REQUEST:
            seq, client = frames[2], frames[3]
            return [wp.PROTOCOL, wp.REPLY, seq], client, frames[4:]
        if len(frames) == 3 and frames[0] == wp.PROTOCOL and frames[1] == wp.FORGET:
            return [], frames[2], None
        return None  # a heartbeat, or something that is not ours: it only proves liveness

    def send(self, envelope: list[bytes], reply: list[bytes]) -> None:
        with contextlib.suppress(zmq.Again):
            self.socket.send_multipart([*envelope, *reply], flags=zmq.NOBLOCK)
        self._said = time.monotonic()

    def tick(self, draining: bool) -> None:
        now = time.monotonic()
        if now - self._said >= self.heartbeat_s:
            kind = wp.DISCONNECT if draining else wp.HEARTBEAT
            with contextlib.suppress(zmq.Again):
                self.socket.send_multipart(
                    [wp.PROTOCOL, kind, str(self.capacity).encode()], flags=zmq.NOBLOCK
                )
            self._said = now
        if not draining and now - self._heard > self.heartbeat_s * self.liveness:
            log.warning(
                "broker %s silent for %.1f s; reconnecting", self.connect, now - self._heard
            )
            self.socket.close(0)
            time.sleep(self._backoff_s)
            self._backoff_s = min(self._backoff_s * 2, 32 * self.heartbeat_s)
            self.socket = self._open()
            self.reset = True

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.socket.send_multipart([wp.PROTOCOL, wp.DISCONNECT, b"0"], flags=zmq.NOBLOCK)
        self.socket.close()


def receive_bounded(
    sock: zmq.Socket, most: int = MAX_INBOUND_FRAMES, watch: PeerWatch | None = None
) -> list[bytes] | None:
    """The next message as bytes, or None (dropped unread) when it has over ``most`` frames.

    ZeroMQ caps each frame (ZMQ_MAXMSGSIZE) but not their number, and hands a message over
    only once it is complete. So frames are received without copying, counted, and an
    oversized message is released at once and its memory handed back to the OS.
    """
    frames = sock.recv_multipart(copy=False)
    if len(frames) > most:
        count = len(frames)
        del frames
        release_free_memory()
        log.warning("dropped a message of %d frames (at most %d)", count, most)
        return None
    if watch is not None:
        watch.seen(frames[0], frames[0].bytes)
    return [frame.bytes for frame in frames]


# --------------------------------------------------------------------------- the loop


class Server:
    """Runs a transport + dispatcher + batcher until ``stop`` is set, then drains and returns."""

    def __init__(self, dispatcher: Dispatcher, transport: Any, config: ServeConfig) -> None:
        self.dispatcher = dispatcher
        self.transport = transport
        self.config = config
        self._done: queue.Queue[list[Output]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.batcher = Batcher(
            {name: r for name, r in dispatcher.runners.items()},
            on_done=self._on_done,
            max_batch=config.max_batch,
            max_delay_s=config.max_delay_ms / 1000.0,
            limit=config.max_pending,
            ceiling=2 * config.max_pending,
            quantum=config.quantum,
        )
        self._in_flight = 0
        self._stats_logged = (time.monotonic(), 0)

    def _on_done(self, outputs: list[Output]) -> None:
        # Called on the batcher's thread: hand over, then wake the socket thread.
        self._done.put(outputs)
        os.write(self._wake_w, b"x")

    def run(self, stop: threading.Event) -> None:
        self.batcher.start()
        log.info(
            "listening endpoint=%s models=%s max_batch=%d max_delay_ms=%g",
            self.transport.endpoint,
            ",".join(self.dispatcher.runners),
            self.config.max_batch,
            self.config.max_delay_ms,
        )
        try:
            while not stop.is_set():
                self._step(accept=True)
            log.info("stopping in_flight=%d", self._in_flight)
            while self._in_flight:
                self._step(accept=False)
        finally:
            self.batcher.stop(timeout_s=5.0)
            self.transport.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
        log.info("stopped")

    def _step(self, accept: bool) -> None:
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        if accept:
            poller.register(self.transport.socket, zmq.POLLIN)
        # Replies waiting for a slow reader are retried often; otherwise wake to tick.
        events = dict(poller.poll(5 if getattr(self.transport, "busy", False) else 100))
        if self._wake_r in events:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
            while True:
                try:
                    outputs = self._done.get_nowait()
                except queue.Empty:
                    break
                self._answer_all(outputs)
        for client in getattr(self.transport, "departed", list)():
            self._client_left(client)
        if accept and self.transport.socket in events:
            # Drain what is queued (bounded) so a burst is batched together.
            for _ in range(256):
                if not self.transport.socket.poll(0, zmq.POLLIN):
                    break
                self._receive()
        # Work whose deadline passed is answered now, not when its turn would have come.
        self._answer_all(self.batcher.expire())
        self._log_stats()
        self.transport.tick(draining=not accept)
        if getattr(self.transport, "reset", False):
            self.transport.reset = False
            dropped = self.batcher.drop_all(RESET)
            log.warning("broker lost: dropped %d queued requests", len(dropped))
            self._answer_all(dropped)

    def _log_stats(self) -> None:
        """Every STATS_S while busy: what the device did (the scheduler's own counters)."""
        now, stats = time.monotonic(), self.batcher.stats
        when, batches = self._stats_logged
        if now - when < STATS_S or stats["batches"] == batches:
            return
        self._stats_logged = (now, stats["batches"])
        log.info("stats %s", " ".join(f"{key}={value}" for key, value in sorted(stats.items())))

    def _answer_all(self, outputs: list[Output]) -> None:
        for output in outputs:
            self._answer(output)

    def _receive(self) -> None:
        started = time.perf_counter()
        received = self.transport.receive()
        if received is None:
            return
        envelope, client, body = received
        if body is None:  # the broker says this client left
            self._client_left(client)
            return
        if self._gone(client):
            return
        request_id, op, outcome, status = self.dispatcher.handle(
            body, client, self.batcher.accepted(), self.batcher.accepted(client)
        )
        if isinstance(outcome, (Job, ComposeJob)):
            self._accept(envelope, request_id, outcome, started)
            return
        if isinstance(outcome, CancelOrder):
            work, finished = self.batcher.cancel(client, outcome.target)
            outcome = protocol.ok_reply(
                request_id, op, {"target": outcome.target, "found": work is not None}
            )
            self.transport.send(envelope, outcome)
            self._log(request_id, op, 0, started, status)
            self._answer_all(finished)
            return
        self.transport.send(envelope, outcome)
        self._log(request_id, op, 0, started, status)

    def _gone(self, client: bytes) -> bool:
        is_gone = getattr(self.transport, "is_gone", None)
        return bool(is_gone and is_gone(client))

    def _client_left(self, client: bytes) -> None:
        """What the client queued is dropped, what of it runs stops at its next step."""
        running = self.batcher.accepted(client)
        dropped = self.batcher.drop_client(client, GONE)
        if running:
            log.info("client left peer=%s dropped=%d", client[:16].hex(), len(dropped))
        self._answer_all(dropped)

    def _accept(
        self, envelope: list[bytes], request_id: str, job: Job | ComposeJob, started: float
    ) -> None:
        job.ticket = Ticket(envelope, request_id, started)
        op, count = "generate", getattr(job, "count", 0)
        try:
            if isinstance(job, ComposeJob):
                op, count = "compose", job.frames
                generator = self.dispatcher.runners[job.model].generator
                evicted = self.batcher.submit(*compose_work(job, generator, request_id))
            else:
                evicted = self.batcher.submit(job_work(job, request_id))
        except (Refused, DuplicateId) as exc:
            code = "busy" if isinstance(exc, Refused) else "bad_request"
            self.transport.send(envelope, protocol.error_reply(request_id, code, f"{exc}"))
            self._log(request_id, op, count, started, code)
            return
        self._in_flight += 1
        log.debug("accepted id=%s op=%s count=%d", _printable(request_id, 40), op, count)
        self._answer_all(evicted)

    def _answer(self, output: Output) -> None:
        ticket: Ticket = output.work.ticket if output.work is not None else output.job.ticket
        self._in_flight -= 1
        if output.stopped == RESET:
            return  # its broker is gone and gave it to another worker: nobody to answer
        if output.stopped == GONE and self._gone(ticket.envelope[0] if ticket.envelope else b""):
            return  # its client left (one "client left" line said so); a worker still
            # answers, so that the broker can release the request

        try:
            reply, status = self.dispatcher.reply_for(output, ticket)
        except Exception as exc:
            log.exception("internal error answering id=%s", _printable(ticket.request_id, 40))
            reply = protocol.error_reply(ticket.request_id, "internal", _one_line(exc))
            status = "internal"
        self.transport.send(ticket.envelope, reply)
        if output.error is not None and output.stopped in (None, "internal"):
            log.error("generate failed id=%s error=%s", ticket.request_id, output.error)
        count = getattr(output.job, "count", getattr(output.job, "frames", 0))
        kind = output.work.kind if output.work is not None else "generate"
        self._log(ticket.request_id, kind, count, ticket.started, status)

    @staticmethod
    def _log(request_id: str, op: str, count: int, started: float, status: str) -> None:
        ms = (time.perf_counter() - started) * 1000.0
        log.info(
            "request id=%s op=%s count=%d ms=%.1f status=%s",
            _printable(request_id, 40),
            _printable(op, 16),
            count,
            ms,
            status,
        )


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _printable(text: str, limit: int) -> str:
    # Ids and ops are client-chosen: keep one request on one log line.
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text[:limit])
