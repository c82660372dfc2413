"""Where a batch's joints come from: a running server (the real ZeroMQ path) or, with
``--local``, a generator loaded in this process (that path imports torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..errors import KineticGanAddonError

# One generated take, in metres in the dataset frame (Y up, facing −Z): the backend's record.
from ..vendor.records.takes import Motion
from .plan import Take


class SourceError(KineticGanAddonError, RuntimeError):
    """The backend cannot be used at all (unreachable, no such model, no torch)."""

    code = "source"


class Source(Protocol):
    model: str
    class_names: list[str]

    def generate(self, take: Take) -> Motion: ...

    def close(self) -> None: ...


def client_module():
    """The protocol client: the add-on's bundled copy, else the backend package's."""
    try:
        from ..vendor.serve import client
    except ImportError:
        try:
            from kinetic_gan.serve import client
        except ImportError:
            raise SourceError(
                "no ZeroMQ client: build the add-on (kinetic-gan addon build) or install "
                "the kinetic-gan package"
            ) from None
    return client


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
                    "`kinetic-gan serve --weights FILE.safetensors`, or use --local"
                ) from None
            raise SourceError(f"backend at {address}: {exc}") from None
        models = info.get("models") or []
        if not models:
            self._client.close()
            raise SourceError(f"backend at {address} serves no model")
        chosen = models[0] if model is None else next(
            (m for m in models if m.get("name") == model), None
        )  # fmt: skip
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
            )  # fmt: skip
        except self._errors as exc:
            raise RuntimeError(f"backend: {exc}") from None
        return r.sample(0)

    def close(self) -> None:
        self._client.close()


class LocalSource:
    """A generator loaded from ``weights`` in this process (CPU)."""

    def __init__(self, weights: Path) -> None:
        try:
            from kinetic_gan.weights import load_generator
        except ImportError as exc:
            raise SourceError(
                f"--local needs the kinetic-gan package with torch ({exc}); "
                "or start a server and use --backend"
            ) from None
        from kinetic_gan.errors import KineticGanError

        try:
            self._generator = load_generator(weights, device="cpu")
        except KineticGanError as exc:
            raise SourceError(str(exc)) from None
        card = self._generator.card
        self.model = card.name
        self.class_names = list(card.class_names)

    def generate(self, take: Take) -> Motion:
        from kinetic_gan.generate import generate

        res = generate(self._generator, take.label, count=1, seed=take.seed,
                       truncation=take.truncation)  # fmt: skip
        return res.sample(0)

    def close(self) -> None:
        self._generator = None
