"""A ``generate`` request: its fields, their defaults and what values they may take.

The wire format (``serve/protocol.py``) sends these fields as a header, the server reads them
back with :meth:`GenerateRequest.from_fields`, the client and the add-on build them the same
way, so a request the server would refuse is refused before it is sent.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_ACTION_CHARS = 256
MAX_MODEL_CHARS = 256
MAX_SEED = 2**63 - 1
MAX_TRUNCATION = 1.0
# The longest deadline a request may carry (a day): past that "no deadline" says it better.
MAX_DEADLINE_MS = 86_400_000


class RequestError(ValueError):
    """A request field of the wrong type or out of range; the message names the field."""


@dataclass(frozen=True)
class GenerateRequest:
    """What to generate: ``count`` takes of ``action``; None lets the server choose."""

    action: str | int  # a class name, or its index
    count: int = 1
    model: str | None = None  # None: the server's first model
    seed: int | None = None  # None: the server picks one and reports it
    truncation: float | None = None  # ψ in 0..MAX_TRUNCATION; None: no truncation
    vary_noise: bool = False  # one z for every take, fresh noise per take
    # Milliseconds from when the server (or broker) receives the request after which it is
    # dropped unrun and answered "deadline"; None: no deadline. Sent only when set, so a
    # request without one reads as before to older servers.
    deadline_ms: float | None = None
    # Blend toward another seed's takes (the add-on's *Blend two*): take k is made from the
    # z and noise of ``seed`` moved toward those of ``mix_seed`` by ``mix`` (0..1). Sent
    # only when set, as deadline_ms.
    mix_seed: int | None = None
    mix: float = 0.0

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> GenerateRequest:
        """The checked request named by ``fields`` (a header's, a caller's keywords)."""
        unknown = sorted(set(fields) - set(FIELD_NAMES))
        if unknown:
            raise RequestError(f"generate: unknown fields {unknown[:8]}")
        if "action" not in fields:
            raise RequestError('generate needs "action" (a class name or index)')
        return cls(**fields).checked()

    def fields(self) -> dict[str, Any]:
        """Every field by name: what travels in a request's header (``deadline_ms`` only
        when set)."""
        fields = dataclasses.asdict(self)
        if fields["deadline_ms"] is None:
            del fields["deadline_ms"]
        if fields["mix_seed"] is None:
            del fields["mix_seed"], fields["mix"]
        return fields

    def checked(self) -> GenerateRequest:
        """This request with ψ as a float; RequestError names the first field that is wrong."""
        action = self.action
        if isinstance(action, str):
            if not action.strip() or len(action) > MAX_ACTION_CHARS:
                raise RequestError(f'"action" must be 1..{MAX_ACTION_CHARS} chars')
        elif not _is_int(action):
            raise RequestError('"action" must be a class name or an integer index')
        if not _is_int(self.count) or self.count < 1:
            raise RequestError(f'"count" must be an integer >= 1, got {self.count!r}')
        if self.model is not None and (
            not isinstance(self.model, str) or len(self.model) > MAX_MODEL_CHARS
        ):
            raise RequestError('"model" must be null or a model name')
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED):
            raise RequestError(f'"seed" must be null or an integer in 0..{MAX_SEED}')
        psi = self.truncation
        if psi is not None:
            # numpy's floats are numbers.Real too; a bool is not a ψ.
            real = isinstance(psi, numbers.Real) and not isinstance(psi, bool)
            psi = _float(psi) if real else math.nan
            if not math.isfinite(psi) or not 0 <= psi <= MAX_TRUNCATION:
                raise RequestError(
                    f'"truncation" must be null or a number in 0..{MAX_TRUNCATION}'
                )
        if not isinstance(self.vary_noise, bool):
            raise RequestError('"vary_noise" must be true or false')
        deadline = check_deadline(self.deadline_ms)
        return dataclasses.replace(self, truncation=psi, deadline_ms=deadline,
                                   mix=_checked_mix(self.mix_seed, self.mix))


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(GenerateRequest))


def _checked_mix(mix_seed: Any, mix: Any) -> float:
    """``mix`` as a float; RequestError unless ``mix_seed`` is null or a seed and ``mix`` a
    number in 0..1."""
    if mix_seed is not None and (not _is_int(mix_seed) or not 0 <= mix_seed <= MAX_SEED):
        raise RequestError(f'"mix_seed" must be null or an integer in 0..{MAX_SEED}')
    real = isinstance(mix, numbers.Real) and not isinstance(mix, bool)
    value = _float(mix) if real else math.nan
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise RequestError(f'"mix" must be a number in 0..1, got {mix!r}')
    return value


def check_deadline(value: Any) -> float | None:
    """``deadline_ms`` as a float (None stays None); RequestError unless a number in
    (0, MAX_DEADLINE_MS]. Every op that may carry a deadline checks it here."""
    if value is None:
        return None
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = _float(value) if real else math.nan
    if not math.isfinite(number) or not 0 < number <= MAX_DEADLINE_MS:
        raise RequestError(f'"deadline_ms" must be null or a number in (0, {MAX_DEADLINE_MS}]')
    return number


def parse_action(text: str) -> str | int:
    """An action typed by a user: an index when it is ASCII digits only, else a class name.

    ``str.isdigit`` alone is not enough: "²", "①" and "٣" are digits to it and then make
    ``int()`` raise, so every entry point parses actions here.
    """
    token = text.strip()
    if token.isascii() and token.isdigit():
        return int(token)
    return text


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python; true/false are never counts or seeds.
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value: numbers.Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float is out of range all the same
        return math.inf
