"""The add-on's one error base: what an artist or a script caller can fix, never a bug.

Every error the add-on raises on purpose derives from :class:`KineticGanAddonError`, so
the operators catch exactly these (``operator_errors.reports_errors``) and turn them into
one ERROR report, while a real bug still shows its traceback. ``code`` says which kind it
is, for callers that branch on it: never match the message text, which is for people.
Stdlib only: the batch's option parsing and the numpy modules import it outside Blender.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class KineticGanAddonError(Exception):
    """A problem the message explains; ``code`` names its kind (a class attribute, or set
    per instance where one class carries several, such as the backend's codes)."""

    code: str = "addon"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UserError(KineticGanAddonError):
    """A setting the artist can change (no action chosen, no take of that number …)."""

    code = "user"


class BackendFailure(KineticGanAddonError):
    """The backend could not answer; ``code`` is the client's ("unreachable",
    "cancelled") or the protocol's (protocol.ERROR_CODES)."""

    code = "backend"


def reports_errors(method: Callable[..., set[str]]) -> Callable[..., set[str]]:
    """For an operator's ``execute``, ``invoke`` or ``modal``: an add-on error becomes one
    ERROR report (its message, no traceback) and ``{"CANCELLED"}``."""

    def report(self: Any, exc: KineticGanAddonError) -> set[str]:
        self.report({"ERROR"}, str(exc))
        return {"CANCELLED"}

    # Blender checks the argument count of a registered class's methods: no ``*args``.
    if method.__code__.co_argcount == 2:

        @functools.wraps(method)
        def reporting(self: Any, context: Any) -> set[str]:
            try:
                return method(self, context)
            except KineticGanAddonError as exc:
                return report(self, exc)

        return reporting

    @functools.wraps(method)
    def reporting_event(self: Any, context: Any, event: Any) -> set[str]:
        try:
            return method(self, context, event)
        except KineticGanAddonError as exc:
            return report(self, exc)

    return reporting_event
