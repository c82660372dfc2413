"""Skeletons and their graph pyramids (plain data + numpy; no torch).

A skeleton is a tree of named joints. Kinetic-GAN grows it coarse-to-fine over a
*pyramid*: level 0 is the full skeleton, each coarser level keeps a subset of the
joints of the level below, and the top level is a single node. A coarse graph
connects two kept joints when the finer graph joins them through joints that were
dropped (so SpineBase–SpineShoulder become neighbours once SpineMid is gone).

Every level carries the ST-GCN *spatial* partition of its adjacency (Yan et al.
2018): with max hop 1 and a centre joint, three (V, V) matrices — the joint
itself, its neighbours at the same or a smaller distance to the centre
(centripetal), and its neighbours further away (centrifugal) — each column
normalized by the node degree (self loop included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.records.joint_tables import H36M_JOINTS, H36M_PARENTS, NTU_JOINTS, NTU_PARENTS

# Joints each coarser NTU level keeps (by name), finest first. The centre of every
# level is SpineShoulder, which survives up to the single-node top.
NTU_LEVELS = (
    ("SpineBase", "Neck", "ElbowLeft", "HandLeft", "ElbowRight", "HandRight",
     "KneeLeft", "AnkleLeft", "KneeRight", "AnkleRight", "SpineShoulder"),
    ("ElbowLeft", "ElbowRight", "KneeLeft", "KneeRight", "SpineShoulder"),
    ("SpineShoulder",),
)

H36M_LEVELS = (
    ("Hip", "RightKnee", "LeftKnee", "Thorax", "Head", "LeftElbow", "RightElbow"),
    ("Hip", "Thorax"),
    ("Thorax",),
)


@dataclass(frozen=True)
class Level:
    """One level of a graph pyramid."""

    joint_names: tuple[str, ...]
    kept: tuple[int, ...]  # for each node, its index in the next finer level (identity at level 0)
    center: int
    edges: tuple[tuple[int, int], ...]  # undirected, without self loops
    A: np.ndarray = field(repr=False)  # (3, V, V) spatial partition, float32

    @property
    def num_nodes(self) -> int:
        return len(self.joint_names)


@dataclass(frozen=True)
class Pyramid:
    levels: tuple[Level, ...]

    def upsample_neighbours(self, level: int) -> dict[int, tuple[int, ...]]:
        """For each node of ``level`` missing from ``level + 1``: its neighbours that are kept.

        Indices of the neighbours are node indices of the coarser level, ascending.
        """
        fine, coarse = self.levels[level], self.levels[level + 1]
        coarse_of = {f: c for c, f in enumerate(coarse.kept)}
        result: dict[int, tuple[int, ...]] = {}
        for node in range(fine.num_nodes):
            if node in coarse_of:
                continue
            nbrs = {b if a == node else a for a, b in fine.edges if node in (a, b)}
            result[node] = tuple(sorted(coarse_of[n] for n in nbrs if n in coarse_of))
        return result


@dataclass(frozen=True)
class Skeleton:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    channels: int
    pyramid: Pyramid = field(repr=False)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Bones as (parent, child) pairs."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def mirror(self) -> tuple[int, ...]:
        """Index of each joint's left/right twin (itself for joints on the mid-line)."""
        return _mirror(self.joint_names)

    def index(self, joint: str) -> int:
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise KineticGanError(f"skeleton {self.name}: no joint named {joint!r}") from None


def _mirror(names: tuple[str, ...]) -> tuple[int, ...]:
    swaps = (("Left", "Right"), ("Right", "Left"))
    out = []
    for name in names:
        twin = name
        for a, b in swaps:
            if a in name:
                twin = name.replace(a, b)
                break
        out.append(names.index(twin))
    return tuple(out)


MAX_HOP = 1


def _hop_distance(num_nodes: int, edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Shortest-path length between every pair of nodes (inf when unreachable)."""
    dist = np.full((num_nodes, num_nodes), np.inf)
    np.fill_diagonal(dist, 0)
    for a, b in edges:
        dist[a, b] = dist[b, a] = 1
    for k in range(num_nodes):  # Floyd–Warshall: the graphs have at most 25 nodes
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def spatial_partition(
    num_nodes: int, edges: tuple[tuple[int, int], ...], center: int
) -> np.ndarray:
    """ST-GCN spatial partition (self, same-or-outward, inward), max hop 1, column-normalized."""
    hop = _hop_distance(num_nodes, edges)
    adjacency = (hop <= MAX_HOP).astype(np.float64)
    normalized = adjacency / adjacency.sum(axis=0, keepdims=True)  # column j divided by deg(j)
    # ST-GCN measures the distance to the centre only up to the max hop (1): every joint
    # further away counts as equally far ("unreachable"), which decides the partitions.
    to_center = np.where(hop[:, center] <= MAX_HOP, hop[:, center], np.inf)
    # Entry [j, i]: node i gathers from neighbour j. Neighbours as far from the centre as
    # the node or further share one partition; neighbours nearer the centre form the other.
    j_not_closer = to_center[:, None] >= to_center[None, :]
    root = np.where(hop == 0, normalized, 0.0)
    outward = np.where((hop == 1) & j_not_closer, normalized, 0.0)
    inward = np.where((hop == 1) & ~j_not_closer, normalized, 0.0)
    return np.stack([root, outward, inward]).astype(np.float32)


def _coarse_edges(
    edges: tuple[tuple[int, int], ...], kept: tuple[int, ...], num_nodes: int
) -> tuple[tuple[int, int], ...]:
    """Join kept nodes that the finer graph connects through dropped nodes only."""
    keep = set(kept)
    nbrs: dict[int, set[int]] = {n: set() for n in range(num_nodes)}
    for a, b in edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    new_index = {old: new for new, old in enumerate(kept)}
    found: set[tuple[int, int]] = set()
    for start in kept:
        stack, seen = list(nbrs[start]), {start}
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in keep:
                pair = sorted((new_index[start], new_index[node]))
                found.add((pair[0], pair[1]))
            else:
                stack.extend(nbrs[node])
    return tuple(sorted(found))


def build_pyramid(
    joint_names: tuple[str, ...],
    parents: tuple[int, ...],
    coarse_levels: tuple[tuple[str, ...], ...],
) -> Pyramid:
    center_name = coarse_levels[-1][0]
    edges = tuple(sorted((min(p, c), max(p, c)) for c, p in enumerate(parents) if p >= 0))
    names = joint_names
    kept: tuple[int, ...] = tuple(range(len(names)))
    levels = []
    for next_names in (*coarse_levels, None):
        center = names.index(center_name)
        levels.append(
            Level(names, kept, center, edges, spatial_partition(len(names), edges, center))
        )
        if next_names is None:
            break
        # Coarse nodes keep the order they have in the finer level.
        kept = tuple(sorted(names.index(n) for n in next_names))
        edges = _coarse_edges(edges, kept, len(names))
        names = tuple(names[i] for i in kept)
    return Pyramid(tuple(levels))


@cache
def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up: "ntu" (NTU RGB+D 25 joints, 3D), "ntu2d" (2D) or "h36m" (16 joints)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in ("ntu", "ntu25", "ntu60", "ntu120", "ntu2d"):
        channels = 2 if key == "ntu2d" else 3
        pyramid = build_pyramid(NTU_JOINTS, NTU_PARENTS, NTU_LEVELS)
        return Skeleton(
            "ntu2d" if channels == 2 else "ntu", NTU_JOINTS, NTU_PARENTS, channels, pyramid
        )
    if key in ("h36m", "h36m16", "human36m"):
        pyramid = build_pyramid(H36M_JOINTS, H36M_PARENTS, H36M_LEVELS)
        return Skeleton("h36m", H36M_JOINTS, H36M_PARENTS, 3, pyramid)
    raise KineticGanError(f"unknown skeleton {name!r}: expected one of ntu, ntu2d, h36m")


SKELETON_NAMES = ("ntu", "ntu2d", "h36m")
