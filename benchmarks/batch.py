"""One rendered take against Blender's own default scene, in the same run.

    python benchmarks/batch.py [--resolutions 640x360,320x240] [--samples N] [--repeats N]
                               [--weights weights/deepmimic15-mlp4.safetensors]

For each size, back to back (a shared, loaded machine makes only same-run figures
comparable; absolute seconds from different runs are not):

- **default scene**: a fresh process that imports ``bpy``, opens Blender's factory-default
  scene (the cube), sets Workbench and the size, and renders 64 frames to an H.264 MP4
  with the scene's own settings (8 anti-aliasing samples);
- **default scene, AA off**: the same with anti-aliasing off, the least Blender spends
  on 64 frames of that size (ours renders one sample, then smooths edges in the
  compositor);
- **ours**: ``kinetic-gan render --local --actions walk --resolution WxH --mp4`` as a user
  runs it: process start-up, loading the model, generating, retargeting, keyframing,
  rendering and encoding the MP4.

Prints the wall times, the ratios, and our own per-stage split. ``--repeats N`` runs the
three N times in turn and keeps each one's fastest (the least disturbed by other load).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "blender_addon"))
from kinetic_gan_blender.core.render.options import DEFAULT_SAMPLES  # noqa: E402 (stdlib-only module)

FRAMES = 64
REFERENCE = """
import sys, time, bpy
width, height, aa, video = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
bpy.ops.wm.read_factory_settings()
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x, scene.render.resolution_y = width, height
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, {frames}
if aa != "scene":
    scene.display.render_aa = aa
settings = scene.render.image_settings
if hasattr(settings, "media_type"):
    settings.media_type = "VIDEO"
settings.file_format = "FFMPEG"
scene.render.ffmpeg.format, scene.render.ffmpeg.codec = "MPEG4", "H264"
scene.render.filepath = video
t0 = time.perf_counter()
bpy.ops.render.render(animation=True)
print(f"REFERENCE render_s={{time.perf_counter() - t0:.3f}} aa={{scene.display.render_aa}}")
"""


@dataclass
class Timing:
    wall: float = float("inf")  # seconds, the whole process
    detail: str = ""  # the reference's AA level, or our 'time by stage' line

    def keep_faster(self, wall: float, detail: str) -> None:
        if wall < self.wall:
            self.wall, self.detail = wall, detail


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


def reference(width: int, height: int, aa: str, scratch: Path) -> tuple[float, str]:
    """Wall seconds of the whole process and the AA level it rendered with."""
    script = scratch / "reference.py"
    script.write_text(REFERENCE.format(frames=FRAMES))
    video = Path(tempfile.mkdtemp(prefix="reference-", dir=scratch)) / "cube.mp4"
    command = [sys.executable, str(script), str(width), str(height), aa, str(video)]
    wall, text = _timed(command, scratch / "reference.log")
    match = re.search(r"REFERENCE render_s=([\d.]+) aa=(\S+)", text)
    if match is None or not video.is_file():
        raise SystemExit(f"the reference made no video (see {scratch / 'reference.log'})")
    return wall, match[2]


def ours(width: int, height: int, weights: Path, samples: int | None, scratch: Path):
    """Wall seconds of ``kinetic-gan render`` for one take, and its 'time by stage' line."""
    out = Path(tempfile.mkdtemp(prefix="take-", dir=scratch))
    command = [
        sys.executable, "-m", "kinetic_gan.cli", "render", "--local", "--weights", str(weights),
        "--actions", "walk", "--resolution", f"{width}x{height}", "--mp4", "--out", str(out),
    ]
    if samples is not None:
        command += ["--samples", str(samples)]
    wall, text = _timed(command, scratch / "ours.log")
    stages = next((ln for ln in text.splitlines() if ln.startswith("time by stage")), "")
    return wall, stages.removeprefix("time by stage: ")


def our_aa(samples: int | None) -> str:
    """What our samples mean in Workbench (output.workbench_aa, without importing bpy)."""
    samples = DEFAULT_SAMPLES["workbench"] if samples is None else samples
    if samples <= 1:
        return "1 sample + compositor SMAA"
    return next((f"{level} samples" for level in (5, 8, 11, 16) if samples <= level), "32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="640x360,320x240")
    parser.add_argument("--samples", type=int, default=None, help="our AA samples (default: ours)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, fastest kept")
    parser.add_argument(
        "--weights", type=Path, default=ROOT / "weights/deepmimic15-mlp4.safetensors"
    )
    args = parser.parse_args()
    if not args.weights.is_file():
        raise SystemExit(f"{args.weights} not found: pass --weights FILE.safetensors")
    sizes = [tuple(int(v) for v in r.lower().split("x")) for r in args.resolutions.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="kgan-bench-batch-"))
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(scratch / "blender"))
    aa = our_aa(args.samples)
    print(
        f"one {FRAMES}-frame take vs Blender's default scene, Workbench, H.264 MP4, "
        f"{os.cpu_count()} CPU cores, same run, back to back, fastest of {args.repeats}"
    )
    rows = []
    for width, height in sizes:
        scene, bare, take = Timing(), Timing(), Timing()
        for _ in range(max(1, args.repeats)):
            scene.keep_faster(*reference(width, height, "scene", scratch))
            bare.keep_faster(*reference(width, height, "OFF", scratch))
            take.keep_faster(*ours(width, height, args.weights, args.samples, scratch))
        rows.append((f"{width}x{height}", scene, bare, take))
    print(f"\n{'size':<9} {'default scene':>14} {'scene, AA off':>14} {'ours':>8}"
          f" {'ours/scene':>11} {'ours/AA off':>12}")
    for size, scene, bare, take in rows:
        print(f"{size:<9} {scene.wall:>12.1f} s {bare.wall:>12.1f} s {take.wall:>6.1f} s"
              f" {take.wall / scene.wall:>9.2f} x {take.wall / bare.wall:>10.2f} x")
    print(f"\ndefault scene: AA {rows[0][1].detail} (as it opens); ours: {aa}; each figure "
          "is a whole process: start-up, scene, 64 frames, encoding")
    for size, *_, take in rows:
        print(f"ours at {size}: {take.detail}")


if __name__ == "__main__":
    main()
