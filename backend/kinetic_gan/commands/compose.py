"""``kinetic-gan compose``: one continuous take from a list of segments (docs/shots.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kinetic_gan.commands import cleanup_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="NAME.safetensors (with NAME.json beside it)")
    p.add_argument("--shot", required=True,
                   help='segments as ACTION:FRAMES,... e.g. "walk:150,jump:90,walk:150"')
    p.add_argument("--loop", nargs="?", const="advance", default=None,
                   choices=("advance", "in_place"),
                   help="the last frame runs into the first: advance (default when given: the "
                   "root moves on by its displacement per cycle) or in_place")
    p.add_argument("--path", default=None,
                   help='path.json: {"points": [[x, z], ...]} in metres on the floor')
    p.add_argument("--path-timing", choices=("speed", "length"), default="speed",
                   help="when the motion would cover another length than the path: speed "
                   "(default) keeps the frames and plays it faster or slower, length keeps its "
                   "speed and the shot gets as long as the path takes")
    p.add_argument("--keys", default=None,
                   help="keys.npz: frames (K,), joints (K, 25, 3) metres, optional mask (K, 25)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--truncation", type=float, default=0.7, help="truncation ψ (default 0.7)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the "
                   "engine's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--out", required=True, help="output .npz (the take file layout)")
    cleanup_option.add_argument(p)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from kinetic_gan.errors import KineticGanError
    from kinetic_gan.shots import Settings, compose
    from kinetic_gan.shots.files import save_shot
    from kinetic_gan.weights import load_generator

    steps = cleanup_option.parse(args.cleanup)
    path = _read_path(args.path) if args.path else None
    keys = _read_keys(args.keys) if args.keys else None
    settings = Settings()
    if args.steps is not None:
        if args.steps < 0:
            raise KineticGanError(f"--steps must be 0 or more, got {args.steps}")
        settings = dataclasses.replace(settings, steps=args.steps)
    generator = load_generator(args.weights, device=args.device)
    shot = compose(generator, args.shot, seed=args.seed, truncation=args.truncation,
                   loop=args.loop or False, path=path, keys=keys, cleanup=steps,
                   settings=settings, path_timing=args.path_timing)
    out = save_shot(args.out, shot)
    segments = ", ".join(f"{n} {f}" for _, f, n in zip(*shot.segment_table(), strict=True))
    print(f"wrote {out} ({shot.frames} frames: {segments}; {len(shot.plan.windows)} windows, "
          f"{shot.steps} steps, {shot.seconds:.2f} s, seed {args.seed})")
    return 0


def _read_path(name: str):
    from kinetic_gan.errors import KineticGanError

    try:
        data = json.loads(Path(name).read_text())
    except FileNotFoundError:
        raise KineticGanError(f"--path: {name}: file not found") from None
    except (OSError, ValueError) as exc:
        raise KineticGanError(f"--path: {name}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or "points" not in data:
        raise KineticGanError(f'--path: {name}: expected {{"points": [[x, z], ...]}}')
    return data["points"]


def _read_keys(name: str) -> dict:
    import numpy as np

    from kinetic_gan.errors import KineticGanError

    try:
        with np.load(name, allow_pickle=False) as data:
            missing = {"frames", "joints"} - set(data.files)
            if missing:
                raise KineticGanError(f"--keys: {name}: missing {sorted(missing)}")
            return {k: data[k] for k in ("frames", "joints", "mask") if k in data.files}
    except FileNotFoundError:
        raise KineticGanError(f"--keys: {name}: file not found") from None
    except (OSError, ValueError) as exc:
        raise KineticGanError(f"--keys: {name}: not a readable .npz ({exc})") from None
