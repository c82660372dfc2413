"""The published-layout reader: every layout, cropping/tiling, class filtering, every error."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from kinetic_gan.data import Augment, Normalization, open_dataset
from kinetic_gan.data.classes import H36M, NTU60, NTU120, class_table
from kinetic_gan.data.labels import read_labels
from kinetic_gan.errors import KineticGanError


def write_published(folder: Path, stem: str, data: np.ndarray, labels, names=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{stem}_data.npy", data)
    names = names if names is not None else [f"S{i:03d}" for i in range(len(labels))]
    with open(folder / f"{stem}_label.pkl", "wb") as handle:
        pickle.dump((names, list(labels)), handle)
    return folder / f"{stem}_data.npy"


def ntu_array(n=6, c=3, t=20, m=2, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, c, t, 25, m)).astype(np.float32)
    data[..., 1] = 100.0  # body 2 must never reach the reader's output or its statistics
    return data


def test_ntu60_first_body_normalized_to_unit_range(tmp_path):
    data = ntu_array()
    path = write_published(tmp_path, "train", data, [0, 1, 2, 0, 1, 59])
    ds = open_dataset(path, frames=None)
    assert (len(ds), ds.skeleton, ds.fps, ds.class_names) == (6, "ntu", 30, list(NTU60))
    body0 = data[..., 0]
    assert ds.normalization == Normalization(float(body0.min()), float(body0.max()))
    x, label = ds[5]
    assert x.shape == (3, 20, 25) and x.dtype == np.float32 and label == 59
    whole = ds.array()
    assert whole.min() == pytest.approx(-1.0) and whole.max() == pytest.approx(1.0)
    np.testing.assert_allclose(ds.normalization.denormalize(whole), body0, atol=1e-5)
    assert isinstance(ds._data, np.memmap)


def test_auto_layout_picks_ntu120_names_from_labels(tmp_path):
    path = write_published(tmp_path, "xsub", ntu_array(n=2), [3, 119])
    ds = open_dataset(path)
    assert ds.class_names == list(NTU120) and ds.labels.tolist() == [3, 119]
    assert open_dataset(path, layout="ntu120").class_names[119].startswith("finger-guessing")


def test_ntu2d_and_h36m_layouts(tmp_path):
    path2d = write_published(tmp_path / "2d", "train", ntu_array(c=2), [0] * 6)
    ds = open_dataset(path2d)
    assert ds.skeleton == "ntu2d" and ds[0][0].shape == (2, 64, 25)
    h36m = np.random.default_rng(1).normal(size=(4, 3, 32, 16)).astype(np.float32)
    path = write_published(tmp_path / "h", "train", h36m, [0, 1, 9, 2])
    ds = open_dataset(path, frames=32)
    assert ds.skeleton == "h36m" and ds.class_names == list(H36M)
    assert ds.array().shape == (4, 3, 32, 16)


def test_crop_and_tile_to_frames(tmp_path):
    data = ntu_array(n=1, t=5)
    data[0, 0, :, 0, 0] = np.arange(5)
    path = write_published(tmp_path, "train", data, [0])
    cropped = open_dataset(path, frames=3, normalization=Normalization(0.0, 1.0)).array(False)
    tiled = open_dataset(path, frames=12, normalization=Normalization(0.0, 1.0)).array(False)
    assert cropped[0, 0, :, 0].tolist() == [0, 1, 2]
    assert tiled[0, 0, :, 0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]


def test_class_filter_relabels_in_the_order_given(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(), [0, 1, 2, 0, 1, 2])
    ds = open_dataset(path, classes=[2, "drink water"])
    assert ds.class_names == ["brushing teeth", "drink water"]
    assert ds.labels.tolist() == [1, 0, 1, 0] and ds.source_labels.tolist() == [0, 2, 0, 2]
    assert ds.sample_names == ["S000", "S002", "S003", "S005"]


def test_folder_with_meta_and_val_fallback(tmp_path):
    write_published(tmp_path, "train", ntu_array(n=3), [0, 1, 1])
    write_published(tmp_path, "val", ntu_array(n=2, seed=3), [1, 0])
    meta = {"class_names": ["a", "b"], "fps": 25, "skeleton": "ntu",
            "normalization": {"min": -3.0, "max": 3.0}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    train, test = open_dataset(tmp_path), open_dataset(tmp_path, split="test")
    assert train.class_names == ["a", "b"] and train.fps == 25
    assert test.normalization == train.normalization == Normalization(-3.0, 3.0)
    assert len(test) == 2


def test_augmentation_is_deterministic_per_epoch_and_item(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(), [0] * 6)
    ds = open_dataset(path, augment=Augment(seed=7))
    first = ds[2][0]
    np.testing.assert_array_equal(first, ds[2][0])
    ds.set_epoch(1)
    assert not np.array_equal(first, ds[2][0])
    assert ds[2][0].min() >= -1.0 and ds[2][0].max() <= 1.0


def test_class_tables():
    assert len(NTU60) == 60 and len(NTU120) == 120 and NTU120[:60] == NTU60
    assert class_table("deepmimic15")[0] == "walk"
    with pytest.raises(KineticGanError, match="unknown dataset"):
        class_table("kinetics")


# --- bad input: one clear error each -------------------------------------------------------


def expect_error(match: str, path, **kwargs) -> None:
    with pytest.raises(KineticGanError, match=match):
        open_dataset(path, **kwargs)


def test_wrong_shapes(tmp_path):
    bad_joints = np.zeros((2, 3, 10, 24, 2), np.float32)
    expect_error("none of", write_published(tmp_path / "a", "train", bad_joints, [0, 1]))
    expect_error(r"expected shape \(N, 3, T, 25, M\)",
                 write_published(tmp_path / "b", "train", np.zeros((2, 3, 10, 25), np.float32),
                                 [0, 1]), layout="ntu")
    expect_error(r"expected shape \(N, 2",
                 write_published(tmp_path / "c", "train", ntu_array(n=2), [0, 1]), layout="ntu2d")
    expect_error("frames must be", write_published(tmp_path / "d", "train", ntu_array(n=2),
                                                   [0, 1]), frames=0)


def test_label_sample_mismatch(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(n=3), [0, 1])
    expect_error("3 samples but 2 labels", path)
    with open(tmp_path / "train_label.pkl", "wb") as handle:
        pickle.dump((["a"], [0, 1]), handle)
    expect_error("1 sample names but 2 labels", path)


def test_nan_and_inf(tmp_path):
    data = ntu_array(n=2)
    data[1, 0, 3, 4, 0] = np.nan
    expect_error("NaN or Inf", write_published(tmp_path / "nan", "train", data, [0, 1]))
    data[1, 0, 3, 4, 0] = np.inf
    expect_error("NaN or Inf", write_published(tmp_path / "inf", "train", data, [0, 1]))


def test_constant_data_cannot_be_normalized(tmp_path):
    path = write_published(tmp_path, "train", np.zeros((2, 3, 4, 25, 2), np.float32), [0, 1])
    expect_error("every value is 0.0", path)
    assert len(open_dataset(path, normalization=Normalization(-1.0, 1.0))) == 2


def test_integer_arrays_are_refused(tmp_path):
    path = write_published(tmp_path, "train", np.zeros((2, 3, 4, 25, 2), np.int32), [0, 1])
    expect_error("expected a float array", path)


def test_corrupt_npy(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(n=2), [0, 1])
    path.write_bytes(path.read_bytes()[:200])
    expect_error("corrupt or unreadable .npy", path)
    path.write_bytes(b"not an npy file at all")
    expect_error("corrupt or unreadable .npy", path)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_unsafe_or_unreadable_pickle(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(n=2), [0, 1])
    label = tmp_path / "train_label.pkl"
    with open(label, "wb") as handle:
        pickle.dump((["a", "b"], [0, Evil()]), handle)
    expect_error("unsafe pickle.*builtins.print", path)
    label.write_bytes(b"\x80\x04garbage")
    expect_error("unreadable", path)
    label.write_bytes(pickle.dumps({"names": [], "labels": []}))
    expect_error(r"expected a \(sample_names, labels\) pair", path)
    label.write_bytes(pickle.dumps((["a", "b"], ["x", "y"])))
    expect_error("flat list of integers", path)
    label.unlink()
    expect_error("file not found", path)


def test_numpy_label_pickles_are_allowed(tmp_path):
    label = tmp_path / "x_label.pkl"
    label.write_bytes(pickle.dumps((np.array(["a", "b"]), np.array([3, 4], dtype=np.int32))))
    names, labels = read_labels(label)
    assert names == ["a", "b"] and labels.dtype == np.int64 and labels.tolist() == [3, 4]


def test_bad_classes_and_labels(tmp_path):
    path = write_published(tmp_path, "train", ntu_array(n=2), [0, 1])
    expect_error("unknown class name", path, classes=["moonwalk"])
    expect_error("outside 0..59", path, classes=[60])
    expect_error("listed twice", path, classes=[1, 1])
    expect_error("no samples left", path, classes=[5])
    h36m = write_published(tmp_path / "h", "train", np.zeros((1, 3, 4, 16), np.float32), [12])
    expect_error("outside the 10-class table", h36m)


def test_missing_paths_and_layouts(tmp_path):
    expect_error("no train_data.npy", tmp_path)
    expect_error("file not found", tmp_path / "x_data.npy")
    expect_error("folder or a .npy", tmp_path / "x.csv")
    expect_error("unknown layout", tmp_path, layout="kinetics")
    (tmp_path / "meta.json").write_text("{broken")
    write_published(tmp_path, "train", ntu_array(n=1), [0])
    expect_error("not readable JSON", tmp_path)
