"""Retargeting maths (numpy only, no Blender): joints in the dataset frame → rig rotations."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan_blender.core import body, motion_samples
from kinetic_gan_blender.core import retarget as rt
from kinetic_gan_blender.core.rotations import quaternion_from_matrix

RIG = rt.RigRest.default_character()
IDENTITY = {b.name: b.name for b in body.CANONICAL_BONES}
NAMES = body.NTU_JOINTS
J = {name: i for i, name in enumerate(NAMES)}
MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def walk(frames: int = 48, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    joints = motion_samples.walk_cycle(frames).astype(np.float64)
    if noise:
        joints += np.random.default_rng(seed).normal(scale=noise, size=joints.shape)
    return joints


def pose(joints: np.ndarray, **kwargs) -> tuple[rt.Retargeted, np.ndarray, np.ndarray, np.ndarray]:
    take = rt.retarget(joints, NAMES, RIG, IDENTITY, **kwargs)
    rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
    root = {take.root_bone: take.root_location}
    world, heads, tails = rt.forward_kinematics(RIG, rotations, root)
    return take, world, heads, tails


def bone_direction_errors_deg(joints: np.ndarray, heads: np.ndarray, tails: np.ndarray) -> dict:
    points = rt.dataset_to_blender(joints)
    errors = {}
    for bone in body.CANONICAL_BONES:
        b = RIG.index(bone.name)
        want = points[:, J[bone.tail]] - points[:, J[bone.head[0]]]
        got = tails[:, b] - heads[:, b]
        cos = np.sum(want * got, -1) / np.linalg.norm(want, axis=-1) / np.linalg.norm(got, axis=-1)
        errors[bone.name] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())
    return errors


def test_dataset_to_blender_is_a_proper_rotation_facing_minus_y():
    m = rt.DATASET_TO_BLENDER
    assert np.allclose(m @ m.T, np.eye(3)) and np.isclose(np.linalg.det(m), 1.0)
    assert np.allclose(m @ [0, 0, -1], [0, -1, 0])  # facing -Z (towards the camera) -> -Y
    assert np.allclose(m @ [-1, 0, 0], [1, 0, 0])  # subject's left (-X) -> +X, the rig's left
    assert np.allclose(m @ [0, 1, 0], [0, 0, 1])  # up stays up


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_forward_kinematics_reproduces_every_bone_direction_within_2_degrees(noise):
    from kinetic_gan_blender.core.retarget.grounding import MAX_TURN_DEG

    joints = walk(noise=noise)
    _, _, heads, tails = pose(joints, snap_to_floor=False)
    errors = bone_direction_errors_deg(joints, heads, tails)
    assert max(errors.values()) < 2.0, errors
    # Grounded, planted legs may bend or stretch at the knee to reach the floor, within
    # ``MAX_TURN_DEG``; nothing else changes.
    _, _, heads, tails = pose(joints)
    errors = bone_direction_errors_deg(joints, heads, tails)
    legs = {n for n in errors if n.split(".")[0] in ("thigh", "shin")}
    assert max(errors[n] for n in legs) < MAX_TURN_DEG + 2.0, errors
    assert max(errors[n] for n in errors.keys() - legs) < 2.0, errors


def test_left_joints_drive_left_bones():
    joints = walk(8)
    # Raise the performer's left arm straight up (left is -X in the dataset frame).
    shoulder = joints[:, J["ShoulderLeft"]]
    for k, joint in enumerate(["ElbowLeft", "WristLeft", "HandLeft", "HandTipLeft"]):
        joints[:, J[joint]] = shoulder + np.array([0.0, 0.28 * (k + 1), 0.0])
    _, _, heads, tails = pose(joints)
    left, right = RIG.index("hand.L"), RIG.index("hand.R")
    assert np.all(tails[:, left, 2] > heads[:, RIG.index("head"), 2])  # above the head
    assert np.all(tails[:, right, 2] < heads[:, RIG.index("hips"), 2] + 0.2)  # still low
    assert np.all(heads[:, left, 0] > 0)  # on the rig's left side (+X)


def mirrored(joints: np.ndarray) -> np.ndarray:
    swapped = joints[:, [J[body.mirror_name(n)] for n in NAMES]]
    return swapped * [-1.0, 1.0, 1.0]


def test_mirrored_input_gives_the_mirrored_pose():
    joints = walk(noise=0.01, seed=3)
    _, world, heads, tails = pose(joints)
    _, world_m, heads_m, tails_m = pose(mirrored(joints))
    for name in RIG.bone_names:
        b, m = RIG.index(name), RIG.index(body.mirror_name(name))
        assert np.allclose(heads_m[:, m], heads[:, b] @ MIRROR_X, atol=1e-6), name
        assert np.allclose(tails_m[:, m], tails[:, b] @ MIRROR_X, atol=1e-6), name
        # Twist too: a mirrored bone's X axis is the mirror image, negated (its roll mirrors).
        assert np.allclose(world_m[:, m, :, 0], -world[:, b, :, 0] @ MIRROR_X, atol=1e-6), name


def test_spine_twist_follows_the_hips_and_shoulders():
    joints = walk(16)
    yaw = np.radians(70)
    rot_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    joints = joints @ rot_y.T
    _, world, _, _ = pose(joints)
    points = rt.dataset_to_blender(joints)
    for bone, (right, left) in {
        "hips": ("HipRight", "HipLeft"),
        "spine": ("ShoulderRight", "ShoulderLeft"),
    }.items():
        side = points[:, J[left]] - points[:, J[right]]
        axis = world[:, RIG.index(bone), :, 1]
        side -= np.sum(side * axis, -1, keepdims=True) * axis
        side /= np.linalg.norm(side, axis=-1, keepdims=True)
        # The rig's bone X axis points to its left in rest; it must follow the performer's.
        assert np.all(np.sum(world[:, RIG.index(bone), :, 0] * side, -1) > np.cos(np.radians(3)))


def test_knee_hinge_follows_the_leg_plane():
    joints = walk(32)
    _, world, _, _ = pose(joints)
    points = rt.dataset_to_blender(joints)
    hip, knee, ankle = (points[:, J[n]] for n in ("HipLeft", "KneeLeft", "AnkleLeft"))
    hinge = np.cross(knee - hip, ankle - knee)
    bent = (
        np.linalg.norm(hinge, axis=-1)
        / (np.linalg.norm(knee - hip, axis=-1) * np.linalg.norm(ankle - knee, axis=-1))
        > 0.35
    )
    assert bent.sum() > 4
    hinge = hinge[bent] / np.linalg.norm(hinge[bent], axis=-1, keepdims=True)
    # The default rig's knee hinge is its X axis (the shin bends backwards, towards +Y).
    shin_x = world[bent, RIG.index("shin.L"), :, 0]
    assert np.all(np.abs(np.sum(shin_x * hinge, -1)) > np.cos(np.radians(3)))


def frame_to_frame_angles_deg(world: np.ndarray) -> np.ndarray:
    relative = np.swapaxes(world[:-1], -1, -2) @ world[1:]
    w = quaternion_from_matrix(relative)[..., 0]
    return np.degrees(2 * np.arccos(np.clip(w, -1, 1)))


def test_limbs_do_not_spin_when_an_arm_straightens():
    joints = walk(40)
    shoulder = joints[:, J["ShoulderLeft"]]
    # Elbow bend goes from 90° to perfectly straight (the hinge plane vanishes) and back.
    bend = np.radians(90) * np.abs(np.cos(np.linspace(0, np.pi, 40)))
    upper = np.array([0.0, -1.0, 0.0])
    fore = np.stack([np.zeros(40), -np.cos(bend), -np.sin(bend)], axis=1)
    elbow = shoulder + 0.28 * upper
    joints[:, J["ElbowLeft"]] = elbow
    joints[:, J["WristLeft"]] = elbow + 0.26 * fore
    joints[:, J["HandLeft"]] = elbow + 0.33 * fore
    joints[:, J["HandTipLeft"]] = elbow + 0.41 * fore
    joints[:, J["ThumbLeft"]] = elbow + 0.35 * fore + [0.0, 0.0, -0.04]
    _, world, _, _ = pose(joints)
    steps = frame_to_frame_angles_deg(world)
    assert np.all(np.isfinite(steps))
    assert steps.max() < 20.0, steps.max(axis=0)


def roll_steps_deg(world: np.ndarray) -> np.ndarray:
    """Frame-to-frame turn of each bone about its own Y axis (its roll), (T - 1, B)."""
    relative = np.swapaxes(world[:-1], -1, -2) @ world[1:]
    q = quaternion_from_matrix(relative)
    return np.degrees(2 * np.abs(np.arctan2(q[..., 2], q[..., 0])))


def arm_with_a_turned_thumb(bend_deg: np.ndarray, thumb_deg: float) -> np.ndarray:
    """The walk, its left arm hanging with the elbow bent forward by ``bend_deg`` (T,) and
    the thumb turned ``thumb_deg`` about the forearm away from the elbow's bend."""
    frames = len(bend_deg)
    joints = walk(frames)
    shoulder = joints[:, J["ShoulderLeft"]]
    bend = np.radians(bend_deg)
    fore = np.stack([np.zeros(frames), -np.cos(bend), -np.sin(bend)], axis=1)
    # Towards the bend (dataset -Z) is "forward" for the thumb; turn it about the forearm.
    towards = np.stack([np.zeros(frames), np.sin(bend), -np.cos(bend)], axis=1)
    side = np.array([-1.0, 0.0, 0.0])  # the performer's left
    a = np.radians(thumb_deg)
    thumb = np.cos(a) * towards + np.sin(a) * side
    elbow = shoulder + 0.28 * np.array([0.0, -1.0, 0.0])
    joints[:, J["ElbowLeft"]] = elbow
    joints[:, J["WristLeft"]] = elbow + 0.26 * fore
    joints[:, J["HandLeft"]] = elbow + 0.33 * fore
    joints[:, J["HandTipLeft"]] = elbow + 0.41 * fore
    joints[:, J["ThumbLeft"]] = elbow + 0.33 * fore + 0.04 * thumb
    return joints


@pytest.mark.parametrize("thumb_deg", [0.0, 120.0, 160.0])
def test_roll_stays_continuous_when_an_arm_straightens_and_bends_again(thumb_deg):
    # The elbow plane and the thumb disagree by up to 160° (a hand turned round, an elbow
    # bending the other way): straightening must not hand the roll over to the thumb.
    bend = 60.0 * np.abs(np.cos(np.linspace(0, np.pi, 40)))
    _, world, _, _ = pose(arm_with_a_turned_thumb(bend, thumb_deg))
    arm = [RIG.index(n) for n in ("upper_arm.L", "forearm.L")]
    steps = roll_steps_deg(world[:, arm])
    assert steps.max() < 10.0, steps.max(axis=0)
    # Straight, the arm keeps the roll it had bent: the bent frames' elbow hinge.
    straight = np.argmin(bend)
    hinge_x = world[0, RIG.index("forearm.L"), :, 0]
    assert np.dot(world[straight, RIG.index("forearm.L"), :, 0], hinge_x) > np.cos(np.radians(15))


def test_roll_stays_continuous_when_a_limb_snaps_straight_within_a_frame():
    # Generated takes straighten a bent limb from one frame to the next: the hinge plane
    # vanishes at once, so no fade can smooth the hand-over. The roll must stay put.
    bend = np.full(24, 25.0)
    bend[9:14] = 0.2
    _, world, _, _ = pose(arm_with_a_turned_thumb(bend, 150.0))
    steps = roll_steps_deg(world[:, [RIG.index("upper_arm.L"), RIG.index("forearm.L")]])
    assert steps.max() < 10.0, steps.max(axis=0)


def test_a_limb_never_bent_takes_its_roll_from_the_next_reference():
    # No frame defines the elbow plane, so the thumb alone sets the forearm's roll.
    bend = np.zeros(12)
    _, world, _, _ = pose(arm_with_a_turned_thumb(bend, 0.0))
    _, turned, _, _ = pose(arm_with_a_turned_thumb(bend, 90.0))
    fore = RIG.index("forearm.L")
    cos = np.sum(world[:, fore, :, 0] * turned[:, fore, :, 0], -1)
    assert np.allclose(cos, 0.0, atol=0.02)  # the thumb turned 90°, and so did the forearm


def test_fingers_keep_their_roll_when_the_thumb_folds_along_them():
    # A generated hand (the shipped model's walk, seed 3): fingers bent 90° from the hand,
    # the thumb folding onto them within a frame. The fingers' only twist reference is
    # gone then; falling back on the swung axis turned them by 110° in one frame.
    # Their roll is carried instead (retarget._held_roll).
    frames = 30
    joints = arm_with_a_turned_thumb(np.full(frames, 30.0), 0.0)
    hand = joints[:, J["HandLeft"]]
    fingers = np.array([0.0, 0.0, -0.08])  # forward, square to the hanging hand
    joints[:, J["HandTipLeft"]] = hand + fingers
    # The thumb: sideways at first, folding onto the fingers by 10° a frame from frame 8.
    fold = np.radians(np.clip((np.arange(frames) - 8) * 10.0, 0.0, 90.0))
    side = np.array([0.04, 0.0, 0.0])
    joints[:, J["ThumbLeft"]] = hand + np.cos(fold)[:, None] * side + np.sin(fold)[:, None] * (
        0.5 * fingers)
    _, world, _, _ = pose(joints)
    steps = roll_steps_deg(world[:, [RIG.index("fingers.L")]])
    assert steps.max() < 20.0, steps.max(axis=0)  # 59° in one frame without the carry


def test_degenerate_frames_give_finite_unit_quaternions():
    joints = walk(6)
    joints[1] = joints[1, J["SpineBase"]]  # every bone has zero length
    joints[2, J["ElbowLeft"]] = joints[2, J["ShoulderLeft"]]  # one zero-length bone
    s = joints[3, J["ShoulderRight"]]
    for k, joint in enumerate(["ElbowRight", "WristRight", "HandRight", "HandTipRight"]):
        joints[3, J[joint]] = s + np.array([0.0, -0.1 * (k + 1), 0.0])  # a perfectly straight arm
    joints[4, J["KneeLeft"]] = joints[4, J["HipLeft"]] + [0, 0.4, 0]  # leg folded onto itself
    take, world, heads, _ = pose(joints)
    assert np.all(np.isfinite(take.rotations)) and np.all(np.isfinite(take.root_location))
    assert np.allclose(np.linalg.norm(take.rotations, axis=-1), 1.0)
    assert np.all(np.isfinite(world)) and np.all(np.isfinite(heads))


def test_quaternions_are_continuous_in_time():
    take, _, _, _ = pose(walk(64))
    dots = np.sum(take.rotations[1:] * take.rotations[:-1], axis=-1)
    assert np.all(dots > 0)


def test_performer_scale_matches_the_rig_legs():
    joints = walk(16)
    small = pose(joints)[0].scale
    assert pose(joints * 2.0)[0].scale == pytest.approx(small / 2, rel=1e-6)
    # Scale changes nothing but the size: the same rotations (with the legs not reaching
    # for the floor, since what counts as planted is judged in the performer's metres).
    twice, once = (pose(j, snap_to_floor=False)[0].rotations for j in (joints * 2.0, joints))
    assert np.allclose(twice, once, atol=1e-6)


def test_snap_to_floor_and_in_place():
    joints = walk(64)
    joints[..., 1] += 0.7  # NTU's floor is arbitrary
    _, _, heads, tails = pose(joints, snap_to_floor=True)
    foot_l, foot_r = RIG.index("foot.L"), RIG.index("foot.R")
    lowest = np.minimum(tails[:, foot_l, 2], tails[:, foot_r, 2])
    rest_floor = RIG.tails[foot_l, 2]
    # The rig's legs are not the performer's, so its feet land within a centimetre.
    assert lowest.min() > rest_floor - 0.01
    assert np.percentile(lowest, 5) == pytest.approx(rest_floor, abs=0.01)
    hips = RIG.index("hips")
    assert np.allclose(heads[0, hips, :2], RIG.heads[hips, :2])  # takes start on the rig
    assert np.ptp(heads[:, hips, 1]) > 1.0  # walked forward more than a metre
    _, _, heads_ip, _ = pose(joints, in_place=True)
    assert np.allclose(heads_ip[:, hips, :2], RIG.heads[hips, :2])


def test_smoothing_removes_jitter_without_lag_on_a_still_pose():
    still = np.repeat(walk(1), 32, axis=0)
    noisy = still + np.random.default_rng(1).normal(scale=0.01, size=still.shape)
    rough = frame_to_frame_angles_deg(pose(noisy)[1]).mean()
    smooth = frame_to_frame_angles_deg(pose(noisy, smoothing=2.0)[1]).mean()
    assert smooth < rough / 3
    assert np.allclose(rt.smooth(still, 2.0), still)


def test_h36m_joint_names_drive_the_rig_by_name():
    h36m = ("Hip", "RightHip", "RightKnee", "RightFoot", "LeftHip", "LeftKnee", "LeftFoot",
            "Spine", "Thorax", "Head", "LeftShoulder", "LeftElbow", "LeftWrist",
            "RightShoulder", "RightElbow", "RightWrist")
    ntu_of = {n: body.JOINT_ALIASES.get(n, n) for n in h36m}
    joints = walk(16)[:, [J[ntu_of[n]] for n in h36m]]
    take = rt.retarget(joints, h36m, RIG, IDENTITY)
    driven = set(take.bone_names)
    assert {"hips", "spine", "head", "thigh.L", "shin.R", "upper_arm.L", "forearm.R"} <= driven
    assert not driven & {"hand.L", "foot.R", "fingers.L", "neck"}
    assert any(s.startswith("foot.L") for s in take.skipped)


def test_bones_the_rig_lacks_are_skipped_with_a_reason():
    take = rt.retarget(walk(4), NAMES, RIG, {**IDENTITY, "thumb.L": "no_such_bone"})
    assert "thumb.L" not in take.bone_names
    assert any("no_such_bone" in s for s in take.skipped)


@pytest.mark.parametrize(
    ("joints", "names", "message"),
    [
        (np.zeros((4, 25)), NAMES, "shape"),
        (np.zeros((4, 24, 3)), NAMES, "24 joints but 25 names"),
        (np.full((4, 25, 3), np.nan), NAMES, "NaN"),
        (np.zeros((4, 2, 3)), ("a", "b"), "no root joint"),
    ],
)
def test_bad_joints_raise_one_clear_error(joints, names, message):
    with pytest.raises(rt.RetargetError, match=message):
        rt.retarget(joints, names, RIG, IDENTITY)


def test_the_addon_ntu_tree_is_the_backend_one():
    # Exported .npz files carry the add-on's table, so it must be the true Kinect tree.
    from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

    assert body.NTU_JOINTS == NTU_JOINTS
    assert body.NTU_PARENTS == NTU_PARENTS


def with_bone_pointing(rig: rt.RigRest, bone: str, direction, length: float) -> rt.RigRest:
    """The same rig with one bone's tail (and so its axes) turned to ``direction``."""
    b = rig.index(bone)
    y = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    helper = np.array([0.0, -1.0, 0.0]) if abs(y[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    z = np.cross(helper, y)
    z /= np.linalg.norm(z)
    matrices, tails = rig.matrices.copy(), rig.tails.copy()
    matrices[b] = np.stack([np.cross(y, z), y, z], axis=1)
    tails[b] = rig.heads[b] + length * y
    return rt.RigRest(rig.bone_names, rig.parents, rig.heads, tails, matrices)


@pytest.mark.parametrize(
    "direction", [(0.0, 0.37, -0.93), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -0.6, 0.8)]
)
def test_a_root_bone_pointing_anywhere_is_aimed_by_its_rest_relation_to_the_joints(direction):
    # Blender's BVH importer gives Mixamo's Hips a 1.2 cm tail pointing down and back.
    rig = with_bone_pointing(RIG, "hips", direction, 0.012)
    joints = walk(32)
    take = rt.retarget(joints, NAMES, rig, IDENTITY)
    rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
    _, heads, tails = rt.forward_kinematics(rig, rotations, {"hips": take.root_location})
    points = rt.dataset_to_blender(joints)

    def angle(got, want):
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        return np.degrees(np.arccos(np.clip(cos, -1, 1))).max()

    spine, hips = RIG.index("spine"), RIG.index("hips")
    pelvis_up = heads[:, spine] - heads[:, hips]
    assert angle(pelvis_up, points[:, J["SpineMid"]] - points[:, J["SpineBase"]]) < 1.0
    hip_line = heads[:, RIG.index("thigh.L")] - heads[:, RIG.index("thigh.R")]
    assert angle(hip_line, points[:, J["HipLeft"]] - points[:, J["HipRight"]]) < 2.0
    for bone in body.CANONICAL_BONES:
        if bone.name != "hips":
            b = RIG.index(bone.name)
            want = points[:, J[bone.tail]] - points[:, J[bone.head[0]]]
            assert angle(tails[:, b] - heads[:, b], want) < 2.0, bone.name


def test_a_bone_that_stops_short_of_its_joint_still_points_at_it():
    # Rigify's deform bones are half limbs: the thigh ends halfway to the knee.
    b = RIG.index("thigh.L")
    tails = RIG.tails.copy()
    tails[b] = (RIG.heads[b] + RIG.tails[b]) / 2
    half = rt.RigRest(RIG.bone_names, RIG.parents, RIG.heads, tails, RIG.matrices)
    joints = walk(16)
    assert rt.retarget(joints, NAMES, half, IDENTITY).scale == pytest.approx(
        rt.retarget(joints, NAMES, RIG, IDENTITY).scale  # leg length is measured joint to joint
    )


def test_unmapped_bones_between_mapped_ones_are_keyed_at_rest():
    partial = {k: v for k, v in IDENTITY.items() if k not in ("spine", "forearm.L")}
    take = rt.retarget(walk(8), NAMES, RIG, partial)
    # Between driven bones (the solver assumes them at rest): keyed at rest. The root and
    # the leaves below the last driven bone are the artist's.
    assert set(take.rest_bones) == {"spine", "forearm.L"}
    hidden = rt.RigRest(RIG.bone_names, RIG.parents, RIG.heads, RIG.tails, RIG.matrices,
                        posable=tuple(n != "spine" for n in RIG.bone_names))
    assert rt.retarget(walk(8), NAMES, hidden, partial).rest_bones == ("forearm.L",)


def with_copy_of(rig: rt.RigRest, copied: str, child: str) -> rt.RigRest:
    """The rig with a bone that copies ``copied`` (its sibling) inserted as ``child``'s parent."""
    b, c = rig.index(copied), rig.index(child)
    order = [*range(b + 1), -1, *range(b + 1, len(rig.bone_names))]  # -1: the copy
    new_index = {old: k for k, old in enumerate(order)}
    copy = order.index(-1)
    parents = [rig.parents[b] if old < 0 else rig.parents[old] for old in order]
    parents = [new_index[p] if p >= 0 else -1 for p in parents]
    parents[new_index[c]] = copy
    pick = [b if old < 0 else old for old in order]
    follows = tuple(new_index[b] if old < 0 else -1 for old in order)
    names = tuple(f"copy-{copied}" if old < 0 else rig.bone_names[old] for old in order)
    return rt.RigRest(names, tuple(parents), rig.heads[pick], rig.tails[pick],
                      rig.matrices[pick], follows)


def test_a_bone_copying_another_follows_it():
    # Rigify's ORG-shoulder copies the shoulder control, and the upper arm hangs below it.
    rig = with_copy_of(RIG, "shoulder.L", "upper_arm.L")
    joints = walk(16)
    take = rt.retarget(joints, NAMES, rig, IDENTITY)
    plain = rt.retarget(joints, NAMES, RIG, IDENTITY)
    k, j = take.bone_names.index("upper_arm.L"), plain.bone_names.index("upper_arm.L")
    assert np.allclose(take.rotations[:, k], plain.rotations[:, j], atol=1e-9)
    with pytest.raises(rt.RetargetError, match="copied bones must come first"):
        rt.RigRest(RIG.bone_names[:2], (-1, 0), RIG.heads[:2], RIG.tails[:2], RIG.matrices[:2],
                   (1, -1))


def test_feet_are_grounded_by_the_rigs_own_legs():
    # A rig whose hips sit 8 cm higher over its legs than the performer's: grounding the
    # performer's feet would leave its feet 8 cm in the air.
    lifted = RIG.heads.copy(), RIG.tails.copy()
    legs = {"thigh", "shin", "foot"}
    for k, name in enumerate(RIG.bone_names):
        if name.split(".")[0] not in legs:
            lifted[0][k, 2] += 0.08
            lifted[1][k, 2] += 0.08
    for k, name in enumerate(RIG.bone_names):
        if name.startswith("thigh"):
            lifted[0][k, 2] += 0.08  # the thigh starts at the lifted hip
    rig = rt.RigRest(RIG.bone_names, RIG.parents, *lifted, RIG.matrices)
    joints = walk(64)
    take = rt.retarget(joints, NAMES, rig, IDENTITY)
    rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
    _, heads, tails = rt.forward_kinematics(rig, rotations, {"hips": take.root_location})
    feet = [rig.index("foot.L"), rig.index("foot.R")]
    lowest = np.minimum(heads[:, feet, 2], tails[:, feet, 2]).min(axis=1)
    floor = min(rig.tails[feet, 2].min(), rig.heads[feet, 2].min())
    assert np.percentile(lowest, 5) == pytest.approx(floor, abs=0.01)
    assert lowest.min() > floor - 1e-6


def odd_legs(rig: rt.RigRest, foot: float = 2.0, knee_up: float = 0.08) -> rt.RigRest:
    """The rig with feet ``foot`` times as long and knees ``knee_up`` higher (shorter
    thighs, longer shins): legs and feet shaped otherwise than the performer's."""
    heads, tails = rig.heads.copy(), rig.tails.copy()
    for s in "LR":
        f, shin, thigh = (rig.index(f"{b}.{s}") for b in ("foot", "shin", "thigh"))
        tails[f] = heads[f] + foot * (tails[f] - heads[f])
        heads[shin, 2] += knee_up
        tails[thigh, 2] += knee_up
    return rt.RigRest(rig.bone_names, rig.parents, heads, tails, rig.matrices)


def stance(pelvis: np.ndarray, feet: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Joints (T, 25, 3), dataset frame: the walk's upper body over ``pelvis`` (T, 3), each
    foot's ankle and toe where ``feet`` puts them (side → ((T, 3), (T, 3))), the knees
    placed between (bent forward) for the walk's thigh and shin lengths."""
    base = walk(1)[0]
    joints = np.repeat(base[None], len(pelvis), axis=0) + (pelvis - base[J["SpineBase"]])[:, None]
    forward = np.array([0.0, 0.0, -1.0])
    for side, (ankle, toe) in feet.items():
        hip = joints[:, J[f"Hip{side}"]]
        a = np.linalg.norm(base[J[f"Knee{side}"]] - base[J[f"Hip{side}"]])
        b = np.linalg.norm(base[J[f"Ankle{side}"]] - base[J[f"Knee{side}"]])
        line = ankle - hip
        d = np.linalg.norm(line, axis=-1, keepdims=True)
        axis = line / d
        pole = forward - np.sum(forward * axis, -1, keepdims=True) * axis
        pole /= np.linalg.norm(pole, axis=-1, keepdims=True)
        along = (a * a - b * b + d * d) / (2 * d)
        knee = hip + along * axis + np.sqrt(np.maximum(a * a - along**2, 0)) * pole
        joints[:, J[f"Knee{side}"]], joints[:, J[f"Ankle{side}"]] = knee, ankle
        joints[:, J[f"Foot{side}"]] = toe
    return joints


def planted_feet(joints: np.ndarray, rig: rt.RigRest) -> tuple[np.ndarray, np.ndarray]:
    """Per foot and frame (all planted here): the rig's lowest foot joint over its rest
    floor minus the performer's over theirs (cm), and the rig's foot centre's horizontal
    travel per frame (mm), both in the performer's size."""
    take = rt.retarget(joints, NAMES, rig, IDENTITY)
    rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
    _, heads, tails = rt.forward_kinematics(rig, rotations, {"hips": take.root_location})
    points = rt.dataset_to_blender(joints)
    feet = [rig.index("foot.L"), rig.index("foot.R")]
    rig_floor = min(rig.tails[feet, 2].min(), rig.heads[feet, 2].min())
    rig_low = np.minimum(heads[:, feet, 2], tails[:, feet, 2]) - rig_floor
    ends = [(J[f"Ankle{s}"], J[f"Foot{s}"]) for s in ("Left", "Right")]
    data_low = np.stack([points[:, e, 2].min(axis=1) for e in ends], axis=1)
    gap = (rig_low / take.scale - (data_low - data_low.min())) * 100
    centre = (heads[:, feet, :2] + tails[:, feet, :2]) / 2 / take.scale
    slide = np.linalg.norm(np.diff(centre, axis=0), axis=-1) * 1000
    return gap, slide


HEEL = np.array([0.0, 0.06, 0.13])  # a standing foot's ankle from its toe, dataset frame


def test_both_planted_feet_meet_the_floor_on_a_rig_with_longer_feet_and_shorter_shins():
    # One foot flat, the other pushing off (heel up 35°, on its toe): a foot twice as long
    # drops its toe further below the ankle, so the two feet ask for root heights some
    # 2.7 cm apart and no root path alone serves both (each foot was 1.35 cm off). The
    # legs, bent a little, make up the difference.
    frames = 12
    hold = np.ones((frames, 1))
    pitch = np.radians(35)
    left_toe = np.array([0.09, 0.02, -0.20])
    right_toe = np.array([-0.09, 0.02, 0.05])
    left = (hold * (left_toe + HEEL), hold * left_toe)
    right = (hold * (right_toe + 0.15 * np.array([0.0, np.sin(pitch), np.cos(pitch)])),
             hold * right_toe)
    pelvis = hold * np.array([0.0, 0.88, -0.05])
    gap, slide = planted_feet(stance(pelvis, {"Left": left, "Right": right}), odd_legs(RIG))
    assert np.abs(gap).max() < 0.5, gap.max(axis=0)
    assert slide.max() < 0.1


def test_with_both_feet_planted_each_stays_on_its_spot():
    # A lunge, the hips rocking forward and back over both planted feet: with thighs and
    # shins of other proportions the rig's feet move against its hips otherwise than the
    # performer's, each its own way, so one drift of the root cannot hold both (each
    # slid 0.67 mm a frame, and stood up to 1.7 cm off the performer's height).
    frames = 40
    hold = np.ones((frames, 1))
    rock = 0.06 * np.sin(np.linspace(0, 2 * np.pi, frames))[:, None]
    left_toe, right_toe = np.array([0.09, 0.02, -0.32]), np.array([-0.09, 0.02, 0.12])
    left = (hold * (left_toe + HEEL), hold * left_toe)
    right = (hold * (right_toe + HEEL), hold * right_toe)
    pelvis = np.array([0.0, 0.80, -0.05]) + rock * np.array([0.0, 0.0, -1.0])
    rig = odd_legs(RIG, knee_up=0.04)
    gap, slide = planted_feet(stance(pelvis, {"Left": left, "Right": right}), rig)
    assert slide.max() < 0.2, slide.max(axis=0)  # mm a frame; the performer's feet: 0
    assert np.abs(gap).max() < 0.5, gap.max(axis=0)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_reach_moves_the_rigs_ankle_by_what_it_is_asked_and_keeps_the_foot():
    from kinetic_gan_blender.core.retarget import grounding
    from kinetic_gan_blender.core.retarget.plan import plan_for

    joints = walk(24)
    plan = plan_for(RIG, IDENTITY, NAMES)
    points = rt.dataset_to_blender(joints)
    world = np.swapaxes(rt.retarget(joints, NAMES, RIG, IDENTITY).world_rotations, 0, 1)
    hip, knee, ankle, toe = (J[f"{j}Left"] for j in ("Hip", "Knee", "Ankle", "Foot"))
    k = list(plan.reaching.sides).index(0)  # the left leg

    def rig_ankle(p: np.ndarray) -> np.ndarray:
        """The rig's ankle from its hip: its thigh and shin along the performer's."""
        thigh, shin = plan.reaching.lengths[k]
        return thigh * unit(p[:, knee] - p[:, hip]) + shin * unit(p[:, ankle] - p[:, knee])

    def hinge(p: np.ndarray) -> np.ndarray:
        return unit(np.cross(p[:, knee] - p[:, hip], p[:, ankle] - p[:, knee]))

    moves = np.zeros((len(plan.reaching.sides), len(joints), 3))
    moves[k] = [0.002, -0.003, 0.004]  # the left foot: a little out, back and up
    moved = grounding.reach(points, plan, world, moves)
    assert np.allclose(rig_ankle(moved) - rig_ankle(points), moves[k], atol=1e-9)
    right = [J["KneeRight"], J["AnkleRight"], J["FootRight"]]
    assert np.allclose(moved[:, right], points[:, right])  # the other leg stays
    assert np.allclose(moved[:, toe] - moved[:, ankle], points[:, toe] - points[:, ankle])
    assert np.allclose(moved[:, hip], points[:, hip])  # the foot keeps its direction, the hip
    # The knee stays in the leg's plane (the walk's knee is bent in every frame).
    assert np.all(np.sum(hinge(moved) * hinge(points), -1) > np.cos(np.radians(3)))

    # Asked for more than turning the thigh and shin MAX_TURN_DEG gives, a leg goes that
    # far the way it was asked ...
    moves[k] = [0.0, 0.0, 0.3]
    lifted = grounding.reach(points, plan, world, moves)
    for a, b in ((hip, knee), (knee, ankle)):
        turned = np.degrees(
            np.arccos(
                np.clip(
                    np.sum(
                        unit(lifted[:, b] - lifted[:, a]) * unit(points[:, b] - points[:, a]), -1
                    ),
                    -1,
                    1,
                )
            )
        )
        assert turned.max() < grounding.MAX_TURN_DEG * 1.01
    went = rig_ankle(lifted) - rig_ankle(points)
    assert np.all(went[:, 2] > 0.005) and np.allclose(went[:, :2], 0.0, atol=1e-9)
    # ... and asked to stretch further than it reaches, it stops short of straight (or as
    # straight as it was).
    moves[k] = [0.0, 0.0, -0.5]
    stretched = np.linalg.norm(rig_ankle(grounding.reach(points, plan, world, moves)), axis=-1)
    before = np.linalg.norm(rig_ankle(points), axis=-1)
    reach_max = grounding.FULL_REACH * plan.reaching.lengths[k].sum()
    assert np.all(stretched <= np.maximum(reach_max, before) + 1e-9)
    assert np.all(stretched >= before - 1e-9)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_keys_round_trip_and_stay_continuous(order):
    from kinetic_gan_blender.core.rotations import (
        continuous_euler,
        euler_from_matrix,
        matrix_from_euler,
        matrix_from_quaternion,
    )

    take = rt.retarget(walk(48), NAMES, RIG, IDENTITY)
    m = matrix_from_quaternion(take.rotations)
    angles = continuous_euler(euler_from_matrix(m, order), order)
    assert np.allclose(matrix_from_euler(angles, order), m, atol=1e-9)
    assert np.abs(np.diff(angles, axis=0)).max() < np.radians(60)  # no 2π jumps
    # A slow spin through several turns about each axis stays one smooth curve.
    spin = np.linspace(0, 6 * np.pi, 200)
    for axis in range(3):
        e = np.zeros((200, 3))
        e[:, axis] = spin
        e[:, (axis + 1) % 3] = 0.3
        back = continuous_euler(euler_from_matrix(matrix_from_euler(e, order), order), order)
        assert np.allclose(matrix_from_euler(back, order), matrix_from_euler(e, order), atol=1e-9)
        assert np.abs(np.diff(back, axis=0)).max() < 0.2


def test_axis_angle_keys_follow_the_quaternions():
    from kinetic_gan_blender.core.rotations import axis_angle_from_quaternion

    q = rt.retarget(walk(16), NAMES, RIG, IDENTITY).rotations
    aa = axis_angle_from_quaternion(q)
    back = np.concatenate([np.cos(aa[..., :1] / 2), np.sin(aa[..., :1] / 2) * aa[..., 1:]], -1)
    assert np.allclose(back, q, atol=1e-9)


def test_an_armature_lying_on_its_back_is_posed_in_the_world_as_one_standing():
    # FBX imports often keep Y-up bones under an object turned 90° about X.
    a = np.radians(-90)
    to_armature = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    lying = rt.RigRest(RIG.bone_names, RIG.parents, RIG.heads @ to_armature.T,
                       RIG.tails @ to_armature.T, to_armature @ RIG.matrices)
    joints = walk(24)

    def world_heads(rig, take, back):
        rotations = {n: take.rotations[:, k] for k, n in enumerate(take.bone_names)}
        _, heads, _ = rt.forward_kinematics(rig, rotations, {"hips": take.root_location})
        return heads @ back

    standing = world_heads(RIG, rt.retarget(joints, NAMES, RIG, IDENTITY), np.eye(3))
    take = rt.retarget(joints, NAMES, lying, IDENTITY, world_to_armature=to_armature)
    assert np.allclose(world_heads(lying, take, to_armature), standing, atol=1e-6)
