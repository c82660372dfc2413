"""Which takes a BVH folder holds, and their labels: from folders or from a CSV.

``folders`` (the default): every ``.bvh`` under SRC, recursively; its label is the first
folder level under SRC (``SRC/walk/day2/take3.bvh`` is a ``walk``). A CSV instead lists
``file,label[,start_frame,end_frame]`` rows (``file`` relative to SRC; frames of the file,
``start_frame`` included, ``end_frame`` excluded, either may be empty); a header row
``file,label,...`` is allowed, and a file may appear on several rows (several takes of it).
Problems are returned, one per file or row, not raised: the builder reports them all.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from kinetic_gan.errors import KineticGanError


@dataclass(frozen=True)
class TakeSpec:
    path: Path
    file: str  # relative to SRC, with forward slashes
    label: str
    start: int | None = None  # first frame of the file used
    end: int | None = None  # one past the last


@dataclass(frozen=True)
class Problem:
    file: str
    reason: str

    def line(self) -> str:
        return f"{self.file}: {self.reason}"


def bvh_files(src: Path) -> list[Path]:
    """Every ``.bvh`` (any case) under ``src``, in a fixed order; hidden folders and files
    (``.git``, a build's own staging folder) are not takes."""
    found = (p for p in src.rglob("*") if p.is_file() and p.suffix.lower() == ".bvh"
             and not any(part.startswith(".") for part in p.relative_to(src).parts))
    return sorted(found, key=lambda p: p.relative_to(src).as_posix())


def takes_from_folders(src: Path) -> tuple[list[TakeSpec], list[Problem]]:
    takes, problems = [], []
    for path in bvh_files(src):
        rel = path.relative_to(src).as_posix()
        if "/" not in rel:
            problems.append(Problem(rel, "no label folder: put it in SRC/<label>/ "
                                         "(or give --labels FILE.csv)"))
            continue
        takes.append(TakeSpec(path, rel, rel.split("/", 1)[0]))
    return takes, problems


def takes_from_csv(src: Path, table: Path) -> tuple[list[TakeSpec], list[Problem], int]:
    """(takes, problems, how many .bvh files under SRC the table leaves out)."""
    try:
        with table.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise KineticGanError(f"--labels {table}: not readable ({exc})") from exc
    if rows and rows[0] and rows[0][0].strip().lower() == "file":
        rows = [[], *rows[1:]]  # keep row numbers as the file's lines
    takes, problems = [], []
    for number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue
        take = _row_take(src, table, number, row, problems)
        if take is not None:
            takes.append(take)
    listed = {t.file for t in takes} | {p.file for p in problems}
    left_out = sum(p.relative_to(src).as_posix() not in listed for p in bvh_files(src))
    return takes, problems, left_out


def _row_take(src: Path, table: Path, number: int, row: list[str],
              problems: list[Problem]) -> TakeSpec | None:
    where = f"{table.name} line {number}"
    cells = [c.strip() for c in row] + ["", ""]
    file, label, start, end = cells[:4]
    if len(row) > 4 or not file or not label:
        problems.append(Problem(where, "expected file,label[,start_frame,end_frame]"))
        return None
    try:
        first = int(start) if start else None
        last = int(end) if end else None
    except ValueError:
        problems.append(Problem(where, f"frames must be whole numbers, got {start!r}, {end!r}"))
        return None
    if (first is not None and first < 0) or (last is not None and last <= (first or 0)):
        problems.append(Problem(where, f"need 0 <= start_frame < end_frame, got {start}, {end}"))
        return None
    path = src / file
    if not path.is_file():
        problems.append(Problem(file, f"listed in {where} but not found under SRC"))
        return None
    return TakeSpec(path, Path(file).as_posix(), label, first, last)
