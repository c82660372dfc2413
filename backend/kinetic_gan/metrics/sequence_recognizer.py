"""An independent action recogniser: a bidirectional GRU over per-frame body features.

It is of another family than the ST-GCN recognisers (no graph, no temporal convolution),
reads other inputs (``body_features``: facing-aligned, root-relative joints in metres, root
height, root velocity; never the model's normalized units), and is trained with its own
seed and augmentations. It is never used to train or select a generator: it only checks
what the ST-GCN accuracy says.

Weights: ``STEM.safetensors`` + ``STEM.json`` (format ``kinetic-gan-sequence-recognizer/1``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kinetic_gan.data.augment import Augment, apply
from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.metrics import body_features
from kinetic_gan.metrics.recognizer import write_weights

CARD_FORMAT = "kinetic-gan-sequence-recognizer/1"
FRAME_STEP = 2  # every other frame: 32 steps for a 64-frame window
VELOCITY_SCALE = 0.1  # m/s → metres covered in 0.1 s, the size of a pose difference
INPUT_DIMS = body_features.REL_DIMS + 1 + 3
# Its own augmentations (the trainer's are a 45° yaw, mirror, 0.8–1.25× warp, no jitter).
AUGMENT = dict(yaw_deg=180.0, mirror_p=0.5, time_warp=(0.75, 1.33), bone_jitter=0.08)
POSITION_NOISE_M = 0.01


def sequence_inputs(joints: np.ndarray, fps: float) -> np.ndarray:
    """(N, T', INPUT_DIMS) float32 from ``(N, T, 25, 3)`` joints in metres."""
    groups = body_features.frame_features(joints, fps)
    x = np.concatenate(
        [groups["pose"], groups["height"], groups["velocity"] * VELOCITY_SCALE], axis=-1
    )
    return np.ascontiguousarray(x[:, ::FRAME_STEP], dtype=np.float32)


class SequenceRecognizer(nn.Module):
    """Per-frame MLP, a 2-layer bidirectional GRU, mean and max over time, a linear head."""

    def __init__(self, n_classes: int, hidden: int = 96, layers: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(INPUT_DIMS, hidden), nn.GELU())
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.embed(x))
        return self.head(torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=-1))


@dataclass
class SequenceRecognizerCard:
    name: str
    dataset: str
    class_names: list[str]
    frames: int
    fps: float
    family: str = "gru"
    hidden: int = 96
    layers: int = 2
    inputs: str = ("facing-aligned root-relative joints (m), root height (m), root velocity "
                   f"(m/s x {VELOCITY_SCALE}), every {FRAME_STEP}nd frame")
    test_accuracy: float | None = None
    training: dict[str, object] = field(default_factory=dict)
    format: str = CARD_FORMAT


def _stems(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save(stem: str | Path, model: SequenceRecognizer, card: SequenceRecognizerCard):
    weights, card_path = _stems(stem)
    # float16 keeps the file small; the recogniser computes in float32.
    tensors = {k: v.detach().cpu().half().contiguous() for k, v in model.state_dict().items()}
    return write_weights(weights, card_path, tensors, CARD_FORMAT, asdict(card))


def load(path: str | Path) -> tuple[SequenceRecognizer, SequenceRecognizerCard]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, card_path = _stems(path)
    for p in (weights, card_path):
        if not p.is_file():
            raise KineticGanError(f"{p}: sequence recogniser file not found (train one with "
                                  "kinetic-gan train-recognizer --family gru)")
    try:
        raw = json.loads(card_path.read_text())
        if raw.get("format") != CARD_FORMAT:
            raise KineticGanError(f"{card_path}: not a sequence recogniser card "
                                  f"(format {raw.get('format')!r})")
        card = SequenceRecognizerCard(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise KineticGanError(f"{card_path}: malformed sequence recogniser card ({exc})") from None
    model = SequenceRecognizer(len(card.class_names), card.hidden, card.layers)
    try:
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise KineticGanError(f"{weights}: cannot load ({first_line(exc)})") from None
    return model.eval(), card


@torch.inference_mode()
def predict(model: SequenceRecognizer, joints: np.ndarray, fps: float,
            batch_size: int = 256) -> np.ndarray:
    """(N,) predicted class of each take (joints in metres)."""
    x = sequence_inputs(joints, fps)
    out = [model(torch.from_numpy(x[s : s + batch_size])).argmax(-1).numpy()
           for s in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def augmented(joints: np.ndarray, rng: np.random.Generator, augment: Augment) -> np.ndarray:
    takes = [apply(j, augment, rng) for j in joints]
    out = np.stack(takes)
    return out + rng.normal(0.0, POSITION_NOISE_M, out.shape)


def fit(model: SequenceRecognizer, joints: np.ndarray, labels: np.ndarray, fps: float,
        epochs: int, batch_size: int, lr: float, seed: int, log=print) -> None:
    """Train in place (AdamW, cosine schedule) on freshly augmented takes every batch."""
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    augment = Augment(seed=seed, **AUGMENT)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    steps = max(1, epochs * max(1, n // batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for epoch in range(epochs):
        model.train()
        order, losses = rng.permutation(n), []
        for start in range(0, max(1, n - batch_size + 1), batch_size):
            idx = order[start : start + batch_size]
            x = sequence_inputs(augmented(joints[idx], rng, augment), fps)
            loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(labels[idx]))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        if (epoch + 1) % max(1, epochs // 10) == 0:
            log(f"epoch {epoch + 1}/{epochs}  loss {np.mean(losses):.4f}")
    model.eval()
