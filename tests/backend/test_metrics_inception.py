"""The FID Inception: weights-file compatibility and the feature path (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics.fid import (
    FEATURE_DIM,
    FidInceptionV3,
    inception_features,
    load_fid_inception,
    motion_as_images,
)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05.pth"
    torch.save(FidInceptionV3().state_dict(), path)
    return path


def test_layout_matches_the_standard_fid_weights_file():
    state = FidInceptionV3().state_dict()
    # A few layers whose names and shapes the standard file fixes.
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert state["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert state["fc.weight"].shape == (1008, FEATURE_DIM)
    n_params = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    n_params -= sum(v.numel() for k, v in state.items() if "running" in k)
    # torchvision InceptionV3: 27,161,264 with its aux head (3,326,696) and a 1000-way fc;
    # FID drops the aux head and classifies 1008 ways (+8 × 2049).
    assert n_params == 27_161_264 - 3_326_696 + 8 * 2049


def test_loaded_network_gives_2048_d_features_of_motions(weights_file):
    model = load_fid_inception(weights_file)
    motions = np.random.default_rng(0).uniform(-1, 1, size=(3, 3, 16, 25)).astype(np.float32)
    features = inception_features(model, motion_as_images(motions), batch_size=2)
    assert features.shape == (3, FEATURE_DIM) and np.isfinite(features).all()
    # Different motions, different features: the path is not constant.
    assert not np.allclose(features[0], features[1])


def test_two_dimensional_skeletons_get_a_zero_third_channel():
    images = motion_as_images(np.ones((2, 2, 8, 25), dtype=np.float32))
    assert images.shape == (2, 3, 8, 25) and (images[:, 2] == 0).all()


def test_missing_or_absent_weights_are_clear_errors(tmp_path):
    with pytest.raises(KineticGanError, match="--inception-weights"):
        load_fid_inception(None)
    with pytest.raises(KineticGanError, match="not found"):
        load_fid_inception(tmp_path / "nope.pth")


def test_a_different_network_is_rejected(tmp_path):
    state = FidInceptionV3().state_dict()
    state["fc.weight"] = torch.zeros(1000, FEATURE_DIM)  # the ImageNet classifier, not FID's
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    with pytest.raises(KineticGanError, match=r"fc\.weight"):
        load_fid_inception(path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(KineticGanError, match="not a readable"):
        load_fid_inception(garbage)
