"""Soak: fairness, throughput and memory of the server and the broker under load, on loopback.

    python benchmarks/soak.py [--weights weights/deepmimic15-mlp4.safetensors] [--seconds 20]
                              [--throughput-seconds 8] [--reference-backend DIR]
                              [--sections fair,throughput,hardening]

Starts one `kinetic-gan serve` and one `kinetic-gan broker` with two workers, all on random
loopback ports, and stops them at the end whatever happens. Every loop is bounded in count
and time. Prints, in one run:

- **flood**: four clients send count-1 `generate` requests as fast as their sockets take
  them; a polite client sends one count-1 request every 100 ms for ``--seconds``. Its share
  of ok replies within 2 s and its p50/p99 latency (a request not answered ok counts as
  infinitely late), through the server and through the broker;
- **slow consumers**: eight clients send max-count requests every 100 ms and never read a
  reply; a polite client asks once every 0.5 s: the same figures;
- **throughput**: sustained requests/s and frames/s of the server with 1, 8 and 64
  concurrent clients, each keeping one count-1 request in flight;
- **memory**: the peak resident MiB of every process during each of the above;
- issue 15's attacks: unicode actions, a 10,000-frame message,
  a hostile 1.5 GiB reply.

``--reference-backend DIR`` (a folder holding another checkout's ``kinetic_gan`` package,
e.g. ``git archive main backend | tar -x -C /tmp/ref`` then ``/tmp/ref/backend``) runs the
flood, slow-consumer and throughput sections against that code too, right after ours on the
same machine, and prints both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from kinetic_gan.memory import resident_mib
from kinetic_gan.serve import protocol
from kinetic_gan.serve.client import BackendError, Client

START_S = 120.0
OK_WITHIN_S = 2.0  # the bar: an ok reply within this counts
LATE_S = 5.0  # how long after its last request the polite client waits for stragglers


class Proc:
    """A CLI process logging to a file; stopped (TERM, then KILL) by ``stop``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kinetic_gan.cli", *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def wait_for(self, pattern: str, times: int = 1) -> re.Match:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            found = list(re.finditer(pattern, self.log.read_text(errors="replace")))
            if len(found) >= times:
                return found[0]
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

    def __init__(self, procs: dict[str, Proc]) -> None:
        self.pids = {name: p.proc.pid for name, p in procs.items()}
        self.peak = dict.fromkeys(self.pids, 0.0)
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

    def figures(self) -> dict[str, str]:
        return {f"{name}_peak_mib": f"{mib:.0f}" for name, mib in self.peak.items()}


@dataclass
class Stack:
    server: Proc
    address: str
    broker: Proc
    front: str
    workers: list[Proc]

    def procs(self) -> dict[str, Proc]:
        named = {"server": self.server, "broker": self.broker}
        named.update({f"worker{i}": w for i, w in enumerate(self.workers)})
        return named

    def alive(self) -> str:
        down = [name for name, proc in self.procs().items() if not proc.alive]
        return "all up" if not down else "DEAD: " + ",".join(down)


@contextlib.contextmanager
def stack(weights: Path, folder: Path, env: dict[str, str]) -> Iterator[Stack]:
    """A server, and a broker with two workers (one torch thread each: two cores)."""
    procs: list[Proc] = []
    try:
        server = Proc(["serve", "--weights", str(weights), "--bind", "tcp://127.0.0.1:*",
                       "--device", "cpu"], folder / "serve.log", env)
        procs.append(server)
        broker = Proc(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend",
                       "tcp://127.0.0.1:*"], folder / "broker.log", env)
        procs.append(broker)
        front, back = broker.wait_for(r"listening frontend=(\S+) backend=(\S+)").groups()
        workers = []
        for i in range(2):
            worker = Proc(["serve", "--weights", str(weights), "--connect", back,
                           "--device", "cpu", "--log-level", "WARNING"],
                          folder / f"worker{i}.log", {**env, "OMP_NUM_THREADS": "1"})
            procs.append(worker)
            workers.append(worker)
        broker.wait_for(r"worker joined", times=2)
        address = server.wait_for(r"listening endpoint=(\S+)").group(1)
        for target in (address, front):
            with Client(target, timeout_s=START_S) as client:
                client.generate(0, seed=0)  # warm: the first batch pays for lazy set-up
        yield Stack(server, address, broker, front, workers)
    finally:
        for proc in procs:
            proc.stop()


def report(title: str, **figures: object) -> None:
    print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


# --------------------------------------------------------------------------- load makers
# They run in their own processes (spawned), so that their Python loops share no GIL with
# the polite client's clock.


def _flood(address: str, seconds: float, clients: int) -> None:
    """``clients`` sockets send count-1 requests as fast as ZeroMQ takes them."""
    context = zmq.Context()
    socks = []
    for _ in range(clients):
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        socks.append(sock)
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN | zmq.POLLOUT)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sock, event in poller.poll(10):
            if event & zmq.POLLIN:
                for _ in range(256):
                    try:
                        sock.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
            if event & zmq.POLLOUT:
                for _ in range(64):
                    frames = protocol.request("generate", f"f{n}", action=0, count=1)
                    try:
                        sock.send_multipart([b"", *frames], flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    n += 1
    for sock in socks:
        sock.close(0)
    context.term()


def _slow(address: str, seconds: float, clients: int, count: int) -> None:
    """``clients`` sockets ask for ``count`` samples every 100 ms and never read a reply."""
    context = zmq.Context()
    socks = []
    for _ in range(clients):
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.RCVHWM, 1)
        sock.setsockopt(zmq.RCVBUF, 65536)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        socks.append(sock)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i, sock in enumerate(socks):
            frames = protocol.request("generate", f"s{n}", action=i % 15, count=count)
            with contextlib.suppress(zmq.Again):
                sock.send_multipart([b"", *frames], flags=zmq.NOBLOCK)
                n += 1
        time.sleep(0.1)
    for sock in socks:
        sock.close(0)
    context.term()


def polite(address: str, seconds: float, period_s: float) -> dict[str, object]:
    """One count-1 request every ``period_s`` (not waiting for replies); its ok share within
    2 s and p50/p99 latency, an unanswered or refused request counting as infinitely late."""
    context = zmq.Context.instance()
    sent: dict[str, float] = {}
    latency: dict[str, float] = {}
    codes: dict[str, int] = {}
    with context.socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        start = time.monotonic()
        total = int(seconds / period_s)
        for k in range(total):
            request_id = f"p{k}"
            sock.send_multipart([b"", *protocol.request("generate", request_id, action="walk",
                                                        count=1, seed=k)])
            sent[request_id] = time.monotonic()
            _collect(sock, start + (k + 1) * period_s, sent, latency, codes)
        _collect(sock, time.monotonic() + LATE_S, sent, latency, codes, until_all=True)
    values = np.array([latency.get(i, np.inf) for i in sent])
    ok = int(np.sum(values <= OK_WITHIN_S))
    p50, p99 = (np.percentile(values, q, method="inverted_cdf") for q in (50, 99))
    return {
        "ok_within_2s": f"{ok}/{len(sent)} ({100.0 * ok / len(sent):.0f}%)",
        "p50_ms": _ms(p50),
        "p99_ms": _ms(p99),
        "errors": ",".join(f"{c}:{n}" for c, n in sorted(codes.items())) or "none",
    }


def _collect(sock, until: float, sent, latency, codes, until_all: bool = False) -> None:
    while (left := until - time.monotonic()) > 0:
        if until_all and len(latency) + sum(codes.values()) >= len(sent):
            return
        if not sock.poll(max(1, int(left * 1000))):
            continue
        header = protocol.decode(sock.recv_multipart()[1:]).header
        request_id = header.get("id")
        if request_id not in sent:
            continue
        if header.get("ok"):
            latency[request_id] = time.monotonic() - sent[request_id]
        else:
            code = header["error"]["code"]
            codes[code] = codes.get(code, 0) + 1


def _ms(seconds: float) -> str:
    return "inf" if not np.isfinite(seconds) else f"{seconds * 1000:.0f}"


def under_load(target: str, seconds: float, load, args: tuple, period_s: float):
    """The polite client's figures while ``load(target, seconds + 3, *args)`` runs beside."""
    spawn = multiprocessing.get_context("spawn")
    maker = spawn.Process(target=load, args=(target, seconds + 3.0, *args), daemon=True)
    maker.start()
    try:
        time.sleep(2.0)  # the load is under way
        return polite(target, seconds, period_s)
    finally:
        maker.join(seconds + 30)
        if maker.is_alive():
            maker.kill()
        time.sleep(2.0)  # the server finishes (or drops) what the load left queued


def throughput(address: str, clients: int, seconds: float, frames: int) -> dict[str, object]:
    """``clients`` sockets, each with one count-1 request in flight, for ``seconds``."""
    context = zmq.Context.instance()
    socks = []
    poller = zmq.Poller()
    for _ in range(clients):
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        socks.append(sock)
        poller.register(sock, zmq.POLLIN)
    n = 0

    def ask(sock) -> None:
        nonlocal n
        sock.send_multipart([b"", *protocol.request("generate", f"t{n}", action=0, count=1,
                                                    seed=n)])
        n += 1

    for sock in socks:
        ask(sock)
    done, started, warm = 0, time.monotonic(), 1.0
    counting_from, counted = None, 0
    deadline = started + warm + seconds
    while (now := time.monotonic()) < deadline:
        if counting_from is None and now - started >= warm:
            counting_from, counted = now, 0
        for sock, _ in poller.poll(100):
            sock.recv_multipart()
            done += 1
            counted += 1
            ask(sock)
    elapsed = time.monotonic() - (counting_from or started)
    for sock in socks:
        sock.close(0)
    rate = counted / elapsed
    return {"req_per_s": f"{rate:.1f}", "frames_per_s": f"{rate * frames:.0f}"}


# --------------------------------------------------------------------------- hardening


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


def many_frames(address: str, frames: int = 10_000, size: int = 16 * 1024 - 64) -> None:
    """One message of ``frames`` frames, each just under the per-frame cap."""
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 2000)
        sock.connect(address)
        payload = b"x" * size
        sock.send_multipart([b"", *protocol.request("ping", "big"), *[payload] * frames])
        time.sleep(3.0)  # let it arrive whole, be dropped and freed


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
    peak = 0.0
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            peak = max(peak, resident_mib(proc.pid))
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        stop.set()
        thread.join(5)
        sock.close(0)
        context.term()
    return {"request_peak_mib": f"{peak:.0f}", "exit": proc.returncode,
            "message": out.strip().splitlines()[-1][:120] if out.strip() else ""}


def hardening(parts: Stack, folder: Path) -> None:
    report("unicode actions (server)", **unicode_actions(parts.address), alive=parts.alive())
    report("unicode actions (broker)", **unicode_actions(parts.front), alive=parts.alive())
    for name, proc, target in (("server", parts.server, parts.address),
                               ("broker", parts.broker, parts.front)):
        before = proc.rss()
        with PeakRss({name: proc}) as peak:
            many_frames(target)
        report(f"10,000-frame message ({name})", before_mib=f"{before:.0f}",
               peak_mib=f"{peak.peak[name]:.0f}", after_mib=f"{proc.rss():.0f}",
               alive=parts.alive())
    report("hostile 1.5 GiB reply", **hostile_reply(folder))


# --------------------------------------------------------------------------- main


def soak(label: str, args: argparse.Namespace, env: dict[str, str], frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stack(args.weights, Path(tmp), env) as parts:
        report(f"[{label}] start", **{f"{n}_mib": f"{p.rss():.0f}"
                                      for n, p in parts.procs().items()})
        places = (("server", parts.address), ("broker, 2 workers", parts.front))
        for where, target in places if "fair" in args.sections else ():
            with PeakRss(parts.procs()) as peak:
                figures = under_load(target, args.seconds, _flood, (4,), 0.1)
            report(f"[{label}] flood, 4 clients, polite every 100 ms ({where})", **figures,
                   **peak.figures(), alive=parts.alive())
            with PeakRss(parts.procs()) as peak:
                figures = under_load(target, args.seconds, _slow, (8, 256), 0.5)
            report(f"[{label}] 8 slow consumers x 256, polite every 0.5 s ({where})",
                   **figures, **peak.figures(), alive=parts.alive())
        for clients in (1, 8, 64) if "throughput" in args.sections else ():
            with PeakRss({"server": parts.server}) as peak:
                figures = throughput(parts.address, clients, args.throughput_seconds, frames)
            report(f"[{label}] throughput, {clients} clients (server)", **figures,
                   **peak.figures())
        if label == "ours" and "hardening" in args.sections:
            hardening(parts, Path(tmp))
        report(f"[{label}] end", **{f"{n}_mib": f"{p.rss():.0f}"
                                    for n, p in parts.procs().items()}, alive=parts.alive())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path,
                        default=Path("weights/deepmimic15-mlp4.safetensors"))
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long the polite client asks under each load")
    parser.add_argument("--throughput-seconds", type=float, default=8.0)
    parser.add_argument("--reference-backend", type=Path,
                        help="a folder holding another checkout's kinetic_gan package")
    parser.add_argument("--sections", default="fair,throughput,hardening",
                        help="which parts to run, comma-separated (default %(default)s)")
    args = parser.parse_args()
    card = json.loads(args.weights.with_suffix(".json").read_text())
    frames = int(card["frames"])
    ours = os.environ.get("PYTHONPATH", "")
    soak("ours", args, {"PYTHONPATH": ours}, frames)
    if args.reference_backend is not None:
        reference = str(args.reference_backend.resolve())
        soak("reference", args, {"PYTHONPATH": reference}, frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
