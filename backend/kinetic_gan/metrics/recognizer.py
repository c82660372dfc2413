"""An ST-GCN action recogniser (Yan et al., AAAI 2018) and its weights file.

It exists to *measure* generators: its penultimate features feed FID, diversity and
multimodality, its predictions the recognition accuracy. The graph is the level-0
spatial partition of the skeleton (``kinetic_gan.skeletons``), the same graph the
generator grows to, so both see a motion the same way.

Weights are stored like generator weights: ``STEM.safetensors`` + ``STEM.json`` (a card
with the dataset, classes, normalization and the test-split accuracy).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.skeletons import get_skeleton

CARD_FORMAT = "kinetic-gan-recognizer/1"
DEFAULT_CHANNELS = (64, 64, 128, 128, 256)
DEFAULT_STRIDES = (1, 1, 2, 1, 2)
TEMPORAL_KERNEL = 9


class STGCNBlock(nn.Module):
    """Spatial graph conv over K adjacency partitions, then a temporal conv; residual."""

    def __init__(
        self, in_ch: int, out_ch: int, A: torch.Tensor, stride: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        k, v, _ = A.shape
        self.register_buffer("A", A.clone())
        # Learnable edge weights let the recogniser stress the joints that tell actions apart.
        self.edge_importance = nn.Parameter(torch.ones(k, v, v))
        self.gcn = nn.Conv2d(in_ch, out_ch * k, kernel_size=1)
        pad = (TEMPORAL_KERNEL - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, (TEMPORAL_KERNEL, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_ch),
            nn.Dropout(dropout),
        )
        if in_ch == out_ch and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=(stride, 1)), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        k = self.A.shape[0]
        y = self.gcn(x).view(n, k, -1, t, v)
        y = torch.einsum("nkctv,kvw->nctw", y, self.A * self.edge_importance)
        return torch.relu(self.tcn(y) + self.residual(x))


class Recognizer(nn.Module):
    """(N, C, T, V) normalized motions → class logits; ``features`` gives the pooled embedding."""

    def __init__(
        self,
        n_classes: int,
        skeleton: str = "ntu",
        channels: tuple[int, ...] = DEFAULT_CHANNELS,
        strides: tuple[int, ...] = DEFAULT_STRIDES,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise KineticGanError(
                "recogniser: channels and strides must be non-empty and equally long"
            )
        sk = get_skeleton(skeleton)
        A = torch.from_numpy(sk.pyramid.levels[0].A).float()
        self.skeleton, self.n_classes = sk.name, n_classes
        self.in_channels, self.num_joints = sk.channels, sk.num_joints
        self.data_bn = nn.BatchNorm1d(sk.channels * sk.num_joints)
        blocks, previous = [], sk.channels
        for width, stride in zip(channels, strides, strict=True):
            blocks.append(
                STGCNBlock(previous, width, A, stride, dropout if previous != sk.channels else 0.0)
            )
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(previous, n_classes)
        self.feature_dim = previous

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        if (c, v) != (self.in_channels, self.num_joints):
            raise KineticGanError(
                f"recogniser for {self.skeleton} expects (N, {self.in_channels}, T, "
                f"{self.num_joints}), got {tuple(x.shape)}"
            )
        # Normalize each (joint, channel) over the batch and time, as ST-GCN does.
        x = self.data_bn(x.permute(0, 3, 1, 2).reshape(n, v * c, t))
        x = x.view(n, v, c, t).permute(0, 2, 3, 1)
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.fc(f)


@dataclass
class RecognizerCard:
    name: str
    dataset: str
    skeleton: str
    class_names: list[str]
    frames: int
    channels: list[int] = field(default_factory=lambda: list(DEFAULT_CHANNELS))
    strides: list[int] = field(default_factory=lambda: list(DEFAULT_STRIDES))
    normalization: dict[str, float] | None = None
    test_accuracy: float | None = None
    training: dict[str, object] = field(default_factory=dict)
    format: str = CARD_FORMAT


def save_recognizer(stem: str | Path, model: Recognizer, card: RecognizerCard) -> tuple[Path, Path]:
    """Write STEM.safetensors + STEM.json atomically; returns both paths."""
    stem = Path(stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    weights, card_path = (
        stem.with_name(stem.name + ".safetensors"),
        stem.with_name(stem.name + ".json"),
    )
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return write_weights(weights, card_path, tensors, CARD_FORMAT, asdict(card))


def write_weights(weights: Path, card_path: Path, tensors: dict, card_format: str,
                  card: dict) -> tuple[Path, Path]:
    """A recogniser's tensors and its JSON card, each written atomically (every recogniser
    family saves through this)."""
    from safetensors.torch import save_file

    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": card_format})
    with atomic_write(card_path, "w") as handle:
        json.dump(card, handle, indent=2)
        handle.write("\n")
    return weights, card_path


def load_recognizer(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Recognizer, RecognizerCard]:
    """Load ``STEM`` / ``STEM.safetensors`` (+ its ``STEM.json``) into an eval-mode recogniser."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    weights, card_path = (
        stem.with_name(stem.name + ".safetensors"),
        stem.with_name(stem.name + ".json"),
    )
    for p in (weights, card_path):
        if not p.is_file():
            raise KineticGanError(
                f"{p}: recogniser file not found (train one with kinetic-gan train-recognizer)"
            )
    try:
        raw = json.loads(card_path.read_text())
        if raw.get("format") != CARD_FORMAT:
            raise KineticGanError(
                f"{card_path}: not a recogniser card (format {raw.get('format')!r})"
            )
        card = RecognizerCard(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise KineticGanError(f"{card_path}: malformed recogniser card ({exc})") from None
    model = Recognizer(
        len(card.class_names), card.skeleton, tuple(card.channels), tuple(card.strides)
    )
    try:
        state = load_file(str(weights))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as exc:
        first = first_line(exc)
        raise KineticGanError(f"{weights}: cannot load recogniser weights ({first})") from None
    return model.eval().to(device), card
