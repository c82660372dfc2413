"""End to end: evaluate (both protocols), train-recognizer, preview and plot-loss commands."""

from __future__ import annotations

import json
import pickle

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from kinetic_gan import load_generator
from kinetic_gan.cli import main
from kinetic_gan.generate import concat_sets, generate, save_npz
from kinetic_gan.metrics.fid import FidInceptionV3
from kinetic_gan.skeletons import get_skeleton
from kinetic_gan.testing import random_generator_weights

CLASSES = ["walk", "wave", "jump"]
NORM = {"min": -1.0, "max": 2.0}
FRAMES = 32


def write_dataset(folder, skeleton="ntu", frames=FRAMES, per_split=(("train", 9), ("test", 6))):
    """A small dataset folder in our builder's layout whose classes move different axes."""
    sk = get_skeleton(skeleton)
    rng = np.random.default_rng(0)
    rest = rng.normal(size=(sk.num_joints, 3)).astype(np.float32) * 0.3 + [0, 1, 0]
    t = np.linspace(0, 2 * np.pi, frames)
    for split, n in per_split:
        labels = np.arange(n) % len(CLASSES)
        x = np.repeat(rest[None, None], frames, 1).repeat(n, 0)
        for i, c in enumerate(labels):
            x[i, :, :, c] += 0.3 * np.sin(t * (c + 1) + rng.uniform(0, 6))[:, None]
        x = x.transpose(0, 3, 1, 2).astype(np.float32)  # (N, C, T, V)
        if skeleton == "ntu":
            x = x[..., None]  # NTU files carry a bodies axis
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{split}_data.npy", x)
        with open(folder / f"{split}_label.pkl", "wb") as handle:
            pickle.dump(([f"s{i}" for i in range(n)], [int(v) for v in labels]), handle)
    meta = {"name": "tiny", "class_names": CLASSES, "fps": 30, "skeleton": skeleton,
            "normalization": NORM}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = write_dataset(root / "data")
    random_generator_weights(
        root / "gen", n_classes=3, frames=FRAMES, class_names=CLASSES, normalization=NORM,
        samples_per_class=8,
    )
    torch.manual_seed(0)
    inception = root / "pt_inception.pth"
    torch.save(FidInceptionV3().state_dict(), inception)
    return {"root": root, "data": data, "weights": root / "gen.safetensors", "inception": inception}


def test_kinetic_gan_protocol_writes_fid_and_mmd(setup, capsys):
    out = setup["root"] / "kg.json"
    code = main([
        "evaluate", "--protocol", "kinetic-gan", "--real", str(setup["data"]),
        "--generated", str(setup["weights"]), "--inception-weights", str(setup["inception"]),
        "--per-class", "2", "--out", str(out),
    ])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["protocol"] == "kinetic-gan" and result["split"] == "train"
    assert np.isfinite(result["fid"]) and result["fid"] >= 0
    assert result["mmd_a"] > 0 and result["mmd_s"] > 0
    assert set(result["per_class"]) == set(CLASSES)
    assert result["generated_samples"] == 6 and not result["mmd_published_quirk"]
    assert "MMD-a" in capsys.readouterr().out


def test_recognizer_training_and_recognition_protocol(setup, capsys):
    rec = setup["root"] / "tiny-recognizer"
    assert main([
        "train-recognizer", "--data", str(setup["data"]), "--out", str(rec),
        "--channels", "8,16", "--strides", "1,2", "--epochs", "2", "--batch-size", "4",
    ]) == 0
    card = json.loads(rec.with_suffix(".json").read_text())
    assert card["class_names"] == CLASSES and 0.0 <= card["test_accuracy"] <= 1.0
    assert rec.with_suffix(".safetensors").is_file()

    out = setup["root"] / "rec.json"
    assert main([
        "evaluate", "--protocol", "recognition", "--real", str(setup["data"]),
        "--generated", str(setup["weights"]), "--recognizer", str(rec),
        "--per-class", "4", "--repeats", "2", "--out", str(out),
    ]) == 0
    result = json.loads(out.read_text())
    assert result["split"] == "test" and result["repeats"] == 2
    generated = result["generated"]
    assert set(generated) == {"fid", "accuracy", "diversity", "multimodality"}
    assert len(generated["fid"]["values"]) == 2 and generated["fid"]["ci95"] >= 0
    assert "fid" not in result["real"] and result["real"]["diversity"]["mean"] > 0
    assert "multimodality" in capsys.readouterr().out

    # The same protocol on a generated .npz.
    g = load_generator(setup["weights"])
    sets = [generate(g, action=c, count=3, seed=c) for c in range(3)]
    npz = save_npz(setup["root"] / "gen.npz", concat_sets(sets))
    assert main([
        "evaluate", "--protocol", "recognition", "--real", str(setup["data"]),
        "--generated", str(npz), "--recognizer", str(rec), "--out", str(out),
    ]) == 0
    assert json.loads(out.read_text())["generated_samples_per_draw"] == 9


def test_mismatched_skeletons_and_frames_are_clear_errors(setup, capsys):
    h36m = write_dataset(setup["root"] / "h36m", skeleton="h36m", per_split=(("train", 3),))
    args = ["evaluate", "--generated", str(setup["weights"]), "--inception-weights",
            str(setup["inception"]), "--per-class", "2"]
    assert main([*args, "--real", str(h36m)]) == 2
    assert "skeletons differ" in capsys.readouterr().err
    long = write_dataset(setup["root"] / "long", frames=64, per_split=(("train", 3),))
    assert main([*args, "--real", str(long)]) == 2
    err = capsys.readouterr().err
    assert "frames differ" in err and "--frames 32" in err


def test_missing_inception_weights_fail_before_any_work(setup, capsys):
    base = ["evaluate", "--real", str(setup["data"]), "--generated", str(setup["weights"])]
    assert main(base) == 2
    assert "--inception-weights" in capsys.readouterr().err
    assert main([*base, "--inception-weights", str(setup["root"] / "absent.pth")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([*base, "--protocol", "recognition"]) == 2
    assert "--recognizer" in capsys.readouterr().err


def test_preview_command_renders_npz_and_datasets(setup, tmp_path):
    g = load_generator(setup["weights"])
    npz = save_npz(tmp_path / "walk.npz", generate(g, action="walk", count=2, seed=0))
    gif = tmp_path / "walk.gif"
    assert main(["preview", str(npz), "--out", str(gif), "--samples", "2", "--grid"]) == 0
    assert iio.imread(gif, index=None).shape[0] == FRAMES
    sheet = tmp_path / "data.png"
    assert main(["preview", str(setup["data"]), "--out", str(sheet), "--samples", "3"]) == 0
    assert iio.imread(sheet).shape[0] == 3 * int(128 * 1.15)
    assert main(["preview", str(npz), "--out", str(tmp_path / "x.avi")]) == 2


def test_plot_loss_draws_the_training_log(tmp_path, capsys):
    rows = ["iteration,epoch,d_loss,g_loss,gp,w_dist,seconds"]
    rows += [f"{i},{i // 10},{-5 + i * 0.01},{2 - i * 0.02},{0.5 / (i + 1)},{5 - i * 0.01},{i}"
             for i in range(1, 120)]
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    assert main(["plot-loss", str(tmp_path)]) == 0
    image = iio.imread(tmp_path / "loss.png")
    assert image.shape[0] > 400 and image.std() > 10
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plot-loss", str(empty)]) == 2
    assert "log.csv" in capsys.readouterr().err
    (empty / "log.csv").write_text("iteration,d_loss\n1,2\n")
    assert main(["plot-loss", str(empty)]) == 2
    assert "g_loss" in capsys.readouterr().err


def test_loss_smoothing_skips_missing_values():
    from kinetic_gan.commands.plot_loss import smooth

    values = np.array([np.nan, np.nan, 2.0, 2.0, np.nan, 4.0])
    out = smooth(values, 0.5)
    assert np.isnan(out[[0, 1, 4]]).all()
    assert out[2] == 2.0 and out[3] == 2.0  # bias-corrected from the first real value
    assert 2.0 < out[5] < 4.0
    assert np.allclose(smooth(np.array([1.0, 3.0]), 0.0), [1.0, 3.0])


def test_plot_loss_chains_warm_started_runs(tmp_path):
    from kinetic_gan.commands.plot_loss import join_logs, read_log

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, rows, guided in ((first, 30, False), (second, 20, True)):
        folder.mkdir()
        header = "iteration,epoch,d_loss,g_loss,gp,w_dist,seconds" + (",guide_ce" if guided else "")
        lines = [header] + [f"{i},0,-1,2,0.1,1.5,{i}" + (",0.7" if guided else "")
                            for i in range(1, rows + 1)]
        (folder / "log.csv").write_text("\n".join(lines) + "\n")
    log, starts = join_logs([read_log(first / "log.csv"), read_log(second / "log.csv")])
    assert starts == [30.0]
    assert np.array_equal(log["iteration"], np.arange(1, 51))
    assert np.isnan(log["guide_ce"][:30]).all() and (log["guide_ce"][30:] == 0.7).all()
    out = tmp_path / "both.png"
    assert main(["plot-loss", str(first), str(second), "--out", str(out)]) == 0
    assert iio.imread(out).shape[0] > 900  # four panels
