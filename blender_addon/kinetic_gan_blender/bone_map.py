"""Bone maps: which bone of a rig plays each canonical bone (JSON, saved and reused).

A map lists, per canonical bone (see ``body.CANONICAL_BONES``), one rig bone name or a
list of candidates (the first the rig has wins: Rigify's DEF- then ORG- bones). Names
match exactly, else ignoring a namespace prefix such as Mixamo's ``mixamorig:``. Bones a
rig lacks are reported and left at rest. Presets live in ``bone_maps/*.json``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import atomic, body

FORMAT = "kinetic-gan-bone-map/1"
PRESET_DIR = Path(__file__).with_name("bone_maps")
PRESETS = ("default", "mixamo", "rigify", "metarig", "h36m")


class BoneMapError(ValueError):
    """A bone map that cannot be read or used; the message names the file and problem."""


@dataclass(frozen=True)
class Resolution:
    mapping: dict[str, str]  # canonical bone -> rig bone
    missing: list[str]  # canonical bones the rig has no bone for

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

    def resolve(self, rig_bone_names: list[str] | tuple[str, ...]) -> Resolution:
        """Pick each canonical bone's rig bone among ``rig_bone_names``."""
        exact = set(rig_bone_names)
        # "mixamorig:Hips" and "mixamorig1:Hips" both answer to "Hips".
        bare: dict[str, str] = {}
        for name in rig_bone_names:
            bare.setdefault(name.rsplit(":", 1)[-1], name)
        mapping: dict[str, str] = {}
        missing: list[str] = []
        for canonical, candidates in self.bones.items():
            found = next((c for c in candidates if c in exact), None)
            if found is None:
                found = next(
                    (
                        bare[c.rsplit(":", 1)[-1]]
                        for c in candidates
                        if c.rsplit(":", 1)[-1] in bare
                    ),
                    None,
                )
            if found is None:
                missing.append(canonical)
            else:
                mapping[canonical] = found
        if not mapping:
            raise BoneMapError(f"bone map {self.name!r} matches no bone of this rig")
        return Resolution(mapping, missing)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "description": self.description,
            "bones": {k: v[0] if len(v) == 1 else list(v) for k, v in self.bones.items()},
        }

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
    name = data.get("name") or Path(source).stem
    return BoneMap(str(name), parsed, str(data.get("description", "")), source)


def load_bone_map(name_or_path: str | Path) -> BoneMap:
    """A preset by name (``PRESETS``) or a bone-map JSON file."""
    key = str(name_or_path)
    if key in PRESETS:
        preset = _load_preset(key)
        return replace(preset, bones=dict(preset.bones))  # callers may edit their copy
    return _read(key, Path(key))


# Presets ship with the add-on and never change while it is loaded, and every take asks
# for one (``best_preset`` for all five): read each once.
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
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoneMapError(f"{key}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    return from_json(data, str(path))


def best_preset(rig_bone_names: list[str] | tuple[str, ...]) -> str | None:
    """The preset that finds the most bones of this rig (None if none finds any)."""
    return _best_preset(tuple(rig_bone_names))


@functools.lru_cache(maxsize=32)
def _best_preset(rig_bone_names: tuple[str, ...]) -> str | None:
    best, best_count = None, 0
    for name in PRESETS:
        try:
            count = len(_load_preset(name).resolve(rig_bone_names).mapping)
        except BoneMapError:
            continue
        if count > best_count:
            best, best_count = name, count
    return best
