"""``kinetic-gan plot-loss RUN_DIR [RUN_DIR ...]``: a training run's losses, smoothed.

Reads ``RUN_DIR/log.csv`` (one row per generator step, written by the trainer) and draws
three panels over iterations: critic and generator losses, the critic's Wasserstein
estimate, and the gradient penalty (and, for runs with class guidance, the guide
recogniser's cross-entropy in a fourth). Raw values are drawn faintly under an exponential
moving average, so trends are readable without hiding the noise. Several run folders —
runs warm-started one from the next with ``train --init`` — are drawn end to end, a dashed
line where each later run took over.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path
from kinetic_gan.errors import KineticGanError

COLUMNS = ("iteration", "d_loss", "g_loss", "gp", "w_dist")
# Guided runs only; the trainer's rundir.GUIDE_COLUMN (not imported: rundir pulls in torch).
GUIDE_COLUMN = "guide_ce"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="training run folder holding log.csv; several: runs warm-started "
                             "one from the next (train --init), drawn end to end")
    parser.add_argument("--out", type=Path,
                        help="PNG to write (default: the last RUN_DIR/loss.png)")
    parser.add_argument(
        "--smooth", type=float, default=0.98, help="EMA factor in [0, 1); 0 draws raw values"
    )


def read_log(path: Path) -> dict[str, np.ndarray]:
    """The numeric columns of a trainer log, as float arrays of equal length."""
    if not path.is_file():
        raise KineticGanError(f"{path}: training log not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise KineticGanError(f"{path}: log has no column {missing[0]!r} (header {header})")
        rows = list(reader)
    if not rows:
        raise KineticGanError(f"{path}: log has no rows yet")
    out = {}
    for column in COLUMNS:
        try:
            out[column] = np.array([float(r[column]) for r in rows if r[column] is not None])
        except ValueError as exc:
            raise KineticGanError(f"{path}: column {column!r} is not numeric ({exc})") from None
        if len(out[column]) != len(rows):
            raise KineticGanError(f"{path}: a row is cut short (a crash mid-write?)")
    if GUIDE_COLUMN in header:  # guided runs: the guide recogniser's cross-entropy
        try:
            out[GUIDE_COLUMN] = np.array([float(r[GUIDE_COLUMN] or "nan") for r in rows])
        except (TypeError, ValueError) as exc:
            raise KineticGanError(
                f"{path}: column {GUIDE_COLUMN!r} is not numeric ({exc})") from None
    return out


def smooth(values: np.ndarray, factor: float) -> np.ndarray:
    """Exponential moving average, bias-corrected so the first points are not dragged to 0.

    Missing values (NaN: e.g. the guide's cross-entropy in the unguided part of a log that
    joins several runs) stay missing and do not enter the average.
    """
    if not 0.0 <= factor < 1.0:
        raise KineticGanError(f"smoothing factor must be in [0, 1), got {factor}")
    out = np.full(len(values), np.nan)
    running, seen = 0.0, 0
    for i, v in enumerate(values):
        if np.isnan(v):
            continue
        running, seen = factor * running + (1.0 - factor) * v, seen + 1
        out[i] = running / (1.0 - factor**seen)
    return out


def plot_loss(log: dict[str, np.ndarray], path: Path, factor: float, title: str,
              run_starts: list[float] | None = None) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    guided = GUIDE_COLUMN in log
    figure = Figure(figsize=(8, 9.5 if guided else 7.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(4 if guided else 3, 1, sharex=True)
    it = log["iteration"]
    panels = [
        (axes[0], (("d_loss", "critic", "#2e86ab"), ("g_loss", "generator", "#d1495b")), "loss"),
        (axes[1], (("w_dist", "Wasserstein estimate", "#3d405b"),), "W distance"),
        (axes[2], (("gp", "gradient penalty", "#e09f3e"),), "penalty"),
    ]
    if guided:
        panels.append((axes[3], ((GUIDE_COLUMN, "guide recogniser", "#5f0f40"),),
                       "cross-entropy"))
    for ax, series, ylabel in panels:
        for key, label, colour in series:
            ax.plot(it, log[key], color=colour, alpha=0.2, linewidth=0.8)
            ax.plot(it, smooth(log[key], factor), color=colour, linewidth=1.8, label=label)
        for start in run_starts or []:  # where a warm-started run took over
            ax.axvline(start, color="#888888", linestyle="--", linewidth=0.8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel("iteration (generator steps)")
    axes[0].set_title(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


def join_logs(logs: list[dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], list[float]]:
    """Chain the logs of runs warm-started one from the next: each run's iterations continue
    from where the previous one ended. Returns the joined log and where each later run starts
    (a column one run lacks is NaN there)."""
    columns = [c for c in (*COLUMNS, GUIDE_COLUMN) if any(c in log for log in logs)]
    joined: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    offset, starts = 0.0, []
    for k, log in enumerate(logs):
        if k:
            starts.append(offset)
        n = len(log["iteration"])
        for column in columns:
            values = log.get(column, np.full(n, np.nan))
            joined[column].append(values + offset if column == "iteration" else values)
        offset += float(log["iteration"][-1])
    return {c: np.concatenate(v) for c, v in joined.items()}, starts


def run(args: argparse.Namespace) -> int:
    log, starts = join_logs([read_log(run_dir / "log.csv") for run_dir in args.run_dirs])
    out = args.out or args.run_dirs[-1] / "loss.png"
    names = " → ".join(run_dir.resolve().name for run_dir in args.run_dirs)
    plot_loss(log, out, args.smooth, f"{names}: {len(log['iteration'])} steps", starts)
    print(f"wrote {out}")
    return 0
