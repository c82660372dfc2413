"""The fast retargeting path: rig plans cached per rest pose, the swing of a perpendicular
axis, frames posed independently, bone-map presets read once (numpy only, no Blender)."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan_blender.core import body, bone_map, motion_samples
from kinetic_gan_blender.core import retarget as rt
from kinetic_gan_blender.core.retarget.plan import plan_for
from kinetic_gan_blender.core.rotations import swing_perpendicular
from kinetic_gan_blender.core.vectors import cross, normalize

RIG = rt.RigRest.default_character()
IDENTITY = {b.name: b.name for b in body.CANONICAL_BONES}
NAMES = body.NTU_JOINTS


def rolled(rig: rt.RigRest, bone: str, degrees: float) -> rt.RigRest:
    """The same rig with one bone's roll (rotation about its own Y axis) changed."""
    a = np.radians(degrees)
    about_y = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    matrices = rig.matrices.copy()
    matrices[rig.index(bone)] = matrices[rig.index(bone)] @ about_y
    return rt.RigRest(rig.bone_names, rig.parents, rig.heads, rig.tails, matrices)


def test_a_plan_is_reused_for_an_equal_rest_pose_and_rebuilt_when_it_changes():
    copy = rt.RigRest(RIG.bone_names, RIG.parents, RIG.heads.copy(), RIG.tails.copy(),
                      RIG.matrices.copy())
    assert plan_for(copy, IDENTITY, NAMES) is plan_for(RIG, IDENTITY, NAMES)
    assert plan_for(rolled(RIG, "forearm.L", 30), IDENTITY, NAMES) is not plan_for(
        RIG, IDENTITY, NAMES
    )
    fewer = {k: v for k, v in IDENTITY.items() if k != "thumb.R"}
    assert len(plan_for(RIG, fewer, NAMES).driver_bones) == len(IDENTITY) - 1


def test_a_changed_roll_changes_the_local_keys_but_not_the_world_pose():
    joints = motion_samples.walk_cycle(16)
    plain = rt.retarget(joints, NAMES, RIG, IDENTITY)
    other = rt.retarget(joints, NAMES, rolled(RIG, "forearm.L", 30), IDENTITY)
    k = plain.bone_names.index("forearm.L")
    assert not np.allclose(plain.rotations[:, k], other.rotations[:, k], atol=1e-3)
    b = RIG.index("forearm.L")
    # Posed in the bone's own rest frame: the world X axis turns with the roll, Y does not.
    assert np.allclose(plain.world_rotations[:, b, :, 1], other.world_rotations[:, b, :, 1])


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rodrigues' formula for the smallest rotation taking unit a onto unit b."""
    axis, sin = normalize(np.cross(a, b))
    cos = np.dot(a, b)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + sin * k + (1 - cos) * k @ k


def test_swing_moves_a_perpendicular_axis_like_the_shortest_arc():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, _ = normalize(rng.normal(size=3))
        b, _ = normalize(rng.normal(size=3))
        u, _ = normalize(cross(a, rng.normal(size=3)))
        assert np.allclose(swing_perpendicular(u, a, b), shortest_arc(a, b) @ u, atol=1e-12)


def test_swing_onto_the_same_opposite_or_no_direction_stays_a_rotation():
    a, u = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    assert np.allclose(swing_perpendicular(u, a, a), u)
    assert np.allclose(swing_perpendicular(u, a, np.zeros(3)), u)  # no target: no swing
    flipped = swing_perpendicular(u, a, -a)  # half a turn about some normal of a
    assert np.isclose(np.linalg.norm(flipped), 1.0) and abs(flipped @ a) < 1e-12
    stack = swing_perpendicular(np.tile(u, (3, 1)), np.tile(a, (3, 1)), np.stack([a, -a, a]))
    assert np.allclose(stack[1], flipped) and np.allclose(stack[[0, 2]], u)


def test_frames_are_posed_independently_of_the_rest_of_the_take():
    # Bar what looks at neighbouring frames by design — planted legs reaching for the
    # floor (off here) and the roll of a straight limb (this walk's limbs are bent enough).
    joints = motion_samples.walk_cycle(24).astype(np.float64)
    joints += np.random.default_rng(1).normal(scale=0.02, size=joints.shape)
    whole = rt.retarget(joints, NAMES, RIG, IDENTITY, snap_to_floor=False).rotations
    for t in (0, 7, 23):
        alone = rt.retarget(joints[t : t + 1], NAMES, RIG, IDENTITY, snap_to_floor=False)
        alone = alone.rotations[0]
        same_sign = np.sign(np.sum(alone * whole[t], axis=-1, keepdims=True))
        assert np.allclose(alone * same_sign, whole[t], atol=1e-7)


@pytest.mark.parametrize("frames", [1, 600])
def test_short_and_long_takes_give_unit_keys_for_every_frame(frames):
    take = rt.retarget(motion_samples.walk_cycle(frames), NAMES, RIG, IDENTITY)
    assert take.rotations.shape == (frames, len(IDENTITY), 4)
    assert take.world_rotations.shape == (frames, len(RIG.bone_names), 3, 3)
    assert np.allclose(np.linalg.norm(take.rotations, axis=-1), 1.0)


def test_preset_bone_maps_are_independent_copies():
    first = bone_map.load_bone_map("mixamo")
    first.bones["hips"] = ("edited",)
    assert bone_map.load_bone_map("mixamo").bones["hips"] != ("edited",)
    assert bone_map.best_preset(["mixamorig:Hips", "mixamorig:Spine"]) == "mixamo"
