"""The panel's list of takes: make one the active action, delete one, export one."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.errors import KineticGanAddonError, UserError
from . import api, keyframes
from .properties import settings_of


def find_take(context: bpy.types.Context, index: int):
    """The take at ``index`` in the list, with its action and armature still there."""
    takes = settings_of(context).takes
    if not 0 <= index < len(takes):
        raise UserError(f"No take number {index}")
    take = takes[index]
    if take.action is None or take.armature is None:
        raise UserError(f"Take {take.name!r} lost its action or armature")
    return take


def apply_take(context: bpy.types.Context, index: int) -> None:
    take = find_take(context, index)
    keyframes.assign_action(take.armature, take.action)
    context.scene.frame_end = round(take.action.frame_range[1])


def delete_take(context: bpy.types.Context, index: int) -> None:
    """Remove the take from the list and its action from the file."""
    settings = settings_of(context)
    if not 0 <= index < len(settings.takes):
        raise UserError(f"No take number {index}")
    action = settings.takes[index].action
    settings.takes.remove(index)
    if action is not None:
        bpy.data.actions.remove(action)
    settings.active_take = min(settings.active_take, len(settings.takes) - 1)


def default_file_name(context: bpy.types.Context, index: int, fmt: str) -> str:
    take = find_take(context, index)
    return f"{bpy.path.clean_name(take.action.name)}.{fmt.lower()}"


def export_take_at(context: bpy.types.Context, index: int, fmt: str, filepath: str) -> Path:
    """Export the take at ``index`` (``fmt`` BVH, FBX or NPZ); the path written."""
    try:
        return export_take(find_take(context, index), fmt, bpy.path.abspath(filepath))
    except (KineticGanAddonError, OSError, RuntimeError, ValueError) as exc:
        # Blender's exporters fail with RuntimeError, the file system with OSError.
        raise UserError(f"Export failed: {exc}", code="export") from None


def export_take(take, fmt: str, filepath: str) -> Path:
    path = Path(filepath).with_suffix(f".{fmt.lower()}")
    if fmt == "BVH":
        return api.export_bvh(take.armature, take.action, path)
    if fmt == "FBX":
        return api.export_fbx(take.armature, take.action, path)
    return api.export_npz(take.action, path)
