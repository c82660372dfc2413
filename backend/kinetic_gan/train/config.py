"""Training configuration: a small dataclass, loaded from TOML, overridden from the CLI.

A config is plain values (nanoGPT style). Packaged configs live in ``kinetic_gan/configs``
(one per published setting plus ours); a run directory keeps the *resolved* config as
``config.toml`` so ``--resume`` and ``export`` rebuild exactly the same run.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from kinetic_gan.errors import KineticGanError


@dataclass
class TrainConfig:
    """Every knob of a training run. Defaults are the paper's (WGAN-GP, Adam 2e-4 (0.5, 0.999))."""

    name: str = "run"
    # --- data ---
    data: str = ""  # dataset folder or X_data.npy; usually given with --data
    layout: str = "auto"  # auto | ntu | ntu120 | ntu2d | h36m
    split: str = "train"
    frames: int = 64
    classes: list[int] | None = None  # None: every class of the dataset
    augment: bool = False
    augment_yaw_deg: float = 180.0
    augment_mirror_p: float = 0.5
    augment_time_warp: list[float] = field(default_factory=lambda: [0.8, 1.25])
    augment_bone_jitter: float = 0.05
    # --- model ---
    latent_dim: int = 512
    mapping_depth: int = 4
    # Our generator options (kinetic_gan.nn.output_head; the defaults are the paper's):
    time_upsample: str = "nearest"  # nearest | linear (no two-frame steps)
    generator_output: str = "positions"  # positions | kinematic (fixed bone lengths, FK)
    output_smoothing: float = 0.0  # σ (frames) of a fixed Gaussian on the output; 0 = off
    # --- WGAN-GP ---
    batch_size: int = 32  # global: split evenly across DDP processes
    n_critic: int = 5  # critic updates per generator update
    lambda_gp: float = 10.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: bool = False  # keep an exponential moving average of the generator
    ema_beta: float = 0.999  # per generator update
    ema_rampup: float | None = None  # cap the EMA half-life at this × updates so far
    # --- class guidance (ours, not the paper's; kinetic_gan.train.guidance) ---
    class_guidance: float = 0.0  # λ of the guide recogniser's cross-entropy; 0 = off
    guide_recognizer: str | None = None  # weights stem from kinetic-gan train-recognizer
    # --- motion priors (ours; kinetic_gan.train.motion_priors; NTU-25 skeletons) ---
    hinge_penalty: float = 0.0  # λ of knees/elbows bent the wrong way (mean relu(−sin θ))
    foot_slide_penalty: float = 0.0  # λ of the horizontal speed (m/s) of feet on the floor
    floor_penalty: float = 0.0  # λ of the depth (m) of the lowest joint below the floor
    hover_penalty: float = 0.0  # λ of a take's median lowest-joint height over 5 cm (m)
    energy_penalty: float = 0.0  # λ of a take's log speed/accel outside its class's band
    speed_penalty: float = 0.0  # λ of the W1 of each joint's speeds against its class's
    # --- schedule (one iteration = n_critic critic updates + 1 generator update) ---
    iterations: int = 100_000
    max_minutes: float | None = None  # wall-clock budget: checkpoint and exit cleanly
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # older iter_*.pt are deleted; 0 keeps all
    sample_every: int = 1000
    samples_per_class: int = 10
    init: str | None = None  # warm start: a checkpoint or training-weights file's models
    # --- runtime ---
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    data_workers: int = -1  # reader processes; -1: auto (several on CUDA with augmentation)
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 (also CPUs with bf16 units) | off
    compile: bool = False  # torch.compile the forward passes (optional, CUDA mostly)
    cuda_graphs: bool = True  # one CUDA graph per iteration (single CUDA device, no compile)
    tensorboard: bool = True  # only used when the tensorboard package is installed
    # --- export ---
    mean_w_samples: int = 10_000  # per class, for the truncation trick's cached mean w

    def validate(self) -> TrainConfig:
        """This config, or the first bad field as one KineticGanError line."""
        self._check_optimisation()
        self.architecture()  # one clear error for a bad time_upsample / output / smoothing
        self._check_choices()
        return self

    def _check_optimisation(self) -> None:
        positive = ("frames", "latent_dim", "mapping_depth", "batch_size", "n_critic",
                    "iterations", "checkpoint_every", "sample_every", "mean_w_samples")
        for key in positive:
            if getattr(self, key) <= 0:
                raise KineticGanError(f"config: {key} must be positive, got {getattr(self, key)}")
        if self.lambda_gp < 0 or self.lr <= 0:
            raise KineticGanError("config: lambda_gp must be >= 0 and lr > 0")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise KineticGanError("config: beta1 and beta2 must lie in [0, 1)")
        if not 0.0 < self.ema_beta < 1.0:
            raise KineticGanError(f"config: ema_beta must lie in (0, 1), got {self.ema_beta}")
        if self.ema_rampup is not None and self.ema_rampup <= 0:
            raise KineticGanError(f"config: ema_rampup must be positive, got {self.ema_rampup}")
        if self.class_guidance < 0:
            raise KineticGanError(
                f"config: class_guidance must be >= 0, got {self.class_guidance}")
        if self.class_guidance > 0 and not self.guide_recognizer:
            raise KineticGanError(
                "config: class_guidance needs guide_recognizer (a recogniser's weights stem, "
                "from kinetic-gan train-recognizer on the same dataset)")
        for key in ("hinge_penalty", "foot_slide_penalty", "floor_penalty", "hover_penalty",
                    "energy_penalty", "speed_penalty"):
            if getattr(self, key) < 0:
                raise KineticGanError(f"config: {key} must be >= 0, got {getattr(self, key)}")

    def _check_choices(self) -> None:
        if self.amp not in ("auto", "bf16", "off"):
            raise KineticGanError(f"config: amp must be auto, bf16 or off, got {self.amp!r}")
        if self.layout not in ("auto", "ntu", "ntu120", "ntu2d", "h36m"):
            raise KineticGanError(f"config: unknown layout {self.layout!r}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise KineticGanError("config: max_minutes must be positive")
        if len(self.augment_time_warp) != 2 or not (
            0 < self.augment_time_warp[0] <= self.augment_time_warp[1]
        ):
            raise KineticGanError(
                "config: augment_time_warp must be [low, high] with 0 < low <= high")
        if self.samples_per_class < 0 or self.keep_checkpoints < 0:
            raise KineticGanError("config: samples_per_class and keep_checkpoints must be >= 0")

    def to_dict(self) -> dict[str, typing.Any]:
        return dataclasses.asdict(self)

    def architecture(self):
        """The generator options as ``nn.output_head.Architecture`` (torch-free import)."""
        from kinetic_gan.nn.output_head import Architecture

        return Architecture(self.time_upsample, self.generator_output, self.output_smoothing)

    def uses_motion_priors(self) -> bool:
        return max(self.hinge_penalty, self.foot_slide_penalty, self.floor_penalty,
                   self.hover_penalty, self.energy_penalty, self.speed_penalty) > 0


def packaged_configs() -> list[str]:
    """Names of the configs shipped with the package (``--config NAME``)."""
    folder = resources.files("kinetic_gan") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_config(name_or_path: str | Path) -> TrainConfig:
    """A packaged config by name (``deepmimic15``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise KineticGanError(f"{path}: config file not found")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        resource = resources.files("kinetic_gan") / "configs" / f"{name_or_path}.toml"
        if not resource.is_file():
            known = ", ".join(packaged_configs())
            raise KineticGanError(f"config {name_or_path!r}: unknown (packaged: {known})")
        text = resource.read_text(encoding="utf-8")
        source = f"config {name_or_path!r}"
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KineticGanError(f"{source}: not valid TOML ({exc})") from None
    return from_dict(table, source)


def from_dict(table: dict[str, typing.Any], source: str = "config") -> TrainConfig:
    known = {f.name: f for f in fields(TrainConfig)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise KineticGanError(f"{source}: unknown key {key!r}")
        values[key] = _coerce(key, value, _field_type(key), source)
    return TrainConfig(**values).validate()


def apply_overrides(config: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings (``--set``); values are parsed as TOML, bare words as strings."""
    updates = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise KineticGanError(f"--set {item!r}: expected key=value")
        updates[key] = parse_value(raw.strip())
    return replace(config, updates, "--set")


def replace(config: TrainConfig, updates: dict[str, typing.Any], source: str) -> TrainConfig:
    table = config.to_dict()
    for key, value in updates.items():
        if key not in table:
            raise KineticGanError(f"{source}: unknown config key {key!r}")
        table[key] = value
    return from_dict({k: v for k, v in table.items() if v is not None}, source)


def parse_value(raw: str) -> typing.Any:
    if raw.lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word: a string such as a path or a device name


def to_toml(config: TrainConfig) -> str:
    """The resolved config as TOML (keys whose value is None are left out: None is the default)."""
    lines = ["# Resolved training config (written by kinetic-gan train).", ""]
    for key, value in config.to_dict().items():
        if value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: typing.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _field_type(key: str) -> typing.Any:
    return typing.get_type_hints(TrainConfig)[key]


def _coerce(key: str, value: typing.Any, kind: typing.Any, source: str) -> typing.Any:
    """Check a value against the field's annotation; ints are accepted where floats are."""
    if value is None:
        if _allows_none(kind):
            return None
        raise KineticGanError(f"{source}: {key} cannot be empty")
    base = _strip_none(kind)
    origin = typing.get_origin(base)
    if origin is list:
        (item_kind,) = typing.get_args(base)
        if not isinstance(value, list):
            raise KineticGanError(f"{source}: {key} must be a list, got {value!r}")
        return [_coerce(key, v, item_kind, source) for v in value]
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base is bool and isinstance(value, bool):
        return value
    if base is str and isinstance(value, str):
        return value
    expected = getattr(base, "__name__", str(base))
    raise KineticGanError(f"{source}: {key} must be {expected}, got {value!r}")


def _allows_none(kind: typing.Any) -> bool:
    return isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)


def _strip_none(kind: typing.Any) -> typing.Any:
    if isinstance(kind, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0]
    return kind
