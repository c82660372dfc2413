"""Who may talk to a server or broker: loopback by default, CurveZMQ for anything else.

Key files use ZeroMQ's certificate format (readable by ``zmq.auth.load_certificate``):
``NAME.key`` holds the public key (hand it out), ``NAME.key_secret`` the pair (keep it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from kinetic_gan.atomic import atomic_write
from kinetic_gan.errors import KineticGanError

_LOCAL_TRANSPORTS = ("ipc://", "inproc://")


def is_loopback(endpoint: str) -> bool:
    """True when ``endpoint`` can only be reached from this machine.

    ``tcp://*:5555``, ``tcp://0.0.0.0:5555`` and interface names are *not* loopback.
    """
    if endpoint.startswith(_LOCAL_TRANSPORTS):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0]
    if ";" in host:  # "tcp://source;destination": judge the destination
        host = host.split(";", 1)[1]
    host = host.strip("[]")
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_keypair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Create ``NAME.key`` (public) and ``NAME.key_secret`` (0600) in ``directory``."""
    public, secret = zmq.curve_keypair()
    folder = Path(directory)
    public_path, secret_path = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public_path, secret_path):
        if path.exists():
            raise KineticGanError(f"{path}: already exists; choose another name or folder")
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    _write_certificate(public_path, stamp, public, None)
    _write_certificate(secret_path, stamp, public, secret)
    os.chmod(secret_path, 0o600)
    return public_path, secret_path


def _write_certificate(path: Path, stamp: str, public: bytes, secret: bytes | None) -> None:
    kind = "Secret" if secret is not None else "Public"
    lines = [
        f"#   ****  Generated on {stamp} by kinetic-gan keygen  ****",
        f"#   ZeroMQ CURVE **{kind}** Certificate",
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS." if secret is not None else "",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode("ascii")}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def load_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file, or a clear error."""
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise KineticGanError(f"{path}: not a CurveZMQ certificate ({exc})") from None
    if not secret:
        raise KineticGanError(f"{path}: holds no secret key (pass the .key_secret file)")
    return public, secret


def load_public(path: str | Path) -> bytes:
    try:
        public, _ = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise KineticGanError(f"{path}: not a CurveZMQ certificate ({exc})") from None
    return public


class CurveServer:
    """Server-side Curve: our key pair plus a ZAP handler that admits the authorised keys."""

    def __init__(
        self, context: zmq.Context, secret_key_file: str | Path, authorized_dir: str | Path
    ):
        folder = Path(authorized_dir)
        if not folder.is_dir():
            raise KineticGanError(
                f"{folder}: --curve-authorized-clients must be a folder of .key files"
            )
        if not any(folder.glob("*.key")):
            raise KineticGanError(f"{folder}: no client .key files; nobody could connect")
        self.public, self.secret = load_keypair(secret_key_file)
        self._auth = ThreadAuthenticator(context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(folder))

    def secure(self, sock: zmq.Socket) -> None:
        """Make ``sock`` (before bind) a Curve server that only authorised clients reach."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def stop(self) -> None:
        self._auth.stop()


def check_bind_allowed(endpoint: str, has_keys: bool, flag: str = "--bind") -> None:
    """Refuse an endpoint reachable from other machines unless Curve keys were given."""
    if not is_loopback(endpoint) and not has_keys:
        raise KineticGanError(
            f"{flag} {endpoint} is reachable from other machines; give "
            "--curve-secret-key and --curve-authorized-clients (see `kinetic-gan keygen`) "
            "or bind to tcp://127.0.0.1"
        )
