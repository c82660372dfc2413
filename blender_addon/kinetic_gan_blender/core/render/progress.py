"""Progress lines with an ETA while a batch runs, and the summary table at its end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

STAGES = ("generate", "cleanup", "retarget+keyframe", "render", "export")


@dataclass
class TakeResult:
    stem: str
    action: str
    seed: int
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    kind: str = "take"  # or "grid": the one video of every take, not a take itself


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """One line per finished take: ``[3/8] jump s1 done in 4.2 s · ETA 0:21``.

    The ETA averages the takes that did work (skipped takes cost nothing and would make
    the estimate optimistic).
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.clock = clock
        self.finished = 0
        self._worked: list[float] = []
        self._started = clock()

    def eta(self) -> float | None:
        if not self._worked:
            return None
        return sum(self._worked) / len(self._worked) * (self.total - self.finished)

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def take_done(self, result: TakeResult, then: str | None = None) -> None:
        """``then`` names work that follows the takes (the grid video): it is not in the
        takes' average, so the line says it is still to come instead of hiding it."""
        self.finished += 1
        if result.status != "skipped":
            self._worked.append(result.seconds)
        width = len(str(self.total))
        line = f"[{self.finished:>{width}}/{self.total}] {result.stem:<28} "
        if result.status == "done":
            line += f"done in {result.seconds:.1f} s"
        elif result.status == "skipped":
            line += "skipped (already complete)"
        else:
            line += f"FAILED: {result.error}"
        left = self.eta()
        if self.finished < self.total and left is not None:
            line += f" · ETA {format_duration(left)}"
            if then:
                line += f" + {then}"
        elif then:
            line += f" · next: {then}"
        self.note(line)

    def elapsed(self) -> float:
        return self.clock() - self._started


class FrameProgress:
    """``[grid.mp4] frame 16/64 · 0:20 so far · ETA 1:02`` a few times during one render.

    Called after each frame is written (encoding happens as frames are written). The ETA
    counts every frame still to render: the rest of this one and ``frames_after``, the
    frames of the renders queued after it. Its pace is measured from the first frame on,
    because the first also pays the renderer's start-up (shaders, scene upload).
    """

    def __init__(
        self,
        label: str,
        lines: int = 4,
        clock: Callable[[], float] = time.monotonic,
        frames_after: int = 0,
    ) -> None:
        self.label = label
        self.lines = lines
        self.clock = clock
        self.frames_after = frames_after
        self._started = clock()
        self._first: float | None = None  # when the first frame was written

    def __call__(self, done: int, total: int, stream: TextIO) -> None:
        now = self.clock()
        if self._first is None:
            self._first = now
        step = max(1, total // self.lines)
        if done > 2 and done % step and done != total:
            return
        spent = format_duration(now - self._started)
        line = f"[{self.label}] frame {done}/{total} · {spent} so far"
        left = total - done + self.frames_after
        if done > 1 and left > 0:
            pace = (now - self._first) / (done - 1)
            line += f" · ETA {format_duration(pace * left)}"
        print(line, file=stream, flush=True)


def summary_table(results: Sequence[TakeResult]) -> str:
    """A plain-text table: one row per take, then totals and the per-stage time split."""
    headers = ("take", "action", "seed", "status", "seconds", "outputs")
    rows = [
        (
            r.stem, r.action, str(r.seed), r.status, f"{r.seconds:.1f}",
            ", ".join(r.outputs) if r.status != "failed" else (r.error or ""),
        )
        for r in results
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])  # the last column runs free

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    takes = [r for r in results if r.kind == "take"]
    counts = {s: sum(r.status == s for r in takes) for s in ("done", "skipped", "failed")}
    count_line = (
        f"{len(takes)} takes: {counts['done']} done, {counts['skipped']} skipped, "
        f"{counts['failed']} failed"
    )
    grids = [r for r in results if r.kind == "grid"]
    if grids:
        count_line += f"; grid video {grids[0].status}"
    out.append(count_line)
    totals = {s: sum(r.timings.get(s, 0.0) for r in results) for s in STAGES}
    spent = sum(totals.values())
    if spent > 0:
        split = ", ".join(f"{s} {t:.1f} s ({100 * t / spent:.0f} %)" for s, t in totals.items())
        out.append(f"time by stage: {split}")
    return "\n".join(out)
