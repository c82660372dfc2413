"""compose() and ``kinetic-gan compose`` on a small untrained model (fast on a CPU)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from kinetic_gan import load_generator
from kinetic_gan.cli import main
from kinetic_gan.errors import KineticGanError
from kinetic_gan.generate import load_npz
from kinetic_gan.records.shot import Keys, ShotRequest, parse_segments
from kinetic_gan.shots import Settings, ShotCancelled, compose, shot_cost
from kinetic_gan.shots.files import read_segments
from kinetic_gan.shots.keys import key_error_cm
from kinetic_gan.shots.measures import path_error_cm

FAST = Settings(steps=4)
SHIPPED = Path(__file__).parents[2] / "weights" / "deepmimic15-mlp4.safetensors"


@pytest.fixture(scope="module")
def generator(tiny_weights):
    return load_generator(tiny_weights)


def test_a_shot_is_one_take_of_all_its_frames(generator):
    shot = compose(generator, "walk:50,jump up:20,2:40", seed=3, truncation=0.7, settings=FAST)
    assert shot.joints.shape == (110, 25, 3) and np.isfinite(shot.joints).all()
    starts, frames, actions = shot.segment_table()
    assert starts.tolist() == [0, 50, 70] and frames.tolist() == [50, 20, 40]
    assert actions == ["walk", "jump up", "kicking something"]
    assert shot.codes.shape == (len(shot.plan.windows), generator.module.mean_w.shape[1])
    assert shot.cost == 110 * 4 == shot_cost(shot.request, FAST)


def test_the_same_seed_gives_the_same_shot(generator):
    a = compose(generator, "walk:40,jump up:30", seed=5, truncation=0.7, settings=FAST)
    b = compose(generator, "walk:40,jump up:30", seed=5, truncation=0.7, settings=FAST)
    c = compose(generator, "walk:40,jump up:30", seed=6, truncation=0.7, settings=FAST)
    assert np.array_equal(a.joints, b.joints)
    assert not np.allclose(a.joints, c.joints)


def test_optimising_brings_overlapping_windows_together():
    # The shipped model (an untrained one's windows hardly depend on their codes).
    if not SHIPPED.exists():
        pytest.skip(f"{SHIPPED} not found")
    shot = compose(load_generator(SHIPPED), "walk:100,jump:60", seed=1, truncation=0.7,
                   settings=Settings(steps=20))
    first, last = shot.history[0], shot.history[-1]
    assert last["position"] < 0.8 * first["position"]
    assert last["velocity"] < 0.8 * first["velocity"]


def test_an_in_place_loop_closes_on_itself(generator):
    shot = compose(generator, "walk:48", seed=2, truncation=0.7, loop="in_place",
                   settings=Settings(steps=20))
    twice = np.concatenate([shot.joints, shot.joints])
    step = np.linalg.norm(np.diff(twice, axis=0), axis=-1).max(axis=-1)
    # the step from the last frame to the first is no larger than the take's own steps
    assert step[len(shot.joints) - 1] <= step.max() + 1e-6
    assert np.allclose(shot.advance, 0.0)


def test_keys_are_met_after_cleanup(generator):
    rng = np.random.default_rng(0)
    pose = compose(generator, "walk:32", seed=9, truncation=0.7, settings=FAST).joints[10]
    moved = pose + np.array([0.3, 0.0, 0.2])
    joints = np.stack([pose, moved]) + rng.normal(0, 0.01, (2, 25, 3))
    keys = Keys.from_arrays([10, 40], joints)
    shot = compose(generator, "walk:60", seed=9, truncation=0.7, keys=keys,
                   cleanup=("filter", "bones"), settings=FAST)
    assert key_error_cm(shot.joints, keys)[1] < 1.0
    assert shot.cleanup == ("filter", "bones")


def test_a_path_is_followed(generator):
    path = np.array([[0.0, 0.0], [0.0, -2.0], [1.0, -3.0]])
    shot = compose(generator, "walk:90", seed=0, truncation=0.7, path=path, settings=FAST)
    mean_cm, _ = path_error_cm(shot.joints, path)
    assert mean_cm < path_error_cm(shot.raw_joints, path)[0]
    assert np.linalg.norm(shot.joints[-1, 0, [0, 2]] - path[-1]) < 0.5


def test_should_stop_cancels_between_steps(generator):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(ShotCancelled, match="cancelled"):
        compose(generator, "walk:40", seed=0, truncation=0.7, settings=Settings(steps=50),
                should_stop=stop)
    assert len(calls) == 3
    assert issubclass(ShotCancelled, KineticGanError)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"segments": "fly:10"}, "^segments: unknown action 'fly'"),
    ({"segments": "walk:0"}, "^segments: segment 1"),
    ({"path": [[0.0, 0.0]]}, "^path: needs at least 2"),
    ({"keys": {"frames": np.array([99]), "joints": np.zeros((1, 25, 3))}},
     "^keys: frame 99 is outside"),
    ({"keys": {"frames": np.array([1]), "joints": np.zeros((1, 25))}}, "^keys: joints must"),
])
def test_bad_input_is_one_error_naming_the_field(generator, kwargs, message):
    fields = {"segments": "walk:20", **kwargs}
    segments = fields.pop("segments")
    with pytest.raises(KineticGanError, match=message):
        compose(generator, segments, seed=0, truncation=0.7, settings=FAST, **fields)


def test_cost_is_frames_times_steps():
    req = ShotRequest(parse_segments("walk:100,jump:50"))
    assert shot_cost(req, dataclasses.replace(FAST, steps=10)) == 1500


def test_the_cli_writes_a_take_file_with_the_shot(tiny_weights, tmp_path, capsys):
    path = tmp_path / "path.json"
    path.write_text(json.dumps({"points": [[0, 0], [0, -1.5]]}))
    keys = tmp_path / "keys.npz"
    np.savez(keys, frames=np.array([5]), joints=np.zeros((1, 25, 3)),
             mask=np.eye(1, 25, dtype=bool))
    out = tmp_path / "shot.npz"
    rc = main(["compose", "--weights", str(tiny_weights), "--shot", "walk:40,1:30",
               "--path", str(path), "--keys", str(keys), "--steps", "2", "--seed", "4",
               "--cleanup", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    takes = load_npz(out)
    assert takes.joints.shape == (1, 70, 25, 3) and takes.seed == 4
    assert takes.cleanup == "filter,bones,feet"
    assert read_segments(out) == [(0, 40, "walk"), (40, 30, "jump up")]
    with np.load(out) as data:
        assert data["window_codes"].shape[0] == len(data["window_starts"])
        assert data["path"].shape == (2, 2)
    loop = tmp_path / "loop.npz"
    assert main(["compose", "--weights", str(tiny_weights), "--shot", "walk:40", "--loop",
                 "--steps", "2", "--out", str(loop)]) == 0
    with np.load(loop) as data:
        assert str(data["loop"]) == "advance"


@pytest.mark.parametrize(("args", "message"), [
    (["--shot", "walk:-3"], "error: segments: segment 1"),
    (["--shot", "swim:30"], "error: segments: unknown action 'swim'"),
    (["--shot", "walk:30", "--path", "missing.json"], "error: --path: missing.json"),
    (["--shot", "walk:30", "--truncation", "2"], "error: truncation: "),
])
def test_cli_errors_are_one_line_and_exit_2(tiny_weights, tmp_path, capsys, args, message):
    rc = main(["compose", "--weights", str(tiny_weights), "--out", str(tmp_path / "x.npz"),
               *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(message) and err.count("\n") == 1


def test_path_timing_keeps_the_frames_or_the_speed(generator):
    path = np.array([[0.0, 0.0], [0.0, -3.0]])
    speed = compose(generator, "walk:60", seed=0, truncation=0.7, path=path, settings=FAST)
    length = compose(generator, "walk:60", seed=0, truncation=0.7, path=path, settings=FAST,
                     path_timing="length")
    assert speed.frames == 60
    # the untrained model hardly moves: the shot is paced as far as it goes (1.25x)
    assert speed.pace == pytest.approx(1.25) and length.frames == 75 and length.pace == 1.0
    assert length.segment_table()[1].tolist() == [75]
    with pytest.raises(KineticGanError, match=r"^path_timing: "):
        compose(generator, "walk:60", seed=0, truncation=0.7, path=path, path_timing="slow")
