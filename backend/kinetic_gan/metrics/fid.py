"""Fréchet distance and the standard FID InceptionV3 (pool3, 2048-d).

The network mirrors, layer for layer and name for name, the Inception graph that
the FID reference implementation (TTUR, 2017) froze as ``pt_inception-2015-12-05``;
its PyTorch export is a plain state dict, so a file a user already has loads with
``torch.load(weights_only=True)`` and nothing is ever downloaded.

Two details differ from the ImageNet classifier and decide the numbers: average
pools in the mixed blocks exclude padding from the mean, and the last block's pool
branch takes a max instead of an average (a quirk of the frozen TF graph).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from kinetic_gan.errors import KineticGanError

FEATURE_DIM = 2048
INPUT_SIZE = 299
FID_CLASSES = 1008  # the frozen graph's classifier size; unused for features, kept for loading


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^½) between N(mu1, S1) and N(mu2, S2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = (
        np.atleast_2d(sigma1).astype(np.float64),
        np.atleast_2d(sigma2).astype(np.float64),
    )
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise KineticGanError(
            f"Fréchet distance: statistics differ in size ({mu1.shape} vs {mu2.shape})"
        )
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # A singular product (fewer samples than dimensions) has no finite root; a tiny
        # ridge on both covariances makes it well defined, as the reference code does.
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Round-off leaves a small imaginary part; a large one means the input is broken.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise KineticGanError(
                f"Fréchet distance: covariance root is complex (|imag| up to "
                f"{np.max(np.abs(covmean.imag)):.3g}); the features are degenerate"
            )
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of (N, D) features (N ≥ 2)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise KineticGanError(
            f"FID needs at least 2 feature vectors of shape (N, D), got {features.shape}"
        )
    return features.mean(axis=0), np.cov(features, rowvar=False)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, D); exact, and fast when a set is smaller than D."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 2 and b.ndim == 2 and min(len(a), len(b)) < a.shape[1]:
        return low_rank_fid(a, b)
    return frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))


def low_rank_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance computed from the samples instead of the D×D covariances.

    With centred samples Xa (n×D), Xb (m×D): S_a S_b = Xaᵀ Xa Xbᵀ Xb / c, whose non-zero
    eigenvalues are the squared singular values of M = Xa Xbᵀ / sqrt(c). So
    Tr (S_a S_b)^½ is the nuclear norm of M: an n×m SVD instead of a D×D matrix root,
    and no ridge is needed for the rank-deficient covariances of small sets.
    """
    if a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise KineticGanError(f"FID: feature sets {a.shape} and {b.shape} cannot be compared")
    xa, xb = a - a.mean(axis=0), b - b.mean(axis=0)
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    tr_cov_mean = np.linalg.svd(xa @ xb.T / scale, compute_uv=False).sum()
    diff = a.mean(axis=0) - b.mean(axis=0)
    tr_a = (xa * xa).sum() / (len(a) - 1)
    tr_b = (xb * xb).sum() / (len(b) - 1)
    return float(max(diff @ diff + tr_a + tr_b - 2.0 * tr_cov_mean, 0.0))


class BasicConv2d(nn.Module):
    """Conv (no bias) → batch norm (eps 1e-3, as the frozen graph) → ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_ch: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_ch, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_ch, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_ch, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 → 17."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_ch, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """Factorised 7×7 convolutions at 17×17."""

    def __init__(self, in_ch: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_ch, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_ch, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_ch, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_ch, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            bd = layer(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 → 8."""

    def __init__(self, in_ch: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_ch, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_ch, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """Expanded filter bank at 8×8; ``max_pool`` selects the frozen graph's last-block quirk."""

    def __init__(self, in_ch: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_ch, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_ch, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_ch, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_3x3(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FidInceptionV3(nn.Module):
    """InceptionV3 up to pool3; ``forward`` returns (N, 2048) features.

    Input: (N, 3, H, W) images with values where the reference implementation expects
    them (``[0, 1]``); they are resized to 299×299 (bilinear) and mapped to ``2x - 1``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        # Part of the weights file, so it is part of the module; features stop before it.
        self.fc = nn.Linear(FEATURE_DIM, FID_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(
            images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
        )
        x = 2.0 * x - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
            self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def _comparable_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Size]:
    # Batch-norm step counters appear in some exports and not in others; they carry no weights.
    return {k: v.shape for k, v in state.items() if not k.endswith("num_batches_tracked")}


def load_fid_inception(
    path: str | Path | None, device: str | torch.device = "cpu"
) -> FidInceptionV3:
    """The FID network with the weights in ``path`` (the standard ``pt_inception-2015-12-05``)."""
    if path is None:
        raise KineticGanError(
            "FID needs the standard Inception weights (pt_inception-2015-12-05-6726825d.pth): "
            "pass --inception-weights FILE; they cannot be downloaded here"
        )
    path = Path(path)
    if not path.is_file():
        raise KineticGanError(f"{path}: Inception weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; the user needs one line
        raise KineticGanError(f"{path}: not a readable PyTorch weights file ({exc})") from None
    if not isinstance(state, dict):
        raise KineticGanError(f"{path}: expected a state dict, found {type(state).__name__}")
    model = FidInceptionV3()
    expected, found = _comparable_keys(model.state_dict()), _comparable_keys(state)
    missing = sorted(set(expected) - set(found))
    # The ImageNet export also carries the auxiliary classifier, which pool3 never uses.
    extra = sorted(k for k in set(found) - set(expected) if not k.startswith("AuxLogits."))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or extra or wrong:
        detail = (missing and f"missing {missing[0]}") or (extra and f"unexpected {extra[0]}")
        if not detail:
            key = wrong[0]
            detail = f"{key} has shape {tuple(found[key])}, expected {tuple(expected[key])}"
        raise KineticGanError(f"{path}: not the FID Inception weights ({detail})")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    return model.eval().to(device)


@torch.inference_mode()
def inception_features(
    model: nn.Module, images: np.ndarray, batch_size: int = 50, device: str | torch.device = "cpu"
) -> np.ndarray:
    """(N, 3, H, W) float images → (N, 2048) float64 pool3 features."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise KineticGanError(f"Inception input must be (N, 3, H, W), got {images.shape}")
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        chunks.append(model(batch.to(device=device, dtype=torch.float32)).double().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM))


def motion_as_images(x: np.ndarray) -> np.ndarray:
    """Published protocol: a normalized motion (C, T, V) *is* an image (channels, frames, joints).

    The published script feeds its [-1, 1] tensors to the reference network unchanged
    (which expects [0, 1]), so we do too — this keeps FIDs comparable with the paper.
    A 2-D skeleton gets a zero third channel so it can pass through an RGB network.
    """
    if x.ndim != 4 or x.shape[1] not in (2, 3):
        raise KineticGanError(f"motions must be (N, C, T, V) with C = 2 or 3, got {x.shape}")
    if x.shape[1] == 2:
        x = np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)
