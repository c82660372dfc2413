"""Motion cleanup before/after: real clips, damaged real clips, generated takes.

    python benchmarks/cleanup.py [--generated /tmp/x.npz ...]

- **real**: every DeepMimic clip (whole length, ≥ 64 frames at 30 fps; needs
  ``kinetic-gan data fetch``): the mean joint change each step makes, and foot skating
  before and after;
- **damaged**: 8 clips with stretching bones, 1 cm jitter and sliding legs (the test's
  damage, ``tests/backend/test_motion_cleanup.py``): the plausibility statistics of the truth, the
  damaged motion and the cleaned one;
- **generated**: each ``.npz`` written by ``kinetic-gan generate`` (raw), its plausibility
  statistics raw, after each step added, and how far the cleanup moved the joints.

Prints Markdown tables (docs/cleanup.md holds a run of them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from kinetic_gan import motion_cleanup as mc
from kinetic_gan.data import deepmimic, fetch
from kinetic_gan.data.build import clip_window
from kinetic_gan.metrics import plausibility

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0
DAMAGED = ("walk", "run", "kick", "punch", "dance_a", "jump", "spin", "cartwheel")
COLUMNS = (
    ("bone_cv_pct", "bone CV %", 3), ("high_freq_share", "HF share", 3), ("judder", "judder", 3),
    ("foot_skating_ms", "skating m/s", 2), ("foot_contact_share", "contact", 2),
    ("floor_penetration_cm", "floor cm", 2), ("knee_hyperextension", "knee hyper", 3),
    ("median_accel_ms2", "accel m/s²", 1),
)


def moved_cm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean() * 100)


def real_clips() -> dict[str, np.ndarray]:
    folder = fetch.deepmimic_dir()
    if folder is None:
        sys.exit("DeepMimic clips not fetched: run `kinetic-gan data fetch` first")
    clips = {}
    for path in sorted((folder / "motions").glob("humanoid3d_*.txt")):
        clip = deepmimic.load_clip(path)
        frames = max(64, int(clip.duration * FPS))
        clips[path.stem.removeprefix("humanoid3d_")] = clip_window(clip, 0.0, frames, FPS)
    return clips


def real_table(clips: dict[str, np.ndarray]) -> list[str]:
    lines = ["| clip | frames | filter | bones | feet | all three | skating before → after |",
             "|---|---|---|---|---|---|---|"]
    changes = []
    for name, joints in clips.items():
        row = [moved_cm(mc.clean_motion(joints, FPS, s), joints)
               for s in ("filter", "bones", "feet", "all")]
        cleaned = mc.clean_motion(joints, FPS)
        before = plausibility.foot_skating(joints[None], FPS)[0]
        after = plausibility.foot_skating(cleaned[None], FPS)[0]
        changes.append(row)
        cells = " | ".join(f"{v:.2f}" for v in row)
        lines.append(f"| {name} | {len(joints)} | {cells} | {before:.2f} → {after:.2f} |")
    mean = " | ".join(f"**{v:.2f}**" for v in np.mean(changes, axis=0))
    lines.append(f"| **mean** | | {mean} | |")
    return lines


def damage(joints: np.ndarray, seed: int) -> np.ndarray:
    sys.path.insert(0, str(ROOT / "tests" / "backend"))
    from helpers import damaged

    return damaged(joints, seed)


def stats_table(rows: dict[str, np.ndarray], reference: np.ndarray | None = None) -> list[str]:
    head = "| | " + " | ".join(label for _, label, _ in COLUMNS) + " | moved cm |"
    lines = [head, "|---" * (len(COLUMNS) + 2) + "|"]
    first = next(iter(rows.values())) if reference is None else reference
    for name, joints in rows.items():
        s = plausibility.statistics(joints, FPS)
        cells = " | ".join(f"{s[k]:.{d}f}" for k, _, d in COLUMNS)
        lines.append(f"| {name} | {cells} | {moved_cm(joints, first):.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=Path, nargs="*", default=[])
    args = parser.parse_args(argv)
    clips = real_clips()
    print("\n".join(["### Real clips: mean joint change (cm)", "", *real_table(clips), ""]))

    truth = np.stack([clips[n][:64] for n in DAMAGED])
    bad = np.stack([damage(clips[n][:64], seed=i) for i, n in enumerate(DAMAGED)])
    rows = {"real (truth)": truth, "damaged": bad, "damaged, cleaned": mc.clean_motion(bad, FPS)}
    print("\n".join(["### Damaged real clips (moved: from the truth)", "",
                     *stats_table(rows, reference=truth), ""]))

    for path in args.generated:
        with np.load(path) as data:
            joints = data["joints"].astype(np.float64)
            fps = float(data["fps"])
        assert fps == FPS, f"{path}: {fps} fps"
        started = time.perf_counter()
        mc.clean_motion(joints, fps)
        seconds = time.perf_counter() - started
        rows = {"raw": joints}
        for steps in ("filter", "filter,bones", "all"):
            rows[steps if steps != "all" else "filter,bones,feet"] = mc.clean_motion(
                joints, fps, steps
            )
        print("\n".join([f"### {path.name}: {len(joints)} takes, cleanup {seconds:.2f} s", "",
                         *stats_table(rows), ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
