"""Build ``deepmimic15``: the 15 DeepMimic clips as a dataset in the published NTU layout.

Every sample is a 64-frame window at 30 fps of one clip, in our dataset frame (facing −Z at
the window's first frame, floor at y = 0, the pelvis' mean position over the window above
the origin), as NTU-25 joints. The stored normalization is the train split's min–max
widened so that turns about the vertical and mirrors stay inside (``turn_safe_normalization``).

Windows. A clip is sampled at ``start + n / fps``. Looping clips (``"Loop": "wrap"``) run
on past their end: each further cycle is the clip again, shifted over the floor by the
root's displacement from the first to the last frame (as DeepMimic loops a clip), easing
over the seam (``deepmimic.clip_points``), so a walk keeps walking. Other clips hold their first
pose before the start and their last pose after the end. Starts are spread evenly: over one
cycle for looping clips; over ``[min(0, D − W), max(0, D − W)]`` for the others (clip
length D, window length W), so a short kick is seen whole at different moments of the window.

Split. Each clip gets ``train + test`` evenly spaced starts; every fifth start (index
``k % 5 == 4``) goes to the test split. Test windows therefore never equal a train window,
but they overlap train windows in time — each class is one take, so this split measures
fit to held-out windows, not generalisation to new performers (docs/data.md).

Output: ``train_data.npy`` (N, 3, 64, 25, 2) float32 (body 2 all zero), ``train_label.pkl``
``(sample_names, labels)``, the same for ``test``, and ``meta.json``. Deterministic: the same
clips give byte-identical files.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.data import deepmimic, fetch, to_ntu
from kinetic_gan.data.classes import DEEPMIMIC15
from kinetic_gan.data.normalization import Normalization
from kinetic_gan.errors import KineticGanError

LICENCE = (
    "Motion clips from DeepMimic (Peng et al. 2018) as shipped in the pybullet 3.2.7 wheel "
    "(zlib licence, see LICENSE-pybullet.txt in the fetch cache); the clips are retargeted "
    "CMU Graphics Lab and SFU motion capture. Derived joint positions by Kinetic-GAN Studio."
)


def clip_path(source: Path, name: str) -> Path:
    return source / "motions" / f"humanoid3d_{name}.txt"


def window_starts(clip: deepmimic.Clip, count: int, seconds: float) -> np.ndarray:
    """``count`` evenly spaced window start times (seconds) for ``clip``."""
    if clip.loop:
        return np.arange(count) * (clip.duration / count)
    slack = clip.duration - seconds
    return np.linspace(min(0.0, slack), max(0.0, slack), count)


def clip_window(clip: deepmimic.Clip, start: float, frames: int, fps: float) -> np.ndarray:
    """(frames, 25, 3) NTU joints of one window, in the dataset frame."""
    points = deepmimic.clip_points(clip, start + np.arange(frames) / fps)
    joints = to_ntu.retarget(points, deepmimic.POINT_NAMES, rig="deepmimic")
    return to_ntu.to_dataset_frame(joints, axes="deepmimic", floor="keep", origin="mean")


def turn_safe_normalization(joints: np.ndarray) -> Normalization:
    """The global min–max of (N, T, V, 3) joints, widened to survive augmentation.

    The trainer may turn a take about the vertical through its mean pelvis (the origin here)
    and mirror it; x and z can then reach the largest horizontal distance from the origin
    anywhere in the corpus, so the range covers ±that distance as well as the heights.
    """
    radius = float(np.sqrt((joints[..., 0] ** 2 + joints[..., 2] ** 2).max()))
    heights = joints[..., 1]
    return Normalization(min(float(heights.min()), -radius), max(float(heights.max()), radius))


def build_deepmimic(out_dir: str | Path, source: str | Path | None = None, frames: int = 64,
                    fps: int = 30, train_per_class: int = 64, test_per_class: int = 16) -> Path:
    """Write the deepmimic15 dataset to ``out_dir``; return it. ``source``: fetched clips."""
    src = Path(source) if source is not None else fetch.deepmimic_dir()
    if src is None or not clip_path(src, "walk").is_file():
        raise KineticGanError(
            "data build: the DeepMimic clips are not fetched — run `kinetic-gan data fetch` first"
        )
    if train_per_class % 4:
        raise KineticGanError("data build: train_per_class must be a multiple of 4")
    total = train_per_class + test_per_class
    if total % 5 or test_per_class * 5 != total:
        raise KineticGanError("data build: test_per_class must be a fifth of all windows")
    seconds = (frames - 1) / fps
    splits: dict[str, tuple[list[np.ndarray], list[str], list[int]]] = {
        "train": ([], [], []), "test": ([], [], [])}
    clip_info = {}
    for label, name in enumerate(DEEPMIMIC15):
        clip = deepmimic.load_clip(clip_path(src, name))
        clip_info[name] = {"loop": clip.loop, "frames": len(clip.frames),
                           "seconds": round(clip.duration, 4)}
        for k, start in enumerate(window_starts(clip, total, seconds)):
            split = "test" if k % 5 == 4 else "train"
            data, names, labels = splits[split]
            data.append(clip_window(clip, start, frames, fps))
            names.append(f"{name}_w{k:03d}_t{start:+.3f}")
            labels.append(label)
    out = Path(out_dir)
    arrays = {}
    for split, (data, names, labels) in splits.items():
        joints = np.stack(data).astype(np.float32)  # (N, T, V, 3)
        array = np.zeros((len(joints), 3, frames, joints.shape[2], 2), dtype=np.float32)
        array[..., 0] = joints.transpose(0, 3, 1, 2)
        arrays[split] = array
        with atomic_path(out / f"{split}_data.npy") as tmp:
            np.save(tmp, array)
        with atomic_write(out / f"{split}_label.pkl") as handle:
            pickle.dump((names, labels), handle, protocol=4)
    norm = turn_safe_normalization(arrays["train"][..., 0].transpose(0, 2, 3, 1))
    record_path = src / "source.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    meta = {
        "name": "deepmimic15",
        "class_names": list(DEEPMIMIC15),
        "fps": fps,
        "frames": frames,
        "skeleton": "ntu",
        "units": "m",
        "normalization": norm.to_dict(),
        "splits": {s: len(a) for s, a in arrays.items()},
        "windows": {"train_per_class": train_per_class, "test_per_class": test_per_class,
                    "test_rule": "every fifth evenly spaced start (k % 5 == 4)"},
        "clips": clip_info,
        "source": {"package": record.get("package", "pybullet==3.2.7"),
                   "sha256": record.get("sha256"),
                   "files": "pybullet_data/data/motions/humanoid3d_*.txt"},
        "licence": LICENCE,
        "frame": "right-handed, Y up, metres, floor y=0, facing -Z at each window's start, "
                 "mean pelvis position over the window at x=z=0",
        "normalization_rule": "train min-max widened to +-(largest horizontal distance from "
                              "the origin) so augmentation turns and mirrors stay in range",
    }
    with atomic_write(out / "meta.json", "w") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return out
