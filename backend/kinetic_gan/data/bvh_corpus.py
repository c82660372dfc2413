"""Build a dataset from a folder of BVH takes: ``kinetic-gan data build bvh SRC --out DIR``.

Each take (a file, or a frame range of one from ``--labels FILE.csv``) is read, its skeleton
mapped to NTU-25 (``skeleton_families``: the family found, or ``--joint-map``), scaled to
metres and turned Y up (``source_frame``: detected or given), resampled to ``fps`` (linear
interpolation of positions; forward kinematics runs only on the source frames it reads),
put on the floor (its lowest joint over the whole take at y = 0) and cut into windows of
``frames`` every ``stride`` frames. Each window is then placed as the DeepMimic corpus' are:
facing −Z at its first frame, its mean pelvis position over the origin.

Split (``split_by="take"``, the default): in each class a ``test_share`` of the takes —
at least one when the class has two or more, spread over the class's takes in file order —
gives its windows to the test split, so the model is tested on takes it never saw. A class
with a single take, and every take with ``split_by="window"``, sends every k-th window
(k = 1 / test_share) to test: those test windows overlap training windows in time.

Bad input — a file that does not parse, an unknown skeleton, a take shorter than a window,
non-finite values, a label with no usable take — is one report line each; the build goes on
with the rest, or stops at the first with ``strict``. The output is written in a temporary
folder beside ``out`` and renamed into place: it appears whole or not at all. Deterministic:
files are read in path order and nothing is drawn at random.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinetic_gan.data import skeleton_families as families
from kinetic_gan.data import take_list
from kinetic_gan.data.build import turn_safe_normalization
from kinetic_gan.data.bvh import BvhMotion, parse_bvh
from kinetic_gan.data.source_frame import SourceFrame, source_frame
from kinetic_gan.data.take_list import Problem, TakeSpec
from kinetic_gan.data.to_ntu import to_dataset_frame
from kinetic_gan.errors import KineticGanError

_SPLIT_BY = ("take", "window")


@dataclass(frozen=True)
class BvhCorpusOptions:
    labels: str = "folders"  # "folders" or the path of a CSV
    joint_map: str | None = None
    fps: float = 30.0
    frames: int = 64
    stride: int | None = None  # None: frames // 4
    test_share: float = 0.2
    split_by: str = "take"
    strict: bool = False
    units: str = "auto"
    up: str = "auto"
    name: str | None = None
    licence: str | None = None

    def check(self) -> BvhCorpusOptions:
        if not self.fps > 0 or self.frames < 2:
            raise KineticGanError("data build bvh: need --fps > 0 and --frames >= 2")
        if self.stride is not None and self.stride < 1:
            raise KineticGanError(f"--stride: must be at least 1, got {self.stride}")
        if not 0.0 < self.test_share < 1.0:
            raise KineticGanError(f"--test-share: must lie in (0, 1), got {self.test_share}")
        if self.split_by not in _SPLIT_BY:
            raise KineticGanError(f"--split-by: take or window, got {self.split_by!r}")
        return self

    @property
    def window_stride(self) -> int:
        return self.stride or max(1, self.frames // 4)


@dataclass
class Take:
    spec: TakeSpec
    windows: np.ndarray  # (n, frames, 25, 3) float32, metres, dataset frame
    source_frames: list[tuple[float, float]]  # each window's first and last frame of the file
    family: str
    family_title: str
    frame: SourceFrame
    derived: tuple[str, ...]
    source_fps: float
    used: tuple[int, int]  # the file's frames the take spans, [first, end)
    splits: list[str] = field(default_factory=list)  # per window: "train" | "test"


@dataclass
class BuildReport:
    out: Path
    takes: list[Take]
    problems: list[Problem]
    notes: list[str]
    class_names: list[str]
    counts: dict[str, int]  # windows per split

    def lines(self) -> list[str]:
        """What the build did, for the terminal: summary, skeletons, classes, problems."""
        takes_in = Counter(s for t in self.takes for s in set(t.splits))
        out = [f"built {self.out}: {len(self.class_names)} classes, {len(self.takes)} takes, "
               f"{self.counts['train']} train / {self.counts['test']} test windows "
               f"(takes with test windows: {takes_in['test']})"]
        seen = Counter((t.family, t.family_title, tuple(t.derived)) for t in self.takes)
        for (family, title, derived), n in sorted(seen.items()):
            out.append(f"  skeleton {family} — {title}: {n} takes, 15/15 core joints; derived: "
                       f"{', '.join(derived) or 'none'}")
        for describe, n in sorted(Counter(t.frame.describe() for t in self.takes).items()):
            out.append(f"  units and axes: {describe}: {n} takes")
        out += [f"  class {line}" for line in self.class_lines()]
        out += [f"  note: {note}" for note in self.notes]
        if self.problems:
            out.append(f"skipped ({len(self.problems)}):")
            out += [f"  {p.line()}" for p in self.problems]
        return out

    def class_lines(self) -> list[str]:
        lines = []
        for name in self.class_names:
            mine = [t for t in self.takes if t.spec.label == name]
            windows = Counter(s for t in mine for s in t.splits)
            test_takes = sum("train" not in t.splits for t in mine)
            lines.append(f"{name}: {len(mine)} takes ({test_takes} test only), "
                         f"{windows['train']} train / {windows['test']} test windows")
        return lines


class _Bad(Exception):
    """A take that cannot be used: its one-line reason."""


def build_bvh_corpus(src: str | Path, out: str | Path,
                     options: BvhCorpusOptions | None = None) -> BuildReport:
    """Build the dataset of the BVH takes under ``src`` into ``out``; see the module doc."""
    options = (options or BvhCorpusOptions()).check()
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise KineticGanError(f"data build bvh: {src} is not a folder")
    _check_out(out)
    mapping = families.load_joint_map(options.joint_map) if options.joint_map else None
    specs, problems, notes = _take_specs(src, options)
    if not specs and not problems:
        raise KineticGanError(f"data build bvh: no .bvh files under {src}")
    reporter = _Reporter(problems, options.strict)
    reporter.check_all()
    takes = _read_takes(specs, mapping, options, reporter)
    class_names = _class_table(specs, takes, reporter)
    if not takes:
        reasons = Counter(p.reason.split(":")[0].split(" (")[0] for p in problems)
        summary = "; ".join(f"{n} × {r}" for r, n in reasons.most_common(4))
        raise KineticGanError(f"data build bvh: no usable take under {src} ({summary})")
    notes += _assign_splits(takes, class_names, options)
    counts = Counter(s for t in takes for s in t.splits)
    if not counts["train"]:
        raise KineticGanError("data build bvh: every window went to the test split — "
                              "lower --test-share or add takes")
    report = BuildReport(out, takes, problems, notes, class_names,
                         {"train": counts["train"], "test": counts["test"]})
    _write(out, report, src, options)
    return report


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and ((out / "meta.json").is_file()
                                               or not any(out.iterdir()))):
        raise KineticGanError(f"--out {out}: exists and is not a dataset folder (no meta.json); "
                              "remove it or choose another")


def _take_specs(src: Path, options: BvhCorpusOptions):
    if options.labels == "folders":
        specs, problems = take_list.takes_from_folders(src)
        return specs, problems, []
    specs, problems, left_out = take_list.takes_from_csv(src, Path(options.labels))
    notes = [f"{left_out} .bvh files under SRC are not in {Path(options.labels).name}: "
             "left out"] if left_out else []
    return specs, problems, notes


class _Reporter:
    """Collects problems; with ``strict`` the first one stops the build."""

    def __init__(self, problems: list[Problem], strict: bool) -> None:
        self.problems, self.strict = problems, strict

    def check_all(self) -> None:
        if self.strict and self.problems:
            self._stop(self.problems[0])

    def add(self, file: str, reason: str) -> None:
        problem = Problem(file, reason)
        self.problems.append(problem)
        if self.strict:
            self._stop(problem)

    @staticmethod
    def _stop(problem: Problem) -> None:
        raise KineticGanError(f"data build bvh: {problem.line()} (--strict: stopped at the "
                              "first bad input)")


def _read_takes(specs: list[TakeSpec], mapping, options: BvhCorpusOptions,
                reporter: _Reporter) -> list[Take]:
    takes, parsed = [], {}
    for spec in sorted(specs, key=lambda s: (s.label, s.file, s.start or 0)):
        try:
            if spec.file not in parsed:
                parsed.clear()  # specs of one file are adjacent: keep one parsed file
                parsed[spec.file] = _parse(spec)
            motion = parsed[spec.file]
            if isinstance(motion, _Bad):
                raise motion
            takes.append(read_take(spec, motion, mapping, options))
        except _Bad as bad:
            where = spec.file if spec.start is None and spec.end is None else (
                f"{spec.file}[{spec.start or 0}:{'' if spec.end is None else spec.end}]")
            reporter.add(where, str(bad))
    return takes


def _parse(spec: TakeSpec) -> BvhMotion | _Bad:
    try:
        text = spec.path.read_text(encoding="utf-8", errors="replace")
        return parse_bvh(text, where="BVH")
    except OSError as exc:
        return _Bad(f"not readable ({exc})")
    except KineticGanError as exc:
        message = str(exc).removeprefix("BVH").lstrip(", :")
        if "NaN or Inf" in message:
            return _Bad("non-finite values (NaN or Inf) in MOTION")
        return _Bad(f"does not parse ({message})")


def read_take(spec: TakeSpec, motion: BvhMotion, mapping: families.JointMapping | None,
              options: BvhCorpusOptions) -> Take:
    """One take → its windows; ``_Bad`` with the reason when it cannot be used."""
    first, end = _frame_range(spec, len(motion))
    try:
        mapping = mapping or families.choose_mapping(motion.names)
        rest, _ = families.map_joints(motion.rest_positions()[None], motion.names, mapping)
        lo, hi, weight = _resample_plan(end - first, motion.fps, options.fps)
        needed = np.unique(np.concatenate([lo, hi]))
        source, derived = families.map_joints(motion.world_positions(needed + first),
                                              motion.names, mapping)
        frame = source_frame(rest[0], source, options.units, options.up)
    except KineticGanError as exc:
        raise _Bad(str(exc)) from None
    if not np.isfinite(source).all():
        raise _Bad("non-finite joint positions after forward kinematics")
    lo_i, hi_i = np.searchsorted(needed, lo), np.searchsorted(needed, hi)  # rows of source
    w = weight[:, None, None]
    joints = ((1 - w) * source[lo_i] + w * source[hi_i]) * frame.scale @ frame.matrix.T
    joints[..., 1] -= joints[..., 1].min()  # the take's lowest joint on the floor
    size, stride = options.frames, options.window_stride
    if len(joints) < size:
        raise _Bad(f"take shorter than a window ({len(joints)} frames at {options.fps:g} fps, "
                   f"a window is {size})")
    starts = range(0, len(joints) - size + 1, stride)
    windows = np.stack([to_dataset_frame(joints[s:s + size], np.eye(3), floor="keep",
                                         origin="mean") for s in starts]).astype(np.float32)
    ratio = motion.fps / options.fps
    spans = [(round(first + s * ratio, 3), round(first + (s + size - 1) * ratio, 3))
             for s in starts]
    return Take(spec, windows, spans, mapping.family, mapping.title, frame, derived, motion.fps,
                (first, end))


def _frame_range(spec: TakeSpec, frames: int) -> tuple[int, int]:
    first = spec.start or 0
    end = frames if spec.end is None else spec.end
    if end > frames or first >= end:
        raise _Bad(f"frame range {first}:{end} is outside the file's {frames} frames")
    return first, end


def _resample_plan(frames: int, fps_in: float, fps_out: float):
    """For each output frame: the two source frames it lies between and the weight of the
    second (linear interpolation of positions over the same time span)."""
    # the tolerance absorbs a Frame Time printed to a few digits (0.0333333 s)
    count = math.floor((frames - 1) / fps_in * fps_out * (1 + 1e-6)) + 1
    position = np.arange(count) * (fps_in / fps_out)
    lo = np.minimum(np.floor(position + 1e-9).astype(int), frames - 1)
    hi = np.minimum(lo + 1, frames - 1)
    return lo, hi, np.clip(position - lo, 0.0, 1.0)


def _class_table(specs: list[TakeSpec], takes: list[Take], reporter: _Reporter) -> list[str]:
    """Sorted labels that kept a take; a label whose every take failed is reported."""
    usable = {t.spec.label for t in takes}
    for label in sorted({s.label for s in specs} - usable):
        count = sum(s.label == label for s in specs)
        reporter.add(f"{label}/", f"label with no usable take ({count} takes failed, above)")
    return sorted(usable)


def _assign_splits(takes: list[Take], class_names: list[str],
                   options: BvhCorpusOptions) -> list[str]:
    period = max(2, round(1.0 / options.test_share))
    by_class: dict[str, list[Take]] = defaultdict(list)
    for take in takes:
        by_class[take.spec.label].append(take)
    notes = []
    for name in class_names:
        mine = by_class[name]
        if options.split_by == "take" and len(mine) >= 2:
            count = min(len(mine) - 1, max(1, round(options.test_share * len(mine))))
            test = {int((j + 0.5) * len(mine) / count) for j in range(count)}
            for k, take in enumerate(mine):
                take.splits = ["test" if k in test else "train"] * len(take.windows)
            continue
        if options.split_by == "take":
            notes.append(f"class {name!r} has one take: every {period}th window of it is a "
                         "test window (they overlap training windows)")
        for take in mine:
            take.splits = ["test" if k % period == period - 1 else "train"
                           for k in range(len(take.windows))]
    return notes


def _write(out: Path, report: BuildReport, src: Path, options: BvhCorpusOptions) -> None:
    """Write into a temporary folder beside ``out``, then rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        _write_files(staging, report, src, options)
        os.chmod(staging, 0o777 & ~_umask())
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(old)


def _write_files(folder: Path, report: BuildReport, src: Path,
                 options: BvhCorpusOptions) -> None:
    label_of = {name: k for k, name in enumerate(report.class_names)}
    windows: dict[str, list[dict]] = {"train": [], "test": []}
    arrays = {}
    for split in ("train", "test"):
        data, names, labels = [], [], []
        for t_index, take in enumerate(report.takes):
            for k, (joints, where) in enumerate(zip(take.windows, take.source_frames,
                                                    strict=True)):
                if take.splits[k] != split:
                    continue
                data.append(joints)
                names.append(f"{take.spec.file}#t{t_index:03d}w{k:03d}")
                labels.append(label_of[take.spec.label])
                windows[split].append({"file": take.spec.file, "label": take.spec.label,
                                       "take": t_index, "frames": list(where)})
        joints = (np.stack(data) if data else
                  np.zeros((0, options.frames, 25, 3), dtype=np.float32))
        array = np.zeros((len(joints), 3, options.frames, 25, 2), dtype=np.float32)
        array[..., 0] = joints.transpose(0, 3, 1, 2)
        arrays[split] = array
        np.save(folder / f"{split}_data.npy", array)
        with open(folder / f"{split}_label.pkl", "wb") as handle:
            pickle.dump((names, labels), handle, protocol=4)
    norm = turn_safe_normalization(arrays["train"][..., 0].transpose(0, 2, 3, 1))
    meta = _meta(report, src, options, norm.to_dict(), windows)
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n",
                                      encoding="utf-8")


def _meta(report: BuildReport, src: Path, options: BvhCorpusOptions, norm: dict,
          windows: dict[str, list[dict]]) -> dict:
    takes = [{"file": t.spec.file, "label": t.spec.label, "family": t.family,
              "units": t.frame.units, "up": t.frame.up, "fps": round(t.source_fps, 6),
              "frames": list(t.used), "windows": len(t.windows), "derived": list(t.derived),
              "split": sorted(set(t.splits))} for t in report.takes]
    classes = []
    for label, name in enumerate(report.class_names):
        mine = [t for t in report.takes if t.spec.label == name]
        counts = Counter(s for t in mine for s in t.splits)
        classes.append({"label": label, "name": name, "takes": len(mine),
                        "windows": {"train": counts["train"], "test": counts["test"]}})
    return {
        "name": options.name or report.out.name,
        "class_names": list(report.class_names),
        "classes": classes,
        "fps": options.fps if options.fps != int(options.fps) else int(options.fps),
        "frames": options.frames,
        "skeleton": "ntu",
        "units": "m",
        "normalization": norm,
        "splits": dict(report.counts),
        "split_by": options.split_by,
        "test_share": options.test_share,
        "stride": options.window_stride,
        "takes": takes,
        "windows": windows,
        "report": [p.line() for p in report.problems],
        "notes": list(report.notes),
        "source": {"builder": "kinetic-gan data build bvh", "folder": str(src),
                   "takes": len(report.takes)},
        "licence": options.licence or "that of the source motion capture (not recorded: "
                                      "give --licence)",
        "frame": "right-handed, Y up, metres, floor y=0 (each take's lowest joint), facing -Z "
                 "at each window's start, mean pelvis position over the window at x=z=0",
        "normalization_rule": "train min-max widened to +-(largest horizontal distance from "
                              "the origin) so augmentation turns and mirrors stay in range",
    }
