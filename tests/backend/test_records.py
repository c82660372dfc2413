"""The shared records: one request, one record of takes, one take file, read the same way
by the backend, the wire and the add-on; files written before them still read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kinetic_gan.motion_files import load_npz, save_npz
from kinetic_gan.records.joint_tables import NTU_JOINTS, NTU_PARENTS
from kinetic_gan.records.request import GenerateRequest, RequestError
from kinetic_gan.records.takes import GeneratedSet, Motion
from kinetic_gan.serve import protocol


def takes(**change) -> GeneratedSet:
    rng = np.random.default_rng(0)
    record = GeneratedSet(
        joints=rng.standard_normal((2, 8, 25, 3)).astype(np.float32),
        labels=np.array([4, 4]), class_names=["jump up", "jump up"],
        z=rng.standard_normal((2, 16)).astype(np.float32), fps=29.97, skeleton="ntu",
        joint_names=list(NTU_JOINTS), parents=list(NTU_PARENTS), model="m", seed=7,
        truncation=0.7, vary_noise=True, cleanup="bones",
    )
    return dataclasses.replace(record, **change)


def assert_same(got: GeneratedSet, want: GeneratedSet) -> None:
    for field in dataclasses.fields(GeneratedSet):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype, field.name
        else:
            assert a == b, field.name


@pytest.mark.parametrize("change", [{}, {"seed": None, "truncation": None, "model": ""}])
def test_a_take_file_holds_every_field(tmp_path, change):
    want = takes(**change)
    assert_same(load_npz(save_npz(tmp_path / "t.npz", want)), want)


def test_files_of_the_old_generate_layout_still_read(tmp_path):
    path = tmp_path / "old.npz"
    record = takes()
    np.savez(path, joints=record.joints, labels=record.labels, z=record.z,
             class_names=np.asarray(record.class_names), fps=np.asarray(30),
             skeleton=np.asarray("ntu"), joint_names=np.asarray(record.joint_names),
             parents=np.asarray(record.parents), units=np.asarray("m"))
    old = load_npz(path)
    assert old.fps == 30.0 and old.cleanup == "none" and old.model == ""
    assert (old.seed, old.truncation, old.vary_noise) == (None, None, False)


def test_files_of_the_old_addon_layout_still_read(tmp_path):
    path = tmp_path / "old_addon.npz"
    record = takes()
    np.savez(path, joints=record.joints, labels=np.array([-1, -1]),
             class_names=np.asarray(["", ""]), fps=np.float32(24.0), skeleton=np.asarray(""),
             joint_names=np.asarray(record.joint_names), parents=np.asarray(record.parents),
             units=np.asarray("m"), seed=np.int64(-1), truncation=np.float32(np.nan))
    old = load_npz(path)
    assert old.z.shape == (2, 0) and old.fps == 24.0 and old.cleanup == "none"
    assert (old.seed, old.truncation) == (None, None)


def test_the_addon_writes_the_backend_layout(tmp_path):
    from kinetic_gan_blender.core.take_files import save_joints_npz

    record = takes()
    path = save_joints_npz(
        tmp_path / "addon.npz", record.joints[0], joint_names=record.joint_names,
        parents=record.parents, fps=24.0, class_names=["walk"], labels=[0], skeleton="ntu",
        seed=3, cleanup="feet",
    )
    with np.load(path) as mine, np.load(save_npz(tmp_path / "backend.npz", record)) as theirs:
        assert set(mine.files) == set(theirs.files)
        assert all(mine[k].dtype.kind == theirs[k].dtype.kind for k in mine.files)
    got = load_npz(path)
    assert got.joints.shape == (1, 8, 25, 3) and got.z.shape == (1, 0)
    assert (got.fps, got.seed, got.truncation, got.cleanup) == (24.0, 3, None, "feet")


def test_a_reply_carries_the_record_but_its_cleanup():
    want = takes()
    message = protocol.decode(protocol.generate_reply("r1", want))
    result = message.header["result"]
    assert (result["action"], result["label"]) == ("jump up", 4) and "cleanup" not in result
    assert_same(protocol.generated_from_reply(message), dataclasses.replace(want, cleanup="none"))


def test_a_reply_without_a_field_is_refused():
    message = protocol.decode(protocol.generate_reply("r1", takes()))
    del message.header["result"]["seed"]
    with pytest.raises(protocol.ProtocolError, match="seed"):
        protocol.generated_from_reply(message)


def test_one_take_of_a_set():
    take = takes().sample(1)
    assert isinstance(take, Motion) and take.joints.shape == (8, 25, 3) and take.label == 4
    assert (take.fps, take.skeleton, take.cleanup) == (29.97, "ntu", "bones")


def test_request_fields_are_checked_once_for_everyone():
    req = GenerateRequest.from_fields({"action": "walk", "truncation": np.float32(0.5)})
    assert req.truncation == 0.5 and type(req.truncation) is float
    assert GenerateRequest.from_fields({"action": 1, "truncation": 1}).truncation == 1.0
    assert req.fields() == {"action": "walk", "count": 1, "model": None, "seed": None,
                            "truncation": 0.5, "vary_noise": False}
    for fields, words in [
        ({"count": 2}, 'needs "action"'),
        ({"action": "walk", "colour": "red"}, "unknown fields"),
        ({"action": "walk", "truncation": True}, '"truncation"'),
        ({"action": "walk", "truncation": "0.5"}, '"truncation"'),
        ({"action": "walk", "truncation": 10**400}, '"truncation"'),
        ({"action": "walk", "count": 0}, '"count"'),
    ]:
        with pytest.raises(RequestError, match=words):
            GenerateRequest.from_fields(fields)

