"""``kinetic-gan export RUN --out weights/NAME``: a run's generator as shippable weights;
``--training-state FILE``: its models, compact, for ``kinetic-gan train --init FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="a kinetic-gan train run")
    parser.add_argument("--out", type=Path, metavar="weights/NAME",
                        help="writes NAME.safetensors + NAME.json (the model card)")
    parser.add_argument("--training-state", type=Path, metavar="FILE.pt",
                        help="also (or only) write generator, critic and EMA in float16 — a "
                             "quarter of a checkpoint — to warm-start a run elsewhere "
                             "(kinetic-gan train --init FILE.pt)")
    parser.add_argument("--checkpoint", type=Path,
                        help="a specific iter_*.pt (default: the run's latest)")
    parser.add_argument("--dtype", choices=("auto", "float16", "float32"), default="auto",
                        help="auto: float16 wherever the output stays within 2e-3 of float32 "
                             "(out-of-range tensors stay float32); float16: that split "
                             "without the check; float32: everything")
    parser.add_argument("--max-mib", type=float,
                        help="with --dtype auto: keep the file under this size, even if the "
                             "float16 output then differs by more than 2e-3 (the card says "
                             "by how much)")
    parser.add_argument("--no-ema", action="store_true",
                        help="export the raw generator even when the run kept an EMA")
    parser.add_argument("--mean-w-samples", type=int,
                        help="latents per class for the truncation mean (default: the config's)")
    parser.add_argument("--name", help="model name in the card (default: NAME)")
    parser.add_argument("--licence", help="licence in the card (default: the dataset's)")
    parser.add_argument("--device", default="cpu", help="where to compute the mean w")


def run(args: argparse.Namespace) -> int:
    from kinetic_gan.errors import KineticGanError
    from kinetic_gan.train.export import export_run

    if args.out is None and args.training_state is None:
        raise KineticGanError("export: give --out weights/NAME, --training-state FILE.pt, or both")
    if args.training_state is not None:
        from kinetic_gan.train import checkpoint

        source = args.checkpoint or checkpoint.latest_path(args.run)
        state = checkpoint.load(source)
        path = checkpoint.save_training_weights(state, args.training_state)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB: the models of "
              f"{source.name}; start a run from it with kinetic-gan train --init {path})")
        if args.out is None:
            return 0
    report = export_run(args.run, args.out, checkpoint_file=args.checkpoint, dtype=args.dtype,
                        use_ema=not args.no_ema, mean_w_samples=args.mean_w_samples,
                        name=args.name, licence=args.licence, device=args.device,
                        max_mib=args.max_mib)
    size = report.weights.stat().st_size / 2**20
    print(f"wrote {report.weights} ({size:.1f} MiB, {report.dtype}; float16 max abs diff "
          f"{report.fp16_max_abs_diff:.2e}; {'EMA' if report.used_ema else 'raw'} generator "
          f"at iteration {report.iteration}) and {report.weights.with_suffix('.json')}")
    return 0
