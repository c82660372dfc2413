"""One rule for every ``--device`` / ``device=``: auto, explicit devices, clear errors."""

from __future__ import annotations

import pytest
import torch

from kinetic_gan.cli import main
from kinetic_gan.devices import resolve_device
from kinetic_gan.errors import KineticGanError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_is_the_cpu_without_a_gpu_and_never_mps(no_gpu, monkeypatch):
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_and_bare_cuda_are_the_local_ranks_gpu(two_gpus):
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)


def test_named_devices_must_exist_here(two_gpus, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(KineticGanError, match="'cuda:2': there is no CUDA device 2 here"):
        resolve_device("cuda:2")
    with pytest.raises(KineticGanError, match="'mps': MPS is not available here"):
        resolve_device("mps")


def test_cuda_without_a_gpu_and_unknown_names_are_one_line(no_gpu):
    with pytest.raises(KineticGanError, match="'cuda': no CUDA device is available here"):
        resolve_device("cuda")
    with pytest.raises(KineticGanError, match="'gpu': expected auto, cpu, cuda, cuda:N or mps"):
        resolve_device("gpu")
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_serve_refuses_a_missing_gpu_before_loading_anything(no_gpu, tmp_path, capsys):
    missing = tmp_path / "never-read.safetensors"
    assert main(["serve", "--weights", str(missing), "--device", "cuda"]) == 2
    assert "no CUDA device is available here" in capsys.readouterr().err
