"""The batch command line, shared by ``blender --python batch.py -- ARGS`` and
``kinetic-gan render ARGS`` (stdlib only, so both parse exactly the same way)."""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KineticGanAddonError

EXPORTS = ("mp4", "png", "blend", "bvh", "fbx", "npz")
ENGINES = ("workbench", "eevee", "cycles")
DEFAULT_BACKEND = "tcp://127.0.0.1:5555"
# Workbench: one sample, its edges smoothed in the compositor. Each further sample
# re-renders the frame (5 made a take 3-4x slower); --samples 5 or more for stills.
DEFAULT_SAMPLES = {"workbench": 1, "eevee": 16, "cycles": 32}
DEFAULT_TRUNCATION = 0.7  # the add-on's and the demo's: recognised more often, still varied
# motion_cleanup.STEPS (a test keeps them equal; this module stays stdlib-only).
CLEANUP_STEPS = ("filter", "bones", "feet")


class OptionsError(KineticGanAddonError, ValueError):
    """A bad argument: the message names it."""

    code = "options"


@dataclass(frozen=True)
class RigSpec:
    """``default`` (the built-in character) or an armature in a .blend file."""

    blend: Path | None = None
    armature: str | None = None

    @property
    def is_default(self) -> bool:
        return self.blend is None

    def __str__(self) -> str:
        return "default" if self.blend is None else f"{self.blend}:{self.armature}"


@dataclass(frozen=True)
class BatchOptions:
    actions: tuple[str, ...]  # names or indices as typed; ("all",) for every class
    count: int = 1
    seed: int = 0
    truncation: float | None = DEFAULT_TRUNCATION
    rig: RigSpec = field(default_factory=RigSpec)
    bone_map: str | None = None
    backend: str = DEFAULT_BACKEND
    timeout_s: float = 30.0
    model: str | None = None
    local: bool = False
    weights: Path | None = None
    engine: str = "workbench"
    resolution: tuple[int, int] = (640, 480)
    fps: int | None = None  # None: the model's
    out: Path = Path("renders")
    exports: frozenset[str] = frozenset({"mp4"})
    grid: bool = False
    in_place: bool = False
    force: bool = False
    samples: int = DEFAULT_SAMPLES["workbench"]  # anti-aliasing / light samples per pixel
    cleanup: tuple[str, ...] = CLEANUP_STEPS  # motion cleanup before animating; () = raw
    shot: str | None = None  # "walk:150,jump:90": one composed take, one video
    loop: str | None = None  # None, "advance" or "in_place" (with --shot)
    path: Path | None = None  # a path.json the shot follows (with --shot)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("what to generate")
    src.add_argument(
        "--actions", default="all",
        help='comma-separated class names or indices, e.g. "jump,kick" or "0,3"; "all" (default)',
    )
    src.add_argument("--count", type=int, default=1, help="takes per action (default 1)")
    src.add_argument(
        "--seed", type=int, default=0,
        help="seed of an action's first take; take k uses seed + k (default 0)",
    )
    src.add_argument(
        "--truncation", type=float, default=DEFAULT_TRUNCATION,
        help=f"truncation psi in [0, 1]; 1 turns it off (default {DEFAULT_TRUNCATION})",
    )
    src.add_argument(
        "--backend", default=DEFAULT_BACKEND, help=f"server address (default {DEFAULT_BACKEND})"
    )
    src.add_argument("--model", default=None, help="model name on the server (default: first)")
    src.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each reply (default 30)"
    )
    src.add_argument(
        "--local", action="store_true",
        help="kinetic-gan render: serve --weights on a free loopback port for this batch and "
        "stop it after (instead of --backend)",
    )
    src.add_argument("--weights", type=Path, default=None, help="FILE.safetensors for --local")
    src.add_argument(
        "--cleanup", default="all", metavar="STEPS",
        help="motion cleanup before animating: all (default), none (the raw output), or some "
        f"of {','.join(CLEANUP_STEPS)} — constant bones, a 6 Hz zero-phase low-pass, feet "
        "held during contacts (NTU-25 models in metres; docs/cleanup.md)",
    )

    shot = parser.add_argument_group("a shot (one composed take instead of --actions)")
    shot.add_argument(
        "--shot", default=None, metavar="SEGMENTS",
        help='compose "walk:150,jump:90,..." (ACTION:FRAMES, in order) into one take and '
        "render it as one video (docs/shots.md)",
    )
    shot.add_argument(
        "--loop", nargs="?", const="advance", default=None, choices=("advance", "in_place"),
        help="with --shot: its end runs into its start (advance: the default, travelling)",
    )
    shot.add_argument(
        "--path", type=Path, default=None, metavar="PATH.json",
        help='with --shot: follow {"points": [[x, z], ...]} (metres on the dataset floor)',
    )

    rig = parser.add_argument_group("character")
    rig.add_argument(
        "--rig", default="default",
        help='"default" (the built-in character) or FILE.blend:ArmatureName',
    )
    rig.add_argument(
        "--bone-map", default=None,
        help="bone map preset (default, mixamo, rigify, metarig, h36m) or a JSON file",
    )
    rig.add_argument(
        "--in-place", action="store_true", help="keep the character on the spot (no root travel)"
    )

    out = parser.add_argument_group("rendering and output")
    out.add_argument("--engine", choices=ENGINES, default="workbench", help="render engine")
    out.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    out.add_argument("--fps", type=int, default=None, help="video frame rate (default: model's)")
    out.add_argument(
        "--samples", type=int, default=None,
        help="samples per pixel: render time grows with it (default: Workbench 1, its edges "
        "smoothed by the compositor; 5, 8, 11, 16 or 32 for its multi-sample anti-aliasing; "
        "EEVEE 16, Cycles 32)",
    )
    out.add_argument(
        "--grid", action="store_true",
        help="one scene with every take side by side, in place: --mp4/--png/--blend become grid.*",
    )
    out.add_argument("--out", type=Path, default=Path("renders"), help="output folder")
    for name, text in (
        ("mp4", "an H.264 MP4 per take (the default when no export is named)"),
        ("png", "a PNG sequence per take"),
        ("blend", "a .blend per take"),
        ("bvh", "a BVH per take"),
        ("fbx", "an FBX per take (armature, mesh, animation)"),
        ("npz", "the generated joints per take"),
    ):
        out.add_argument(f"--{name}", action="store_true", help=text)
    out.add_argument(
        "--force", action="store_true", help="redo takes even when their outputs are complete"
    )


def parse_resolution(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not match:
        raise OptionsError(f"--resolution must look like 640x480, not {text!r}")
    width, height = int(match[1]), int(match[2])
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise OptionsError(f"--resolution {width}x{height} is outside 16…8192 pixels")
    # H.264 needs even sizes.
    return width - width % 2, height - height % 2


def parse_rig(text: str) -> RigSpec:
    text = (text or "").strip()
    if text in ("", "default"):
        return RigSpec()
    path, sep, armature = text.rpartition(":")
    if not sep or not path.lower().endswith(".blend") or not armature:
        raise OptionsError(f"--rig must be 'default' or FILE.blend:ArmatureName, not {text!r}")
    blend = Path(path).expanduser()
    if not blend.is_file():
        raise OptionsError(f"--rig: {blend} does not exist")
    return RigSpec(blend, armature)


def parse_actions(text: str) -> tuple[str, ...]:
    actions = tuple(a.strip() for a in (text or "").split(",") if a.strip())
    if not actions:
        raise OptionsError("--actions is empty: name at least one action, or 'all'")
    if any(a.lower() == "all" for a in actions):
        return ("all",)
    return tuple(dict.fromkeys(actions))  # drop repeats, keep order


def parse_cleanup(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated subset of the steps, in the order they run."""
    items = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    if items == ["all"]:
        return CLEANUP_STEPS
    if items in (["none"], []):
        return ()
    unknown = [t for t in items if t not in CLEANUP_STEPS]
    if unknown:
        raise OptionsError(
            f"--cleanup: unknown step {unknown[0]!r} (use all, none, or some of "
            f"{','.join(CLEANUP_STEPS)})"
        )
    return tuple(s for s in CLEANUP_STEPS if s in items)


_SEGMENT = re.compile(r"\s*[^,:]+(?::[^,:]+)*\s*:\s*\d+\s*")


def parse_shot(ns: argparse.Namespace) -> tuple[str | None, str | None, Path | None]:
    """--shot, --loop and --path checked together (the segments' actions are checked
    against the model once the server is reached)."""
    shot = getattr(ns, "shot", None)
    loop, path = getattr(ns, "loop", None), getattr(ns, "path", None)
    if shot is None:
        if loop is not None or path is not None:
            raise OptionsError(f"{'--loop' if loop else '--path'} needs --shot SEGMENTS")
        return None, None, None
    parts = shot.split(",")
    bad = [p.strip() for p in parts if not _SEGMENT.fullmatch(p)]
    if not shot.strip() or bad:
        raise OptionsError(f"--shot: {bad[0] if bad else shot!r} is not ACTION:FRAMES "
                           '(write the shot as "walk:150,jump:90")')
    if loop is not None and path is not None:
        raise OptionsError("--loop: a looping shot cannot also follow --path")
    if path is not None and not Path(path).is_file():
        raise OptionsError(f"--path: {path} does not exist")
    if getattr(ns, "grid", False):
        raise OptionsError("--grid: a shot is one take; render it without --grid")
    return shot.strip(), loop, None if path is None else Path(path)


def from_namespace(ns: argparse.Namespace) -> BatchOptions:
    """Validate parsed arguments into :class:`BatchOptions` (raises :class:`OptionsError`)."""
    if ns.count < 1:
        raise OptionsError(f"--count must be at least 1, got {ns.count}")
    if not 0 <= ns.seed < 2**63:
        raise OptionsError(f"--seed must be in [0, 2^63), got {ns.seed}")
    if ns.truncation is not None and not (
        math.isfinite(ns.truncation) and 0.0 <= ns.truncation <= 1.0
    ):
        raise OptionsError(f"--truncation must be in [0, 1], got {ns.truncation}")
    if ns.fps is not None and not 1 <= ns.fps <= 240:
        raise OptionsError(f"--fps must be in 1…240, got {ns.fps}")
    if ns.timeout <= 0:
        raise OptionsError(f"--timeout must be positive, got {ns.timeout}")
    samples = ns.samples if ns.samples is not None else DEFAULT_SAMPLES[ns.engine]
    if samples < 1:
        raise OptionsError(f"--samples must be at least 1, got {samples}")
    weights = ns.weights
    if ns.local:
        if weights is None:
            raise OptionsError("--local needs --weights FILE.safetensors")
        if not Path(weights).is_file():
            raise OptionsError(f"--weights: {weights} does not exist")
    elif weights is not None:
        raise OptionsError("--weights is for --local; a server loads its own weights")
    exports = frozenset(name for name in EXPORTS if getattr(ns, name, False))
    shot, loop, path = parse_shot(ns)
    return BatchOptions(
        actions=parse_actions(ns.actions),
        count=ns.count,
        seed=ns.seed,
        truncation=None if ns.truncation == 1.0 else ns.truncation,  # ψ 1: the latent as drawn
        rig=parse_rig(ns.rig),
        bone_map=ns.bone_map,
        backend=ns.backend,
        timeout_s=ns.timeout,
        model=ns.model,
        local=ns.local,
        weights=Path(weights) if weights is not None else None,
        engine=ns.engine,
        resolution=parse_resolution(ns.resolution),
        fps=ns.fps,
        out=Path(ns.out),
        exports=exports or frozenset({"mp4"}),
        grid=ns.grid,
        in_place=ns.in_place,
        force=ns.force,
        samples=samples,
        cleanup=parse_cleanup(getattr(ns, "cleanup", "all")),
        shot=shot, loop=loop, path=path,
    )


def build_parser(prog: str = "kinetic-gan render") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Batch-generate takes and render them on a character in Blender."
    )
    add_arguments(parser)
    return parser
