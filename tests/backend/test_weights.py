"""Weights files: round trips and clear errors for broken or mismatched files."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from kinetic_gan.cli import main
from kinetic_gan.errors import KineticGanError
from kinetic_gan.nn import Generator
from kinetic_gan.testing import random_generator_weights
from kinetic_gan.weights import (
    LoadedGenerator,
    ModelCard,
    inspect_published,
    load_generator,
    save_generator,
)


def _copy(tiny_weights, tmp_path):
    dst = tmp_path / "m.safetensors"
    shutil.copy(tiny_weights, dst)
    shutil.copy(tiny_weights.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_round_trip_fp16_keeps_outputs_close(tiny_weights, tmp_path):
    g = load_generator(tiny_weights)
    half = save_generator(tmp_path / "half", g.module, g.card, dtype=torch.float16)
    assert half.stat().st_size < tiny_weights.stat().st_size * 0.6
    g16 = load_generator(half)
    assert g16.module.mean_w.dtype == torch.float32  # stored half, computed in float32
    assert bool(g16.module.mean_w_ready)


def test_loading_gives_the_card_and_the_module_in_eval_mode(tiny_weights):
    import kinetic_gan

    g = kinetic_gan.load_generator(tiny_weights)
    assert isinstance(g, LoadedGenerator) and isinstance(g.module, Generator)
    assert not g.module.training and g.card.class_names == ["walk", "jump up", "kicking something"]
    assert g.latent_dim == g.card.latent_dim == g.module.latent_dim
    assert g.to("cpu") is g and g.device == torch.device("cpu")
    assert g.state_dict().keys() == g.module.state_dict().keys()


def test_old_imports_of_the_weights_module_still_work():
    from kinetic_gan import devices, testing, weights

    assert weights.random_generator_weights is testing.random_generator_weights
    assert weights.resolve_device is devices.resolve_device
    for name in weights.__all__:
        assert getattr(weights, name) is not None


def test_a_shipped_generator_warm_starts_training(tiny_weights):
    """train/loop.py reads a LoadedGenerator's card and state_dict() for ``--init W``."""
    from kinetic_gan.train.build import _shipped_generator_state

    state = _shipped_generator_state(tiny_weights)
    module = load_generator(tiny_weights).module
    assert state["generator"].keys() == module.state_dict().keys()
    assert state["data"]["class_names"] == ["walk", "jump up", "kicking something"]


def test_missing_file(tmp_path):
    with pytest.raises(KineticGanError, match="not found"):
        load_generator(tmp_path / "nothing.safetensors")


def test_truncated_file(tiny_weights, tmp_path):
    dst = _copy(tiny_weights, tmp_path)
    dst.write_bytes(dst.read_bytes()[:1000])
    with pytest.raises(KineticGanError, match="not a readable safetensors file"):
        load_generator(dst)


def test_card_with_wrong_skeleton(tiny_weights, tmp_path):
    dst = _copy(tiny_weights, tmp_path)
    card = json.loads(dst.with_suffix(".json").read_text())
    card["skeleton"] = "h36m"
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(KineticGanError, match="wrong skeleton"):
        load_generator(dst)


def test_card_that_is_not_json(tiny_weights, tmp_path):
    dst = _copy(tiny_weights, tmp_path)
    dst.with_suffix(".json").write_text("{ not json")
    with pytest.raises(KineticGanError, match="not valid JSON"):
        load_generator(dst)


def test_weights_from_another_model(tmp_path):
    other = random_generator_weights(tmp_path / "other", n_classes=5, frames=32)
    card = json.loads(other.with_suffix(".json").read_text())
    card["class_names"] = card["class_names"][:4]
    other.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(
        KineticGanError, match=r"has shape \(5, 517\), the model card implies \(4, 516\)"
    ):
        load_generator(other)


def test_card_json_is_self_describing(tiny_weights):
    card = json.loads(tiny_weights.with_suffix(".json").read_text())
    for key in ("joint_names", "parents", "class_names", "frames", "fps", "channels", "units"):
        assert key in card
    assert ModelCard.from_json(card).n_classes == 3


# The junk .pth is pickled with protocol 4; torch warns before it refuses it.
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_convert_rejects_wrong_dataset_and_junk(original_fixtures, tmp_path, capsys):
    src = original_fixtures / "h36m_mlp6_t32.generator.pt"
    assert main(["convert", str(src), "--out", str(tmp_path / "x"), "--dataset", "ntu"]) == 2
    assert "checkpoint is for a h36m skeleton" in capsys.readouterr().err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x04garbage")
    assert main(["convert", str(junk), "--out", str(tmp_path / "y")]) == 2
    assert "cannot load checkpoint" in capsys.readouterr().err


def test_inspect_published_shapes(original_fixtures):
    state = torch.load(original_fixtures / "ntu120_mlp8_t64.generator.pt", weights_only=True)
    layout = inspect_published(state, "ntu120")
    assert (layout.kind, layout.skeleton, layout.n_classes, layout.mapping_depth) == (
        "generator",
        "ntu",
        120,
        8,
    )
