"""Soak: replay issue 15's attacks on loopback and print what the processes did.

    python benchmarks/soak.py [--weights weights/deepmimic15-mlp4.safetensors]
                              [--slow-seconds 45] [--fair-requests 40]

Starts one `kinetic-gan serve`, one `kinetic-gan broker` with one worker, all on random
loopback ports, and stops them at the end whatever happens. Every loop is bounded in count
and time. Prints, per attack: the RSS (resident MiB) of the server and the broker, replies,
whether every process is still alive, and the well-behaved client's success rate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zmq

from kinetic_gan.memory import resident_mib
from kinetic_gan.serve import protocol
from kinetic_gan.serve.client import BackendError, Client

START_S = 120.0


class Proc:
    """A CLI process logging to a file; stopped (TERM, then KILL) by ``stop``."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kinetic_gan.cli", *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log.read_text(errors="replace"))
            if match:
                return match
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.log}: exited {self.proc.returncode}")
            time.sleep(0.1)
        raise SystemExit(f"{self.log}: no {pattern!r} within {START_S:.0f} s")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> float:
        return resident_mib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class PeakRss:
    """Samples the RSS of some processes every 50 ms on a thread, keeping each one's peak."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], resident_mib(pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@contextlib.contextmanager
def stack(weights: Path, folder: Path) -> Iterator[tuple[Proc, str, Proc, str]]:
    """A server, and a broker with one worker: (server, address, broker, frontend)."""
    procs: list[Proc] = []
    try:
        server = Proc(["serve", "--weights", str(weights), "--bind", "tcp://127.0.0.1:*",
                       "--device", "cpu"], folder / "serve.log")
        procs.append(server)
        broker = Proc(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend",
                       "tcp://127.0.0.1:*"], folder / "broker.log")
        procs.append(broker)
        front, back = broker.wait_for(r"listening frontend=(\S+) backend=(\S+)").groups()
        worker = Proc(["serve", "--weights", str(weights), "--connect", back, "--device", "cpu",
                       "--log-level", "WARNING"], folder / "worker.log")
        procs.append(worker)
        address = server.wait_for(r"listening endpoint=(\S+)").group(1)
        with Client(front, timeout_s=START_S) as client:
            client.ping()
        yield server, address, broker, front
    finally:
        for proc in procs:
            proc.stop()


def report(title: str, **figures: object) -> None:
    print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


# --------------------------------------------------------------------------- attacks


def unicode_actions(address: str) -> dict[str, object]:
    codes = []
    with Client(address, timeout_s=30, retries=0) as client:
        for text in ("²", "①", "٣"):
            try:
                client.generate(text)
            except BackendError as exc:
                codes.append(exc.code)
        client.ping()
    return {"codes": "/".join(codes)}


def slow_consumers(address: str, seconds: float, clients: int = 8) -> dict[str, object]:
    """Clients that ask for 256 samples again and again and never read a reply."""
    context = zmq.Context.instance()
    socks = []
    sent = 0
    for _ in range(clients):
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.RCVHWM, 1)
        sock.setsockopt(zmq.RCVBUF, 65536)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        socks.append(sock)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for i, sock in enumerate(socks):
                frames = protocol.request("generate", f"s{sent}", action=i, count=256)
                with contextlib.suppress(zmq.Again):
                    sock.send_multipart([b"", *frames], flags=zmq.NOBLOCK)
                    sent += 1
            time.sleep(0.2)
    finally:
        for sock in socks:
            sock.close(0)
    return {"requests": sent}


def many_frames(address: str, frames: int = 10_000, size: int = 16 * 1024 - 64) -> None:
    """One message of ``frames`` frames, each just under the per-frame cap."""
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 2000)
        sock.connect(address)
        payload = b"x" * size
        sock.send_multipart([b"", *protocol.request("ping", "big"), *[payload] * frames])
        time.sleep(3.0)  # let it arrive whole, be dropped and freed


def fairness(address: str, requests: int, flooders: int = 4) -> dict[str, object]:
    """``flooders`` clients pipeline 256-sample requests; one client asks for 1 sample at a
    time. Returns the well-behaved client's success rate."""
    stop = threading.Event()
    context = zmq.Context.instance()

    def flood(k: int) -> None:
        with context.socket(zmq.DEALER) as sock:
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(address)
            n = 0
            while not stop.is_set():
                for _ in range(8):
                    frames = protocol.request("generate", f"f{k}-{n}", action=0, count=256)
                    sock.send_multipart([b"", *frames])
                    n += 1
                while sock.poll(50):
                    sock.recv_multipart()

    threads = [threading.Thread(target=flood, args=(k,), daemon=True) for k in range(flooders)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # the flood is under way
    ok = busy = other = 0
    started = time.monotonic()
    try:
        with Client(address, timeout_s=60, retries=0) as client:
            for seed in range(requests):
                try:
                    client.generate("walk", seed=seed)
                    ok += 1
                except BackendError as exc:
                    busy += exc.code == "busy"
                    other += exc.code != "busy"
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    return {
        "answered": f"{ok}/{requests}",
        "success": f"{100.0 * ok / requests:.0f}%",
        "busy": busy,
        "other": other,
        "seconds": f"{time.monotonic() - started:.1f}",
    }


def hostile_reply(folder: Path, gib: float = 1.5) -> dict[str, object]:
    """A fake server whose generate reply is ``gib`` GiB (one 64 MiB buffer sent again and
    again without copying); returns the peak RSS of a `kinetic-gan request` against it."""
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    chunk = np.zeros(64 << 20, np.uint8)
    parts = int(gib * 16)
    model = {"name": "m", "skeleton": "ntu", "joint_names": ["j"] * 25, "parents": [-1] * 25,
             "class_names": ["walk"], "frames": 64, "fps": 30, "channels": 3, "units": "m",
             "dataset": "x"}
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if not sock.poll(50):
                continue
            identity, empty, head = sock.recv_multipart()[:3]
            header = protocol.decode([head]).header
            if header["op"] == "info":
                reply = protocol.ok_reply(header["id"], "info", {"models": [model]})
            else:
                frames = [{"name": f"a{i}", "dtype": "|u1", "shape": [chunk.size]}
                          for i in range(parts)]
                head = {"v": 1, "id": header["id"], "ok": True, "op": "generate",
                        "result": {}, "frames": frames}
                reply = [json.dumps(head).encode(), *[memoryview(chunk)] * parts]
            sock.send_multipart([identity, empty, *reply], copy=False)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinetic_gan.cli", "request", "--address",
         f"tcp://127.0.0.1:{port}", "--action", "walk", "--out", str(folder / "h.npz"),
         "--timeout", "10", "--retries", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        with PeakRss({"request": proc.pid}) as peak:
            out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        stop.set()
        thread.join(5)
        sock.close(0)
        context.term()
    return {"request_peak_mib": f"{peak.peak['request']:.0f}", "exit": proc.returncode,
            "message": out.strip().splitlines()[-1][:120] if out.strip() else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path,
                        default=Path("weights/deepmimic15-mlp4.safetensors"))
    parser.add_argument("--slow-seconds", type=float, default=45.0)
    parser.add_argument("--fair-requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, stack(args.weights, Path(tmp)) as parts:
        folder = Path(tmp)
        server, address, broker, front = parts

        def alive() -> str:
            up = {True: "up", False: "DEAD"}
            return f"server={up[server.alive]} broker={up[broker.alive]}"

        report("start", server_mib=f"{server.rss():.0f}", broker_mib=f"{broker.rss():.0f}")
        report("unicode actions (server)", **unicode_actions(address), alive=alive())
        report("unicode actions (broker)", **unicode_actions(front), alive=alive())

        before = server.rss()
        with PeakRss({"server": server.proc.pid}) as peak:
            figures = slow_consumers(address, args.slow_seconds)
            time.sleep(2.0)
        report(f"slow consumers 8 x 256 samples, {args.slow_seconds:g} s", **figures,
               server_before_mib=f"{before:.0f}", server_peak_mib=f"{peak.peak['server']:.0f}",
               server_after_mib=f"{server.rss():.0f}", alive=alive())

        for name, proc, target in (("server", server, address), ("broker", broker, front)):
            before = proc.rss()
            with PeakRss({name: proc.proc.pid}) as peak:
                many_frames(target)
            report(f"10,000-frame message ({name})", before_mib=f"{before:.0f}",
                   peak_mib=f"{peak.peak[name]:.0f}", after_mib=f"{proc.rss():.0f}",
                   growth_mib=f"{proc.rss() - before:.0f}", alive=alive())

        report("fairness, 4 flooders (server)", **fairness(address, args.fair_requests),
               alive=alive())
        report("fairness, 4 flooders (broker)", **fairness(front, args.fair_requests),
               alive=alive())
        report("hostile 1.5 GiB reply", **hostile_reply(folder))
        report("end", server_mib=f"{server.rss():.0f}", broker_mib=f"{broker.rss():.0f}",
               alive=alive())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
