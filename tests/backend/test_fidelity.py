"""The fidelity protocol on constructed motion (docs/metrics.md, "Fidelity").

Three made-up actions on an NTU-25 body: waving the right arm overhead, squatting, and
striding forward. Each window is drawn with its own amplitude, tempo, phase and facing.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import body_features as B
from kinetic_gan.metrics import fidelity as F
from kinetic_gan.metrics import sequence_recognizer as SR
from kinetic_gan.metrics import two_sample
from kinetic_gan.skeletons import NTU_JOINTS

FPS, FRAMES = 30.0, 64
ACTIONS = ["wave", "squat", "stride"]
_REST = {
    "SpineBase": (0, 1.0, 0), "SpineMid": (0, 1.25, 0), "SpineShoulder": (0, 1.45, 0),
    "Neck": (0, 1.55, 0), "Head": (0, 1.7, 0),
    "ShoulderLeft": (-0.18, 1.45, 0), "ElbowLeft": (-0.2, 1.17, 0),
    "WristLeft": (-0.2, 0.92, 0), "HandLeft": (-0.2, 0.85, 0),
    "HandTipLeft": (-0.2, 0.78, 0), "ThumbLeft": (-0.17, 0.82, -0.03),
    "HipLeft": (-0.1, 1.0, 0), "KneeLeft": (-0.1, 0.55, 0), "AnkleLeft": (-0.1, 0.1, 0),
    "FootLeft": (-0.1, 0.05, -0.12),
}
_ARM = ("ElbowRight", "WristRight", "HandRight", "HandTipRight", "ThumbRight")
_LIMBS = ("Shoulder", "Elbow", "Wrist", "Hand", "Thumb")
_UPPER = ("SpineMid", "SpineShoulder", "Neck", "Head",
          *(j for j in NTU_JOINTS if any(k in j for k in _LIMBS)))


def rest_pose() -> np.ndarray:
    pose = np.zeros((25, 3))
    for name, xyz in _REST.items():
        pose[NTU_JOINTS.index(name)] = xyz
        twin = name.replace("Left", "Right")
        if twin != name:
            pose[NTU_JOINTS.index(twin)] = (-xyz[0], xyz[1], xyz[2])
    return pose


def _idx(names) -> list[int]:
    return [NTU_JOINTS.index(n) for n in names]


def action(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One (T, 25, 3) window of ``kind`` in metres, facing a random way."""
    t = np.arange(FRAMES) / FPS
    amp, tempo, phase = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1), rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * 1.2 * tempo * t + phase)[:, None]
    joints = np.repeat(rest_pose()[None], FRAMES, axis=0)
    if kind == "wave":  # right arm up over the head, swinging side to side
        arm = _idx(_ARM)
        joints[:, arm, 1] += 0.75 + 0.05 * wave
        joints[:, arm, 0] += 0.15 * amp * wave
    elif kind == "squat":  # the body drops and rises, knees out front
        drop = 0.25 * amp * (0.5 + 0.5 * wave)
        moved = [0, *_idx(_UPPER), *_idx(("HipLeft", "HipRight"))]
        joints[:, moved, 1] -= drop
        joints[:, _idx(("KneeLeft", "KneeRight")), 2] -= drop
    else:  # striding forward along −Z, the legs in antiphase
        joints[:, :, 2] -= 1.3 * amp * t[:, None]
        swing = 0.25 * amp * wave
        for leg, sign in ((("KneeLeft", "AnkleLeft", "FootLeft"), 1),
                          (("KneeRight", "AnkleRight", "FootRight"), -1)):
            joints[:, _idx(leg), 2] -= sign * swing * np.array([0.5, 1.0, 1.0])
    turn = rng.uniform(-np.pi, np.pi)
    c, s = np.cos(turn), np.sin(turn)
    return joints @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T


def corpus(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(ACTIONS)), per_class)
    return np.stack([action(ACTIONS[k], rng) for k in labels]), labels


@pytest.fixture(scope="module")
def bank_and_windows():
    joints, labels = corpus(8, seed=1)
    return F.build_bank(joints, labels, FPS, len(ACTIONS)), joints, labels


def _nearest(bank, takes: np.ndarray, asked) -> np.ndarray:
    return F.fidelity(takes, np.asarray(asked), FPS, bank, ACTIONS).faithful


def test_canonical_faces_minus_z_whatever_the_turn():
    rng = np.random.default_rng(0)
    takes = np.stack([action("stride", rng) for _ in range(4)])
    body = B.canonical(takes)
    assert np.allclose(np.abs(B.facing_angles(body)), np.pi, atol=1e-6)
    # Striding forward is then always along −Z from the origin.
    root = body[:, :, B.ROOT]
    assert np.allclose(root[:, 0, [0, 2]], 0.0, atol=1e-9)
    assert (root[:, -1, 2] < -1.0).all() and np.abs(root[:, -1, 0]).max() < 1e-6


def test_a_copied_window_is_faithful_and_the_same_take_called_another_class_is_not(
        bank_and_windows):
    bank, joints, labels = bank_and_windows
    assert _nearest(bank, joints, labels).all()
    assert not _nearest(bank, joints, (labels + 1) % len(ACTIONS)).any()


def test_mirrored_faster_and_turned_copies_are_still_faithful(bank_and_windows):
    bank, joints, labels = bank_and_windows
    mirrored = B.mirrored(joints)
    assert not np.allclose(B.canonical(mirrored), B.canonical(joints), atol=0.05)
    faster = F.time_warped(joints, 1.2)
    c, s = np.cos(2.0), np.sin(2.0)
    turned = joints @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T + [3.0, 0.0, -1.0]
    for copy in (mirrored, faster, F.time_warped(mirrored, 1.2), turned):
        assert _nearest(bank, copy, labels).all()


def test_fresh_takes_of_a_class_find_it_and_delayed_ones_too(bank_and_windows):
    bank, _, _ = bank_and_windows
    fresh, labels = corpus(4, seed=9)
    assert _nearest(bank, fresh, labels).all()
    delayed = np.concatenate([fresh[:, :6], fresh[:, :-6]], axis=1)  # 6 frames late
    assert _nearest(bank, delayed, labels).all()


def test_per_class_shares_and_confusion():
    result = F.FidelityResult(asked=np.array([0, 0, 0, 0, 1, 1]),
                              nearest=np.array([0, 2, 2, 0, 1, 1]),
                              distances=np.zeros((6, 3)), class_names=ACTIONS)
    rows = result.per_class()
    assert rows[0]["faithful"] == 0.5 and rows[0]["confused_with"] == "stride"
    assert rows[0]["confused_share"] == 0.5
    assert rows[1]["faithful"] == 1.0 and rows[1]["confused_with"] is None
    assert rows[2]["takes"] == 0 and rows[2]["faithful"] is None
    assert result.confusion().tolist() == [[2, 0, 2], [0, 2, 0], [0, 0, 0]]
    assert result.summary()["faithful"] == pytest.approx(4 / 6)


def test_near_copies_are_takes_nearer_a_window_than_the_median_test_window():
    from kinetic_gan.metrics.fidelity_protocol import nearest_distances

    def result(distances):
        d = np.asarray(distances, dtype=np.float64)
        return F.FidelityResult(np.zeros(len(d), int), d.argmin(1), d, ACTIONS)

    reference = result([[0.2, 1, 1], [0.4, 1, 1], [0.3, 1, 1]])  # median nearest: 0.3
    generated = result([[0.1, 2, 2], [2, 0.25, 2], [0.9, 0.8, 0.7], [0.3, 1, 1]])
    out = nearest_distances(generated, reference)
    assert out["near_copies"] == 2 and out["real_test_median"] == pytest.approx(0.3)


def test_two_sample_test_is_chance_on_one_distribution_and_certain_on_two():
    rng = np.random.default_rng(3)
    same = two_sample.classifier_accuracy(rng.normal(size=(300, 10)), rng.normal(size=(300, 10)))
    assert abs(same["accuracy"] - 0.5) < 0.08
    apart = two_sample.classifier_accuracy(rng.normal(size=(300, 10)),
                                           rng.normal(2.0, 1.0, size=(300, 10)))  # Bayes 0.999
    assert apart["accuracy"] > 0.95


def test_two_sample_test_on_motion_statistics():
    a, _ = corpus(30, seed=4)
    b, _ = corpus(30, seed=5)
    assert abs(two_sample.two_sample_test(a, b, FPS)["accuracy"] - 0.5) < 0.15
    # The same takes with 2 cm of frame-to-frame tremor on every joint: clearly different.
    shaky = b + np.random.default_rng(6).normal(0.0, 0.02, b.shape)
    assert two_sample.two_sample_test(a, shaky, FPS)["accuracy"] > 0.95


def test_the_independent_recogniser_learns_the_actions_and_survives_a_save_and_a_load(tmp_path):
    import torch

    joints, labels = corpus(16, seed=1)
    torch.manual_seed(0)  # the initial weights, whatever ran before
    model = SR.SequenceRecognizer(len(ACTIONS), hidden=32)
    SR.fit(model, joints, labels, FPS, epochs=20, batch_size=8, lr=1e-2, seed=1,
           log=lambda line: None)
    fresh, fresh_labels = corpus(4, seed=9)
    predicted = SR.predict(model, fresh, FPS)
    assert (predicted == fresh_labels).mean() >= 0.9
    card = SR.SequenceRecognizerCard(name="r", dataset="made", class_names=ACTIONS,
                                     frames=FRAMES, fps=FPS, hidden=32)
    weights, _ = SR.save(tmp_path / "r", model, card)
    loaded, loaded_card = SR.load(weights)
    assert loaded_card.class_names == ACTIONS and loaded_card.family == "gru"
    assert (SR.predict(loaded, fresh, FPS) == predicted).mean() >= 0.9  # float16 on disk


def test_the_recogniser_inputs_ignore_the_facing_and_see_the_mirror():
    joints, _ = corpus(1, seed=3)
    c, s = np.cos(1.1), np.sin(1.1)
    turned = joints @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T
    inputs = SR.sequence_inputs(joints, FPS)
    assert inputs.shape == (3, FRAMES // 2, SR.INPUT_DIMS)
    assert np.allclose(SR.sequence_inputs(turned, FPS), inputs, atol=1e-4)
    assert not np.allclose(SR.sequence_inputs(B.mirrored(joints), FPS), inputs, atol=1e-3)


def test_a_missing_or_foreign_recogniser_file_is_one_clear_error(tmp_path):
    with pytest.raises(KineticGanError, match="not found"):
        SR.load(tmp_path / "absent")
    (tmp_path / "x.safetensors").write_bytes(b"")
    (tmp_path / "x.json").write_text('{"format": "kinetic-gan-recognizer/1"}')
    with pytest.raises(KineticGanError, match="not a sequence recogniser card"):
        SR.load(tmp_path / "x")


def _write_split(folder, split: str, joints: np.ndarray, labels: np.ndarray) -> None:
    data = joints.transpose(0, 3, 1, 2)[..., None].astype(np.float32)  # (N, C, T, V, M=1)
    np.save(folder / f"{split}_data.npy", data)
    with (folder / f"{split}_label.pkl").open("wb") as fh:
        pickle.dump(([f"{split}{i}" for i in range(len(labels))], labels.tolist()), fh)


def test_evaluate_fidelity_command(tmp_path):
    from kinetic_gan.cli import main

    data = tmp_path / "data"
    data.mkdir()
    train, train_labels = corpus(6, seed=11)
    test, test_labels = corpus(3, seed=12)
    _write_split(data, "train", train, train_labels)
    _write_split(data, "test", test, test_labels)
    (data / "meta.json").write_text(json.dumps({
        "name": "made", "class_names": ACTIONS, "fps": 30, "skeleton": "ntu",
        "frames": FRAMES, "licence": "CC0-1.0", "source": "tests"}))
    takes, asked = corpus(4, seed=13)
    asked[:4] = 1  # the four waves are asked for as squats: unfaithful
    generated = tmp_path / "takes.npz"
    np.savez(generated, joints=takes.astype(np.float32), labels=asked,
             class_names=np.array(ACTIONS), skeleton="ntu", units="m", fps=FPS)
    gru = tmp_path / "gru"
    assert main(["train-recognizer", "--family", "gru", "--data", str(data), "--out", str(gru),
                 "--epochs", "2", "--batch-size", "6", "--hidden", "8", "--seed", "3"]) == 0
    assert json.loads((tmp_path / "gru.json").read_text())["training"]["seed"] == 3
    out = tmp_path / "fid.json"
    assert main(["evaluate", "--protocol", "fidelity", "--real", str(data), "--generated",
                 str(generated), "--out", str(out), "--sheets", str(tmp_path / "sheets"),
                 "--sequence-recognizer", str(gru)]) == 0
    results = json.loads(out.read_text())
    independent = results["independent_recognizer"]
    assert independent["family"] == "gru" and len(independent["generated_per_class"]) == 3
    rows = {r["class"]: r for r in results["fidelity"]["per_class"]}
    assert rows["stride"]["faithful"] == 1.0 and rows["wave"]["faithful"] is None
    assert rows["squat"]["faithful"] == pytest.approx(0.5)
    assert rows["squat"]["confused_with"] == "wave"
    assert results["real_test_fidelity"] == 1.0
    assert 0 <= results["nearest_distance"]["near_copies"] <= len(asked)
    assert 0.0 <= results["two_sample"]["train_vs_test"]["accuracy"] <= 1.0
    assert (tmp_path / "fid_confusion.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == [
        "squat.png", "stride.png", "wave.png"]
