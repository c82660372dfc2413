"""The out-of-the-box demo (``make demo``): the shipped model, a real server, a rendered video.

    python -m kinetic_gan.demo [--quick] [--weights FILE.safetensors] [--out out/demo]

Starts ``kinetic-gan serve`` with the shipped weights on a free loopback port, renders
several different actions side by side on the built-in character through the ZeroMQ
path (the add-on's batch renderer, via the bpy module), writes a preview GIF, stops the
server and prints where the files are. ``--quick`` is the reduced run CI uses. The takes are
cleaned as the add-on cleans them (``--cleanup``, all steps by default; docs/cleanup.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path
from kinetic_gan.errors import KineticGanError
from kinetic_gan.serve.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = ROOT / "weights" / "deepmimic15-mlp4.safetensors"
# Different enough from one another to show what the model learnt, in this order of preference.
FAVOURITE_ACTIONS = ("walk", "jump", "cartwheel", "kick", "backflip", "dance_a", "run", "punch")
# One Workbench sample, edges smoothed in the compositor (the render default): 5 samples
# made the grid render five times as long for edges hardly smoother in a video.
FULL = {"actions": 6, "resolution": "854x480", "samples": 1}
QUICK = {"actions": 2, "resolution": "320x180", "samples": 1}
GIF_WIDTH = 480
GIF_FPS = 15


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kinetic_gan.demo",
        description="Render generated actions on the built-in character through a real server.",
    )
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS, help="model to serve")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="2 actions, small, fast (CI)")
    parser.add_argument("--actions", default=None, help="comma-separated actions to show")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument(
        "--cleanup", default="all", metavar="STEPS",
        help="motion cleanup before animating: all (default), none, or some of "
        "filter,bones,feet",
    )
    return parser.parse_args(argv)


def pick_actions(class_names: list[str], count: int) -> list[str]:
    """The favourite actions the model has, topped up with its other classes."""
    lowered = {n.lower(): n for n in class_names}
    chosen = [lowered[a] for a in FAVOURITE_ACTIONS if a in lowered]
    chosen += [n for n in class_names if n not in chosen]
    return chosen[:count]


def _read_class_names(weights: Path) -> list[str]:
    from kinetic_gan.weights import read_card

    return list(read_card(weights).class_names)


def render_takes(address: str, out: Path, actions: list[str], args, mode: dict) -> int:
    """The add-on's batch renderer in this process, exactly as ``kinetic-gan render`` runs it."""
    from kinetic_gan.commands import render

    batch = render.batch_module()
    options = importlib.import_module(f"{render.ADDON}.core.render.options")
    argv = [
        "--backend", address, "--actions", ",".join(actions), "--count", "1",
        "--seed", str(args.seed), "--truncation", str(args.truncation), "--grid",
        "--mp4", "--npz", "--resolution", mode["resolution"], "--samples", str(mode["samples"]),
        "--out", str(out), "--timeout", "120", "--cleanup", args.cleanup,
    ]
    return batch.run(options.build_parser().parse_args(argv))


def video_to_gif(video: Path, gif: Path, width: int = GIF_WIDTH, fps: int = GIF_FPS) -> Path:
    """A looping GIF of the rendered video, smaller and at a lower frame rate."""
    import imageio.v3 as iio
    from PIL import Image

    frames = iio.imread(video)  # (T, H, W, 3)
    meta = iio.immeta(video)
    step = max(1, round(float(meta.get("fps", 30)) / fps))
    height = round(frames.shape[1] * width / frames.shape[2])
    small = [
        np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.LANCZOS))
        for f in frames[::step]
    ]
    with atomic_path(gif) as tmp:
        iio.imwrite(tmp, np.stack(small), extension=".gif", duration=1000.0 / fps, loop=0)
    return gif


def run(args: argparse.Namespace) -> int:
    weights = Path(args.weights)
    if not weights.is_file():
        raise KineticGanError(
            f"{weights} not found: the demo needs the shipped model "
            "(weights/deepmimic15-mlp4.safetensors) or --weights FILE.safetensors"
        )
    mode = QUICK if args.quick else FULL
    class_names = _read_class_names(weights)
    if args.actions:
        actions = [a.strip() for a in args.actions.split(",") if a.strip()]
    else:
        actions = pick_actions(class_names, mode["actions"])
    out = Path(args.out)
    started = time.monotonic()
    print(f"demo: serving {weights.name}, rendering {', '.join(actions)}", flush=True)
    with serving(weights, out / "server.log") as address:
        print(f"demo: server listening at {address}", flush=True)
        code = render_takes(address, out, actions, args, mode)
    video = out / "grid.mp4"
    if not video.is_file():
        raise KineticGanError(f"the render produced no video (see {out / '.logs'})")
    gif = video_to_gif(video, out / "demo.gif")
    seconds = time.monotonic() - started
    print(f"\ndemo finished in {seconds:.0f} s" + ("" if code == 0 else " (some takes failed)"))
    print(f"  video:   {video.resolve()}")
    print(f"  preview: {gif.resolve()}")
    print(f"  takes:   {out.resolve()}/*.npz (joints), server log {out.resolve() / 'server.log'}")
    return code


def main(argv: list[str] | None = None) -> int:
    from kinetic_gan.cli import report_errors

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return report_errors(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
