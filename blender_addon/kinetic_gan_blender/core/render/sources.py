"""Where a batch's joints come from: a running server, through the add-on's bundled client.

The add-on never loads a model itself (no torch, no backend package): ``kinetic-gan render
--local`` serves the weights on a loopback port for the batch and passes its address here.
"""

from __future__ import annotations

from typing import Protocol

# One generated take, in metres in the dataset frame (Y up, facing −Z): the backend's record.
from ...vendor.records.takes import Motion
from ..errors import KineticGanAddonError
from ..generation import compose_wait_s
from .options import BatchOptions
from .plan import Take


class SourceError(KineticGanAddonError, RuntimeError):
    """The backend cannot be used at all (unreachable, no such model, no client)."""

    code = "source"


class Source(Protocol):
    model: str
    class_names: list[str]

    def generate(self, take: Take) -> Motion: ...

    def close(self) -> None: ...


# Under Blender the add-on has no backend to start a server with: that is the command's job.
LOCAL_NEEDS_THE_COMMAND = (
    "--local is `kinetic-gan render --local`, which serves --weights on a loopback port for "
    "the batch (the add-on never loads a model itself); here, start `kinetic-gan serve "
    "--weights FILE.safetensors` and pass --backend ADDRESS"
)


def client_module():
    """The add-on's bundled ZeroMQ client (``vendor/serve/client.py``; it needs pyzmq)."""
    try:
        from ...vendor.serve import client
    except ImportError as exc:
        raise SourceError(
            f"the add-on's ZeroMQ client cannot be loaded ({exc}): install pyzmq in Blender's "
            "Python, or rebuild the add-on (kinetic-gan addon build)"
        ) from None
    return client


def open_source(options: BatchOptions) -> Source:
    """The batch's server; ``--local`` reaches the add-on only when run without the command."""
    if options.local:
        raise SourceError(LOCAL_NEEDS_THE_COMMAND)
    return RemoteSource(options.backend, timeout_s=options.timeout_s, model=options.model)


class RemoteSource:
    """A ``kinetic-gan serve`` (or broker) at ``address``."""

    def __init__(self, address: str, timeout_s: float = 30.0, model: str | None = None) -> None:
        client = client_module()
        self._errors = client.BackendError
        self.address = address
        self.timeout_s = timeout_s
        # Short tries for info so a dead address is reported in seconds, not minutes.
        self._client = client.Client(address, timeout_s=min(timeout_s, 3.0), retries=1)
        try:
            info = self._client.info()
        except client.BackendError as exc:
            self._client.close()
            if exc.code == "unreachable":
                raise SourceError(
                    f"no backend at {address}: start one with "
                    "`kinetic-gan serve --weights FILE.safetensors`, or render with "
                    "`kinetic-gan render --local --weights FILE.safetensors`"
                ) from None
            raise SourceError(f"backend at {address}: {exc}") from None
        models = info.get("models") or []
        if not models:
            self._client.close()
            raise SourceError(f"backend at {address} serves no model")
        chosen = models[0] if model is None else next(
            (m for m in models if m.get("name") == model), None
        )
        if chosen is None:
            self._client.close()
            names = ", ".join(repr(m.get("name")) for m in models)
            raise SourceError(f"backend at {address} has no model {model!r} (it has {names})")
        self.model = str(chosen["name"])
        self.class_names = [str(n) for n in chosen["class_names"]]

    def generate(self, take: Take) -> Motion:
        try:
            r = self._client.generate(
                action=take.label, count=1, seed=take.seed, truncation=take.truncation,
                model=self.model, timeout_s=self.timeout_s,
            )
        except self._errors as exc:
            raise RuntimeError(f"backend: {exc}") from None
        return r.sample(0)

    def compose(self, request):
        """A ``ShotRequest`` composed by the server: a ``ComposedShot``."""
        try:
            wait = max(self.timeout_s, compose_wait_s(request.frames))
            return self._client.compose(request, model=self.model, timeout_s=wait)
        except self._errors as exc:
            raise RuntimeError(f"backend: {exc}") from None

    def close(self) -> None:
        self._client.close()
