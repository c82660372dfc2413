"""The model card: ``NAME.json`` beside ``NAME.safetensors``, what a consumer needs to use it.

Its fields, their validation (a card comes from a file anyone may have edited, so every
field is checked before the network is built from it), and the file naming that pairs a
card with its tensors.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinetic_gan.atomic import atomic_write
from kinetic_gan.errors import KineticGanError
from kinetic_gan.nn.generator import FRAMES, LATENT_DIM
from kinetic_gan.nn.output_head import Architecture
from kinetic_gan.records.takes import NORMALIZED_UNITS
from kinetic_gan.skeletons import get_skeleton

FORMAT = "kinetic-gan/1"


@dataclass
class ModelCard:
    """Everything a consumer needs to use a generator's output (JSON beside the weights)."""

    name: str
    dataset: str
    skeleton: str
    class_names: list[str]
    frames: int = 64
    fps: int = 30
    mapping_depth: int = 4
    latent_dim: int = LATENT_DIM
    normalization: dict[str, float] | None = None  # {"min", "max"} of the training data
    # Our generator options (nn/output_head.Architecture); absent = the published network.
    architecture: dict[str, Any] = field(default_factory=dict)
    truncation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = "unknown"
    source: str = ""
    kind: str = "generator"
    format: str = FORMAT

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return get_skeleton(self.skeleton).channels

    @property
    def joint_names(self) -> list[str]:
        return list(get_skeleton(self.skeleton).joint_names)

    @property
    def parents(self) -> list[int]:
        return list(get_skeleton(self.skeleton).parents)

    @property
    def units(self) -> str:
        return "m" if self.normalization else NORMALIZED_UNITS

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # Derived, but written out so that non-Python consumers need no skeleton tables.
        data.update(
            n_classes=self.n_classes,
            channels=self.channels,
            joint_names=self.joint_names,
            parents=self.parents,
            units=self.units,
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path | str = "model card") -> ModelCard:
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("name", "dataset", "skeleton", "class_names") if k not in data]
        if missing:
            raise KineticGanError(f"{source}: model card lacks {', '.join(missing)}")
        if data.get("format", FORMAT) != FORMAT:
            raise KineticGanError(f"{source}: unsupported format {data.get('format')!r:.80}")
        problem = card_problem(data)
        if problem:
            raise KineticGanError(f"{source}: bad model card: {problem}")
        card = cls(**{k: v for k, v in data.items() if k in known})
        get_skeleton(card.skeleton)  # validates the name
        Architecture.from_dict(card.architecture or None, str(source))
        if card.frames not in FRAMES:
            raise KineticGanError(f"{source}: frames must be one of {FRAMES}, not {card.frames}")
        return card


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def card_problem(data: dict[str, Any]) -> str | None:
    """The first field of a model card's JSON with a wrong type or value, or None."""
    return (_text_problem(data) or _shape_problem(data) or _normalization_problem(data)
            or _objects_problem(data))


def _text_problem(data: dict[str, Any]) -> str | None:
    for key in ("name", "dataset", "skeleton", "licence", "source", "kind", "format"):
        if key in data and not isinstance(data[key], str):
            return f"{key} must be a string, not {type(data[key]).__name__}"
    if not data["name"].strip():
        return "name is empty"
    names = data["class_names"]
    if not isinstance(names, list) or not names:
        return f"class_names must be a non-empty list of names, not {type(names).__name__}"
    if not all(isinstance(n, str) and n.strip() for n in names):
        return "class_names must all be non-empty strings"
    if len(set(names)) != len(names):
        return "class_names holds the same name twice"
    if data.get("kind", "generator") not in ("generator", "critic"):
        return f"kind must be generator or critic, not {data['kind']!r:.40}"
    return None


def _shape_problem(data: dict[str, Any]) -> str | None:
    if "frames" in data and (not _is_int(data["frames"]) or data["frames"] not in FRAMES):
        return f"frames must be one of {FRAMES}, not {data['frames']!r:.40}"
    # The published depths are 4, 6 and 8; models we train may use any depth.
    depth = data.get("mapping_depth", 4)
    if not _is_int(depth) or not 1 <= depth <= 64:
        return f"mapping_depth must be an integer in 1..64, not {depth!r:.40}"
    if "latent_dim" in data and (not _is_int(data["latent_dim"]) or data["latent_dim"] < 1):
        return f"latent_dim must be a positive integer, not {data['latent_dim']!r:.40}"
    fps = data.get("fps", 30)
    if not _is_number(fps) or not 1 <= fps <= 1000:
        return f"fps must be a number in 1..1000, not {fps!r:.40}"
    return None


def _normalization_problem(data: dict[str, Any]) -> str | None:
    norm = data.get("normalization")
    if norm is None:
        return None
    if not isinstance(norm, dict) or not all(_is_number(norm.get(k)) for k in ("min", "max")):
        return "normalization must be null or {\"min\": number, \"max\": number}"
    if not norm["max"] > norm["min"]:
        return f"normalization max {norm['max']} is not above min {norm['min']}"
    return None


def _objects_problem(data: dict[str, Any]) -> str | None:
    for key in ("truncation", "training", "metrics"):
        if key in data and not isinstance(data[key], dict):
            return f"{key} must be an object, not {type(data[key]).__name__}"
    return None


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def weights_path(stem: str | Path) -> Path:
    """``weights/NAME``, ``weights/NAME.json`` or ``weights/NAME.safetensors`` → the tensors."""
    p = Path(stem)
    return p if p.suffix == ".safetensors" else p.with_suffix(".safetensors")


def available_weights(folder: str | Path) -> list[str]:
    """The ``NAME.safetensors`` files in ``folder`` that have a model card beside them."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(str(p) for p in root.glob("*.safetensors") if card_path(p).is_file())


def _kind(weights: str) -> str:
    try:
        card = json.loads(card_path(weights).read_text())
        if card.get("format") != FORMAT:  # a recogniser's card, say
            return str(card.get("format", "unknown format")).split("/")[0]
        return str(card.get("kind", "generator"))
    except (OSError, ValueError, AttributeError):
        return "unreadable card"


def _not_found(given: str | Path) -> KineticGanError:
    """The error for a missing weights file: it lists the models in the same folder."""
    folder = Path(given).parent
    found = [f"{w} ({_kind(w)})" for w in available_weights(folder)]
    listing = (
        f"weights in {folder}/: {', '.join(found)}" if found else f"no weights in {folder}/"
    )
    return KineticGanError(f"{given}: weights file not found ({listing})")


def read_card(weights: str | Path) -> ModelCard:
    path = card_path(weights_path(weights))
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if not weights_path(weights).exists():
            raise _not_found(weights) from None  # name what was given, not the card
        raise KineticGanError(
            f"{path}: model card not found (expected beside the weights)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KineticGanError(f"{path}: model card is not valid JSON ({exc})") from None
    except RecursionError:
        raise KineticGanError(f"{path}: model card is nested too deeply to be one") from None
    if not isinstance(data, dict):
        raise KineticGanError(f"{path}: model card must be a JSON object")
    try:
        return ModelCard.from_json(data, path)
    except TypeError as exc:
        raise KineticGanError(f"{path}: malformed model card ({exc})") from None


def write_card(path: str | Path, card: ModelCard) -> None:
    with atomic_write(card_path(weights_path(path)), "w") as fh:
        json.dump(card.to_json(), fh, indent=2)
        fh.write("\n")
