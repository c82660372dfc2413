"""Generator speed: batch-1 latency and batch-16/256 throughput, T = 64, NTU-60 mlp4.

    python benchmarks/generate.py [--threads 2] [--device cpu|cuda] [--seconds 1]

``synthesize`` rows are end to end (network, copy back, metres); the public-call row times
``load_generator(path)(z, labels)`` itself and the module-form row ``.module(z, labels)``,
the layer-by-layer network training uses (what the public call ran before it was folded).

Reference (the published code measured on the 2-core CPU machine type we test on):
batch-1 4.50 ms, batch-256 1,555 samples/s, truncated batch-1 247 ms (the published
truncation re-samples 1,000 w per call; we use the mean w cached with the weights).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kinetic_gan.generate import sample_inputs, synthesize
from kinetic_gan.testing import random_generator_weights
from kinetic_gan.weights import load_generator

REFERENCE = {"batch1_ms": 4.50, "batch256_sps": 1555.0, "trunc_batch1_ms": 247.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device, min_seconds: float = 1.0, min_runs: int = 5) -> float:
    """Median seconds per call."""
    for _ in range(3):
        fn()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per row (median)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = random_generator_weights(Path(tmp) / "ntu60", 60, frames=args.frames)
        g = load_generator(path, device=device)

    def run(batch: int, psi: float | None):
        # End to end: z/noise already drawn; network + copy back + metres scaling.
        inputs = sample_inputs(g, [7] * batch, seed=0)
        return lambda: synthesize(g, inputs, psi)

    def call(form):
        inputs = sample_inputs(g, [7], seed=0)
        z, labels = inputs.z.to(device), inputs.labels.to(device)
        noise = [n.to(device) for n in inputs.noise]
        return lambda: form(z, labels, noise=noise)

    def timed(fn) -> float:
        return time_call(fn, device, min_seconds=args.seconds)

    where = f"{device.type}" + (f", {args.threads} threads" if device.type == "cpu" else "")
    print(
        f"Kinetic-GAN generator, NTU-60 mlp4, T={args.frames}, {where}, torch {torch.__version__}"
    )
    b1 = timed(run(1, None)) * 1e3
    api = timed(call(g)) * 1e3
    with torch.no_grad():
        module = timed(call(g.module)) * 1e3
    t1 = timed(run(1, 0.7)) * 1e3
    rows = [
        ("batch-1 latency", f"{b1:.3f} ms", REFERENCE["batch1_ms"] / b1, "ms"),
        ("public-call batch-1 latency", f"{api:.3f} ms", REFERENCE["batch1_ms"] / api, "ms"),
        ("module-form batch-1 latency", f"{module:.3f} ms", REFERENCE["batch1_ms"] / module, "ms"),
        ("truncated batch-1 latency", f"{t1:.3f} ms", REFERENCE["trunc_batch1_ms"] / t1, ""),
    ]
    for batch in (16, 256):
        sps = batch / timed(run(batch, None))
        ref = REFERENCE["batch256_sps"] if batch == 256 else None
        rows.append(
            (f"batch-{batch} throughput", f"{sps:,.0f} samples/s", sps / ref if ref else None, "")
        )
    tsps = 256 / timed(run(256, 0.7))
    rows.append(("truncated batch-256 throughput", f"{tsps:,.0f} samples/s", None, ""))
    print(f"{'measure':32s} {'ours':>20s}   vs published")
    for name, value, ratio, _ in rows:
        vs = f"{ratio:6.1f}x" if ratio is not None and device.type == "cpu" else "     -"
        print(f"{name:32s} {value:>20s}   {vs}")
    print(
        "published reference (CPU, 2 threads): batch-1 4.50 ms, batch-256 1,555 samples/s, "
        "truncated batch-1 247 ms"
    )


if __name__ == "__main__":
    main()
