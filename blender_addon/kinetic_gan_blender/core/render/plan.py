"""Which takes a batch makes, what their files are called, and which are already done.

A take is complete when its done-marker (``OUT/.done/STEM.json``, written last and
atomically) names the same settings and every output it lists exists. A rerun with the
same arguments therefore skips finished takes; changing a setting redoes them.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import KineticGanAddonError
from ..take_names import take_name

# Where each export of a take goes, relative to the output folder.
FILE_PATTERNS = {
    "mp4": "{stem}.mp4",
    "png": "{stem}_png",  # a folder of frames 0001.png, 0002.png, ...
    "blend": "{stem}.blend",
    "bvh": "{stem}.bvh",
    "fbx": "{stem}.fbx",
    "npz": "{stem}.npz",
}
GRID_STEM = "grid"


class PlanError(KineticGanAddonError, ValueError):
    """An action the model does not have; the message lists close matches."""

    code = "plan"


@dataclass(frozen=True)
class Take:
    action: str  # the model's class name (as typed when the model lacks it)
    label: int | None  # class index, None when unknown
    seed: int
    truncation: float | None
    error: str | None = None  # why this take cannot be made at all

    @property
    def stem(self) -> str:
        return take_name(self.action, self.seed, self.truncation, file_stem=True)

    @property
    def caption(self) -> str:
        """Two lines: the action, then how to make it again (Blender's font has no ψ)."""
        text = f"{self.action}\nseed {self.seed}"
        if self.truncation is not None:
            text += f"  ·  psi {self.truncation:.2f}"
        return text


def resolve_action(text: str, class_names: Sequence[str]) -> int:
    """Class index of a name (case-insensitive) or an index; PlanError lists close names."""
    names = list(class_names)
    token = text.strip()
    if token.isascii() and token.isdigit():  # "²" is a digit to isdigit(), not to int()
        index = int(token)
        if index >= len(names):
            raise PlanError(f"action index {index} out of range: the model has {len(names)}")
        return index
    lowered = [n.lower() for n in names]
    if token.lower() in lowered:
        return lowered.index(token.lower())
    close = difflib.get_close_matches(token.lower(), lowered, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(names[lowered.index(c)]) for c in close)}?"
    raise PlanError(f"unknown action {token!r}{hint if close else ''}")


def plan_takes(
    actions: Sequence[str],
    class_names: Sequence[str],
    count: int,
    seed: int,
    truncation: float | None,
) -> list[Take]:
    """``count`` takes per action (take k of an action uses ``seed + k``), in order.

    Unknown actions still get their takes, marked with the error, so the batch can report
    them as failed while every other take is made.
    """
    wanted = list(class_names) if tuple(actions) == ("all",) else list(actions)
    takes: list[Take] = []
    seen: set[int] = set()
    for text in wanted:
        try:
            label = resolve_action(str(text), class_names)
        except PlanError as exc:
            takes += [Take(str(text), None, seed + k, truncation, str(exc)) for k in range(count)]
            continue
        if label in seen:
            continue
        seen.add(label)
        takes += [Take(class_names[label], label, seed + k, truncation) for k in range(count)]
    return takes


def output_paths(out: Path, stem: str, exports: Sequence[str]) -> dict[str, Path]:
    return {name: out / FILE_PATTERNS[name].format(stem=stem) for name in exports}


def _exists(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.is_file() and path.stat().st_size > 0


class DoneMarkers:
    """The per-take markers in ``OUT/.done``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.folder = self.out / ".done"

    def path(self, stem: str) -> Path:
        return self.folder / f"{stem}.json"

    def is_complete(self, stem: str, settings: Mapping[str, Any], exports: Sequence[str]) -> bool:
        try:
            record = json.loads(self.path(stem).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(record, dict) or record.get("settings") != _jsonable(settings):
            return False
        outputs = record.get("outputs")
        if not isinstance(outputs, dict) or not set(exports) <= set(outputs):
            return False
        return all(_exists(self.out / str(outputs[name])) for name in exports)

    def mark(self, stem: str, settings: Mapping[str, Any], outputs: Mapping[str, Path]) -> None:
        """Record a finished take; call it after every output is in place."""
        record = {
            "settings": _jsonable(settings),
            "outputs": {k: Path(v).relative_to(self.out).as_posix() for k, v in outputs.items()},
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_text(self.path(stem), json.dumps(record, indent=1, sort_keys=True) + "\n")

    def clear(self, stem: str) -> None:
        self.path(stem).unlink(missing_ok=True)


def _jsonable(settings: Mapping[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so tuples compare equal to the lists read back from disk.
    return json.loads(json.dumps(dict(settings), sort_keys=True))
