"""``kinetic-gan serve`` in a child process on a free loopback port, for as long as a block runs.

    with serving(weights, log) as address:   # "tcp://127.0.0.1:PORT"
        ...                                   # talk to it with any client

The one way this repository starts a server of its own: the demo, ``kinetic-gan render
--local``, the tests and the benchmarks. The server binds ``tcp://127.0.0.1:*`` (the OS
picks a free port), its output goes to ``log``, and it is stopped when the block ends, on
an error too: SIGINT first (it drains in-flight replies and exits 0), then SIGKILL.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kinetic_gan.errors import KineticGanError

START_S = 120.0  # loading torch and the weights on a busy machine
STOP_S = 15.0


@contextmanager
def serving(weights: Path, log: Path, *flags: str) -> Iterator[str]:
    """``kinetic-gan serve --weights WEIGHTS`` on a free loopback port (CPU); yields its
    address; always stops it. ``flags`` are extra ``serve`` options."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "kinetic_gan.cli", "serve", "--weights", str(weights),
               "--bind", "tcp://127.0.0.1:*", "--device", "cpu", *flags]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield _wait_for_endpoint(process, log)
    finally:
        _stop(process)


def _wait_for_endpoint(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"listening endpoint=(\S+)", text)
        if match:
            return match[1]
        if process.poll() is not None:
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise KineticGanError(f"the server exited with status {process.returncode}: {tail}")
        time.sleep(0.1)
    raise KineticGanError(f"the server did not start within {START_S:.0f} s (see {log})")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
