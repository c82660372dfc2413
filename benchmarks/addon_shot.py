"""The Shot and Variations panels' end-to-end times, through the add-on's real path (bpy).

    python benchmarks/addon_shot.py [--weights weights/deepmimic15-mlp4.safetensors]

Serves the weights on a loopback port, then in this process's bpy, on the built-in
character:

- *variations 16*: ``variations.variations_now`` with N = 16 (one generate, 16 ghosts each
  cleaned, retargeted and keyed), the issue's target 2 s; beside it the reference, the same
  ``generate`` of 16 takes alone through the bundled client;
- *land shot*: a four-segment 20 s shot (walk:150, jump:90, cartwheel:120, walk:240)
  composed by the engine in this process, then ``shot.land_shot`` (cleanup, retargeting,
  keys, markers), with the engine's own time as the reference; and, when the server has the
  ``compose`` op, ``shot.compose_now`` end to end (target 3 s).

Timings on a shared machine vary; run it cold to compare.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOT = "walk:150,jump:90,cartwheel:120,walk:240"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path,
                        default=ROOT / "weights" / "deepmimic15-mlp4.safetensors")
    args = parser.parse_args()
    from kinetic_gan.commands.addon import vendor_backend_modules
    from kinetic_gan.serve.loopback import serving

    vendor_backend_modules()
    sys.path.insert(0, str(ROOT / "blender_addon"))
    home = Path(tempfile.mkdtemp(prefix="kgan-bench-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(home)
    import importlib

    import bpy

    addon_utils = importlib.import_module("addon_utils")  # on the path once bpy is imported

    bpy.ops.wm.read_homefile(use_empty=True)
    addon_utils.enable("kinetic_gan_blender", default_set=True)
    from kinetic_gan_blender.blender import api, controller, shot, variations
    from kinetic_gan_blender.vendor.serve.client import Client

    with serving(args.weights, home / "serve.log") as address:
        settings = bpy.context.scene.kinetic_gan
        settings.address, settings.action = address, "walk"
        controller.connect(bpy.context)
        settings.target = api.build_default_character(bpy.context.scene)
        settings.shot.variations = 16
        variations.variations_now(bpy.context)  # warm: imports, caches, the server's batch
        t0 = time.perf_counter()
        variations.variations_now(bpy.context)
        ours = time.perf_counter() - t0
        with Client(address, timeout_s=30) as c:
            c.generate(action="walk", count=16, seed=0, truncation=0.7)
            t0 = time.perf_counter()
            c.generate(action="walk", count=16, seed=0, truncation=0.7)
            reference = time.perf_counter() - t0
        variations.remove_ghosts()
        print(f"variations 16: {ours:.2f} s (target 2 s); generate 16 alone {reference:.2f} s")

        from kinetic_gan import load_generator
        from kinetic_gan.shots import compose

        g = load_generator(args.weights)
        t0 = time.perf_counter()
        made = compose(g, SHOT, seed=0, truncation=0.7)
        engine = time.perf_counter() - t0
        t0 = time.perf_counter()
        shot.land_shot(bpy.context, settings.target, made.composed(), made.request)
        landing = time.perf_counter() - t0
        print(f"land a 20 s shot: {landing:.2f} s (the engine in-process: {engine:.2f} s; "
              f"sum {engine + landing:.2f} s, target 3 s)")
        if hasattr(Client, "compose"):
            for action, frames in (s.split(":") for s in SHOT.split(",")):
                item = settings.shot.segments.add()
                item.action, item.length = action, float(frames)
            t0 = time.perf_counter()
            shot.compose_now(bpy.context)
            print(f"compose end to end (panel): {time.perf_counter() - t0:.2f} s (target 3 s)")
        else:
            print("compose end to end: the server has no compose op yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
