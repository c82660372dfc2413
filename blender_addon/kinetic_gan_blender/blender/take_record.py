"""The take an Action was made from, kept on it: the received record (joints, names, parents,
frame rate, skeleton, units, cleanup, label), how it was made (metadata: action, seed, ψ,
model, sample) and what retargeting found (bone map, scale, warnings). Every export of a
take's joints reads it back here and writes it with one writer (``export_npz``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core.take_files import save_joints_npz

# The custom property a take keeps on its Action, so it can be re-applied and exported later.
TAKE_KEY = "kgan_take"


def store(action: bpy.types.Action, motion: Any, metadata: dict, found: dict) -> None:
    """Keep ``motion`` (a ``records.takes.Motion``, joints as keyed), ``metadata`` and what
    retargeting ``found`` (``bone_map``, ``bone_map_coverage``, ``scale``, ``warnings``)."""
    joints = np.asarray(motion.joints, dtype=np.float32)
    action[TAKE_KEY] = {
        "joints": joints.ravel(),  # stored as a float array straight from the buffer
        "shape": list(joints.shape),
        "joint_names": list(motion.joint_names),
        "parents": [int(p) for p in motion.parents],
        "fps": float(motion.fps),
        "skeleton": str(motion.skeleton),
        "units": str(motion.units),
        "cleanup": str(motion.cleanup),
        "label": int(motion.label),
        **found,
        "metadata": json.dumps(metadata),
    }


def take_joints(action: bpy.types.Action) -> dict:
    """What ``store`` kept on a take's Action: joints (T, V, 3), names, parents, fps, the
    record's skeleton, units, cleanup and label, metadata and warnings."""
    stored = action.get(TAKE_KEY)
    if stored is None:
        raise ValueError(f"action {action.name!r} is not a Kinetic-GAN take")
    shape = tuple(int(s) for s in stored["shape"])
    metadata = json.loads(stored.get("metadata", "{}"))
    return {
        "joints": np.asarray(stored["joints"], dtype=np.float32).reshape(shape),
        "joint_names": list(stored["joint_names"]),
        "parents": [int(p) for p in stored["parents"]],
        "fps": float(stored["fps"]),
        "skeleton": str(stored.get("skeleton", metadata.get("skeleton", ""))),
        "units": str(stored.get("units", "m")),
        "cleanup": stored.get("cleanup", metadata.get("cleanup")),
        "label": int(stored.get("label", -1)),
        "metadata": metadata,
        "warnings": list(stored.get("warnings", [])),
    }


def export_npz(action: bpy.types.Action, path: str | Path) -> Path:
    """The take's joints as ``.npz`` (the backend's take-file layout), every field of the
    received record included; Actions made before the record was kept whole fall back on
    their metadata."""
    stored = take_joints(action)
    meta = stored["metadata"]
    return save_joints_npz(
        path, stored["joints"], joint_names=stored["joint_names"], parents=stored["parents"],
        fps=stored["fps"], class_names=[meta.get("action", "")], labels=[stored["label"]],
        skeleton=stored["skeleton"], units=stored["units"], seed=meta.get("seed"),
        truncation=meta.get("truncation"), cleanup=stored["cleanup"],
    )
