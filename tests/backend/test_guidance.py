"""Class guidance: a frozen recogniser's cross-entropy added to the generator's loss.

Tiny settings as in test_train (T=32, 3 classes, batch 4); the guide is a small
recogniser saved with the tiny dataset's classes and normalization.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import pytest
import torch
from helpers import CLASSES, tiny_config, write_tiny_dataset

from kinetic_gan import cli
from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics.recognizer import Recognizer, RecognizerCard, save_recognizer
from kinetic_gan.nn import Critic, Generator
from kinetic_gan.train import config
from kinetic_gan.train.guidance import ClassGuide, load_guide
from kinetic_gan.train.loop import train
from kinetic_gan.train.step import TrainStep
from kinetic_gan.train.wgan_gp import EMA, generator_step
from kinetic_gan.weights import normalization_from_data, read_card

SMALL = dict(channels=(8, 8, 16), strides=(1, 2, 1))


def save_guide(stem: Path, data: Path, class_names=CLASSES, normalization=None) -> Path:
    torch.manual_seed(1)
    model = Recognizer(len(class_names), "ntu", **SMALL)
    card = RecognizerCard(
        name=stem.name, dataset=str(data), skeleton="ntu", class_names=list(class_names),
        frames=32, channels=list(SMALL["channels"]), strides=list(SMALL["strides"]),
        normalization=normalization or normalization_from_data(data))
    save_recognizer(stem, model, card)
    return stem


def tiny_models():
    torch.manual_seed(0)
    g = Generator(len(CLASSES), frames=32, mapping_depth=2, latent_dim=64).train()
    d = Critic(len(CLASSES), frames=32).train()
    return g, d


def make_step(g, d, guide=None) -> TrainStep:
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.999))
                    for m in (g, d))
    return TrainStep(g, g, d, opt_g, opt_d, EMA(g, 0.9), latent_dim=64, lambda_gp=10.0,
                     autocast=contextlib.nullcontext, terms=() if guide is None else (guide,))


def test_guidance_lowers_the_guides_cross_entropy_and_leaves_the_recogniser_alone():
    torch.manual_seed(2)
    recognizer = Recognizer(len(CLASSES), "ntu", **SMALL)
    with torch.no_grad():  # a random recogniser's logits are near zero: give them a spread
        recognizer.fc.weight.mul_(30.0)
    frozen = {k: v.clone() for k, v in recognizer.state_dict().items()}
    guide = ClassGuide(recognizer, weight=5.0)
    torch.manual_seed(123)
    z, y = torch.randn(24, 64), torch.arange(3).repeat(8)

    def ce_after_ten_updates(with_guide: bool) -> tuple[float, float]:
        g, d = tiny_models()
        opt = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.999))
        # measured in training mode: what the updates optimise (batch statistics)
        with torch.no_grad():
            before = guide.cross_entropy(g(z, y), y).item()
        torch.manual_seed(7)  # the same latents for both runs
        for _ in range(10):
            _, ce = generator_step(g, d, opt, y, latent_dim=64, autocast=contextlib.nullcontext,
                                   sync_grads=lambda: None, terms=(guide,) if with_guide else ())
            assert ce.shape == ((1,) if with_guide else (0,))
        with torch.no_grad():
            return before, guide.cross_entropy(g(z, y), y).item()

    before, guided = ce_after_ten_updates(True)
    _, unguided = ce_after_ten_updates(False)
    # (measured: 3.69 → 3.40 guided, 3.68 unguided)
    assert guided < 0.95 * before and guided < 0.95 * unguided
    for key, value in recognizer.state_dict().items():  # frozen: weights and BN statistics
        assert torch.equal(value, frozen[key]), key
    assert not recognizer.training


def test_without_a_guide_the_step_reports_the_generator_loss_alone():
    g, d = tiny_models()
    step = make_step(g, d)
    _, generator_losses = step([torch.rand(4, 3, 32, 25)], [torch.tensor([0, 1, 2, 0])])
    assert generator_losses.shape == (1,)


def test_a_guided_run_logs_the_cross_entropy_and_plots_it(tmp_path, capsys):
    data = write_tiny_dataset(tmp_path / "data")
    guide = save_guide(tmp_path / "guide", data)
    cfg = tiny_config(data, iterations=6, checkpoint_every=3, sample_every=100,
                      class_guidance=1.0, guide_recognizer=str(guide))
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary.iteration == 6 and summary.losses["guide_ce"] > 0
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(float(r["guide_ce"]) > 0 for r in rows)
    # a resume keeps the layout it started with
    train(config.replace(cfg, {"iterations": 8}, "test"), tmp_path / "run", resume=True,
          progress=False)
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 9))
    assert all(float(r["guide_ce"]) > 0 for r in rows)
    assert cli.main(["plot-loss", str(tmp_path / "run"), "--out",
                     str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").stat().st_size > 0


def test_unguided_runs_keep_the_published_log_columns(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    train(tiny_config(data, iterations=2, sample_every=100), tmp_path / "run", progress=False)
    with (tmp_path / "run" / "log.csv").open() as fh:
        assert next(csv.reader(fh)) == ["iteration", "epoch", "d_loss", "g_loss", "gp",
                                        "w_dist", "seconds"]


def test_a_guide_for_other_classes_or_another_scale_is_named(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    norm = normalization_from_data(data)
    other = save_guide(tmp_path / "other", data, class_names=["a", "b", "c"])
    with pytest.raises(KineticGanError, match="other classes"):
        load_guide(other, 1.0, class_names=CLASSES, normalization=norm,
                   device=torch.device("cpu"))
    scaled = save_guide(tmp_path / "scaled", data,
                        normalization={"min": norm["min"] * 2, "max": norm["max"] * 2})
    with pytest.raises(KineticGanError, match=r"normali[sz]ation"):
        load_guide(scaled, 1.0, class_names=CLASSES, normalization=norm,
                   device=torch.device("cpu"))
    with pytest.raises(KineticGanError, match="recogniser file not found"):
        load_guide(tmp_path / "missing", 1.0, class_names=CLASSES, normalization=norm,
                   device=torch.device("cpu"))


def test_guidance_settings_are_checked():
    with pytest.raises(KineticGanError, match="needs guide_recognizer"):
        config.apply_overrides(config.load_config("deepmimic15"),
                               ["class_guidance=1.0", "guide_recognizer=''"])
    with pytest.raises(KineticGanError, match="class_guidance must be >= 0"):
        config.apply_overrides(config.load_config("deepmimic15"), ["class_guidance=-1"])
    with pytest.raises(KineticGanError, match="weight must be positive"):
        ClassGuide(Recognizer(3, "ntu", **SMALL), 0.0)


def test_the_shipped_config_names_a_shipped_guide_that_fits_the_shipped_model():
    root = Path(__file__).resolve().parents[2]
    cfg = config.load_config("deepmimic15")
    card = read_card(root / "weights" / "deepmimic15-mlp4.safetensors")
    guide = load_guide(root / cfg.guide_recognizer, cfg.class_guidance,
                       class_names=list(card.class_names), normalization=card.normalization,
                       device=torch.device("cpu"))
    assert cfg.class_guidance > 0 and guide.weight == cfg.class_guidance
    # the guide is not the recogniser the metrics use
    assert (root / cfg.guide_recognizer).name != "deepmimic15-recognizer"
