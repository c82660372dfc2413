"""Which torch device a ``--device`` choice (or an API's ``device=``) means: one rule for all.

``auto`` (or ``None``) is the local rank's CUDA GPU when there is one, else the CPU. It never
picks Apple's MPS: nothing here is tested on it, so it is used only when named
(``--device mps``). A device named explicitly must exist here, so a missing GPU is one clear
line at start-up rather than a torch traceback at the first tensor moved. ``cuda`` without an
index is the local rank's GPU (``cuda:0`` outside torchrun).
"""

from __future__ import annotations

import torch

from kinetic_gan.errors import KineticGanError

AUTO = "auto"


def resolve_device(choice: str | torch.device | None = AUTO, local_rank: int = 0) -> torch.device:
    if choice is None or str(choice) == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError, ValueError):
        raise KineticGanError(
            f"device {choice!r:.40}: expected auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        return _cuda(device, choice, local_rank)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise KineticGanError(f"device {str(choice)!r}: MPS is not available here")
    return device


def _cuda(device: torch.device, choice: str | torch.device, local_rank: int) -> torch.device:
    if not torch.cuda.is_available():
        raise KineticGanError(f"device {str(choice)!r}: no CUDA device is available here")
    index = local_rank if device.index is None else device.index
    count = torch.cuda.device_count()
    if index >= count:
        raise KineticGanError(
            f"device {str(choice)!r}: there is no CUDA device {index} here ({count} found)"
        )
    return torch.device("cuda", index)
