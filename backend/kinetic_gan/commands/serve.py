"""``kinetic-gan serve``: serve one or more generators over ZeroMQ (stand-alone or as a worker)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

import zmq

from kinetic_gan.errors import KineticGanError
from kinetic_gan.serve import curve

# The interpreter's thread switch interval while serving (see run()).
SWITCH_INTERVAL_S = 0.0005


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        nargs="+",
        required=True,
        metavar="W",
        help="model files (NAME.safetensors with NAME.json); the first is the default",
    )
    parser.add_argument(
        "--bind",
        default="tcp://127.0.0.1:5555",
        help="address to listen on (default %(default)s; port * picks a free one)",
    )
    parser.add_argument(
        "--connect",
        metavar="ADDRESS",
        help="work for a `kinetic-gan broker` at this backend address instead of binding",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--max-batch",
        type=int,
        default=64,
        help="samples per device batch; 1 turns batching off (default %(default)s)",
    )
    parser.add_argument(
        "--max-delay-ms",
        type=float,
        default=5.0,
        help="longest a batch waits for more requests under load (default %(default)s)",
    )
    parser.add_argument("--max-count", type=int, default=256, help="samples per request")
    parser.add_argument(
        "--max-pending",
        type=int,
        default=4096,
        help="samples queued (and running) past which the client holding the most is "
        'answered "busy" (its newest queued request pushed out when another client asks); '
        "a client with nothing queued is admitted up to twice this (default %(default)s)",
    )
    parser.add_argument(
        "--max-client-pending",
        type=int,
        default=1024,
        help="samples one client may have queued (a client with none queued is always "
        "admitted, so floods starve no one; default %(default)s)",
    )
    parser.add_argument(
        "--quantum",
        type=float,
        default=1.0,
        help="samples each client is credited per turn of the deficit-round-robin "
        "scheduler (default %(default)s; larger: fewer, longer turns)",
    )
    parser.add_argument(
        "--heartbeat-ms",
        type=float,
        default=1000.0,
        help="worker heartbeat interval (with --connect)",
    )
    parser.add_argument(
        "--curve-secret-key",
        metavar="F",
        help="this server's key pair (NAME.key_secret from `kinetic-gan keygen`)",
    )
    parser.add_argument(
        "--curve-authorized-clients",
        metavar="DIR",
        help="folder of client public keys (*.key) allowed to connect",
    )
    parser.add_argument(
        "--curve-broker-key", metavar="F", help="with --connect: the broker's public key (NAME.key)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])


def _check_limits(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--max-batch", args.max_batch),
        ("--max-count", args.max_count),
        ("--max-pending", args.max_pending),
        ("--max-client-pending", args.max_client_pending),
    ):
        if value < 1:
            raise KineticGanError(f"{flag} must be >= 1, got {value}")
    if args.max_delay_ms < 0 or args.heartbeat_ms <= 0 or not args.quantum > 0:
        raise KineticGanError(
            "--max-delay-ms must be >= 0, --heartbeat-ms and --quantum > 0"
        )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    _check_limits(args)
    _check_security(args)  # refuse before spending seconds on loading models
    from kinetic_gan import load_generator
    from kinetic_gan.devices import resolve_device
    from kinetic_gan.serve.batcher import GeneratorRunner
    from kinetic_gan.serve.server import Dispatcher, ServeConfig, Server

    config = ServeConfig(
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        max_count=args.max_count,
        max_pending=args.max_pending,
        max_client_pending=args.max_client_pending,
        quantum=args.quantum,
    )
    # The socket thread answers floods of refusals while the compute thread runs batches;
    # every torch call of the latter gives the GIL up and waits up to the switch interval to
    # get it back (5 ms by default), which would stretch a batch of many small calls by
    # hundreds of milliseconds under a flood. A short interval keeps batches at their speed.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    device = resolve_device(args.device)
    runners = [GeneratorRunner(load_generator(path, device=device)) for path in args.weights]
    dispatcher = Dispatcher(runners, config)
    # Only now face clients: a worker that said READY must be able to answer heartbeats.
    context = zmq.Context()
    curve_server, transport = None, None
    try:
        curve_server = _curve_server(args, context)
        transport = _transport(args, context, config, curve_server)
        server = Server(dispatcher, transport, config)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        transport = None  # the server closes it when it stops
        server.run(stop)
    finally:
        if transport is not None:
            transport.close()
        if curve_server is not None:
            curve_server.stop()
        context.term()
    return 0


def _check_security(args: argparse.Namespace) -> None:
    if args.connect:
        if not curve.is_loopback(args.connect) and not (
            args.curve_secret_key and args.curve_broker_key
        ):
            raise KineticGanError(
                f"--connect {args.connect} leaves this machine; give --curve-secret-key "
                "(this worker's pair) and --curve-broker-key (the broker's public key)"
            )
        return
    if bool(args.curve_secret_key) != bool(args.curve_authorized_clients):
        raise KineticGanError(
            "give both --curve-secret-key and --curve-authorized-clients, or neither"
        )
    curve.check_bind_allowed(args.bind, bool(args.curve_secret_key))


def _curve_server(args: argparse.Namespace, context: zmq.Context) -> curve.CurveServer | None:
    if args.connect or not args.curve_secret_key:
        return None
    return curve.CurveServer(context, args.curve_secret_key, args.curve_authorized_clients)


def _transport(args: argparse.Namespace, context: zmq.Context, config, curve_server):
    from kinetic_gan.serve.server import RouterTransport, WorkerTransport

    if not args.connect:
        return RouterTransport(context, args.bind, config, curve_server)
    keys = None
    if args.curve_secret_key and args.curve_broker_key:
        public, secret = curve.load_keypair(args.curve_secret_key)
        keys = (curve.load_public(args.curve_broker_key), public, secret)
    # Capacity is cost (samples) held at once: a batch running and one ready behind it keep
    # the device busy; the rest waits at the broker, where clients take turns.
    return WorkerTransport(
        context,
        args.connect,
        capacity=2 * args.max_batch,
        heartbeat_s=args.heartbeat_ms / 1000.0,
        curve_client=keys,
    )
