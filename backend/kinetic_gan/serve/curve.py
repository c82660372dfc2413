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
    with atomic_write(public_path, "w") as handle:
        handle.write(_certificate(stamp, public, None))
    _write_private(secret_path, _certificate(stamp, public, secret))
    return public_path, secret_path


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` atomically, 0600 from its first byte (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask, which may be odd
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _certificate(stamp: str, public: bytes, secret: bytes | None) -> str:
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
    return "\n".join(lines) + "\n"


def check_secret_file(path: str | Path) -> None:
    """Refuse a secret key that other users can read: it is no longer a secret."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise KineticGanError(f"{path}: cannot read the secret key ({exc.strerror})") from None
    if mode & 0o077:
        raise KineticGanError(
            f"{path}: secret key is readable by other users (mode {mode & 0o777:o}); "
            f"run `chmod 600 {path}`"
        )


def check_authorized_dir(folder: Path, flag: str) -> None:
    """Refuse a key folder others may write to: they could authorise themselves."""
    if not folder.is_dir():
        raise KineticGanError(f"{folder}: {flag} must be a folder of .key files")
    mode = folder.stat().st_mode
    if mode & 0o022:
        raise KineticGanError(
            f"{folder}: {flag} is writable by other users (mode {mode & 0o777:o}), who could "
            f"add their own keys; run `chmod 755 {folder}`"
        )
    if not any(folder.glob("*.key")):
        raise KineticGanError(f"{folder}: no .key files in {flag}; nobody could connect")


def load_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file, or a clear error."""
    check_secret_file(path)
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


# ZAP domains: a broker admits clients and workers from separate key folders, so that a
# client key can never register as a worker (and receive other users' requests).
CLIENTS, WORKERS = "clients", "workers"


class CurveServer:
    """Server-side Curve: our key pair plus a ZAP handler that admits the authorised keys.

    ``authorized_dir`` holds the client keys; ``worker_dir`` (a broker's backend) the keys of
    the workers, checked only on sockets secured with ``domain=WORKERS``.
    """

    def __init__(
        self,
        context: zmq.Context,
        secret_key_file: str | Path,
        authorized_dir: str | Path,
        worker_dir: str | Path | None = None,
    ):
        folders = {CLIENTS: (Path(authorized_dir), "--curve-authorized-clients")}
        if worker_dir is not None:
            folders[WORKERS] = (Path(worker_dir), "--worker-authorized-keys")
        for folder, flag in folders.values():
            check_authorized_dir(folder, flag)
        self.public, self.secret = load_keypair(secret_key_file)
        self._auth = ThreadAuthenticator(context)
        self._auth.start()
        for domain, (folder, _) in folders.items():
            self._auth.configure_curve(domain=domain, location=str(folder))

    def secure(self, sock: zmq.Socket, domain: str = CLIENTS) -> None:
        """Make ``sock`` (before bind) a Curve server that only keys of ``domain`` reach."""
        sock.zap_domain = domain.encode()
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
