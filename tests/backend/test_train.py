"""The trainer: configs, exact resume, the run directory, time budgets, export.

Tiny settings keep this fast on a 2-core CPU: T=32, 3 classes, batch 4, n_critic 2.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from helpers import CLASSES, tiny_config, write_tiny_dataset

from kinetic_gan import cli
from kinetic_gan.errors import KineticGanError
from kinetic_gan.train import checkpoint, config
from kinetic_gan.train.loop import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A trains 20 iterations in one go; run B trains 10, stops, and resumes to 20."""
    root = tmp_path_factory.mktemp("train")
    data = write_tiny_dataset(root / "data")
    cfg = tiny_config(data)
    summary_a = train(cfg, root / "a", progress=False)
    half = train(config.replace(cfg, {"iterations": 10}, "test"), root / "b", progress=False)
    summary_b = train(cfg, root / "b", resume=True, progress=False)
    return {"root": root, "data": data, "cfg": cfg, "a": summary_a, "b": summary_b,
            "half": half}


# -- configs ---------------------------------------------------------------------------------

def test_packaged_configs_cover_every_published_setting():
    names = set(config.packaged_configs())
    expected = {f"ntu60-{s}-mlp{d}" for s in ("xsub", "xview") for d in (4, 6, 8)}
    expected |= {"ntu120-xsub", "ntu120-xset", "ntu2d", "deepmimic15"}
    expected |= {f"h36m-t{t}" for t in (32, 64, 128, 256, 512, 1024)}
    assert expected <= names
    for name in names:
        cfg = config.load_config(name)
        assert (cfg.lambda_gp, cfg.n_critic, cfg.lr, cfg.beta1, cfg.beta2, cfg.batch_size) == (
            10.0, 5, 2e-4, 0.5, 0.999, 32)
    dm = config.load_config("deepmimic15")
    assert dm.augment and dm.ema and dm.mapping_depth == 4
    assert (dm.generator_output, dm.time_upsample) == ("kinematic", "linear")
    assert dm.uses_motion_priors() and dm.augment_bone_jitter == 0


def test_overrides_are_typed_and_unknown_keys_are_named():
    cfg = config.apply_overrides(config.load_config("deepmimic15"),
                                 ["lr=1e-4", "ema=false", "device=cuda:1", "classes=[0, 2]",
                                  "max_minutes=8", "iterations=5"])
    assert (cfg.lr, cfg.ema, cfg.device, cfg.classes, cfg.max_minutes, cfg.iterations) == (
        1e-4, False, "cuda:1", [0, 2], 8.0, 5)
    with pytest.raises(KineticGanError, match="unknown config key 'lambda'"):
        config.apply_overrides(cfg, ["lambda=3"])
    with pytest.raises(KineticGanError, match="n_critic must be int"):
        config.apply_overrides(cfg, ["n_critic=fast"])
    with pytest.raises(KineticGanError, match="batch_size must be positive"):
        config.apply_overrides(cfg, ["batch_size=0"])
    with pytest.raises(KineticGanError, match="unknown"):
        config.load_config("ntu61-xsub")


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = config.apply_overrides(config.load_config("h36m-t128"), ["data=some/path with \"q\""])
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml(cfg))
    assert config.load_config(path) == cfg


# -- exact resume ----------------------------------------------------------------------------

def test_resume_continues_exactly(runs):
    a = checkpoint.load(checkpoint.latest_path(runs["root"] / "a"))
    b = checkpoint.load(checkpoint.latest_path(runs["root"] / "b"))
    assert runs["half"].iteration == 10 and a["iteration"] == b["iteration"] == 20
    for part in ("generator", "critic", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs"
    for part in ("opt_g", "opt_d"):
        for pid, state in a[part]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b[part]["state"][pid][key]), f"{part} {pid} {key}"
    assert a["rank_digests"] == b["rank_digests"]

    def losses(run):  # everything but the wall-clock column
        with (runs["root"] / run / "log.csv").open() as fh:
            return [row[:-1] for row in csv.reader(fh)]

    assert losses("a") == losses("b")
    assert len(losses("a")) == 21


def test_run_directory_holds_config_log_checkpoints_and_samples(runs):
    from kinetic_gan.generate import load_npz

    run = runs["root"] / "a"
    assert config.load_config(run / "config.toml") == runs["cfg"]
    with (run / "log.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["iteration", "epoch", "d_loss", "g_loss", "gp", "w_dist", "seconds"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 21))
    # 12 samples / batch 4 = 3 batches per epoch; 2 batches per iteration.
    assert int(rows[-1][1]) == (20 * 2) // 3
    assert all(np.isfinite(float(v)) for r in rows[1:] for v in r[2:])
    kept = sorted(p.name for p in (run / "checkpoints").glob("iter_*.pt"))
    assert kept == ["iter_0000015.pt", "iter_0000020.pt"]  # keep_checkpoints = 2
    assert (run / "checkpoints" / "latest").read_text().strip() == "iter_0000020.pt"
    dump = load_npz(run / "samples" / "iter_0000020.npz")
    assert dump.joints.shape == (len(CLASSES) * 2, 32, 25, 3)
    assert list(dump.labels) == [0, 0, 1, 1, 2, 2] and dump.units == "m"
    assert np.isfinite(dump.joints).all()


def test_checkpoints_load_without_unpickling_code(runs):
    path = checkpoint.latest_path(runs["root"] / "a")
    state = torch.load(path, weights_only=True)
    assert state["format"] == checkpoint.FORMAT


def test_broken_checkpoint_is_named(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "iter_0000005.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(KineticGanError, match=r"iter_0000005\.pt: not a readable checkpoint"):
        checkpoint.load(checkpoint.latest_path(run))
    with pytest.raises(KineticGanError, match="no checkpoint found"):
        checkpoint.latest_path(tmp_path / "empty")


def test_batch_order_is_the_same_on_a_thread_in_workers_and_resident(tmp_path):
    from kinetic_gan.data import Augment, open_dataset
    from kinetic_gan.train.batches import BatchStream

    data = write_tiny_dataset(tmp_path / "data")
    augmented = open_dataset(data, frames=32, augment=Augment(seed=3))

    def take(dataset, workers: int, start: int, n: int) -> list:
        stream = iter(BatchStream(dataset, 4, seed=1, workers=workers, start=start))
        try:
            return [next(stream) for _ in range(n)]
        finally:
            stream.close()

    on_thread = take(augmented, 0, 0, 7)  # 3 batches per epoch: crosses two epochs
    in_workers = take(augmented, 2, 2, 5)  # a resumed stream, read by 2 processes
    for (x, y), (x2, y2) in zip(on_thread[2:], in_workers, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(on_thread[0][0], on_thread[3][0])  # epochs are reshuffled

    plain = open_dataset(data, frames=32)
    stream = BatchStream(plain, 4, seed=1)
    resident = take(plain, 0, 0, 4)
    everything = torch.from_numpy(plain.array())
    for (x, y), keys in zip(resident, stream.index_batches(), strict=False):
        idx = [i for _, i in keys]
        assert torch.equal(x, everything[idx]) and y.tolist() == plain.labels[idx].tolist()


# -- the command -----------------------------------------------------------------------------

def test_time_budget_checkpoints_and_resume_finishes(runs, tmp_path, capsys):
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(config.to_toml(config.replace(runs["cfg"], {"iterations": 3}, "t")))
    run = tmp_path / "run"
    base = ["train", "--config", str(cfg_path), "--data", str(runs["data"]), "--no-progress"]
    assert cli.main([*base, "--out", str(run), "--max-minutes", "1e-6"]) == 0
    assert "stopped at iteration 1" in capsys.readouterr().err
    assert checkpoint.latest_path(run).name == "iter_0000001.pt"

    # A new run may not overwrite it, and a resume may not change the model or the maths.
    assert cli.main([*base, "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(run), "--set", "lr=1e-3"]) == 2
    assert "cannot change lr" in capsys.readouterr().err

    assert cli.main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "trained 3 iterations" in capsys.readouterr().out
    assert checkpoint.load(checkpoint.latest_path(run))["iteration"] == 3


def test_sigterm_checkpoints_and_exits_cleanly(runs, tmp_path):
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(config.to_toml(config.replace(runs["cfg"], {"iterations": 10_000}, "t")))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "kinetic_gan.cli", "train", "--config",
                             str(cfg_path), "--out", str(run), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        log = run / "log.csv"
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out[-2000:]
    assert "stop requested" in out
    rows = len(log.read_text().splitlines()) - 1
    assert checkpoint.load(checkpoint.latest_path(run))["iteration"] == rows >= 1


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["train", "--config", "deepmimic15", "--data", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


def test_windows_shorter_than_the_run_are_named_not_tiled(tmp_path, capsys):
    data = write_tiny_dataset(tmp_path / "short", frames=32)
    code = cli.main(["train", "--config", "custom", "--data", str(data),
                     "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "32 frames" in err and "--set frames=32" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


# -- export ----------------------------------------------------------------------------------

def test_export_ships_the_ema_generator_with_card_and_mean_w(runs, tmp_path, capsys):
    from kinetic_gan.weights import load_generator

    out = tmp_path / "weights" / "tiny-mlp2"
    assert cli.main(["export", str(runs["root"] / "a"), "--out", str(out)]) == 0
    assert "EMA" in capsys.readouterr().out
    g = load_generator(out.with_suffix(".safetensors"))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["class_names"] == CLASSES and card["dataset"] == "tiny"
    assert card["frames"] == 32 and card["mapping_depth"] == 2 and card["licence"] == "CC0-1.0"
    assert card["truncation"]["samples_per_class"] == 500
    info = card["training"]
    assert info["iterations"] == 20 and info["exported"] == "ema"
    assert set(info["final_losses"]) == {"d_loss", "g_loss", "gp", "w_dist"}
    assert info["config"]["n_critic"] == 2
    assert info["dtype"] in ("float16", "float16+float32", "float32")
    assert info["fp16_max_abs_diff"] <= 2e-3 or info["dtype"] == "float32"
    assert bool(g.module.mean_w_ready) and g.module.mean_w.abs().sum() > 0

    # The shipped weights compute the run's EMA generator (the mapping network is rescaled
    # for float16, so compare outputs rather than tensors).
    from kinetic_gan.generate import sample_inputs
    from kinetic_gan.nn import Generator

    state = checkpoint.load(checkpoint.latest_path(runs["root"] / "a"))
    ema = Generator(len(CLASSES), "ntu", 32, mapping_depth=2, latent_dim=g.latent_dim)
    ema.load_state_dict(state["ema"])
    ema.eval()
    inputs = sample_inputs(g, list(range(len(CLASSES))), seed=0)
    with torch.no_grad():
        ref = ema(inputs.z, inputs.labels, noise=inputs.noise)
        out = g(inputs.z, inputs.labels, noise=inputs.noise)
    assert (out - ref).abs().max() <= 2e-3 + 1e-4


def test_training_state_warm_starts_a_run_and_the_card_counts_both(runs, tmp_path, capsys):
    """export --training-state → train --init: the new run starts from those models (float16
    rounding aside) with fresh optimisers, and its card reports the earlier training too."""
    source = runs["root"] / "a"
    state_file = tmp_path / "state.pt"
    assert cli.main(["export", str(source), "--training-state", str(state_file)]) == 0
    assert "train --init" in capsys.readouterr().out
    full = checkpoint.latest_path(source)
    assert state_file.stat().st_size < 0.6 * full.stat().st_size  # no optimiser state, fp16
    saved = checkpoint.load(full)
    compact = checkpoint.load_models(state_file)
    assert set(compact) >= {"generator", "critic", "ema"} and "opt_d" not in compact

    # Zero iterations would not train: one iteration with lr → 0 shows the loaded weights.
    cfg = config.replace(runs["cfg"], {"init": str(state_file), "iterations": 1, "lr": 1e-12,
                                       "ema_beta": 0.999999, "ema_rampup": None}, "test")
    train(cfg, tmp_path / "warm", progress=False)
    warm = checkpoint.load(checkpoint.latest_path(tmp_path / "warm"))
    for model in ("generator", "critic", "ema"):
        for name, tensor in saved[model].items():
            if tensor.is_floating_point() and "running" not in name:
                torch.testing.assert_close(warm[model][name], tensor, rtol=2e-3, atol=1e-4,
                                           msg=f"{model}.{name}")
    assert warm["init"] == {"source": "state.pt", "iterations": 20,
                            "seconds": round(saved["elapsed_seconds"], 1), "runs": 1}

    out = tmp_path / "w" / "warm"
    assert cli.main(["export", str(tmp_path / "warm"), "--out", str(out)]) == 0
    info = json.loads(out.with_suffix(".json").read_text())["training"]
    assert info["iterations"] == 1 and info["total_iterations"] == 21
    assert info["warm_start"]["source"] == "state.pt"


def test_init_from_a_different_model_is_named(runs, tmp_path, capsys):
    state_file = tmp_path / "state.pt"
    assert cli.main(["export", str(runs["root"] / "a"), "--training-state", str(state_file)]) == 0
    cfg = config.replace(runs["cfg"], {"init": str(state_file), "latent_dim": 32}, "test")
    with pytest.raises(KineticGanError, match=r"--init .*state\.pt: its generator does not fit"):
        train(cfg, tmp_path / "bad", progress=False)
    other = write_tiny_dataset(tmp_path / "other")
    meta = json.loads((other / "meta.json").read_text())
    meta["class_names"] = ["hop", "wave", "turn"]  # same count, other order
    (other / "meta.json").write_text(json.dumps(meta))
    cfg = config.replace(runs["cfg"], {"init": str(state_file), "data": str(other)}, "test")
    with pytest.raises(KineticGanError, match="the labels would not match"):
        train(cfg, tmp_path / "bad1", progress=False)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cfg = config.replace(runs["cfg"], {"init": str(tmp_path / "junk.pt")}, "test")
    with pytest.raises(KineticGanError, match=r"junk\.pt: not a readable checkpoint"):
        train(cfg, tmp_path / "bad2", progress=False)


def test_float16_split_keeps_out_of_range_tensors_float32(runs):
    from kinetic_gan.train import export
    from kinetic_gan.train.loop import build_models

    cfg = runs["cfg"]
    g, _ = build_models(cfg, len(CLASSES), "ntu")
    g.eval().compute_mean_w(samples_per_class=16)
    with torch.no_grad():
        g.mean_w.mul_(0).add_(1e6)  # like the published init's ~1e5 w: beyond float16
    half = export.float16_candidates(g)
    assert "mean_w" not in half and "mlp.mlp.0.weight" in half
    # Rounding an out-of-range tensor overflows to inf: that must read as "too lossy".
    assert export.fp16_max_abs_diff(g, half | {"mean_w"}) == float("inf")
    assert export.fp16_max_abs_diff(g, half) < float("inf")


def test_float16_choice_meets_the_tolerance(runs):
    from kinetic_gan.train import export
    from kinetic_gan.train.loop import build_models

    g, _ = build_models(runs["cfg"], len(CLASSES), "ntu")
    state = checkpoint.load(checkpoint.latest_path(runs["root"] / "a"))
    g.load_state_dict(state["ema"])
    g.eval().compute_mean_w(samples_per_class=16)
    everything = export.float16_candidates(g)
    full = export.fp16_max_abs_diff(g, everything)
    assert 0.0 < full < float("inf")
    half, diff = export.choose_float16(g, full / 2)
    assert half < everything and diff <= full / 2
    # With no tolerance only tensors that float16 represents exactly (e.g. zeros) may stay half.
    exact, zero = export.choose_float16(g, 0.0)
    assert zero == 0.0 and export.fp16_max_abs_diff(g, exact) == 0.0


def test_size_cap_wins_over_the_float16_tolerance_and_the_card_says_so(runs, tmp_path,
                                                                        monkeypatch, capsys):
    from kinetic_gan.train import export

    monkeypatch.setattr(export, "FP16_TOLERANCE", 0.0)  # float16 anywhere is "too lossy"
    free = export.export_run(runs["root"] / "a", tmp_path / "free", mean_w_samples=50)
    free_mib = free.weights.stat().st_size / 2**20
    cap = round(free_mib * 0.7, 3)  # well below the all-float32 size
    capped = export.export_run(runs["root"] / "a", tmp_path / "capped", mean_w_samples=50,
                               max_mib=cap)
    assert capped.weights.stat().st_size <= cap * 2**20
    assert capped.fp16_max_abs_diff > 0.0  # the cap forced lossy float16 tensors
    info = json.loads(capped.weights.with_suffix(".json").read_text())["training"]
    assert info["size_cap_mib"] == cap and info["fp16_max_abs_diff"] > 0.0
    assert "the card records it" in capsys.readouterr().err


def test_export_keeps_float32_when_float16_is_too_lossy(runs, tmp_path, monkeypatch):
    from kinetic_gan.train import export

    monkeypatch.setattr(export, "FP16_TOLERANCE", 0.0)
    report = export.export_run(runs["root"] / "a", tmp_path / "w", mean_w_samples=50)
    # Float32 everywhere, except tensors float16 holds exactly (the output cannot change).
    assert report.dtype in ("float32", "float16+float32") and report.fp16_max_abs_diff == 0.0


def test_bf16_on_the_cpu_trains_or_says_why_not(runs, tmp_path, capsys):
    from kinetic_gan.train.loop import cpu_has_bf16

    cfg = config.replace(runs["cfg"], {"amp": "bf16", "iterations": 2,
                                       "checkpoint_every": 2}, "test")
    summary = train(cfg, tmp_path / "bf16", progress=False)
    assert summary.iteration == 2 and all(np.isfinite(v) for v in summary.losses.values())
    if not cpu_has_bf16():
        assert "no bfloat16 instructions" in capsys.readouterr().err


def test_ema_rampup_caps_the_half_life_then_keeps_beta():
    from torch import nn

    from kinetic_gan.train.wgan_gp import EMA

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = EMA(model, 0.999, rampup=0.05)
    half_life = [math.log(0.5) / math.log(ema.beta_at(t)) for t in (20, 200, 2000)]
    assert half_life == pytest.approx([1.0, 10.0, 100.0])  # 5 % of the updates so far
    assert ema.beta_at(13_900) == ema.beta_at(10**6) == 0.999
    assert EMA(model, 0.999).beta_at(1) == 0.999  # no ramp-up: beta throughout

    before = [p.detach().clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.set_iteration(200)
    ema.update(model)
    beta = ema.beta_at(200)
    for old, new, target in zip(before, ema.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(new, beta * old + (1 - beta) * target)


# -- CUDA graphs ------------------------------------------------------------------------------
def test_cuda_graphs_are_used_only_on_a_single_cuda_device():
    from kinetic_gan.train.loop import use_cuda_graphs

    cfg = config.TrainConfig()
    assert use_cuda_graphs(cfg, torch.device("cuda"), 1)
    assert not use_cuda_graphs(cfg, torch.device("cpu"), 1)
    assert not use_cuda_graphs(cfg, torch.device("cuda"), 2)  # DDP's all-reduce stays eager
    assert not use_cuda_graphs(config.replace(cfg, {"compile": True}, "t"), torch.device("cuda"), 1)
    assert not use_cuda_graphs(config.replace(cfg, {"cuda_graphs": False}, "t"),
                               torch.device("cuda"), 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_captured_iteration_trains_like_the_eager_one(tmp_path):
    """Replays must keep training: weights move, losses stay finite and vary between replays
    (fresh latents each time), and the log shows the run went through the graph."""
    from kinetic_gan.nn import Critic, Generator
    from kinetic_gan.train.cuda_graph import GraphedStep
    from kinetic_gan.train.step import TrainStep
    from kinetic_gan.train.wgan_gp import EMA

    device = torch.device("cuda")
    torch.manual_seed(0)
    g = Generator(3, frames=32, mapping_depth=2, latent_dim=64).to(device).train()
    d = Critic(3, frames=32).to(device).train()
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True,
                                     capturable=True) for m in (g, d))
    ema = EMA(g, 0.9)
    step = TrainStep(g, g, d, opt_g, opt_d, ema, latent_dim=64, lambda_gp=10.0,
                     autocast=lambda: torch.autocast("cuda", torch.bfloat16, cache_enabled=False))
    run = GraphedStep(step, [g, d], warmup=2)
    reals = [torch.rand(4, 3, 32, 25, device=device) * 2 - 1 for _ in range(2)]
    labels = [torch.randint(0, 3, (4,), device=device) for _ in range(2)]
    losses = []
    for i in range(6):
        before = [p.detach().clone() for p in g.parameters()]
        critic_means, generator_losses = run(reals, labels)
        losses.append(torch.cat((critic_means, generator_losses)).tolist())
        moved = sum(not torch.equal(a, b) for a, b in zip(before, g.parameters(), strict=True))
        assert moved > 0, f"iteration {i}: the generator did not change"
    assert run.captured
    assert np.isfinite(losses).all()
    assert len({tuple(row) for row in losses[3:]}) == 3  # replays draw new latents
    assert not torch.equal(next(ema.model.parameters()), next(g.parameters()))
