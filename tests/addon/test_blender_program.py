"""The README's ``blender --background --python batch.py -- …`` run by a real Blender program.

The bpy module (every other add-on test) has no ``blender`` executable, so the batch
script's "plain script in a Blender install" path and the pre-4.4 keyframing API only run
here. Debian's ``blender`` package (3.4) is the program CI installs (``.ci/run``). Locally the
tests skip, saying why, when no ``blender`` is on PATH; in CI (``KINETIC_GAN_REQUIRE_BLENDER=1``)
a missing program is a failure. ``KINETIC_GAN_BLENDER`` picks another executable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BATCH = Path("blender_addon") / "kinetic_gan_blender" / "batch.py"  # as the README types it
SHIPPED = ROOT / "weights" / "deepmimic15-mlp4.safetensors"

pytestmark = [pytest.mark.blender, pytest.mark.slow]

# Reopens a .blend in the same Blender program; prints what it found as JSON.
CHECK = """
import bpy, json, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[sys.argv.index("--") + 1])
arm = bpy.data.objects["KGAN_Character"]
action = arm.animation_data.action
print("CHECK " + json.dumps({"version": bpy.app.version_string,
                             "fcurves": len(action.fcurves),
                             "frames": list(action.frame_range)}))
"""


def blender_command() -> list[str]:
    program = os.environ.get("KINETIC_GAN_BLENDER") or shutil.which("blender")
    if program is None:
        if os.environ.get("KINETIC_GAN_REQUIRE_BLENDER") == "1":
            pytest.fail("KINETIC_GAN_REQUIRE_BLENDER=1 but no `blender` program is on PATH")
        pytest.skip("no `blender` program on PATH (CI installs Debian's; "
                    "set KINETIC_GAN_BLENDER to use another)")
    # Blender opens a window system connection even in the background for GPU rendering;
    # without a display, a virtual one.
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        return ["xvfb-run", "-a", program]
    return [program]


@pytest.fixture(scope="module")
def blender() -> list[str]:
    from kinetic_gan.commands.addon import vendor_backend_modules

    command = blender_command()
    vendor_backend_modules()  # the add-on imports the backend's client from vendor/
    return command


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    """`kinetic-gan serve` with the shipped model on a free loopback port; always stopped."""
    from kinetic_gan.serve.loopback import serving

    with serving(SHIPPED, tmp_path_factory.mktemp("serve") / "serve.log") as address:
        yield address


@pytest.fixture(scope="module")
def blender_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("blender_home")
    return {**os.environ, "BLENDER_USER_RESOURCES": str(home / "resources"),
            "XDG_CACHE_HOME": str(home / "cache")}


# Installs and enables the legacy zip in the program's own add-on folder (a temporary
# user folder), then uses the panel's operators: the built-in character, the test walk.
ENABLE = """
import addon_utils, bpy, json, sys
bpy.ops.preferences.addon_install(filepath=sys.argv[sys.argv.index("--") + 1])
addon_utils.enable("kinetic_gan_blender", default_set=True)
bpy.ops.kinetic_gan.add_character()
bpy.ops.kinetic_gan.sample_walk()
arm = bpy.data.objects["KGAN_Character"]
print("CHECK " + json.dumps({"panel": hasattr(bpy.types, "KGAN_PT_main"),
                             "action": arm.animation_data.action.name,
                             "fcurves": len(arm.animation_data.action.fcurves)}))
"""


def run_batch(blender, env, *argv: str, timeout: float = 400) -> subprocess.CompletedProcess:
    done = subprocess.run([*blender, "--background", "--python", str(BATCH), "--", *argv],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_readme_command_generates_keyframes_and_exports(blender, blender_env,
                                                            shipped_server, tmp_path):
    out = tmp_path / "takes"
    # The README's command, with --blend --bvh in place of --mp4 (rendered below, smaller).
    done = run_batch(blender, blender_env, "--actions", "walk,cartwheel", "--count", "2",
                     "--backend", shipped_server, "--blend", "--bvh", "--out", str(out))
    assert "4 takes: 4 done, 0 skipped, 0 failed" in done.stdout
    stems = sorted(p.stem for p in out.glob("*.blend"))
    assert stems == ["cartwheel_s0_psi0.70", "cartwheel_s1_psi0.70",
                     "walk_s0_psi0.70", "walk_s1_psi0.70"]
    for stem in stems:
        bvh = (out / f"{stem}.bvh").read_text()
        assert "HIERARCHY" in bvh and re.search(r"Frames:\s+64", bvh)
    check = subprocess.run([*blender, "--background", "--python-expr", CHECK, "--",
                            str(out / f"{stems[0]}.blend")], env=blender_env,
                           capture_output=True, text=True, timeout=120)
    found = json.loads(re.search(r"^CHECK (.*)$", check.stdout, re.MULTILINE)[1])
    assert found["fcurves"] > 20 and found["frames"] == [1.0, 64.0], found


def test_the_real_program_renders_a_take(blender, blender_env, shipped_server, tmp_path):
    out = tmp_path / "video"
    run_batch(blender, blender_env, "--actions", "walk", "--backend", shipped_server,
              "--resolution", "96x64", "--samples", "1", "--mp4", "--out", str(out))
    video = out / "walk_s0_psi0.70.mp4"
    assert video.stat().st_size > 1000


def test_the_legacy_zip_installs_and_animates_in_the_real_program(blender, blender_env,
                                                                  tmp_path):
    from kinetic_gan.commands.addon import build_addon

    _, legacy = build_addon(tmp_path / "dist", wheels=False, log=lambda _: None)
    env = {**blender_env, "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts")}
    done = subprocess.run([*blender, "--background", "--factory-startup", "--python-expr",
                           ENABLE, "--", str(legacy)], env=env, capture_output=True,
                          text=True, timeout=120)
    match = re.search(r"^CHECK (.*)$", done.stdout, re.MULTILINE)
    assert match, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(match[1])
    assert found["panel"] and found["action"].startswith("test_walk") and found["fcurves"] > 20
