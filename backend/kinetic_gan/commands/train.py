"""``kinetic-gan train``: start or resume a WGAN-GP run (the same command under torchrun)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kinetic_gan.errors import KineticGanError

# Settings that may change when a run is resumed: budgets, bookkeeping, where things live.
RESUMABLE = {"iterations", "max_minutes", "checkpoint_every", "keep_checkpoints", "sample_every",
             "samples_per_class", "device", "data_workers", "tensorboard", "data", "compile",
             "mean_w_samples", "amp", "name", "cuda_graphs"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples:\n"
                     "  kinetic-gan train --config deepmimic15 --data data/deepmimic15 "
                     "--out runs/dm15 --max-minutes 8\n"
                     "  kinetic-gan train --resume runs/dm15 --iterations 20000\n"
                     "  kinetic-gan train --config deepmimic15 --data data/deepmimic15 "
                     "--init dm15-state.pt --out runs/dm15b\n"
                     "  torchrun --nproc_per_node 4 -m kinetic_gan.cli train --config "
                     "ntu60-xsub-mlp4 --data data/ntu/xsub --out runs/ntu60")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--config", help="packaged config name (see --list-configs) or a .toml file")
    start.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR exactly where its last checkpoint left it")
    start.add_argument("--list-configs", action="store_true", help="list the packaged configs")
    parser.add_argument("--data", help="dataset folder or X_data.npy (overrides the config)")
    parser.add_argument("--out", type=Path, metavar="RUN_DIR", help="run directory for a new run")
    parser.add_argument("--iterations", type=int, help="total generator updates to train for")
    parser.add_argument("--max-minutes", type=float,
                        help="wall-clock budget for this session: checkpoint and exit cleanly")
    parser.add_argument("--batch-size", type=int, help="global batch size")
    parser.add_argument("--init", metavar="FILE",
                        help="start a new run from the models of a checkpoint or of "
                             "'kinetic-gan export RUN --training-state FILE' (fresh optimisers)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set ema=true")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from kinetic_gan.train import config as cfg

    if args.list_configs:
        for name in cfg.packaged_configs():
            print(name)
        return 0
    explicit = {key: value for key, value in (
        ("data", args.data), ("iterations", args.iterations), ("max_minutes", args.max_minutes),
        ("batch_size", args.batch_size), ("seed", args.seed), ("device", args.device),
        ("init", args.init),
    ) if value is not None}

    if args.resume is not None:
        from kinetic_gan.train.rundir import read_config

        if args.out is not None:
            raise KineticGanError("--out: a resumed run stays in its own directory")
        config = read_config(args.resume)
        run_dir = args.resume
        # max_minutes is a per-session budget: a resumed session gets a fresh one (or none).
        config = cfg.replace(config, {"max_minutes": None}, "--resume")
    else:
        if args.out is None:
            raise KineticGanError("--out RUN_DIR is required for a new run")
        config = cfg.load_config(args.config)
        run_dir = args.out

    overrides = cfg.apply_overrides(config, args.set).to_dict()
    changed = {k: v for k, v in overrides.items() if v != config.to_dict()[k]}
    changed.update(explicit)
    if args.resume is not None:
        frozen = sorted(set(changed) - RESUMABLE)
        if frozen:
            raise KineticGanError(f"--resume: cannot change {', '.join(frozen)} of an existing run")
    config = cfg.replace(config, changed, "command line")

    from kinetic_gan.train.loop import train

    summary = train(config, run_dir, resume=args.resume is not None,
                    progress=not args.no_progress)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in summary.losses.items())
    if summary.finished and os.environ.get("RANK", "0") == "0":
        print(f"trained {summary.iteration} iterations in {summary.seconds / 60:.1f} min "
              f"({losses}); export with: kinetic-gan export {run_dir} --out weights/NAME")
    return 0
