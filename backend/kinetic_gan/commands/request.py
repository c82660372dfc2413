"""``kinetic-gan request``: ask a running server (or broker) for actions; save them as .npz."""

from __future__ import annotations

import argparse
import sys

from kinetic_gan.client import BackendError, Client, CurveKeys
from kinetic_gan.errors import KineticGanError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="tcp://127.0.0.1:5555")
    parser.add_argument("--action", help='class name or index, e.g. "jump up" or 3')
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seed", type=int, help="default: the server picks one and reports it")
    parser.add_argument("--truncation", type=float, help="truncation psi, e.g. 0.7")
    parser.add_argument("--vary-noise", action="store_true", help="fresh noise per sample")
    parser.add_argument("--model", help="model name (default: the server's first)")
    parser.add_argument("--out", help="write the takes here (.npz, same layout as generate)")
    parser.add_argument("--info", action="store_true", help="print the server's models and exit")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per try")
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--curve-server-key", metavar="F", help="the server's public key (.key)")
    parser.add_argument(
        "--curve-secret-key", metavar="F", help="this client's key pair (.key_secret)"
    )


def run(args: argparse.Namespace) -> int:
    curve_keys = None
    if bool(args.curve_server_key) != bool(args.curve_secret_key):
        raise KineticGanError("give both --curve-server-key and --curve-secret-key, or neither")
    if args.curve_server_key:
        try:
            curve_keys = CurveKeys.from_files(args.curve_server_key, args.curve_secret_key)
        except (OSError, ValueError) as exc:
            raise KineticGanError(f"curve keys: {exc}") from None
    action = _action(args.action)
    if not args.info and (action is None or not args.out):
        raise KineticGanError("request: give --action and --out (or --info)")
    try:
        with Client(
            args.address, timeout_s=args.timeout, retries=args.retries, curve=curve_keys
        ) as client:
            if args.info:
                _print_info(client.info())
                return 0
            take = client.generate(
                action,
                count=args.count,
                seed=args.seed,
                truncation=args.truncation,
                vary_noise=args.vary_noise,
                model=args.model,
            )
    except BackendError as exc:
        raise KineticGanError(str(exc)) from None
    from kinetic_gan.motion_files import save_npz

    save_npz(args.out, take)
    print(
        f"{args.out}: {take.joints.shape[0]} x {take.action!r} from {take.model}, "
        f"seed {take.seed}, {take.joints.shape[1]} frames at {take.fps:g} fps ({take.units})"
    )
    return 0


def _action(text: str | None) -> str | int | None:
    if text is None:
        return None
    return int(text) if text.strip().lstrip("-").isdigit() else text


def _print_info(info: dict) -> None:
    out = sys.stdout
    out.write(f"server {info.get('server')}  protocol {info.get('protocol')}\n")
    for model in info.get("models", []):
        out.write(
            f"- {model['name']}: {model['skeleton']} skeleton, {model['frames']} frames at "
            f"{model['fps']} fps, {len(model['class_names'])} classes ({model['units']})\n"
        )
        out.write(
            "    " + ", ".join(f"{i}: {n}" for i, n in enumerate(model["class_names"])) + "\n"
        )
