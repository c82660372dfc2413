"""``kinetic-gan request``: ask a running server (or broker) for actions; save them as .npz."""

from __future__ import annotations

import argparse
import sys

from kinetic_gan.commands import cleanup_option
from kinetic_gan.errors import KineticGanError
from kinetic_gan.serve.client import BackendError, Client, CurveKeys

# Seconds the first question (info) may take: a dead address is reported this fast.
PROBE_S = 4.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="tcp://127.0.0.1:5555")
    parser.add_argument("--action", help="class name or index, e.g. cartwheel or 7 (see --info)")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seed", type=int, help="default: the server picks one and reports it")
    parser.add_argument("--truncation", type=float, help="truncation psi, e.g. 0.7")
    parser.add_argument("--vary-noise", action="store_true", help="fresh noise per sample")
    parser.add_argument("--model", help="model name (default: the server's first)")
    parser.add_argument("--out", help="write the takes here (.npz, same layout as generate)")
    parser.add_argument("--info", action="store_true", help="print the server's models and exit")
    parser.add_argument(
        "--deadline-ms",
        type=float,
        help="the server drops the request unrun after this many milliseconds (error deadline)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per try")
    parser.add_argument("--retries", type=int, default=1)
    cleanup_option.add_argument(parser)
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
    steps = cleanup_option.parse(args.cleanup)
    if not args.info and (action is None or not args.out):
        raise KineticGanError("request: give --action and --out (or --info)")
    try:
        with Client(
            args.address, timeout_s=args.timeout, retries=args.retries, curve=curve_keys
        ) as client:
            # A quick first question, so a dead address is reported within seconds rather
            # than after every try of the (long) generate timeout; it also tells the client
            # the exact size of the reply to expect.
            info = client.info(timeout_s=min(args.timeout, PROBE_S), retries=0)
            if args.info:
                _print_info(info)
                return 0
            try:
                take = client.generate(
                    action,
                    count=args.count,
                    seed=args.seed,
                    truncation=args.truncation,
                    vary_noise=args.vary_noise,
                    model=args.model,
                    deadline_ms=args.deadline_ms,
                )
            except BackendError as exc:
                if exc.code != "unreachable":
                    raise
                # The server answered info, so it is there: the reply was late or too big.
                raise KineticGanError(
                    f"no usable generate reply from {args.address} within "
                    f"{exc.seconds or args.timeout:.0f} s (a reply bigger than the request "
                    "needs is refused unread); for large counts on a CPU server raise --timeout"
                ) from None
    except BackendError as exc:
        raise KineticGanError(_explain(exc, curve_keys is not None)) from None
    from kinetic_gan.motion_files import save_npz

    take.joints = cleanup_option.apply(
        take.joints, take.fps, take.skeleton, take.units, steps, f"model {take.model}"
    )
    save_npz(args.out, take, cleanup=cleanup_option.record(steps))
    cleaned = f", cleanup {cleanup_option.record(steps)}" if steps else ""
    print(
        f"{args.out}: {take.joints.shape[0]} x {take.action!r} from {take.model}, "
        f"seed {take.seed}, {take.joints.shape[1]} frames at {take.fps:g} fps ({take.units})"
        + cleaned
    )
    return 0


def _explain(exc: BackendError, has_keys: bool) -> str:
    if exc.code != "unreachable":
        return str(exc)
    text = (
        f"no answer from {exc.address} within {exc.seconds:.0f} s: start a server there "
        "with `kinetic-gan serve --weights W` (or point --address at one)"
        if exc.seconds is not None
        else str(exc)
    )
    if not has_keys:
        text += (
            "; if it uses CurveZMQ, it may require keys: give --curve-server-key and "
            "--curve-secret-key"
        )
    return text


def _action(text: str | None) -> str | int | None:
    if text is None:
        return None
    from kinetic_gan.records.request import parse_action

    return parse_action(text)


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
