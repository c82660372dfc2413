"""``kinetic-gan preview INPUT --out FILE``: look at motions as GIF, MP4 or a contact sheet.

INPUT is a ``.npz`` from ``kinetic-gan generate`` or original-layout data (a dataset
folder or ``X_data.npy`` with its ``X_label.pkl``). The output kind follows the suffix:
``.gif`` / ``.mp4`` animate the samples side by side (``--grid``: a near-square grid),
``.png`` is a contact sheet (one row per sample, evenly spaced frames across).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.records.takes import NORMALIZED_UNITS

OUTPUTS = (".gif", ".mp4", ".png")
# Without --samples: every motion in the input, up to this many (a 4 × 4 grid still reads).
DEFAULT_MAX_SAMPLES = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="generated .npz, dataset folder or X_data.npy")
    parser.add_argument("--out", required=True, type=Path, help="x.gif, x.mp4 or x.png")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"how many motions to show (default: all, up to "
                             f"{DEFAULT_MAX_SAMPLES}; the note says when some are left out)")
    parser.add_argument("--grid", action="store_true", help="arrange samples in a grid, not a row")
    parser.add_argument("--split", default="train", help="split of a dataset folder")
    parser.add_argument("--fps", type=float, help="playback rate (default: the data's)")
    parser.add_argument("--frames-per-row", type=int, default=8, help="contact sheet columns")


def pick_samples(names: list[str], k: int) -> np.ndarray:
    """Up to ``k`` indices, one class after another (first of each class, then second, …)."""
    order = list(dict.fromkeys(names))  # classes in order of first appearance
    per_class = [[i for i, n in enumerate(names) if n == c] for c in order]
    picked: list[int] = []
    rank = 0
    while len(picked) < k and any(rank < len(m) for m in per_class):
        picked += [int(m[rank]) for m in per_class if rank < len(m)][: k - len(picked)]
        rank += 1
    return np.array(sorted(picked), dtype=np.int64)


def read_joints(path: Path, split: str):
    from kinetic_gan.metrics import motion_sets

    if path.suffix == ".npz":
        from kinetic_gan.motion_files import check_npz

        check_npz(path)  # a truncated zip, a zip bomb or an array fps: one clear line
        return motion_sets.read_npz(path)
    dataset = motion_sets.open_real(path, split, frames=None)
    joints = np.asarray(dataset.array(normalized=False), dtype=np.float32).transpose(0, 2, 3, 1)
    names = [dataset.class_names[int(c)] for c in dataset.labels]
    return motion_sets.Joints(joints, names, dataset.skeleton, float(dataset.fps), "m")


def run(args: argparse.Namespace) -> int:
    from kinetic_gan import preview

    suffix = args.out.suffix.lower()
    if suffix not in OUTPUTS:
        raise KineticGanError(f"{args.out}: output must end in {', '.join(OUTPUTS)}")
    if args.samples is not None and args.samples < 1:
        raise KineticGanError("--samples must be at least 1")
    data = read_joints(args.input, args.split)
    total = len(data.names)
    chosen = pick_samples(data.names, args.samples or DEFAULT_MAX_SAMPLES)
    joints = data.joints[chosen]
    titles = [data.names[i] for i in chosen]
    fps = args.fps or data.fps or 30.0
    if suffix == ".png":
        preview.contact_sheet(args.out, joints, data.skeleton, titles, args.frames_per_row)
    elif suffix == ".gif":
        preview.render_gif(args.out, joints, data.skeleton, titles, fps, grid=args.grid)
    else:
        preview.render_mp4(args.out, joints, data.skeleton, titles, fps, grid=args.grid)
    if data.units == NORMALIZED_UNITS:
        print("note: the input is in normalized units (its model card has no normalization)")
    shown = f"{len(chosen)} motions" if len(chosen) == total else (
        f"{len(chosen)} of the input's {total} motions, one class after another; "
        f"--samples {total} shows them all")
    print(f"wrote {args.out} ({shown}, {joints.shape[1]} frames)")
    return 0
