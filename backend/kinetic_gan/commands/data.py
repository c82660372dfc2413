"""``kinetic-gan data``: fetch the motion capture, build corpora, describe a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = sub.add_parser(
        "fetch", help="download the DeepMimic clips and BVH samples into the cache (set-up time)"
    )
    fetch.add_argument("--cache", type=Path, default=None,
                       help="cache folder (default: $KINETIC_GAN_CACHE or .cache/kinetic-gan)")
    fetch.add_argument("--downloads", type=Path, default=None,
                       help="folder that already holds the package files (offline set-up)")
    build = sub.add_parser("build", help="build a dataset in the published NTU layout")
    build.add_argument("corpus", choices=["deepmimic"], help="which corpus to build")
    build.add_argument("--out", type=Path, default=Path("data/deepmimic15"))
    build.add_argument("--cache", type=Path, default=None, help="the fetch cache folder")
    build.add_argument("--frames", type=int, default=64, help="frames per window (default 64)")
    build.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
    sheet = sub.add_parser("sheet", help="render a sanity sheet (front + top views) of a corpus")
    sheet.add_argument("path", type=Path)
    sheet.add_argument("--out", type=Path, default=Path("docs/data_deepmimic.png"))
    sheet.add_argument("--classes", nargs="*", default=[
        "walk", "run", "kick", "punch", "cartwheel", "backflip", "crawl", "getup_faceup"])
    info = sub.add_parser("info", help="describe a dataset folder or X_data.npy")
    info.add_argument("path", type=Path)
    info.add_argument("--split", default="train", choices=["train", "test"])
    info.add_argument("--layout", default="auto")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "fetch":
        from kinetic_gan.data.fetch import fetch

        fetch(args.cache, args.downloads)
        return 0
    if args.data_command == "build":
        from kinetic_gan.data.build import build_deepmimic

        source = args.cache / "deepmimic" if args.cache else None
        out = build_deepmimic(args.out, source=source, frames=args.frames, fps=args.fps)
        _describe(out, "train", "auto")
        _describe(out, "test", "auto")
        return 0
    if args.data_command == "sheet":
        _sheet(args.path, args.out, args.classes)
        return 0
    _describe(args.path, args.split, args.layout)
    return 0


def _sheet(path: Path, out: Path, classes: list[str]) -> None:
    from kinetic_gan.data import open_dataset
    from kinetic_gan.data.sanity import render_sanity_sheet

    ds = open_dataset(path, frames=None, classes=classes)
    first = [int((ds.labels == k).argmax()) for k in range(ds.num_classes)]
    joints = ds.array(normalized=False)[first].transpose(0, 2, 3, 1)
    print(render_sanity_sheet(out, joints, ds.class_names))


def _describe(path: Path, split: str, layout: str) -> None:
    import numpy as np

    from kinetic_gan.data import open_dataset

    ds = open_dataset(path, layout=layout, split=split, frames=None)
    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    print(f"{path} [{split}]: {len(ds)} samples, {ds.num_classes} classes, skeleton {ds.skeleton}, "
          f"(C, T, V) = {ds.shape}, {ds.fps} fps, "
          f"min/max {ds.normalization.min:.3f}/{ds.normalization.max:.3f}")
    pairs = zip(ds.class_names, counts, strict=True)
    print("  per class: " + ", ".join(f"{n} {c}" for n, c in pairs))
