"""Serving benchmark on loopback: request latency and throughput, batching on and off.

    python benchmarks/server.py [--weights W.safetensors] [--seconds 5] [--requests 50]

Without --weights an untrained 64-frame NTU model is written to a temp folder (the speed of a
forward pass does not depend on training). Prints:
  - the generator's own batch-1 latency (in-process, no server),
  - p50/p99 of a 1-sample request through the server (one client),
  - requests/s with 1, 4 and 16 concurrent clients, with batching on and off.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from kinetic_gan.serve.client import Client


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def generator_latency_ms(weights: Path, repeats: int) -> float:
    from kinetic_gan import load_generator
    from kinetic_gan.generate import sample_inputs, synthesize

    generator = load_generator(weights)
    times = []
    for i in range(repeats + 3):
        inputs = sample_inputs(generator, [0], seed=i)
        start = time.perf_counter()
        synthesize(generator, inputs)
        if i >= 3:  # warm-up first
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class ServerProcess:
    def __init__(self, weights: Path, log: Path, *flags: str) -> None:
        self._log = open(log, "wb")  # noqa: SIM115 -- closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kinetic_gan.cli", "serve", "--weights", str(weights),
             "--bind", "tcp://127.0.0.1:*", "--device", "cpu", "--log-level", "INFO",
             *flags],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.address = self._endpoint(log)

    def _endpoint(self, log: Path) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            match = re.search(r"listening endpoint=(\S+)", log.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()}")
            time.sleep(0.05)
        raise SystemExit("server did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self._log.close()


def latencies_ms(address: str, requests: int) -> list[float]:
    times = []
    with Client(address, timeout_s=60) as client:
        for i in range(requests + 3):
            start = time.perf_counter()
            client.generate(0, count=1, seed=i)
            if i >= 3:
                times.append((time.perf_counter() - start) * 1000)
    return times


def throughput(address: str, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop_at = time.monotonic() + seconds

    def loop(index: int) -> None:
        with Client(address, timeout_s=120) as client:
            seed = index * 1_000_000
            while time.monotonic() < stop_at:
                client.generate(0, count=1, seed=seed)
                seed += 1
                done[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput point")
    parser.add_argument("--requests", type=int, default=50, help="latency samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            from kinetic_gan.testing import random_generator_weights

            weights = random_generator_weights(Path(tmp) / "bench.safetensors", 15, frames=64)
        base = generator_latency_ms(weights, args.requests)
        print(f"generator batch-1 latency (in-process): {base:.1f} ms")
        modes = {"on": ("--max-batch", "64", "--max-delay-ms", "5"), "off": ("--max-batch", "1")}
        rates: dict[str, dict[int, float]] = {}
        for mode, flags in modes.items():
            server = ServerProcess(weights, Path(tmp) / f"{mode}.log", *flags)
            try:
                if mode == "on":
                    lat = latencies_ms(server.address, args.requests)
                    p50, p99 = percentile(lat, 50), percentile(lat, 99)
                    print(f"1-sample request, 1 client: p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
                          f"(p50 - generator = {p50 - base:+.1f} ms)")
                rates[mode] = {n: throughput(server.address, n, args.seconds) for n in (1, 4, 16)}
            finally:
                server.close()
        print("throughput, 1-sample requests (requests/s):")
        print("  clients   batching on   batching off   ratio")
        for n in (1, 4, 16):
            on, off = rates["on"][n], rates["off"][n]
            print(f"  {n:7d}   {on:11.1f}   {off:12.1f}   {on / off:5.2f}x")


if __name__ == "__main__":
    main()
