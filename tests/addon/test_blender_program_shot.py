"""A shot composed through a served model, by the real Blender program CI installs
(Debian's 3.4): the batch's ``--shot`` keys one Action on the character with a marker per
segment, and the rig's feet meet the floor. Skips as ``test_blender_program.py`` does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BATCH = Path("blender_addon") / "kinetic_gan_blender" / "batch.py"
SHIPPED = ROOT / "weights" / "deepmimic15-mlp4.safetensors"

pytestmark = [pytest.mark.blender, pytest.mark.slow]

# Reopens the shot's .blend; the Action's range, the markers and the lowest point of the
# character's body mesh (as rendered, world space) per sampled frame.
CHECK = """
import bpy, json, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[sys.argv.index("--") + 1])
scene = bpy.context.scene
arm = bpy.data.objects["KGAN_Character"]
action = arm.animation_data.action
start, end = (round(f) for f in action.frame_range)
lowest = []
for frame in range(start, end + 1, 15):
    scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    zs = []
    for obj in scene.objects:
        if obj.type == "MESH" and obj.parent == arm:
            evaluated = obj.evaluated_get(depsgraph)
            mesh = evaluated.to_mesh()
            zs += [(evaluated.matrix_world @ v.co).z for v in mesh.vertices]
            evaluated.to_mesh_clear()
    lowest.append(min(zs))
print("CHECK " + json.dumps({"frames": [start, end], "lowest": lowest,
                             "markers": sorted((m.frame, m.name) for m in scene.timeline_markers)}))
"""


def _blender() -> list[str]:
    program = os.environ.get("KINETIC_GAN_BLENDER") or shutil.which("blender")
    if program is None:
        if os.environ.get("KINETIC_GAN_REQUIRE_BLENDER") == "1":
            pytest.fail("KINETIC_GAN_REQUIRE_BLENDER=1 but no `blender` program is on PATH")
        pytest.skip("no `blender` program on PATH")
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        return ["xvfb-run", "-a", program]
    return [program]


def test_the_real_program_composes_a_shot_with_markers_on_the_floor(tmp_path):
    from kinetic_gan.commands.addon import vendor_backend_modules
    from kinetic_gan.serve.loopback import serving

    vendor_backend_modules()
    from kinetic_gan_blender.vendor.serve import client

    if not hasattr(client.Client, "compose"):
        pytest.skip("the bundled client has no compose op yet")
    blender = _blender()
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "home")}
    out = tmp_path / "shot"
    with serving(SHIPPED, tmp_path / "serve.log") as address:
        done = subprocess.run(
            [*blender, "--background", "--python", str(BATCH), "--", "--shot",
             "walk:60,jump:45,walk:45", "--backend", address, "--blend", "--out", str(out)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check = subprocess.run([*blender, "--background", "--python-expr", CHECK, "--",
                            str(out / "shot_s0_psi0.70.blend")], env=env,
                           capture_output=True, text=True, timeout=120)
    found = json.loads(re.search(r"^CHECK (.*)$", check.stdout, re.MULTILINE)[1])
    assert found["frames"] == [1, 150], found
    assert found["markers"] == [[1, "walk"], [61, "jump"], [106, "walk"]], found
    # Grounded: the soles (the batch keys the rig onto the floor) touch it, never sink.
    assert -0.02 < min(found["lowest"]) < 0.02, found


def test_compose_runs_modal_in_a_window_and_cancel_stops_it(tmp_path):
    """A click's path (INVOKE: a modal timer polls the job) lands the shot; Cancel pressed
    at once stops the next one and nothing lands."""
    from kinetic_gan.commands.addon import build_addon, vendor_backend_modules
    from kinetic_gan.serve.loopback import serving

    vendor_backend_modules()
    from kinetic_gan_blender.vendor.serve import client

    if not hasattr(client.Client, "compose"):
        pytest.skip("the bundled client has no compose op yet")
    blender = _blender()
    if blender[0] != "xvfb-run" and not os.environ.get("DISPLAY"):
        pytest.skip("no display and no xvfb-run for a Blender window")
    _, legacy = build_addon(tmp_path / "dist", wheels=False, log=lambda _: None)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "home"),
           "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts")}
    script = Path(__file__).with_name("blender_modal_compose.py")
    with serving(SHIPPED, tmp_path / "serve.log") as address:
        done = subprocess.run([*blender, "--factory-startup", "--python", str(script), "--",
                               "--zip", str(legacy), "--backend", address],
                              env=env, capture_output=True, text=True, timeout=300)
    results = [json.loads(m) for m in re.findall(r"^RESULT (.*)$", done.stdout, re.MULTILINE)]
    assert [r["phase"] for r in results] == ["compose", "cancel"], done.stdout[-3000:]
    composed, cancelled = results
    assert composed["actions"] == ["shot_s0_psi0.7"], composed
    assert composed["markers"] == ["walk", "jump", "walk"], composed
    assert cancelled["actions"] == composed["actions"], cancelled  # nothing more landed
