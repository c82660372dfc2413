"""Writing BVH: any ``BvhMotion`` as text, and a take of joint positions as a BVH skeleton.

``format_bvh`` writes a motion's hierarchy and channels as they are, so reading the result
gives the same motion. ``joints_motion`` turns joint positions (the dataset frame: Y up,
metres) into a BVH motion whose every joint carries three *position* channels — its bone
vector's change from the first frame's — and no rotations: any take, even one whose bone
lengths vary, comes back exactly (to the printed precision), which is what the round trip
through ``kinetic-gan data build bvh`` needs. A rig in Blender is still driven from the joint
positions by the add-on's retargeting, not from these channels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kinetic_gan.atomic import atomic_write
from kinetic_gan.data.bvh import BvhJoint, BvhMotion
from kinetic_gan.data.source_frame import UNITS, UP_AXES
from kinetic_gan.errors import KineticGanError


def format_bvh(motion: BvhMotion, decimals: int = 6) -> str:
    """The BVH text of ``motion`` (hierarchy, then one line of numbers per frame)."""
    children: dict[int, list[int]] = {}
    for k, joint in enumerate(motion.joints):
        children.setdefault(joint.parent, []).append(k)
    roots = children.get(-1, [])
    if len(roots) != 1:
        raise KineticGanError(f"write BVH: need exactly one root joint, got {len(roots)}")
    if depth_first_order([j.parent for j in motion.joints]) != list(range(len(motion.joints))):
        # the MOTION columns follow the joints' order, the hierarchy is written nested
        raise KineticGanError("write BVH: joints must be listed depth first, parents first")
    lines = ["HIERARCHY"]
    _joint_lines(motion.joints, children, roots[0], 0, lines, decimals)
    lines += ["MOTION", f"Frames: {len(motion.motion)}", f"Frame Time: {motion.frame_time:.12g}"]
    buffer = io.StringIO()
    buffer.write("\n".join(lines) + "\n")
    np.savetxt(buffer, motion.motion, fmt=f"%.{decimals}f", delimiter=" ")
    return buffer.getvalue()


def _joint_lines(joints: Sequence[BvhJoint], children: dict[int, list[int]], k: int,
                 depth: int, lines: list[str], decimals: int) -> None:
    joint, pad = joints[k], "  " * depth
    offset = " ".join(f"{v:.{decimals}f}" for v in joint.offset)
    if joint.end_site:
        lines += [f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {offset}", f"{pad}}}"]
        return
    lines += [f"{pad}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}", f"{pad}{{",
              f"{pad}  OFFSET {offset}",
              f"{pad}  CHANNELS {len(joint.channels)} {' '.join(joint.channels)}".rstrip()]
    kids = children.get(k, [])
    if sum(joints[c].end_site for c in kids) > 1:
        raise KineticGanError(f"write BVH: joint {joint.name!r} has more than one end site")
    for child in kids:
        _joint_lines(joints, children, child, depth + 1, lines, decimals)
    lines.append(f"{pad}}}")


def write_bvh(path: str | Path, motion: BvhMotion, decimals: int = 6) -> Path:
    """Write ``motion`` to ``path`` atomically; return the path."""
    path = Path(path)
    text = format_bvh(motion, decimals)
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return path


def joints_motion(joints: np.ndarray, fps: float, names: Sequence[str],
                  parents: Sequence[int], units: str = "m", up: str = "+y") -> BvhMotion:
    """(T, V, 3) joint positions (metres, Y up) → a BVH motion of position channels.

    ``units`` and ``up`` choose the file's units (``m``, ``cm``, ``mm``, ``in``) and up
    axis (``+y``, ``+z``, ...): the joints are turned and scaled into them, as a file from
    another tool would be.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (len(names), 3) or len(parents) != len(names):
        raise KineticGanError(
            f"write BVH: joints must be (frames, {len(names)}, 3), got {joints.shape}")
    if units not in UNITS or up not in UP_AXES:
        raise KineticGanError(f"write BVH: unknown units {units!r} or up axis {up!r}")
    # file = Mᵀ · dataset, M the file → dataset rotation; then metres → file units
    points = joints @ UP_AXES[up] / UNITS[units]
    order = depth_first_order(parents)
    parent_of = np.asarray(parents)
    child = parent_of >= 0
    bones = points.copy()  # the root's "bone" is its position
    bones[:, child] = points[:, child] - points[:, parent_of[child]]
    rest = bones[0].copy()
    rest[~child] = 0.0
    new_index = {old: new for new, old in enumerate(order)}
    out_joints, columns = [], []
    channels = ("Xposition", "Yposition", "Zposition")
    for old in order:
        parent = parents[old]
        out_joints.append(BvhJoint(names[old], new_index[parent] if parent >= 0 else -1,
                                   tuple(float(v) for v in rest[old]), channels))
        columns.append(bones[:, old] - rest[old])
    motion = np.concatenate(columns, axis=1)
    return BvhMotion(joints=tuple(out_joints), frame_time=1.0 / float(fps), motion=motion)


def depth_first_order(parents: Sequence[int]) -> list[int]:
    """Joint indices in the nested order a BVH hierarchy lists them (parents first)."""
    children: dict[int, list[int]] = {}
    for k, p in enumerate(parents):
        children.setdefault(p, []).append(k)
    roots = children.get(-1, [])
    if len(roots) != 1:
        raise KineticGanError(f"write BVH: need exactly one root joint, got {len(roots)}")
    order, stack = [], [roots[0]]
    while stack:
        k = stack.pop()
        order.append(k)
        stack.extend(reversed(children.get(k, [])))
    if len(order) != len(parents):
        raise KineticGanError("write BVH: the parents do not form one tree")
    return order
