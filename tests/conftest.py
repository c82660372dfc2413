"""Shared test fixtures: where the published reference fixtures live."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINETIC_GAN_SHARED", ROOT.parent / "shared"))
ORIGINAL_FIXTURES = SHARED / "fixtures" / "original"


@pytest.fixture(scope="session")
def original_fixtures() -> Path:
    if not (ORIGINAL_FIXTURES / "manifest.json").exists():
        pytest.skip(f"reference fixtures not found at {ORIGINAL_FIXTURES}")
    return ORIGINAL_FIXTURES


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained 3-class NTU generator (T=32) with a metres scale, for tools and tests."""
    from kinetic_gan.weights import random_generator_weights

    path = tmp_path_factory.mktemp("weights") / "tiny"
    return random_generator_weights(
        path,
        n_classes=3,
        frames=32,
        class_names=["walk", "jump up", "kicking something"],
        normalization={"min": -1.5, "max": 2.0},
    )


@pytest.fixture(scope="module")
def server(tiny_weights, tmp_path_factory):
    """`kinetic-gan serve` with the tiny model on a free loopback port; always stopped."""
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kinetic_gan.cli", "serve", "--weights", str(tiny_weights),
             "--bind", "tcp://127.0.0.1:*", "--device", "cpu"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (m := re.search(r"listening endpoint=(\S+)", log_path.read_text())):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield m.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
