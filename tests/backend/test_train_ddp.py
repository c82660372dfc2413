"""Data-parallel training through torchrun: two CPU processes (gloo) on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from helpers import tiny_config, write_tiny_dataset

from kinetic_gan.train import checkpoint, config

TIMEOUT_S = 300


def torchrun(args: list[str], cwd) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone`` (a free loopback port) and always reap its process group."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # 2 processes share the 2 cores
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "kinetic_gan.cli", *args]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


@pytest.mark.slow
def test_two_processes_train_identical_weights(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    cfg = tiny_config(data, iterations=4, checkpoint_every=2, sample_every=2)
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(config.to_toml(cfg))
    run = tmp_path / "run"
    result = torchrun(["train", "--config", str(cfg_path), "--out", str(run), "--no-progress"],
                      cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "different weights" not in result.stdout
    assert result.stdout.count("trained 4 iterations") == 1  # rank 0 speaks for the run

    state = checkpoint.load(checkpoint.latest_path(run))
    assert state["world_size"] == 2 and state["iteration"] == 4
    # Generator, critic and EMA are bit-identical on both ranks after 4 iterations.
    digests = state["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert len(state["rng"]) == 2  # each rank's random streams, for an exact resume
    # Only rank 0 wrote files: one log row per iteration.
    assert len((run / "log.csv").read_text().strip().splitlines()) == 1 + 4
    assert (run / "samples" / "iter_0000004.npz").is_file()

    # 2 iterations, stop, resume to 4 on the same two processes: the same weights, bit for bit
    # (each rank restores its own random streams and data shard position).
    half = tmp_path / "half"
    first = torchrun(["train", "--config", str(cfg_path), "--out", str(half), "--iterations",
                      "2", "--no-progress"], cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-4000:]
    second = torchrun(["train", "--resume", str(half), "--iterations", "4", "--no-progress"],
                      cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-4000:]
    resumed = checkpoint.load(checkpoint.latest_path(half))
    assert resumed["iteration"] == 4 and resumed["rank_digests"] == digests
