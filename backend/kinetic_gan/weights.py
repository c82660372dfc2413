"""Weights on disk: ``NAME.safetensors`` (tensors) + ``NAME.json`` (the model card).

Also converts the published Kinetic-GAN checkpoints (a ``state_dict`` saved with
``torch.save``) into this format. Loading never unpickles arbitrary objects:
safetensors holds only tensors and ``.pth`` files load with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError, first_line
from kinetic_gan.nn import Critic, Generator
from kinetic_gan.nn.fast import attach_fast_generator
from kinetic_gan.nn.generator import FRAMES, LATENT_DIM, MAPPING_DEPTHS
from kinetic_gan.nn.output_head import Architecture
from kinetic_gan.skeletons import get_skeleton

FORMAT = "kinetic-gan/1"
PUBLISHED_SOURCE = "Degardin et al., Kinetic-GAN (WACV 2022), published checkpoint"


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
        return "m" if self.normalization else "normalised"

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
    norm = data.get("normalization")
    if norm is not None:
        if not isinstance(norm, dict) or not all(
            _is_number(norm.get(k)) for k in ("min", "max")
        ):
            return "normalization must be null or {\"min\": number, \"max\": number}"
        if not norm["max"] > norm["min"]:
            return f"normalization max {norm['max']} is not above min {norm['min']}"
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


# -- generator ----------------------------------------------------------------------------


def build_generator(card: ModelCard) -> Generator:
    return Generator(
        n_classes=card.n_classes,
        skeleton=card.skeleton,
        frames=card.frames,
        mapping_depth=card.mapping_depth,
        latent_dim=card.latent_dim,
        architecture=Architecture.from_dict(card.architecture or None, card.name),
    )


def save_generator(
    path: str | Path,
    generator: Generator,
    card: ModelCard,
    dtype: torch.dtype = torch.float32,
    half: set[str] | None = None,
) -> Path:
    """Write ``PATH.safetensors`` + ``PATH.json`` atomically; returns the tensors' path.

    Floating tensors are stored as ``dtype``, except those named in ``half``, stored as
    float16 (the loader casts every tensor back to the model's float32).
    """
    if not bool(generator.mean_w_ready):
        raise KineticGanError("the generator has no cached mean w: call compute_mean_w() first")
    half = half or set()

    def stored(name: str, value: torch.Tensor) -> torch.Tensor:
        if not value.is_floating_point():
            return value
        return value.to(torch.float16 if name in half else dtype)

    tensors = {
        k: stored(k, v).detach().cpu().contiguous() for k, v in generator.state_dict().items()
    }
    target = weights_path(path)
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "kind": "generator"})
    write_card(target, card)
    return target


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise KineticGanError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise KineticGanError(f"{path}: not a readable safetensors file ({exc})") from None


def _load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        raise KineticGanError(f"{path}: weights do not match the model card: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise KineticGanError(
                f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, the model card "
                f"implies {tuple(value.shape)} (wrong skeleton, classes or mapping depth?)"
            )
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def load_generator(path: str | Path, device: str | torch.device | None = "cpu") -> Generator:
    """Load ``NAME.safetensors`` + ``NAME.json``: the generator in eval mode, with ``.card``."""
    target = weights_path(path)
    card = read_card(target)
    if card.kind != "generator":
        raise KineticGanError(f"{target}: holds a {card.kind}, not a generator")
    generator = build_generator(card)
    _load_into(generator, _load_tensors(target), target)
    generator.card = card
    generator = generator.to(resolve_device(device)).eval()
    attach_fast_generator(generator)
    return generator


# -- critic -------------------------------------------------------------------------------


def save_critic(path: str | Path, critic: Critic, card: ModelCard) -> Path:
    target = weights_path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in critic.state_dict().items()}
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "kind": "critic"})
    write_card(target, dataclasses.replace(card, kind="critic"))
    return target


def load_critic(path: str | Path, device: str | torch.device | None = "cpu") -> Critic:
    target = weights_path(path)
    card = read_card(target)
    if card.kind != "critic":
        raise KineticGanError(f"{target}: holds a {card.kind}, not a critic")
    critic = Critic(card.n_classes, card.skeleton, card.frames)
    _load_into(critic, _load_tensors(target), target)
    critic.card = card
    return critic.to(resolve_device(device)).eval()


# -- published checkpoints ---------------------------------------------------------------

_DATASETS = {
    # name: (skeleton, classes, class-table name)
    "ntu": ("ntu", 60, "ntu"),
    "ntu120": ("ntu", 120, "ntu120"),
    "ntu2d": ("ntu2d", 60, "ntu2d"),
    "h36m": ("h36m", None, "h36m"),
}


@dataclass(frozen=True)
class PublishedLayout:
    kind: str  # "generator" | "critic"
    skeleton: str
    n_classes: int
    mapping_depth: int | None


def inspect_published(state: dict[str, torch.Tensor], source: str) -> PublishedLayout:
    """Infer what a published state_dict holds from its tensor shapes."""
    if "label_emb.weight" not in state:
        raise KineticGanError(f"{source}: not a Kinetic-GAN checkpoint (no label_emb.weight)")
    n_classes = int(state["label_emb.weight"].shape[0])
    if "mlp.mlp.0.weight" in state:
        depth = len([k for k in state if re.fullmatch(r"mlp\.mlp\.\d+\.weight", k)])
        joints = int(state["edge_importance.6"].shape[-1])
        channels = int(state["st_gcn_networks.6.tcn.0.weight"].shape[0])
        kind = "generator"
    elif "fcn.weight" in state:
        depth = None
        joints = int(state["edge_importance.0"].shape[-1])
        channels = int(state["st_gcn_networks.0.gcn.conv.weight"].shape[1]) - n_classes
        kind = "critic"
    else:
        raise KineticGanError(f"{source}: neither a generator nor a critic state_dict")
    skeleton = {(25, 3): "ntu", (25, 2): "ntu2d", (16, 3): "h36m"}.get((joints, channels))
    if skeleton is None:
        raise KineticGanError(f"{source}: unknown skeleton ({joints} joints, {channels} channels)")
    if depth is not None and depth not in MAPPING_DEPTHS:
        raise KineticGanError(f"{source}: mapping depth {depth} not in {MAPPING_DEPTHS}")
    return PublishedLayout(kind, skeleton, n_classes, depth)


def load_published(path: str | Path) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.exists():
        raise KineticGanError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/unsafe files
        # torch's own text runs to several lines and suggests weights_only=False, which
        # would unpickle arbitrary code: quote its first line only.
        raise KineticGanError(
            f"{p}: cannot load checkpoint ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise KineticGanError(f"{p}: expected a state_dict of tensors")
    # Checkpoints saved from nn.DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_published(
    src: str | Path,
    out: str | Path,
    *,
    frames: int = 64,
    dataset: str | None = None,
    normalization: dict[str, float] | None = None,
    class_names: list[str] | None = None,
    samples_per_class: int = 10_000,
    name: str | None = None,
) -> Path:
    """Convert a published generator (or critic) checkpoint to ``OUT.safetensors`` + card."""
    state = load_published(src)
    layout = inspect_published(state, str(src))
    if frames not in FRAMES:
        raise KineticGanError(f"--frames must be one of {FRAMES}, not {frames}")
    dataset = dataset or {"ntu": "ntu120" if layout.n_classes == 120 else "ntu"}.get(
        layout.skeleton, layout.skeleton
    )
    if dataset not in _DATASETS:
        raise KineticGanError(f"unknown dataset {dataset!r}: expected one of {sorted(_DATASETS)}")
    skeleton, classes, table = _DATASETS[dataset]
    if skeleton != layout.skeleton:
        raise KineticGanError(
            f"{src}: checkpoint is for a {layout.skeleton} skeleton, not {dataset} ({skeleton})"
        )
    if classes is not None and classes != layout.n_classes:
        raise KineticGanError(
            f"{src}: checkpoint has {layout.n_classes} classes, {dataset} has {classes}"
        )
    if class_names is None:
        class_names = _class_names(table, layout.n_classes)
    if len(class_names) != layout.n_classes:
        raise KineticGanError(
            f"{len(class_names)} class names given for {layout.n_classes} classes in {src}"
        )
    card = ModelCard(
        name=name or Path(out).name,
        dataset=dataset,
        skeleton=layout.skeleton,
        class_names=list(class_names),
        frames=frames,
        fps=30,
        mapping_depth=layout.mapping_depth or 4,
        normalization=normalization,
        licence="see the published Kinetic-GAN repository",
        source=f"{PUBLISHED_SOURCE}: {Path(src).name}",
    )
    if layout.kind == "critic":
        critic = Critic(layout.n_classes, layout.skeleton, frames)
        _load_into(critic, state, Path(src))
        return save_critic(out, critic, card)
    generator = build_generator(card)
    _load_into(generator, {**state, **_empty_mean(generator)}, Path(src))
    started = time.perf_counter()
    generator.compute_mean_w(samples_per_class=samples_per_class)
    card.truncation = {
        "space": "w",
        "samples_per_class": samples_per_class,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return save_generator(out, generator, card)


def _empty_mean(generator: Generator) -> dict[str, torch.Tensor]:
    return {"mean_w": generator.mean_w, "mean_w_ready": generator.mean_w_ready}


def _class_names(table: str, n_classes: int) -> list[str]:
    try:
        from kinetic_gan.data.classes import class_table

        names = list(class_table(table))
    except (ImportError, KineticGanError, KeyError):
        names = []
    if len(names) >= n_classes:
        return names[:n_classes]
    return [f"class {i}" for i in range(n_classes)]


def normalization_from_data(path: str | Path) -> dict[str, float]:
    """The published global min–max of a training ``.npy`` (body 0 for NTU layouts)."""
    from kinetic_gan.data import open_dataset

    ds = open_dataset(path, frames=None)
    norm = ds.normalization
    lo, hi = float(norm.min), float(norm.max)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise KineticGanError(f"{path}: cannot derive a normalisation (min {lo}, max {hi})")
    return {"min": lo, "max": hi}


# -- test and tool support ---------------------------------------------------------------


def random_generator_weights(
    path: str | Path,
    n_classes: int,
    skeleton: str = "ntu",
    frames: int = 64,
    mapping_depth: int = 4,
    class_names: list[str] | None = None,
    samples_per_class: int = 64,
    seed: int = 0,
    normalization: dict[str, float] | None = None,
) -> Path:
    """Write an *untrained* generator (for tests and tools that need any valid model)."""
    torch.manual_seed(seed)
    generator = Generator(n_classes, skeleton, frames, mapping_depth).eval()
    # The paper's N(0, 1) mapping init blows activations up to ~1e5, where float32
    # rounding shows; trained models live near O(1), so scale like a fan-in init.
    with torch.no_grad():
        for layer in generator.mlp.mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(layer.in_features**-0.5)
    generator.compute_mean_w(samples_per_class=samples_per_class, seed=seed)
    card = ModelCard(
        name=Path(path).stem,
        dataset="untrained",
        skeleton=get_skeleton(skeleton).name,
        class_names=class_names or [f"action {i}" for i in range(n_classes)],
        frames=frames,
        mapping_depth=mapping_depth,
        normalization=normalization or {"min": -1.0, "max": 1.0},
        truncation={"space": "w", "samples_per_class": samples_per_class},
        licence="CC0-1.0",
        source="random initialisation (untrained)",
    )
    return save_generator(path, generator, card)
