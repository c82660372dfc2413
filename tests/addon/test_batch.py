"""Headless batch rendering end to end: ``kinetic-gan render`` and ``batch.py`` through the
bpy module, ``--local`` (a loopback server for the batch) and a live server, outputs
reopened in Blender."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")
iio = pytest.importorskip("imageio.v3")

pytestmark = [pytest.mark.blender, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BATCH = ROOT / "blender_addon" / "kinetic_gan_blender" / "batch.py"
SMALL = ["--resolution", "96x64", "--samples", "1"]

# Reopens a .blend and re-imports a BVH in a fresh Blender; prints what it found as JSON.
CHECK_SCRIPT = """
import json, sys
import bpy
import addon_utils
blend, bvh = sys.argv[1], sys.argv[2]
bpy.ops.wm.open_mainfile(filepath=blend)
found = {"actions": sorted(a.name for a in bpy.data.actions),
         "rig_bones": len(bpy.data.objects["KGAN_Character"].data.bones)}
bpy.ops.wm.read_homefile(use_empty=True)
addon_utils.enable("io_anim_bvh", default_set=False)
bpy.ops.import_anim.bvh(filepath=bvh)
arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
first, last = arm.animation_data.action.frame_range
found.update(bvh_bones=len(arm.data.bones), bvh_frames=int(round(last - first)) + 1)
print("CHECK " + json.dumps(found))
"""


@pytest.fixture(scope="module")
def blender_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("blender_home")
    return {
        **os.environ,
        "BLENDER_USER_RESOURCES": str(home / "resources"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


def render(env, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kinetic_gan.cli", "render", *argv],
        env=env, capture_output=True, text=True, timeout=timeout,
    )


def check_in_blender(env, blend: Path, bvh: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, str(blend), str(bvh)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(re.search(r"^CHECK (.*)$", done.stdout, re.MULTILINE)[1])


def distinct_frames(video: Path) -> int:
    frames = iio.imread(video)
    return len({f.tobytes() for f in frames})


def test_local_generation_renders_exports_and_resumes(tiny_weights, blender_env, tmp_path):
    out = tmp_path / "renders"
    args = ["--local", "--weights", str(tiny_weights), "--actions", "walk,jump up",
            "--count", "2", "--seed", "5", *SMALL, "--out", str(out),
            "--mp4", "--blend", "--bvh", "--npz"]
    first = render(blender_env, *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stems = [f"{a}_s{k}_psi0.70" for a in ("walk", "jump_up") for k in (5, 6)]  # ψ 0.7 default
    for stem in stems:
        for ext in ("mp4", "blend", "bvh", "npz"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, (stem, ext)
    assert "4 takes: 4 done, 0 skipped, 0 failed" in first.stdout
    assert "ETA" in first.stdout and "time by stage: generate" in first.stdout
    assert not list(out.glob(".*.blend")) and not list(out.glob(".*.mp4"))  # no temp files
    # --local served the weights on a loopback port for the batch, then stopped the server.
    assert "--local: serving" in first.stdout
    served = (out / ".logs" / "server.log").read_text()
    assert "listening endpoint=tcp://127.0.0.1:" in served and "op=generate" in served
    assert served.rstrip().endswith("stopped")

    assert distinct_frames(out / "walk_s5_psi0.70.mp4") > 1
    with np.load(out / "jump_up_s6_psi0.70.npz") as take:
        assert take["joints"].shape == (1, 32, 25, 3)
        assert str(take["class_names"][0]) == "jump up" and int(take["seed"]) == 6
    walk = "walk_s6_psi0.70"
    found = check_in_blender(blender_env, out / f"{walk}.blend", out / f"{walk}.bvh")
    assert found["actions"] == ["walk_s6_psi0.70"]  # each take's file holds its own action
    assert found["bvh_frames"] == 32
    assert found["bvh_bones"] == found["rig_bones"]

    mtimes = {p: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    second = render(blender_env, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4 takes: 0 done, 4 skipped, 0 failed" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_live_server_takes_and_a_grid(server, tiny_weights, blender_env, tmp_path):
    out = tmp_path / "served"
    result = render(
        blender_env, "--backend", server, "--actions", "walk,kicking something", "--count", "2",
        *SMALL, "--out", str(out), "--mp4", "--bvh", "--npz",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stem in ("walk_s0", "walk_s1", "kicking_something_s0", "kicking_something_s1"):
        stem += "_psi0.70"
        assert distinct_frames(out / f"{stem}.mp4") > 1
        assert (out / f"{stem}.bvh").read_text().startswith("HIERARCHY")
    # The server path gives the same joints as generating in-process with the same seed.
    from kinetic_gan import load_generator
    from kinetic_gan.generate import generate

    with np.load(out / "walk_s1_psi0.70.npz") as take:
        served = take["joints"][0]
    from kinetic_gan.motion_cleanup import clean_motion

    generator = load_generator(tiny_weights)
    raw = generate(generator, "walk", count=1, seed=1, truncation=0.7)
    # Cleanup is on by default in a render: what was animated and saved is the cleaned take.
    expected = clean_motion(raw.joints[0], raw.fps)
    np.testing.assert_allclose(served, expected, atol=1e-5)

    grid = render(
        blender_env, "--backend", server, "--actions", "all", *SMALL, "--out", str(out / "grid"),
        "--grid", "--png", "--blend",
    )
    assert grid.returncode == 0, grid.stdout[-3000:] + grid.stderr[-3000:]
    frames = sorted((out / "grid" / "grid_png").glob("*.png"))
    assert len(frames) == 32
    assert (out / "grid" / "grid.blend").stat().st_size > 0


def test_an_unknown_action_is_refused_before_any_take(server, blender_env, tmp_path):
    out = tmp_path / "partial"
    result = render(
        blender_env, "--backend", server, "--actions", "walk,fly", *SMALL, "--out", str(out),
        "--npz",
    )
    assert result.returncode == 2
    assert "error: unknown action 'fly'" in result.stderr
    assert "the model's actions: walk, jump up, kicking something" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("*.npz")) and "takes from" not in result.stdout


def test_a_dead_backend_is_one_clear_error(blender_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = render(blender_env, "--backend", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path),
                    timeout=60)
    assert result.returncode == 2
    assert f"error: no backend at tcp://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def batch_script(env, cwd, *argv: str) -> subprocess.CompletedProcess:
    """``blender --background --python batch.py -- ARGS``: a plain script, args after --."""
    return subprocess.run([sys.executable, str(BATCH), "--", *argv], env=env,
                          capture_output=True, text=True, timeout=240, cwd=cwd)


def test_batch_script_runs_as_blender_would_run_it(server, tiny_weights, blender_env, tmp_path):
    out = tmp_path / "script"
    result = batch_script(blender_env, tmp_path, "--backend", server, "--actions", "1", *SMALL,
                          "--out", str(out), "--npz", "--bvh")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "jump_up_s0_psi0.70.bvh").is_file()
    assert (out / "jump_up_s0_psi0.70.npz").is_file()
    # The add-on starts no server and loads no model: --local is the command's.
    local = batch_script(blender_env, tmp_path, "--local", "--weights", str(tiny_weights),
                         "--out", str(tmp_path / "local"))
    assert local.returncode == 2
    assert "error: --local is `kinetic-gan render --local`" in local.stderr
    assert "Traceback" not in local.stderr


BARE_RIG_SCRIPT = """
import sys
import bpy
sys.path.insert(0, sys.argv[1])
from kinetic_gan_blender.blender import api
bpy.ops.wm.read_homefile(use_empty=True)
api.build_default_character(bpy.context.scene, name="Bare")
for obj in [o for o in bpy.data.objects if o.type == "MESH"]:
    bpy.data.objects.remove(obj)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
"""


def test_a_rig_without_a_mesh_renders_bone_proxies(tiny_weights, blender_env, tmp_path):
    """A bare armature renders as nothing; the batch gives it visible bones instead."""
    blend = tmp_path / "bare.blend"
    made = subprocess.run(
        [sys.executable, "-c", BARE_RIG_SCRIPT, str(ROOT / "blender_addon"), str(blend)],
        env=blender_env, capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "bare"
    args = ["--local", "--weights", str(tiny_weights), "--actions", "walk", "--rig",
            f"{blend}:Bare", *SMALL, "--out", str(out), "--png", "--npz"]
    result = render(blender_env, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "has no visible mesh: rendering bone proxies" in result.stdout
    frames = [iio.imread(p)[..., :3].astype(int) for p in
              sorted((out / "walk_s0_psi0.70_png").glob("*.png"))]
    assert len(frames) == 32
    blue = [((f[..., 2] - f[..., 0]) > 40).sum() for f in frames]  # the proxies' colour
    assert min(blue) > 0  # the character is in every frame
    assert len({f.tobytes() for f in frames}) > 1  # and it moves
    with np.load(out / "walk_s0_psi0.70.npz") as take:
        assert str(take["cleanup"]) == "filter,bones,feet"
        cleaned = take["joints"]

    raw = render(blender_env, *args[:-4], "--out", str(tmp_path / "raw"), "--npz",
                 "--cleanup", "none")
    assert raw.returncode == 0, raw.stdout[-3000:] + raw.stderr[-3000:]
    with np.load(tmp_path / "raw" / "walk_s0_psi0.70.npz") as take:
        assert str(take["cleanup"]) == "none"
        assert np.abs(take["joints"] - cleaned).max() > 1e-3
