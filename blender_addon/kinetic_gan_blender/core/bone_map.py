"""Bone maps: which bone of a rig plays each canonical bone (JSON, saved and reused).

A map lists, per canonical bone (see ``body.CANONICAL_BONES``), one rig bone name or a
list of candidates (the first the rig has wins: Rigify's controls, then its DEF- bones).
Names match exactly, else ignoring a namespace prefix such as Mixamo's ``mixamorig:``, else
by their *key*: case and separators ignored, and a side however it is spelt (``.L``,
``_l``, ``Left…``, ``…Left``, ``L_…``). A map may also name bones to key at rest
(``"at_rest"``: controls that would add to the pose through the rig's constraints) and
custom properties to set (``"switches"``: Rigify's IK/FK sliders to FK).

Picking a map for a rig (``choose``) scores every preset by how much of it the rig has
and refuses a rig that lacks a body's core — hips, thighs, shins, upper arms, forearms —
naming what is missing, rather than animating five bones of twenty-two.
Presets live in ``bone_maps/*.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import atomic, body
from .errors import KineticGanAddonError

FORMAT = "kinetic-gan-bone-map/1"
PRESET_DIR = Path(__file__).with_name("bone_maps")
PRESETS = ("default", "mixamo", "rigify", "metarig", "mocapbank", "h36m")

# Without these a take cannot be recognised on the rig: maps that miss any are refused.
CORE_BONES = (
    "hips", "thigh.L", "shin.L", "thigh.R", "shin.R",
    "upper_arm.L", "forearm.L", "upper_arm.R", "forearm.R",
)


class BoneMapError(KineticGanAddonError, ValueError):
    """A bone map that cannot be read or used; the message names the file and problem."""

    code = "bone_map"


_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SIDES = {"l": "L", "left": "L", "r": "R", "right": "R"}


def name_key(name: str) -> tuple[str, str]:
    """(side, rest of the name) with case, separators and namespace ignored.

    ``"mixamorig:LeftUpLeg"`` → ``("L", "upleg")``; ``"thigh_l"``, ``"Thigh.L"`` and
    ``"L_Thigh"`` → ``("L", "thigh")``; ``"DEF-spine.001"`` → ``("", "defspine001")``.
    """
    words = _WORDS.findall(name.rsplit(":", 1)[-1])
    side = next((_SIDES[w.lower()] for w in words if w.lower() in _SIDES), "")
    core = "".join(w.lower() for w in words if w.lower() not in _SIDES)
    return side, core


@dataclass(frozen=True)
class Resolution:
    """A map applied to one rig."""

    map_name: str
    mapping: dict[str, str]  # canonical bone -> rig bone
    missing: dict[str, tuple[str, ...]]  # canonical bone -> the names looked for
    listed: int  # canonical bones the map lists

    @property
    def coverage(self) -> float:
        return len(self.mapping) / self.listed if self.listed else 0.0

    @property
    def missing_core(self) -> list[str]:
        return [b for b in CORE_BONES if b not in self.mapping]

    def summary(self) -> str:
        return f"{self.map_name!r} finds {len(self.mapping)} of {self.listed} bones"

    def problem(self) -> str | None:
        """Why this map cannot drive the rig (it lacks core bones), or None."""
        lacking = self.missing_core
        if not lacking:
            return None
        looked = "; ".join(
            f"{b} (no {' / '.join(repr(n) for n in self.missing.get(b, ()))})" for b in lacking
        )
        return (
            f"bone map {self.summary()} of this rig and lacks {len(lacking)} it needs: {looked}. "
            "Choose another bone map, or save one (Save Bone Map), write the rig's names "
            "for these bones into it and choose it as a File"
        )

    def warning(self) -> str | None:
        if not self.missing:
            return None
        return f"rig lacks {len(self.missing)} mapped bone(s), left at rest: " + ", ".join(
            self.missing
        )


@dataclass
class BoneMap:
    name: str
    bones: dict[str, tuple[str, ...]]  # canonical bone -> candidate rig bone names
    description: str = ""
    source: str = field(default="", compare=False)
    at_rest: tuple[str, ...] = ()  # rig bones keyed at rest with every take
    switches: dict[str, dict[str, float]] = field(default_factory=dict)  # bone -> prop -> value

    def resolve(
        self, rig_bone_names: Sequence[str], overridden: Collection[str] = ()
    ) -> Resolution:
        """Pick each canonical bone's rig bone among ``rig_bone_names``.

        ``overridden``: rig bones whose pose a constraint replaces; a candidate among them
        is taken only when no other candidate is found.
        """
        exact = set(rig_bone_names)
        bare: dict[str, str] = {}
        keyed: dict[tuple[str, str], str] = {}
        for name in rig_bone_names:
            bare.setdefault(name.rsplit(":", 1)[-1], name)
            keyed.setdefault(name_key(name), name)

        def find(candidate: str) -> str | None:
            if candidate in exact:
                return candidate
            return bare.get(candidate.rsplit(":", 1)[-1]) or keyed.get(name_key(candidate))

        mapping: dict[str, str] = {}
        missing: dict[str, tuple[str, ...]] = {}
        for canonical, candidates in self.bones.items():
            found = [f for f in map(find, candidates) if f is not None]
            free = [f for f in found if f not in overridden]
            if free or found:
                mapping[canonical] = (free or found)[0]
            else:
                missing[canonical] = candidates
        return Resolution(self.name, mapping, missing, len(self.bones))

    def to_json(self) -> dict:
        data: dict = {
            "format": FORMAT,
            "name": self.name,
            "description": self.description,
            "bones": {k: v[0] if len(v) == 1 else list(v) for k, v in self.bones.items()},
        }
        if self.at_rest:
            data["at_rest"] = list(self.at_rest)
        if self.switches:
            data["switches"] = self.switches
        return data

    def save(self, path: str | Path) -> None:
        atomic.write_text(path, json.dumps(self.to_json(), indent=2) + "\n")


def from_json(data: object, source: str) -> BoneMap:
    """Validate a parsed bone-map document."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BoneMapError(f'{source}: not a bone map (expected "format": "{FORMAT}")')
    bones = data.get("bones")
    if not isinstance(bones, dict) or not bones:
        raise BoneMapError(f'{source}: "bones" must be a non-empty object')
    parsed: dict[str, tuple[str, ...]] = {}
    for canonical, value in bones.items():
        if canonical not in body.CANONICAL_BY_NAME:
            raise BoneMapError(f"{source}: unknown canonical bone {canonical!r}")
        candidates = (value,) if isinstance(value, str) else value
        if (
            not isinstance(candidates, list | tuple)
            or not candidates
            or not all(isinstance(c, str) and c for c in candidates)
        ):
            raise BoneMapError(f"{source}: bone {canonical!r} needs a bone name or a list of names")
        parsed[canonical] = tuple(candidates)
    at_rest = data.get("at_rest", [])
    if not isinstance(at_rest, list) or not all(isinstance(b, str) and b for b in at_rest):
        raise BoneMapError(f'{source}: "at_rest" must be a list of bone names')
    switches = data.get("switches", {})
    if not isinstance(switches, dict) or not all(
        isinstance(props, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in props.values())
        for props in switches.values()
    ):
        raise BoneMapError(f'{source}: "switches" must map bone names to {{property: number}}')
    name = data.get("name") or Path(source).stem
    return BoneMap(
        str(name),
        parsed,
        str(data.get("description", "")),
        source,
        tuple(at_rest),
        {bone: {k: float(v) for k, v in props.items()} for bone, props in switches.items()},
    )


def from_text(text: str, source: str) -> BoneMap:
    """A bone map from JSON text (a file's, or one stored on a rig)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoneMapError(f"{source}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    return from_json(data, source)


def load_bone_map(name_or_path: str | Path) -> BoneMap:
    """A preset by name (``PRESETS``) or a bone-map JSON file."""
    key = str(name_or_path)
    if key in PRESETS:
        preset = _load_preset(key)
        return replace(preset, bones=dict(preset.bones))  # callers may edit their copy
    return _read(key, Path(key))


# Presets ship with the add-on and never change while it is loaded, and every take asks
# for one (``choose`` scores them all): read each once.
@functools.cache
def _load_preset(name: str) -> BoneMap:
    return _read(name, PRESET_DIR / f"{name}.json")


def _read(key: str, path: Path) -> BoneMap:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BoneMapError(
            f"{key}: no such bone map (presets: {', '.join(PRESETS)}, or a .json file)"
        ) from None
    except OSError as exc:
        raise BoneMapError(f"{key}: cannot read ({exc.strerror})") from None
    return from_text(text, str(path))


def _score(resolution: Resolution) -> tuple:
    # The body's core first, then how much of the preset the rig has, then how much of
    # the body it drives; ties keep the order of PRESETS.
    return (-len(resolution.missing_core), resolution.coverage, len(resolution.mapping))


def rank_presets(
    rig_bone_names: Sequence[str], overridden: Collection[str] = ()
) -> list[Resolution]:
    """Every preset applied to this rig, best first."""
    resolutions = [_load_preset(name).resolve(rig_bone_names, overridden) for name in PRESETS]
    order = sorted(range(len(PRESETS)), key=lambda i: _score(resolutions[i]), reverse=True)
    return [resolutions[i] for i in order]


def best_preset(rig_bone_names: Sequence[str], overridden: Collection[str] = ()) -> str | None:
    """The preset that fits this rig best (None if none finds any of its bones)."""
    best = rank_presets(rig_bone_names, overridden)[0]
    return best.map_name if best.mapping else None


def choose(
    rig_bone_names: Sequence[str], overridden: Collection[str] = ()
) -> tuple[BoneMap, Resolution]:
    """The best preset for this rig and how it resolves; refuses a rig none fits."""
    ranked = rank_presets(rig_bone_names, overridden)
    best = ranked[0]
    if best.problem() is None:
        return load_bone_map(best.map_name), best
    others = ", ".join(r.summary() for r in ranked[1:3])
    raise BoneMapError(f"no bone-map preset fits this rig (then {others}): {best.problem()}")


def check(resolution: Resolution) -> None:
    """Refuse a chosen map that lacks the body's core on this rig."""
    problem = resolution.problem()
    if problem is not None:
        raise BoneMapError(problem)
