"""``kinetic-gan generate``: sample actions from a model and save them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kinetic_gan.commands import cleanup_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="NAME.safetensors (with NAME.json beside it)")
    p.add_argument(
        "--action",
        action="append",
        required=True,
        help="class name (case-insensitive) or index; repeat for several, or 'all'",
    )
    p.add_argument("--count", type=int, default=1, help="samples per action (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    p.add_argument("--truncation", type=float, default=None, help="truncation ψ in [0, 1]")
    p.add_argument(
        "--vary-noise",
        action="store_true",
        help="one z per action, different noise per sample (stochastic variation)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--out", required=True, help="output .npz (or STEM for --format original)")
    p.add_argument(
        "--format",
        choices=("npz", "original"),
        default="npz",
        help="npz (metres, (N, T, V, C)) or original ((N, C, T, V, 1) .npy + labels .pkl)",
    )
    cleanup_option.add_argument(p)


def run(args: argparse.Namespace) -> int:
    from kinetic_gan.errors import KineticGanError
    from kinetic_gan.generate import (
        check_truncation,
        concat_sets,
        generate,
        new_seed,
        save_npz,
        save_original,
    )
    from kinetic_gan.weights import load_generator

    if args.count < 1:
        raise KineticGanError(f"--count must be at least 1, got {args.count}")
    check_truncation(args.truncation)
    steps = cleanup_option.parse(args.cleanup)
    generator = load_generator(args.weights, device=args.device)
    card = generator.card
    if card.units != "m":
        print(
            f"warning: {args.weights} has no metres scale; output is in normalized units",
            file=sys.stderr,
        )
    actions: list[str | int] = []
    for a in args.action:
        actions += list(range(card.n_classes)) if a.lower() == "all" else [a]
    seed = new_seed() if args.seed is None else args.seed
    sets = [
        generate(
            generator,
            action,
            count=args.count,
            seed=seed + i,
            truncation=args.truncation,
            vary_noise=args.vary_noise,
            progress=args.count >= 512,
        )
        for i, action in enumerate(actions)
    ]
    result = concat_sets(sets)
    result.joints = cleanup_option.apply(
        result.joints, result.fps, result.skeleton, result.units, steps, str(args.weights)
    )
    result.cleanup = cleanup_option.record(steps)
    cleaned = f", cleanup {result.cleanup}" if steps else ""
    if args.format == "original":
        stem = Path(args.out).with_suffix("") if args.out.endswith(".npy") else Path(args.out)
        data, labels = save_original(stem, result)
        print(f"wrote {data} and {labels} ({len(result.labels)} samples, seed {seed}{cleaned})")
    else:
        path = save_npz(args.out, result)
        print(f"wrote {path} ({len(result.labels)} samples, seed {seed}{cleaned})")
    return 0
