"""From a folder of BVH takes to generated actions: build, train (a few iterations of the
packaged ``custom`` config, shrunk to run in seconds), export, generate — the commands of
the README's "Train on your own motion capture", in process."""

from __future__ import annotations

import json

import numpy as np

from kinetic_gan import cli
from kinetic_gan.data.synthetic_bvh import write_corpus
from kinetic_gan.generate import load_npz
from kinetic_gan.train import config

TINY = ["latent_dim=64", "mapping_depth=2", "n_critic=1", "frames=32", "mean_w_samples=50",
        "tensorboard=false", "checkpoint_every=2", "sample_every=1000", "samples_per_class=1"]


def test_bvh_folder_to_generated_actions(tmp_path, capsys):
    write_corpus(tmp_path / "mocap", takes=3, seconds=3.0)
    data, run, weights = tmp_path / "data", tmp_path / "run", tmp_path / "weights" / "mine"
    assert cli.main(["data", "build", "bvh", str(tmp_path / "mocap"), "--out", str(data),
                     "--frames", "32", "--licence", "CC0-1.0"]) == 0
    assert "3 classes, 9 takes" in capsys.readouterr().out
    custom = config.load_config("custom")
    assert (custom.generator_output, custom.augment, custom.ema) == ("kinematic", True, True)
    assert custom.uses_motion_priors() and custom.class_guidance == 0
    sets = [arg for item in TINY for arg in ("--set", item)]
    assert cli.main(["train", "--config", "custom", "--data", str(data), "--out", str(run),
                     "--iterations", "2", "--batch-size", "4", "--device", "cpu",
                     "--no-progress", *sets]) == 0
    # float32: the float16 search costs most of a tiny model's export, and is tested elsewhere
    assert cli.main(["export", str(run), "--out", str(weights), "--dtype", "float32"]) == 0
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["class_names"] == ["squat", "walk", "wave"] and card["licence"] == "CC0-1.0"
    assert card["units"] == "m" and card["dataset"] == "data"
    out = tmp_path / "wave.npz"
    assert cli.main(["generate", "--weights", str(weights.with_suffix(".safetensors")),
                     "--action", "wave", "--count", "2", "--seed", "3", "--out", str(out)]) == 0
    takes = load_npz(out)
    assert takes.joints.shape == (2, 32, 25, 3) and np.isfinite(takes.joints).all()
    assert list(takes.class_names) == ["wave", "wave"] and (takes.labels == 2).all()
    # the kinematic head carries the dataset's bone lengths: every bone keeps its length
    parents = takes.parents
    bones = np.linalg.norm(takes.joints[:, :, 1:] - takes.joints[:, :, parents[1:]], axis=-1)
    assert np.ptp(bones, axis=1).max() < 0.02
