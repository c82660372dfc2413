"""Backend requests on a background thread, so Blender's UI never waits on the network.

The operator starts a :class:`GenerationJob`, polls ``done`` from a timer, then applies
the result on the main thread (bpy is not thread-safe). Plain Python: tests drive it
directly, since timers and modal operators never run in background mode.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..vendor.records.request import GenerateRequest


@dataclass(frozen=True)
class Request:
    """What to ask (the backend's own request record) and where."""

    address: str
    generate: GenerateRequest | None = None  # None for a compose (ComposeJob.shot)
    timeout_s: float = 2.0
    curve: Any = None  # vendor.serve.client.CurveKeys or None


# The client's codes (vendor/serve/client.py) for an address nobody answers at, and for a
# reply it refused (malformed, or not the shape, count or fps asked for).
UNREACHABLE = "unreachable"
BAD_REPLY = "bad_reply"


def unreachable_message(address: str) -> str:
    return f"No backend at {address} — start it with `kinetic-gan serve`"


def describe_error(exc: BaseException, address: str) -> str:
    """One line for the artist: what failed and what to do."""
    code = getattr(exc, "code", None)
    if code == UNREACHABLE:
        return unreachable_message(address)
    if code == "cancelled":
        return "Generation cancelled"
    if code == BAD_REPLY:
        # The vendored client checks shape, count and fps against the request, so a broken
        # or hostile server is refused here, before anything is created in the scene.
        return f"Backend at {address} sent an unusable reply: {str(exc).split(': ', 1)[-1]}"
    if code is not None:
        return f"Backend at {address} refused the request ({code}): {exc}"
    return f"Request to {address} failed: {type(exc).__name__}: {exc}"


@dataclass
class GenerationJob:
    """One ``generate`` call running on its own thread."""

    request: Request
    started: float = field(default_factory=time.monotonic)
    result: Any = None
    error: str | None = None  # one line for the artist
    error_code: str | None = None  # the client's code for it (match on this, not the text)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> GenerationJob:
        self._thread = threading.Thread(target=self._run, name="kgan-generate", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from ..vendor.serve.client import Client

        req = self.request
        try:
            # No retry: an artist hears about a dead backend within the configured timeout.
            with Client(req.address, timeout_s=req.timeout_s, retries=0, curve=req.curve) as c:
                self.result = self._call(c)
        except Exception as exc:  # every failure becomes one line for a Blender report
            self.error = describe_error(exc, req.address)
            self.error_code = getattr(exc, "code", None)

    def _call(self, client: Any) -> Any:
        return client.generate(**self.request.generate.fields(), cancel=self._cancel)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def cancel(self) -> None:
        """The panel's Cancel (Esc): the bundled client stops waiting and sends the backend
        a ``cancel`` for this request, so queued work is dropped and no generator time is
        spent on it."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


def fetch_info(address: str, timeout_s: float, curve: Any = None) -> dict:
    """The server's ``info`` (blocking, one short request): models, classes, fps."""
    from ..vendor.serve.client import Client

    with Client(address, timeout_s=timeout_s, retries=0, curve=curve) as c:
        return c.info()


# A shot's optimisation takes about 2.5 ms a frame on two idle CPU cores (a 20 s shot in
# 1.5 s), many times that on a loaded CPU or a server's first shot. So a compose is first
# pinged (a dead backend is told within the panel's timeout), then waited for this long;
# the artist's Cancel ends the wait at any time.
COMPOSE_SECONDS_PER_FRAME = 0.1
COMPOSE_MIN_WAIT_S = 30.0


def compose_wait_s(frames: int, base_s: float = 0.0) -> float:
    """How long to wait for a composed shot of ``frames`` frames once the backend answered."""
    return base_s + max(COMPOSE_MIN_WAIT_S, COMPOSE_SECONDS_PER_FRAME * frames)


@dataclass
class ComposeJob(GenerationJob):
    """One ``compose`` call (a ``ShotRequest``) on its own thread; ``result`` is the
    client's ``ComposedShot`` (one take of all frames and its segments)."""

    shot: Any = None  # vendor.records.shot.ShotRequest
    model: str | None = None
    armature: Any = None  # where the result lands (the glue's object; kept, not used here)
    anchor: Any = None  # (scene frame, root position) the glue puts the result back at

    def start(self) -> ComposeJob:
        self._thread = threading.Thread(target=self._run, name="kgan-compose", daemon=True)
        self._thread.start()
        return self

    def _call(self, client: Any) -> Any:
        client.ping()
        wait = compose_wait_s(self.shot.frames, self.request.timeout_s)
        return client.compose(self.shot, model=self.model, cancel=self._cancel, timeout_s=wait)
