"""One rendered take against Blender's own default scene, in the same run.

    python benchmarks/batch.py [--resolutions 640x360,320x240] [--samples N]
                               [--weights weights/deepmimic15-mlp4.safetensors]

For each size, back to back (a shared, loaded machine makes only same-run figures
comparable):

- **reference**: a fresh process that imports ``bpy``, opens Blender's factory-default
  scene (the cube), sets Workbench and the size, and renders 64 frames with the scene's
  own settings (8 anti-aliasing samples, PNG frames);
- **ours**: ``kinetic-gan render --local --actions walk --resolution WxH --mp4`` as a user
  runs it: process start-up, loading the model, generating, retargeting, keyframing,
  rendering and encoding the MP4.

Prints both wall times, their ratio, and our own per-stage split.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 64
REFERENCE = """
import sys, time, bpy
width, height, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
bpy.ops.wm.read_factory_settings()
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = width, height
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, {frames}
scene.render.filepath = folder + "/####"
t0 = time.perf_counter()
bpy.ops.render.render(animation=True)
print(f"REFERENCE render_s={{time.perf_counter() - t0:.3f}} aa={{scene.display.render_aa}}")
"""


def _timed(command: list[str], log: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    with open(log, "wb") as sink:
        code = subprocess.call(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    seconds = time.perf_counter() - t0
    text = log.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise SystemExit(f"{' '.join(command[:4])} … exited with {code}:\n{tail}")
    return seconds, text


def reference(width: int, height: int, scratch: Path) -> tuple[float, float, str]:
    """Wall seconds of the whole process, seconds in the render call, its AA setting."""
    script = scratch / "reference.py"
    script.write_text(REFERENCE.format(frames=FRAMES))
    folder = Path(tempfile.mkdtemp(prefix="reference-", dir=scratch))
    command = [sys.executable, str(script), str(width), str(height), str(folder)]
    wall, text = _timed(command, scratch / "reference.log")
    match = re.search(r"REFERENCE render_s=([\d.]+) aa=(\S+)", text)
    if match is None:
        raise SystemExit(f"the reference printed no timing (see {scratch / 'reference.log'})")
    return wall, float(match[1]), match[2]


def ours(width: int, height: int, weights: Path, samples: int | None, scratch: Path):
    """Wall seconds of ``kinetic-gan render`` for one take, and its 'time by stage' line."""
    out = Path(tempfile.mkdtemp(prefix="take-", dir=scratch))
    command = [
        sys.executable, "-m", "kinetic_gan.cli", "render", "--local", "--weights", str(weights),
        "--actions", "walk", "--resolution", f"{width}x{height}", "--mp4", "--out", str(out),
    ]  # fmt: skip
    if samples is not None:
        command += ["--samples", str(samples)]
    wall, text = _timed(command, scratch / "ours.log")
    stages = next((ln for ln in text.splitlines() if ln.startswith("time by stage")), "")
    return wall, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="640x360,320x240")
    parser.add_argument("--samples", type=int, default=None, help="our AA samples (default: ours)")
    parser.add_argument(
        "--weights", type=Path, default=ROOT / "weights/deepmimic15-mlp4.safetensors"
    )
    args = parser.parse_args()
    if not args.weights.is_file():
        raise SystemExit(f"{args.weights} not found: pass --weights FILE.safetensors")
    sizes = [tuple(int(v) for v in r.lower().split("x")) for r in args.resolutions.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="kgan-bench-batch-"))
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(scratch / "blender"))
    print(f"one {FRAMES}-frame take vs Blender's default scene, Workbench, "
          f"{os.cpu_count()} CPU cores, same run, back to back")  # fmt: skip
    for width, height in sizes:
        ref_wall, ref_render, aa = reference(width, height, scratch)
        our_wall, stages = ours(width, height, args.weights, args.samples, scratch)
        print(f"\n{width}x{height}")
        print(f"  default scene   {ref_wall:6.1f} s  "
              f"(process; {ref_render:.1f} s rendering, AA {aa})")  # fmt: skip
        print(f"  kinetic-gan     {our_wall:6.1f} s  (`kinetic-gan render`, one take, MP4)")
        print(f"  ratio           {our_wall / ref_wall:6.2f} x")
        print(f"  ours, {stages}")


if __name__ == "__main__":
    main()
