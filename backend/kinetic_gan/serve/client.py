"""A Lazy-Pirate client for a Kinetic-GAN server or broker — stdlib, numpy and pyzmq only.

The Blender add-on bundles this file, ``protocol.py`` and the ``records`` package as they lie
here, hence the relative imports. A request that gets no answer within ``timeout_s`` is sent
again on a fresh socket, at most ``retries`` more times; then :class:`BackendError` says
which address was silent.

    with Client("tcp://127.0.0.1:5555") as c:
        take = c.generate(action="walk", count=2, seed=7)
        take.joints  # (2, T, V, 3) float32, metres
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from ..records.request import GenerateRequest, RequestError
from ..records.shot import ComposedShot, ShotError, ShotRequest
from ..records.takes import GeneratedSet, check_generated
from . import protocol

# How often a waiting call wakes up to look at its cancel event.
_CANCEL_POLL_S = 0.05
# How long a cancelled call waits for the server to confirm its ``cancel`` (so the message
# has left before the socket closes); the call raises Cancelled either way.
_CANCEL_ACK_S = 0.25
# What a reply may hold, so that a hostile or broken server cannot make the client allocate
# without bound: frames of a non-generate reply, and the bytes of one sample in a generate
# reply when the model's size is not known from ``info`` (1024 frames x 32 joints x 3 x 4 B).
MAX_SMALL_REPLY_BYTES = protocol.MAX_HEADER_BYTES
MAX_SAMPLE_BYTES = 1024 * 32 * 3 * 4
# Bytes of one frame of a composed shot at most (32 joints x 3 x 4 B): a shot's reply cap.
MAX_FRAME_BYTES = 32 * 3 * 4
# The client's own code for a reply it refuses (malformed, or not what was asked for): the
# protocol's "bad_request" is what a server says about *our* message, so the two stay apart.
BAD_REPLY = "bad_reply"


class BackendError(Exception):
    """The one error a client raises: ``code`` is "unreachable", "cancelled", "bad_reply"
    (the server's reply was refused) or a protocol code from the server."""

    def __init__(
        self, address: str, code: str, message: str, seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.address = address
        self.code = code
        self.seconds = seconds  # how long "unreachable" waited in all


class Cancelled(BackendError):
    """The caller's cancel event was set while waiting; a late reply is discarded."""


@dataclass(frozen=True)
class CurveKeys:
    """CurveZMQ keys (Z85 text): the server's public key and this client's key pair."""

    server_public: bytes | str
    client_public: bytes | str
    client_secret: bytes | str

    @classmethod
    def from_files(
        cls, server_public_file: str | Path, client_secret_file: str | Path
    ) -> CurveKeys:
        """Keys from ``kinetic-gan keygen`` files: the server's ``.key``, our ``.key_secret``."""
        from zmq.auth import load_certificate

        server_public, _ = load_certificate(str(server_public_file))
        client_public, client_secret = load_certificate(str(client_secret_file))
        if client_secret is None:
            raise ValueError(
                f"{client_secret_file}: holds no secret key (use the .key_secret file)"
            )
        return cls(server_public, client_public, client_secret)


def _z85(key: bytes | str) -> bytes:
    return key.encode("ascii") if isinstance(key, str) else key


class Client:
    """Talks to one address (a server or a broker). Not thread-safe: one thread per Client."""

    def __init__(
        self,
        address: str,
        timeout_s: float = 2.0,
        retries: int = 1,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.address = address
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.curve = curve
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._models: list[dict[str, Any]] = []
        self._max_frame_bytes = MAX_SMALL_REPLY_BYTES
        self._socket_cap = 0

    # ------------------------------------------------------------------ public API

    def ping(self) -> float:
        """Round-trip time of one ``ping`` in seconds."""
        start = time.perf_counter()
        self._call("ping", {})
        return time.perf_counter() - start

    def info(self, *, timeout_s: float | None = None, retries: int | None = None) -> dict[str, Any]:
        """Server version, protocol version and the loaded models (see docs/protocol.md).

        The models are remembered: later ``generate`` replies are then held to their exact
        size. ``timeout_s``/``retries`` override the client's (a quick probe, say).
        """
        result = self._call("info", {}, timeout_s=timeout_s, retries=retries).header["result"]
        models = result.get("models") if isinstance(result, dict) else None
        if isinstance(models, list):
            self._models = [m for m in models if isinstance(m, dict)]
        return result

    def generate(
        self,
        action: str | int,
        *,
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
        **fields: Any,
    ) -> GeneratedSet:
        """Generate takes of ``action``; ``fields`` are the request's others (``count``,
        ``seed``, ``truncation``, ``vary_noise``, ``model``: ``records.request``), and
        ``seed=None`` lets the server pick one.

        ``timeout_s`` overrides the client's per-try timeout (large counts on a CPU server
        take longer). ``cancel``: set it from another thread to abandon the wait at once
        (raises :class:`Cancelled`).
        """
        try:
            req = GenerateRequest.from_fields({"action": action, **fields})
        except RequestError as exc:
            message = f"bad generate request: {exc}"
            raise BackendError(self.address, "bad_request", message) from None  # ours
        self._max_frame_bytes = max(
            MAX_SMALL_REPLY_BYTES, req.count * self._sample_bytes(req.model)
        )
        message = self._call("generate", req.fields(), timeout_s=timeout_s, cancel=cancel)
        return self._generated(message, req.count)

    def compose(
        self,
        shot: ShotRequest,
        *,
        model: str | None = None,
        deadline_ms: float | None = None,
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
    ) -> ComposedShot:
        """Compose ``shot`` into one take (``records.shot.ComposedShot``: the take, raw, and
        each segment's start); ``timeout_s`` and ``cancel`` as for :meth:`generate` (a
        cancel stops the server's optimisation at its next step)."""
        try:
            shot = shot.checked()
            fields, arrays = protocol.compose_fields(shot, model=model, deadline_ms=deadline_ms)
        except (ShotError, RequestError) as exc:
            raise BackendError(self.address, "bad_request", f"bad compose request: {exc}") from None
        self._max_frame_bytes = max(MAX_SMALL_REPLY_BYTES, shot.frames * MAX_FRAME_BYTES)
        message = self._call("compose", fields, timeout_s=timeout_s, cancel=cancel, arrays=arrays)
        try:
            composed = protocol.composed_from_reply(message)
        except protocol.ProtocolError as exc:
            raise self._bad_reply("incomplete compose reply", exc) from None
        if composed.takes.joints.shape[1] != shot.frames:
            raise self._bad_reply("bad compose reply", f"{composed.takes.joints.shape[1]} "
                                  f"frames for a {shot.frames}-frame shot")
        return composed

    def _sample_bytes(self, model: str | None) -> int:
        """Bytes of one sample's joints: exact for a model ``info`` described, else a cap."""
        known = [m for m in self._models if model is None or m.get("name") == model]
        try:
            m = known[0]
            size = int(m["frames"]) * len(m["joint_names"]) * int(m["channels"]) * 4
        except (IndexError, KeyError, TypeError, ValueError):
            return MAX_SAMPLE_BYTES
        return size if 0 < size <= MAX_SAMPLE_BYTES else MAX_SAMPLE_BYTES

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ machinery

    def _open(self) -> zmq.Socket:
        # DEALER rather than REQ: a late reply to an abandoned try is read and discarded by id
        # instead of wedging the socket's send/receive state machine.
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        # ZeroMQ refuses (and disconnects) a frame over this before allocating it.
        sock.setsockopt(zmq.MAXMSGSIZE, self._max_frame_bytes)
        if self.curve is not None:
            sock.curve_serverkey = _z85(self.curve.server_public)
            sock.curve_publickey = _z85(self.curve.client_public)
            sock.curve_secretkey = _z85(self.curve.client_secret)
        sock.connect(self.address)
        return sock

    def _call(
        self,
        op: str,
        fields: dict[str, Any],
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
        retries: int | None = None,
        arrays: dict[str, Any] | None = None,
    ) -> protocol.Message:
        per_try = self.timeout_s if timeout_s is None else float(timeout_s)
        request_id = protocol.new_id()
        frames = protocol.request(op, request_id, arrays, **fields)
        tries = (self.retries if retries is None else int(retries)) + 1
        if op not in ("generate", "compose"):
            self._max_frame_bytes = MAX_SMALL_REPLY_BYTES
        for _ in range(tries):
            if self._socket is not None and self._socket_cap != self._max_frame_bytes:
                self.close()  # the size cap is set when a socket opens
            if self._socket is None:
                self._socket = self._open()
                self._socket_cap = self._max_frame_bytes
            # The empty delimiter makes us look like a REQ socket to the server's ROUTER.
            self._socket.send_multipart([b"", *frames], copy=False)
            message = self._wait(request_id, per_try, cancel)
            if message is not None:
                return self._checked(message, op)
            # Lazy Pirate: the socket may be stuck on a dead peer; start afresh.
            self.close()
        hint = "is `kinetic-gan serve` (or `kinetic-gan broker`) running there?"
        if self.curve is None:
            hint += " (No CurveZMQ keys were given: the server may require them.)"
        raise BackendError(
            self.address,
            "unreachable",
            f"no backend at {self.address} after {per_try * tries:.1f} s"
            + (f" ({tries} tries)" if tries > 1 else "")
            + f": {hint}",
            seconds=per_try * tries,
        )

    def _wait(
        self, request_id: str, timeout_s: float, cancel: threading.Event | None
    ) -> protocol.Message | None:
        assert self._socket is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if cancel is not None and cancel.is_set():
                self._send_cancel(request_id)
                raise Cancelled(self.address, "cancelled", "request cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            step = min(left, _CANCEL_POLL_S) if cancel is not None else left
            if not self._socket.poll(int(step * 1000) + 1, zmq.POLLIN):
                continue
            # Without copying: decode makes the one copy of each array it keeps.
            parts = self._socket.recv_multipart(copy=False)
            if len(parts) > protocol.MAX_FRAMES + 2:
                raise self._bad_reply(
                    "bad reply", f"{len(parts)} frames (at most {protocol.MAX_FRAMES + 1})"
                )
            frames = [part.buffer for part in parts]
            if frames and len(frames[0]) == 0:
                frames = frames[1:]
            try:
                message = protocol.decode(frames)
            except protocol.ProtocolError as exc:
                raise self._bad_reply("bad reply", exc) from None
            if message.header.get("id") == request_id:
                return message
            # else: the answer to an earlier, abandoned try — ignore it.

    def _send_cancel(self, request_id: str) -> None:
        """Tell the server to drop ``request_id`` (on this socket: a cancel counts only from
        the client that sent the request), and wait a moment for it to say so."""
        assert self._socket is not None
        cancel_id = protocol.new_id()
        try:
            self._socket.send_multipart(
                [b"", *protocol.cancel_request(request_id, cancel_id)], flags=zmq.NOBLOCK
            )
        except zmq.ZMQError:
            return
        deadline = time.monotonic() + _CANCEL_ACK_S
        while (left := deadline - time.monotonic()) > 0:
            if not self._socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                return
            parts = self._socket.recv_multipart()
            if len(parts) > protocol.MAX_FRAMES + 2:
                return
            try:
                header = protocol.decode(parts[1:] if parts and not parts[0] else parts).header
            except protocol.ProtocolError:
                return
            if header.get("id") == cancel_id:
                return

    def _checked(self, message: protocol.Message, op: str) -> protocol.Message:
        try:
            error = protocol.reply_error(message.header)
        except protocol.ProtocolError as exc:
            raise self._bad_reply("bad reply", exc) from None
        if error is not None:
            code, text = error
            raise BackendError(self.address, code, f"{op} failed ({code}): {text}")
        return message

    def _generated(self, message: protocol.Message, count: int) -> GeneratedSet:
        try:
            takes = protocol.generated_from_reply(message)
        except protocol.ProtocolError as exc:
            raise self._bad_reply("incomplete generate reply", exc) from None
        problem = check_generated(takes, count)
        if problem:
            raise self._bad_reply("bad generate reply", problem)
        return takes

    def _bad_reply(self, what: str, problem: object) -> BackendError:
        """A reply we refuse: ``what`` from this address, and why."""
        return BackendError(self.address, BAD_REPLY, f"{what} from {self.address}: {problem}")
