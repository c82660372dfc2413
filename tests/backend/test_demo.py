"""The out-of-the-box demo in its reduced CI mode: a real server, a grid video, a GIF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kinetic_gan import demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_picks_varied_actions_the_model_has():
    names = ["run", "walk", "spin", "kick", "crawl"]
    assert demo.pick_actions(names, 3) == ["walk", "kick", "run"]
    assert demo.pick_actions(["a", "b"], 6) == ["a", "b"]


def test_the_demo_cleans_its_takes_unless_told_not_to():
    assert demo.parse_args([]).cleanup == "all"
    assert demo.parse_args(["--cleanup", "none"]).cleanup == "none"


def test_missing_weights_is_one_clear_error(tmp_path):
    code = demo.main(["--weights", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)])
    assert code == 2


@pytest.mark.blender
@pytest.mark.slow
def test_quick_demo_serves_renders_and_stops(tiny_weights, tmp_path):
    pytest.importorskip("bpy")
    iio = pytest.importorskip("imageio.v3")
    env = {
        **os.environ,
        "BLENDER_USER_RESOURCES": str(tmp_path / "blender" / "resources"),
        "XDG_CACHE_HOME": str(tmp_path / "blender" / "cache"),
    }
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "kinetic_gan.demo", "--quick", "--weights", str(tiny_weights),
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    video, gif = out / "grid.mp4", out / "demo.gif"
    assert f"video:   {video}" in result.stdout and f"preview: {gif}" in result.stdout
    frames = iio.imread(video)
    assert len({f.tobytes() for f in frames}) > 1
    assert iio.imread(gif).shape[0] > 1  # an animated GIF
    takes = sorted(out.glob("*.npz"))
    assert len(takes) == 2  # two different actions, through the server
    for take in takes:
        with np.load(take) as data:
            assert str(data["cleanup"]) == "filter,bones,feet"  # cleaned, as the add-on does
    log = (out / "server.log").read_text()
    assert "listening endpoint=tcp://127.0.0.1:" in log
    assert "op=generate" in log  # the takes came over ZeroMQ
    assert log.rstrip().endswith("stopped")  # and the demo stopped its server
