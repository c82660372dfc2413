"""``kinetic-gan render``: ``--local`` serves the weights on a free loopback port for the batch
and always stops it; the add-on runs as built, and nothing is written into the checkout."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kinetic_gan.commands import render
from kinetic_gan.errors import KineticGanError
from kinetic_gan_blender.core.render import options
from kinetic_gan_blender.vendor.serve.client import Client

ROOT = Path(__file__).resolve().parents[2]


class FakeBatch:
    """Stands in for the add-on's batch module: asks the server it is given for its models."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: dict = {}

    def run(self, ns) -> int:
        self.seen = {"backend": ns.backend, "local": ns.local, "weights": ns.weights}
        with Client(ns.backend, timeout_s=10.0, retries=0) as client:
            self.seen["models"] = [m["name"] for m in client.info()["models"]]
        if self.fail:
            raise RuntimeError("the batch broke")
        return 0


def parsed(*argv: str):
    return options.build_parser().parse_args(list(argv))


def assert_stopped(address: str, log: Path) -> None:
    port = int(address.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert log.read_text().rstrip().endswith("stopped")  # it drained and exited


def test_local_serves_the_weights_to_the_batch_then_stops_the_server(tiny_weights, tmp_path):
    out = tmp_path / "out"
    batch = FakeBatch()
    code = render.run_local(batch, parsed("--local", "--weights", str(tiny_weights),
                                          "--out", str(out)))
    assert code == 0
    assert batch.seen["backend"].startswith("tcp://127.0.0.1:")  # a port the OS picked
    assert not batch.seen["local"] and batch.seen["weights"] is None  # the add-on sees a server
    assert batch.seen["models"] == ["tiny"]
    assert_stopped(batch.seen["backend"], out / ".logs" / "server.log")


def test_the_server_is_stopped_when_the_batch_fails(tiny_weights, tmp_path):
    out = tmp_path / "out"
    batch = FakeBatch(fail=True)
    with pytest.raises(RuntimeError, match="the batch broke"):
        render.run_local(batch, parsed("--local", "--weights", str(tiny_weights),
                                       "--out", str(out)))
    assert batch.seen["models"] == ["tiny"]
    assert_stopped(batch.seen["backend"], out / ".logs" / "server.log")


def test_a_missing_weights_file_is_one_clear_error_before_any_server(tmp_path):
    out = tmp_path / "out"
    missing = tmp_path / "none.safetensors"
    with pytest.raises(KineticGanError, match=re.escape(f"--weights: {missing} does not exist")):
        render.run_local(FakeBatch(), parsed("--local", "--weights", str(missing),
                                             "--out", str(out)))
    assert not out.exists()


def test_a_weights_file_the_server_cannot_load_says_why(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(KineticGanError, match=r"the server exited with status 2: .*bad"):
        render.run_local(FakeBatch(), parsed("--local", "--weights", str(bad),
                                             "--out", str(tmp_path / "out")))


STAGE = """
import json, sys
from kinetic_gan.commands import render
batch = render.batch_module()
from kinetic_gan_blender.vendor.serve import client
print(json.dumps({"batch": batch.__file__, "client": client.__file__}))
"""


def tree(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_render_imports_a_staged_copy_and_writes_nothing_into_the_checkout(tmp_path):
    before = tree(ROOT / "blender_addon")
    env = {k: v for k, v in os.environ.items() if k != "KINETIC_GAN_ADDON"}
    done = subprocess.run([sys.executable, "-c", STAGE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    staged = Path(found["batch"]).parents[1]
    assert not staged.is_relative_to(ROOT) and Path(found["client"]).is_relative_to(staged)
    assert not staged.exists()  # removed when the process ended
    assert tree(ROOT / "blender_addon") == before


def test_kinetic_gan_addon_must_name_a_built_add_on(tmp_path, monkeypatch):
    (tmp_path / render.ADDON).mkdir()
    (tmp_path / render.ADDON / "batch.py").write_text("")
    monkeypatch.setenv("KINETIC_GAN_ADDON", str(tmp_path))
    with pytest.raises(KineticGanError, match="has no vendor/"):
        render.addon_folder()
    (tmp_path / render.ADDON / "vendor").mkdir()
    (tmp_path / render.ADDON / "vendor" / "__init__.py").write_text("")
    assert render.addon_folder() == tmp_path
    monkeypatch.setenv("KINETIC_GAN_ADDON", str(tmp_path / "elsewhere"))
    with pytest.raises(KineticGanError, match=r"no kinetic_gan_blender/batch\.py there"):
        render.addon_folder()
