"""``kinetic-gan convert``: a published Kinetic-GAN checkpoint → our weights format."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="published generator or discriminator state_dict (.pth)")
    p.add_argument("--out", required=True, help="weights/NAME (writes NAME.safetensors + .json)")
    p.add_argument(
        "--frames", type=int, default=64, help="T the model was trained with (default 64)"
    )
    p.add_argument("--dataset", choices=("ntu", "ntu120", "ntu2d", "h36m"), default=None)
    p.add_argument("--data", help="the training .npy, for the metres scale (global min/max)")
    p.add_argument("--norm-min", type=float, help="training data minimum (instead of --data)")
    p.add_argument("--norm-max", type=float, help="training data maximum (instead of --data)")
    p.add_argument("--class-names", help="a text file with one class name per line")
    p.add_argument(
        "--mean-w-samples",
        type=int,
        default=10_000,
        help="samples per class for the truncation mean (default 10000)",
    )


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from kinetic_gan.errors import KineticGanError
    from kinetic_gan.weights import convert_published, normalization_from_data

    normalization = None
    if args.data:
        normalization = normalization_from_data(args.data)
    elif args.norm_min is not None or args.norm_max is not None:
        if args.norm_min is None or args.norm_max is None or args.norm_max <= args.norm_min:
            raise KineticGanError("--norm-min and --norm-max go together, with min < max")
        normalization = {"min": args.norm_min, "max": args.norm_max}
    class_names = None
    if args.class_names:
        lines = Path(args.class_names).read_text().splitlines()
        class_names = [line.strip() for line in lines if line.strip()]
    out = convert_published(
        args.checkpoint,
        args.out,
        frames=args.frames,
        dataset=args.dataset,
        normalization=normalization,
        class_names=class_names,
        samples_per_class=args.mean_w_samples,
    )
    print(f"wrote {out} and {out.with_suffix('.json')}")
    if normalization is None:
        print(
            "warning: no --data/--norm-min/--norm-max: outputs stay in normalized units",
            file=sys.stderr,
        )
    return 0
