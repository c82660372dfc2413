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
    corpus = build.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    deepmimic = corpus.add_parser("deepmimic", help="the 15 DeepMimic clips (deepmimic15)")
    deepmimic.add_argument("--out", type=Path, default=Path("data/deepmimic15"))
    deepmimic.add_argument("--cache", type=Path, default=None, help="the fetch cache folder")
    deepmimic.add_argument("--frames", type=int, default=64, help="frames per window (default 64)")
    deepmimic.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
    _add_bvh_arguments(corpus.add_parser(
        "bvh", help="your own motion capture: every .bvh under SRC",
        description="Every .bvh under SRC becomes windows of NTU-25 joints (docs/data.md)."))
    sheet = sub.add_parser("sheet", help="render a sanity sheet (front + top views) of a corpus")
    sheet.add_argument("path", type=Path)
    sheet.add_argument("--out", type=Path, default=None,
                       help="PNG (default: docs/data_deepmimic.png for deepmimic15, else "
                            "PATH/sheet.png)")
    sheet.add_argument("--classes", nargs="*", default=None,
                       help="class names (default: every class; eight for deepmimic15)")
    info = sub.add_parser("info", help="describe a dataset folder or X_data.npy")
    info.add_argument("path", type=Path)
    info.add_argument("--split", default="train", choices=["train", "test"])
    info.add_argument("--layout", default="auto")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "fetch":
        from kinetic_gan.data.fetch import fetch

        fetch(args.cache, args.downloads)
        return 0
    if args.data_command == "build" and args.corpus == "bvh":
        return _build_bvh(args)
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


def _add_bvh_arguments(bvh: argparse.ArgumentParser) -> None:
    bvh.add_argument("src", type=Path, metavar="SRC", help="folder of .bvh files (recursive)")
    bvh.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="dataset folder (written whole, or not at all)")
    bvh.add_argument("--labels", default="folders", metavar="folders|FILE.csv",
                     help="labels from the first folder level under SRC (default) or a CSV "
                          "of file,label[,start_frame,end_frame]")
    bvh.add_argument("--joint-map", metavar="FILE.json",
                     help="{NTU joint: source joint} for a rig of no known family")
    bvh.add_argument("--fps", type=int, default=30, help="resample to this rate (default 30)")
    bvh.add_argument("--frames", type=int, default=64, help="frames per window (default 64)")
    bvh.add_argument("--stride", type=int, help="frames between window starts "
                                                "(default: a quarter window)")
    bvh.add_argument("--test-share", type=float, default=0.2,
                     help="share of each class's takes held out for testing (default 0.2)")
    bvh.add_argument("--split-by", choices=("take", "window"), default="take",
                     help="take (default): test windows come from takes never trained on")
    bvh.add_argument("--strict", action="store_true", help="stop at the first bad input")
    bvh.add_argument("--units", choices=("auto", "m", "cm", "mm", "in"), default="auto",
                     help="the files' units (default: detected from the skeleton)")
    bvh.add_argument("--up", choices=("auto", "+y", "-y", "+z", "-z", "+x", "-x"),
                     default="auto", help="the files' up axis (default: detected)")
    bvh.add_argument("--name", help="dataset name (default: the --out folder's name)")
    bvh.add_argument("--licence", help="the motion capture's licence, for the model card")


def _build_bvh(args: argparse.Namespace) -> int:
    from kinetic_gan.data.bvh_corpus import BvhCorpusOptions, build_bvh_corpus

    options = BvhCorpusOptions(
        labels=args.labels, joint_map=args.joint_map, fps=args.fps, frames=args.frames,
        stride=args.stride, test_share=args.test_share, split_by=args.split_by,
        strict=args.strict, units=args.units, up=args.up, name=args.name, licence=args.licence)
    report = build_bvh_corpus(args.src, args.out, options)
    print("\n".join(report.lines()))
    return 0


# The classes of the shipped corpus' sheet in docs/data.md (eight of fifteen fit a page).
_DEEPMIMIC_SHEET = ["walk", "run", "kick", "punch", "cartwheel", "backflip", "crawl",
                    "getup_faceup"]


def _sheet(path: Path, out: Path | None, classes: list[str] | None) -> None:
    from kinetic_gan.data import open_dataset
    from kinetic_gan.data.classes import DEEPMIMIC15
    from kinetic_gan.data.sanity import render_sanity_sheet

    if classes is None or out is None:
        shipped = list(open_dataset(path, frames=None).class_names) == list(DEEPMIMIC15)
        if classes is None and shipped:
            classes = _DEEPMIMIC_SHEET
        if out is None:
            out = Path("docs/data_deepmimic.png") if shipped else path / "sheet.png"
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
    for line in _take_lines(path, split):
        print(line)


def _take_lines(path: Path, split: str) -> list[str]:
    """For a corpus built from BVH takes: each class's takes and windows (meta.json)."""
    import json

    meta_path = path / "meta.json" if path.is_dir() else path.parent / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(meta, dict) or not isinstance(meta.get("takes"), list):
        return []
    lines = []
    for row in meta.get("classes", []):
        takes = [t for t in meta["takes"] if t.get("label") == row.get("name")]
        in_split = [t for t in takes if split in t.get("split", [])]
        files = ", ".join(t["file"] for t in in_split[:3]) + (" …" if len(in_split) > 3 else "")
        lines.append(f"  {row.get('name')}: {len(in_split)} of {len(takes)} takes in {split}, "
                     f"{row.get('windows', {}).get(split, 0)} windows ({files})")
    return lines
