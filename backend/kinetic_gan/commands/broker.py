"""``kinetic-gan broker``: one address for clients in front of any number of workers."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

import zmq

from kinetic_gan.errors import KineticGanError
from kinetic_gan.serve import curve, protocol
from kinetic_gan.serve.broker import REPLIES_PER_CLIENT, Broker, BrokerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frontend", default="tcp://127.0.0.1:5555", help="where clients connect")
    parser.add_argument(
        "--backend",
        default="tcp://127.0.0.1:5556",
        help="where workers (`kinetic-gan serve --connect`) connect",
    )
    parser.add_argument("--heartbeat-ms", type=float, default=1000.0)
    parser.add_argument(
        "--liveness", type=int, default=3, help="heartbeats a worker may miss before it is dropped"
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=10_000,
        help='queued requests before new ones are answered "busy"',
    )
    parser.add_argument(
        "--max-client-queue",
        type=int,
        default=64,
        help='queued requests per client before its new ones are answered "busy"',
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=16_384,
        help="samples (cost) held, queued or at workers, past which the client holding the "
        'most is answered "busy" (its newest queued request pushed out when another client '
        "asks; default %(default)s)",
    )
    parser.add_argument(
        "--quantum",
        type=float,
        default=1.0,
        help="samples each client is credited per turn of the deficit-round-robin "
        "scheduler (default %(default)s)",
    )
    parser.add_argument("--curve-secret-key", metavar="F", help="the broker's key pair")
    parser.add_argument(
        "--curve-authorized-clients",
        metavar="DIR",
        help="public keys (*.key) of the clients allowed in at --frontend",
    )
    parser.add_argument(
        "--worker-authorized-keys",
        metavar="DIR",
        help="public keys (*.key) of the workers allowed in at --backend (a folder of its "
        "own: a client key there could receive other users' requests)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if (
        args.heartbeat_ms <= 0
        or args.liveness < 1
        or args.max_queue < 1
        or args.max_client_queue < 1
        or args.max_pending < 1
        or not args.quantum > 0
    ):
        raise KineticGanError(
            "--heartbeat-ms, --liveness, --max-queue, --max-client-queue, --max-pending and "
            "--quantum must be positive"
        )
    if bool(args.curve_secret_key) != bool(args.curve_authorized_clients):
        raise KineticGanError(
            "give both --curve-secret-key and --curve-authorized-clients, or neither"
        )
    has_keys = bool(args.curve_secret_key)
    curve.check_bind_allowed(args.frontend, has_keys, "--frontend")
    curve.check_bind_allowed(args.backend, has_keys, "--backend")
    if has_keys and not curve.is_loopback(args.backend) and not args.worker_authorized_keys:
        raise KineticGanError(
            f"--backend {args.backend} is secured with Curve: give --worker-authorized-keys, "
            "a folder of the workers' public keys apart from the clients'"
        )
    if args.worker_authorized_keys and not has_keys:
        raise KineticGanError("--worker-authorized-keys needs --curve-secret-key")
    config = BrokerConfig(
        heartbeat_s=args.heartbeat_ms / 1000.0,
        liveness=args.liveness,
        max_queue=args.max_queue,
        max_client_queue=args.max_client_queue,
        max_pending=args.max_pending,
        quantum=args.quantum,
    )
    context = zmq.Context()
    curve_server = None
    sockets = []
    try:
        if has_keys:
            curve_server = curve.CurveServer(
                context,
                args.curve_secret_key,
                args.curve_authorized_clients,
                worker_dir=args.worker_authorized_keys,
            )
        endpoints = []
        for endpoint in (args.frontend, args.backend):
            sock = context.socket(zmq.ROUTER)
            sockets.append(sock)
            sock.setsockopt(zmq.LINGER, 1000)
            frontend = endpoint is args.frontend
            if frontend:
                sock.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
                # Replies a client does not read wait here, a few per client, then are dropped.
                sock.setsockopt(zmq.SNDHWM, REPLIES_PER_CLIENT)
            else:
                sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_ARRAY_BYTES)
                # Sending to a vanished worker raises, so the request is requeued at once.
                sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            if curve_server is not None and not curve.is_loopback(endpoint):
                curve_server.secure(sock, curve.CLIENTS if frontend else curve.WORKERS)
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                raise KineticGanError(f"broker: cannot bind {endpoint}: {exc}") from None
            endpoints.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))
        logging.getLogger("kinetic_gan.broker").info("listening frontend=%s backend=%s", *endpoints)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        Broker(sockets[0], sockets[1], config).run(stop)
    finally:
        for sock in sockets:
            sock.close()
        if curve_server is not None:
            curve_server.stop()
        context.term()
    return 0
