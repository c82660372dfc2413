"""Motion cleanup: constant bones, a zero-phase low-pass, feet held during contacts."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import damaged

from kinetic_gan import motion_cleanup as mc
from kinetic_gan.data import deepmimic, fetch
from kinetic_gan.data.build import clip_window
from kinetic_gan.metrics import plausibility
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

J = {name: i for i, name in enumerate(NTU_JOINTS)}
FPS = 30.0
FETCHED = fetch.deepmimic_dir()
needs_clips = pytest.mark.skipif(
    FETCHED is None, reason="DeepMimic clips not fetched (run `kinetic-gan data fetch`)"
)


def standing_pose() -> np.ndarray:
    """(25, 3) a T-less standing body facing −Z, left at −X, ankles 8 cm up, toes 2 cm up."""
    p = np.zeros((25, 3))
    p[J["SpineBase"]] = (0, 0.95, 0)
    p[J["SpineMid"]] = (0, 1.2, 0)
    p[J["SpineShoulder"]] = (0, 1.45, 0)
    p[J["Neck"]] = (0, 1.52, 0)
    p[J["Head"]] = (0, 1.7, 0)
    for side, x in (("Left", -1), ("Right", 1)):
        p[J[f"Shoulder{side}"]] = (0.18 * x, 1.42, 0)
        p[J[f"Elbow{side}"]] = (0.2 * x, 1.14, 0)
        p[J[f"Wrist{side}"]] = (0.21 * x, 0.9, 0)
        p[J[f"Hand{side}"]] = (0.21 * x, 0.84, 0)
        p[J[f"HandTip{side}"]] = (0.21 * x, 0.76, 0)
        p[J[f"Thumb{side}"]] = (0.21 * x, 0.82, -0.04)
        p[J[f"Hip{side}"]] = (0.09 * x, 0.9, 0)
        p[J[f"Knee{side}"]] = (0.09 * x, 0.5, -0.1)  # bent forward
        p[J[f"Ankle{side}"]] = (0.09 * x, 0.08, 0)
        p[J[f"Foot{side}"]] = (0.09 * x, 0.02, -0.14)
    return p


def still(frames: int = 40) -> np.ndarray:
    return np.repeat(standing_pose()[None], frames, axis=0)


def bones(joints: np.ndarray) -> np.ndarray:
    return mc.measure_bones(joints)


def real_clips() -> dict[str, np.ndarray]:
    out = {}
    for path in sorted((FETCHED / "motions").glob("humanoid3d_*.txt")):
        clip = deepmimic.load_clip(path)
        frames = max(64, int(clip.duration * FPS))
        out[path.stem.removeprefix("humanoid3d_")] = clip_window(clip, 0.0, frames, FPS)
    return out


# --- the module itself ------------------------------------------------------------------


def test_parent_table_is_the_ntu_skeletons():
    assert mc.NTU_PARENTS == NTU_PARENTS
    assert mc.ROOT_FIRST[0] == 0
    seen = {0}
    for j in mc.ROOT_FIRST[1:]:
        assert NTU_PARENTS[j] in seen  # every parent is placed before its child
        seen.add(j)


def test_module_is_stdlib_and_numpy_only_and_imports_alone(tmp_path):
    text = Path(mc.__file__).read_text(encoding="utf-8")
    tree = ast.parse(text)
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    assert roots <= {"__future__", "math", "collections", "itertools", "numpy"}
    relative = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert relative == {"records.joint_tables"}  # bundled beside it
    from kinetic_gan.commands.addon import vendor_backend_modules

    vendor = vendor_backend_modules(tmp_path)  # what the add-on bundles
    spec = importlib.util.spec_from_file_location(
        "vendored", vendor / "__init__.py", submodule_search_locations=[str(vendor)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["vendored"] = package
    try:
        spec.loader.exec_module(package)
        module = importlib.import_module("vendored.motion_cleanup")
        assert module.clean_motion(still(), FPS).shape == (40, 25, 3)
    finally:
        for name in [n for n in sys.modules if n == "vendored" or n.startswith("vendored.")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("text", "steps"),
    [("all", mc.STEPS), (None, mc.STEPS), ("none", ()), ("", ()),
     ("feet,bones", ("bones", "feet")), (" Filter ", ("filter",)), (["feet"], ("feet",))],
)
def test_steps_parse_in_run_order(text, steps):
    assert mc.parse_steps(text) == steps


def test_unknown_step_names_the_step():
    with pytest.raises(mc.CleanupError, match="unknown cleanup step 'smooth'"):
        mc.parse_steps("bones,smooth")


@pytest.mark.parametrize(
    ("joints", "fps", "match"),
    [(np.zeros((10, 24, 3)), 30, r"NTU-25 joints"), (np.zeros((2, 3, 10, 25, 3)), 30, "NTU-25"),
     (np.full((10, 25, 3), np.nan), 30, "NaN"), (np.zeros((10, 25, 3)), 0, "frame rate"),
     (np.zeros((10, 25, 3)), float("inf"), "frame rate")],
)
def test_bad_input_is_one_clear_error(joints, fps, match):
    with pytest.raises(mc.CleanupError, match=match):
        mc.clean_motion(joints, fps)


def test_shape_and_float_dtype_are_kept():
    take = still().astype(np.float32)
    assert mc.clean_motion(take, FPS).dtype == np.float32
    assert mc.clean_motion(take, FPS).shape == take.shape
    batch = np.stack([still(), still()])
    assert mc.clean_motion(batch, FPS).shape == batch.shape
    assert mc.clean_motion(batch, FPS, "none") is not batch


def test_a_clean_still_pose_is_left_alone():
    take = still()
    np.testing.assert_allclose(mc.clean_motion(take, FPS), take, atol=1e-9)


# --- 1. bones ---------------------------------------------------------------------------


def test_bones_get_their_median_length_keeping_directions_and_root():
    rng = np.random.default_rng(1)
    take = still(50) + rng.normal(0, 0.02, (50, 25, 3))
    out = mc.constant_bone_lengths(take)[0]
    lengths = bones(out)[0]
    np.testing.assert_allclose(lengths, np.median(bones(take)[0], axis=0)[None].repeat(50, 0),
                               atol=1e-12)
    np.testing.assert_array_equal(out[:, 0], take[:, 0])
    for j in mc.BONE_CHILDREN:
        before = take[:, j] - take[:, NTU_PARENTS[j]]
        after = out[:, j] - out[:, NTU_PARENTS[j]]
        cos = np.sum(before * after, -1) / np.linalg.norm(before, axis=-1) / lengths[:, 0]
        cos *= lengths[:, 0] / np.linalg.norm(after, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-12)


def test_given_bone_lengths_are_used_and_checked():
    wanted = np.linspace(0.05, 0.4, 24)
    out = mc.constant_bone_lengths(still(5), wanted)
    np.testing.assert_allclose(bones(out)[0], wanted[None].repeat(5, 0), atol=1e-12)
    with pytest.raises(mc.CleanupError, match=r"bone lengths: expected \(24,\)"):
        mc.constant_bone_lengths(still(5), np.ones(25))
    with pytest.raises(mc.CleanupError, match="not negative"):
        mc.constant_bone_lengths(still(5), -np.ones(24))


def test_a_bone_collapsed_on_one_frame_still_gets_its_length():
    take = still(10)
    take[4, J["HandTipLeft"]] = take[4, J["HandLeft"]]
    out = mc.constant_bone_lengths(take)[0]
    assert np.ptp(bones(out)[0], axis=0).max() < 1e-12


# --- 2. filter --------------------------------------------------------------------------


def test_filter_passes_a_constant_velocity_exactly_edges_included():
    t = np.arange(64) / FPS
    take = still(64) + (t[:, None, None] * [1.3, -0.2, 0.7])
    np.testing.assert_allclose(mc.low_pass(take, FPS)[0], take, atol=1e-12)


def test_filter_is_zero_phase_no_lag_on_a_sine():
    t = np.arange(120) / FPS
    wave = 0.1 * np.sin(2 * np.pi * 1.0 * t)
    take = still(120) + wave[:, None, None] * [1, 0, 0]
    out = mc.low_pass(take, FPS)[0, :, 0, 0] - take[0, 0, 0]
    middle = slice(20, 100)
    lags = range(-5, 6)
    corr = [np.dot(np.roll(out, k)[middle], wave[middle]) for k in lags]
    assert lags[int(np.argmax(corr))] == 0
    np.testing.assert_allclose(out[middle], wave[middle], atol=0.002)  # 1 Hz passes (2 %)


def test_filter_is_3_db_at_the_cutoff_and_removes_frame_jitter():
    t = np.arange(300) / FPS
    for freq, gain in ((mc.CUTOFF_HZ, 2**-0.5), (12.0, 0.0), (15.0, 0.0)):
        wave = np.cos(2 * np.pi * freq * t)
        take = np.zeros((300, 25, 3))
        take[:, 3, 1] = wave
        out = mc.low_pass(take, FPS)[0, 50:250, 3, 1]
        measured = np.abs(out).max()
        assert measured == pytest.approx(gain, abs=0.06 if gain else 0.05)


def test_filter_bad_cutoff_and_too_high_cutoff():
    with pytest.raises(mc.CleanupError, match="cutoff"):
        mc.low_pass(still(), FPS, cutoff_hz=0)
    noisy = still() + np.random.default_rng(0).normal(0, 0.01, (40, 25, 3))
    np.testing.assert_array_equal(mc.low_pass(noisy, 10.0)[0], noisy)  # 6 Hz > 0.4 × 10 fps


# --- 3. contacts and IK -----------------------------------------------------------------


def leg(knee_forward: float = 0.05):
    hip = np.array([0.09, 0.9, 0.0])
    knee = np.array([0.09, 0.5, -knee_forward])
    ankle = np.array([0.09, 0.08, 0.0])
    return hip, knee, ankle


LEFT = np.array([-1.0, 0.0, 0.0])  # the body's right→left axis in the standing pose


def test_ik_reaches_the_target_keeping_lengths_and_knee_forward():
    hip, knee, ankle = leg()
    thigh, shin = np.linalg.norm(knee - hip), np.linalg.norm(ankle - knee)
    rng = np.random.default_rng(2)
    targets = ankle + rng.uniform(-0.25, 0.25, (200, 3))
    new_knee, new_ankle = mc.two_bone_ik(hip, knee, ankle, targets, LEFT)
    reachable = np.linalg.norm(targets - hip, axis=-1) < thigh + shin
    np.testing.assert_allclose(new_ankle[reachable], targets[reachable], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), thigh, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(new_ankle - new_knee, axis=-1), shin, atol=1e-12)
    flexion = np.cross(new_knee - hip, new_ankle - new_knee) @ LEFT
    assert (flexion > 0).all()  # thigh × shin points left: bent forward, never backward


def test_ik_out_of_reach_stretches_towards_the_target():
    hip, knee, ankle = leg()
    far = hip + np.array([0.0, -2.0, -0.5])
    _, new_ankle = mc.two_bone_ik(hip, knee, ankle, far, LEFT)
    direction = (far - hip) / np.linalg.norm(far - hip)
    reach = np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
    np.testing.assert_allclose(new_ankle, hip + reach * direction, atol=1e-5)


def test_ik_at_its_own_ankle_changes_nothing():
    hip, knee, ankle = leg()
    new_knee, new_ankle = mc.two_bone_ik(hip, knee, ankle, ankle, LEFT)
    np.testing.assert_allclose(new_knee, knee, atol=1e-12)
    np.testing.assert_allclose(new_ankle, ankle, atol=1e-12)


def test_ik_turns_a_backward_knee_forward_gradually():
    hip, knee, ankle = leg(knee_forward=-0.05)  # bent the wrong way
    sides = []
    for w in np.linspace(0, 1, 11):
        new_knee, new_ankle = mc.two_bone_ik(hip, knee, ankle, ankle, LEFT, w)
        sides.append(new_knee)
        np.testing.assert_allclose(new_ankle, ankle, atol=1e-9)
    np.testing.assert_allclose(sides[0], knee, atol=1e-12)  # weight 0: untouched
    assert np.cross(sides[-1] - hip, ankle - sides[-1]) @ LEFT > 0  # weight 1: forward
    steps = np.linalg.norm(np.diff(sides, axis=0), axis=-1)
    assert steps.max() < 0.25 * np.linalg.norm(sides[-1] - sides[0])  # turns, never snaps


def test_a_straight_leg_bends_forward():
    hip, _, ankle = leg()
    straight = (hip + ankle) / 2
    closer = ankle + np.array([0, 0.1, 0])
    new_knee, _ = mc.two_bone_ik(hip, straight, ankle, closer, LEFT)
    assert new_knee[2] < -0.05  # towards −Z, the way the body faces


def planted_then_lifted(frames: int = 40, slide_ms: float = 0.0) -> np.ndarray:
    """The left foot stands (optionally sliding towards −Z) for frames 5–24, then rises."""
    take = still(frames)
    t = np.arange(frames)
    slide = -slide_ms / FPS * np.clip(t - 5, 0, 19)
    lift = np.clip(t - 24, 0, None) * 0.02
    for j in (J["KneeLeft"], J["AnkleLeft"], J["FootLeft"]):
        take[:, j, 2] += slide
        take[:, j, 1] += lift
    take[:5, J["AnkleLeft"], 1] += 0.2  # still in the air before frame 5
    take[:5, J["FootLeft"], 1] += 0.2
    return take


def test_contacts_are_low_slow_and_long_enough():
    contact = mc.detect_contacts(planted_then_lifted(), FPS)[0]
    assert contact[6:24, 0].all() and not contact[:4, 0].any() and not contact[28:, 0].any()
    assert contact[:, 1].all()  # the right foot stands throughout
    brushing = still(40)
    brushing[:, [J["AnkleLeft"], J["FootLeft"]], 1] += 0.3
    brushing[20:22, [J["AnkleLeft"], J["FootLeft"]], 1] -= 0.3  # two frames on the floor
    assert not mc.detect_contacts(brushing, FPS)[0, :, 0].any()
    fast = planted_then_lifted(slide_ms=2.0)
    assert not mc.detect_contacts(fast, FPS)[0, 8:22, 0].any()  # 2 m/s is not standing


def test_a_sliding_foot_is_held_with_exact_legs_and_no_pop():
    take = planted_then_lifted(slide_ms=0.4)
    out = mc.lock_feet(take, FPS)[0]
    tip = out[:, J["FootLeft"]]
    stance = tip[7:23, [0, 2]]
    assert np.ptp(stance, axis=0).max() < 1e-6  # the toes no longer slide
    assert np.ptp(take[7:23, J["FootLeft"], 2]) > 0.15  # they did
    np.testing.assert_array_equal(out[:, :12], take[:, :12])  # hips and upper body stay
    np.testing.assert_array_equal(out[:, 20:], take[:, 20:])
    np.testing.assert_allclose(out[:, 16:20], take[:, 16:20], atol=1e-12)  # stands still
    np.testing.assert_allclose(bones(out), bones(take), atol=1e-9)
    # The lock fades in and out: no frame-to-frame jump the motion did not already have.
    jump_before = np.linalg.norm(np.diff(take[:, 12:16], axis=0), axis=-1).max()
    jump_after = np.linalg.norm(np.diff(out[:, 12:16], axis=0), axis=-1).max()
    assert jump_after < jump_before + 0.03


def test_a_planted_foot_in_the_floor_is_lifted_onto_it():
    take = planted_then_lifted()
    take[:, [J["KneeLeft"], J["AnkleLeft"], J["FootLeft"]], 1] -= 0.03  # toes 1 cm under
    out = mc.lock_feet(take, FPS)[0]
    np.testing.assert_allclose(out[8:22, J["FootLeft"], 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(bones(out), bones(take), atol=1e-9)


# --- real motion ------------------------------------------------------------------------


@needs_clips
def test_real_mocap_is_barely_changed():
    changes = {}
    for name, joints in real_clips().items():
        cleaned = mc.clean_motion(joints, FPS)
        changes[name] = np.linalg.norm(cleaned - joints, axis=-1).mean()
        lengths = bones(cleaned)[0]
        assert np.ptp(lengths, axis=0).max() < 1e-9  # constant, and as long as they were
        np.testing.assert_allclose(lengths[0], bones(joints)[0, 0], rtol=0.005)
    assert len(changes) == 15
    assert np.mean(list(changes.values())) < 0.01, changes  # ≤ 1 cm on average
    assert max(changes.values()) < 0.02, changes  # and no clip beyond 2 cm


@needs_clips
def test_damaged_mocap_loses_its_sliding_stretch_and_jitter():
    clips = real_clips()
    names = ("walk", "run", "kick", "punch", "dance_a", "jump", "spin", "cartwheel")
    real = np.stack([clips[n][:64] for n in names])
    bad = np.stack([damaged(clips[n][:64], seed=i) for i, n in enumerate(names)])
    fixed = mc.clean_motion(bad, FPS)
    skate = {k: plausibility.foot_skating(x, FPS)[0] for k, x in
             (("real", real), ("bad", bad), ("fixed", fixed))}
    assert skate["bad"] > 2 * skate["real"]
    assert skate["fixed"] < 0.5 * skate["bad"] and skate["fixed"] < 1.1 * skate["real"]
    assert plausibility.bone_cv(bad) > 0.08 and plausibility.bone_cv(fixed) < 1e-9
    hf = {k: plausibility.high_freq_share(x, FPS) for k, x in
          (("real", real), ("bad", bad), ("fixed", fixed))}
    assert hf["fixed"] < hf["real"] < hf["bad"]
    error = lambda x: np.linalg.norm(x - real, axis=-1).mean()  # noqa: E731
    assert error(fixed) < 0.7 * error(bad)  # closer to the truth than what it was given


# --- the commands: raw unless --cleanup -------------------------------------------------


def test_generate_is_raw_by_default_and_cleans_with_the_flag(tiny_weights, tmp_path, capsys):
    from kinetic_gan.cli import main

    argv = ["generate", "--weights", str(tiny_weights), "--action", "walk", "--count", "2",
            "--seed", "3"]
    assert main([*argv, "--out", str(tmp_path / "raw.npz")]) == 0
    assert main([*argv, "--cleanup", "--out", str(tmp_path / "clean.npz")]) == 0
    assert "cleanup filter,bones,feet" in capsys.readouterr().out
    assert main([*argv, "--cleanup", "bones", "--out", str(tmp_path / "bones.npz")]) == 0
    with (np.load(tmp_path / "raw.npz") as raw, np.load(tmp_path / "clean.npz") as clean,
          np.load(tmp_path / "bones.npz") as only_bones):
        assert str(raw["cleanup"]) == "none" and str(clean["cleanup"]) == "filter,bones,feet"
        assert str(only_bones["cleanup"]) == "bones"
        expected = mc.clean_motion(raw["joints"], float(raw["fps"]))
        np.testing.assert_allclose(clean["joints"], expected, atol=1e-6)
        assert clean["joints"].dtype == np.float32
        assert np.ptp(bones(only_bones["joints"]), axis=1).max() < 1e-5


def test_generate_refuses_an_unknown_cleanup_step(tiny_weights, tmp_path, capsys):
    from kinetic_gan.cli import main

    code = main(["generate", "--weights", str(tiny_weights), "--action", "walk",
                 "--cleanup", "bones,wobble", "--out", str(tmp_path / "x.npz")])
    assert code == 2
    assert "error: --cleanup: unknown cleanup step 'wobble'" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_request_is_raw_by_default_and_cleans_with_the_flag(server, tmp_path):
    from kinetic_gan.cli import main
    from kinetic_gan.motion_files import load_npz

    argv = ["request", "--address", server, "--action", "walk", "--seed", "4", "--count", "2"]
    assert main([*argv, "--out", str(tmp_path / "raw.npz")]) == 0
    assert main([*argv, "--cleanup", "all", "--out", str(tmp_path / "clean.npz")]) == 0
    raw, clean = load_npz(tmp_path / "raw.npz"), load_npz(tmp_path / "clean.npz")
    assert (raw.cleanup, clean.cleanup) == ("none", "filter,bones,feet")
    np.testing.assert_allclose(clean.joints, mc.clean_motion(raw.joints, raw.fps), atol=1e-6)


# --- the add-on: the panel's toggles, takes it cannot clean -----------------------------


def addon_cleanup():
    from kinetic_gan.commands.addon import vendor_backend_modules

    vendor_backend_modules()  # as the build does: the add-on uses its bundled copy
    from kinetic_gan_blender.core import cleanup

    return cleanup


class PanelSettings:
    use_cleanup = True
    cleanup_filter = True
    cleanup_bones = True
    cleanup_feet = True


class Reply:
    """What the add-on's client hands over: the ``GeneratedSet`` fields cleanup needs."""

    def __init__(self, joints, skeleton="ntu", units="m", fps=30.0):
        self.joints, self.skeleton, self.units, self.fps = joints, skeleton, units, fps


def test_panel_toggles_choose_the_steps():
    cleanup = addon_cleanup()
    settings = PanelSettings()
    assert cleanup.steps_from_settings(settings) == mc.STEPS
    settings.cleanup_filter = False
    assert cleanup.steps_from_settings(settings) == ("bones", "feet")
    settings.use_cleanup = False
    assert cleanup.steps_from_settings(settings) == ()
    assert tuple(cleanup.SETTING_OF_STEP) == mc.STEPS


def test_the_panel_hook_cleans_received_takes_in_place():
    cleanup = addon_cleanup()
    rng = np.random.default_rng(5)
    raw = (np.stack([still(), still()]) + rng.normal(0, 0.01, (2, 40, 25, 3))).astype(np.float32)
    reply = Reply(raw.copy())
    assert cleanup.clean_generation(reply, PanelSettings()) == []
    assert reply.joints.dtype == np.float32 and reply.joints.shape == raw.shape
    np.testing.assert_allclose(reply.joints, mc.clean_motion(raw, 30.0), atol=1e-6)
    assert np.ptp(bones(reply.joints), axis=1).max() < 1e-5


@pytest.mark.parametrize(
    ("joints", "skeleton", "units", "why"),
    [(np.zeros((1, 8, 16, 3)), "h36m", "m", "needs NTU-25 joints; this model gives h36m"),
     (np.zeros((1, 8, 25, 3)), "ntu", "normalised", "needs joints in metres")],
)
def test_takes_cleanup_does_not_fit_are_left_raw_with_a_warning(joints, skeleton, units, why):
    cleanup = addon_cleanup()
    reply = Reply(joints, skeleton, units)
    warnings = cleanup.clean_generation(reply, PanelSettings())
    assert reply.joints is joints
    assert len(warnings) == 1 and why in warnings[0] and warnings[0].endswith("left raw")


def test_the_panel_hook_reports_joints_it_refuses_instead_of_raising():
    cleanup = addon_cleanup()
    joints = np.full((1, 8, 25, 3), np.nan, dtype=np.float32)
    reply = Reply(joints)
    (warning,) = cleanup.clean_generation(reply, PanelSettings())
    assert "NaN" in warning and warning.endswith("left raw") and reply.joints is joints
