"""The wire format: round trips, and one clear error code for every way a message can lie."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kinetic_gan.records.request import GenerateRequest
from kinetic_gan.serve import protocol
from kinetic_gan.serve.protocol import ProtocolError


def header_frame(**fields) -> bytes:
    return json.dumps({"v": 1, "op": "ping", "id": "a", **fields}).encode()


def code_of(frames) -> str:
    with pytest.raises(ProtocolError) as info:
        protocol.decode(frames)
    return info.value.code


def test_arrays_round_trip_bit_exact_and_little_endian():
    joints = np.random.default_rng(0).standard_normal((2, 64, 25, 3)).astype(np.float32)
    labels = np.array([3, 3], dtype=np.int64)
    big_endian = np.arange(4, dtype=">f8")
    frames = protocol.encode(
        {"v": 1, "op": "x"}, {"joints": joints, "labels": labels, "b": big_endian}
    )
    assert len(frames) == 4
    assert frames[1] == joints.astype("<f4").tobytes()
    message = protocol.decode(frames)
    np.testing.assert_array_equal(message.arrays["joints"], joints)
    np.testing.assert_array_equal(message.arrays["labels"], labels)
    np.testing.assert_array_equal(message.arrays["b"], big_endian)
    assert message.arrays["b"].dtype == np.dtype("<f8")
    message.arrays["joints"][0, 0, 0, 0] = 1.0  # decoded arrays are writable copies
    assert [d["name"] for d in message.header["frames"]] == ["joints", "labels", "b"]


def test_object_and_bool_arrays_cannot_travel():
    with pytest.raises(ValueError, match="cannot travel"):
        protocol.encode({"v": 1}, {"o": np.array([object()])})
    with pytest.raises(ValueError, match="cannot travel"):
        protocol.encode({"v": 1}, {"b": np.array([True])})


def test_generate_request_round_trip():
    req = GenerateRequest(
        action="walk", count=3, model="m", seed=7, truncation=0.7, vary_noise=True
    )
    frames = protocol.generate_request(req, "id1")
    message = protocol.decode(frames)
    assert protocol.request_op(message.header) == ("id1", "generate")
    assert protocol.parse_generate(message.header) == req


def test_generate_defaults():
    req = protocol.parse_generate({"v": 1, "op": "generate", "id": "x", "action": 2})
    assert req == GenerateRequest(action=2, count=1)


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([], "bad_request"),
        ([b"\xff\xfe"], "bad_request"),
        ([b"not json"], "bad_request"),
        ([b"[1, 2]"], "bad_request"),
        ([b'{"op": "ping"}'], "bad_request"),
        ([b'{"v": "1"}'], "bad_request"),
        ([b'{"v": true}'], "bad_request"),
        ([b'{"v": 2, "op": "ping"}'], "version_mismatch"),
        ([b'{"v": 1, "x": NaN}'], "bad_request"),
        ([b'{"v": 1, "x": Infinity}'], "bad_request"),
        ([b"[" * 100_000], "too_large"),
        ([b"[" * 50_000], "bad_request"),  # deep nesting: a RecursionError becomes bad_request
        ([header_frame(), b"extra"], "bad_request"),
        ([header_frame(frames={})], "bad_request"),
        ([header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [2]}])], "bad_request"),
        (
            [header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [2]}]), b"123"],
            "bad_request",
        ),
        ([header_frame(frames=[{"name": "a", "dtype": "O", "shape": [1]}]), b"1"], "bad_request"),
        ([header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [-1]}]), b""], "bad_request"),
        (
            [header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [1.5]}]), b""],
            "bad_request",
        ),
        ([header_frame(frames=[{"name": "", "dtype": "<f4", "shape": [0]}]), b""], "bad_request"),
        (
            [header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [2**40, 2**40]}]), b""],
            "too_large",
        ),
        (
            [header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [1] * 9}]), b"1234"],
            "bad_request",
        ),
        (
            [header_frame(frames=[{"name": "a", "dtype": "<f4", "shape": [0]}] * 2), b"", b""],
            "bad_request",
        ),
        ([header_frame(frames=["x"]), b""], "bad_request"),
        ([header_frame()] + [b""] * 40, "too_large"),
    ],
)
def test_malformed_messages_get_a_code(frames, code):
    assert code_of(frames) == code


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"op": "ping"}, "bad_request"),
        ({"id": "", "op": "ping"}, "bad_request"),
        ({"id": "x" * 129, "op": "ping"}, "bad_request"),
        ({"id": 5, "op": "ping"}, "bad_request"),
        ({"id": "a", "op": 3}, "bad_request"),
        ({"id": "a", "op": "explode"}, "unknown_op"),
    ],
)
def test_request_op_checks_id_and_op(header, code):
    with pytest.raises(ProtocolError) as info:
        protocol.request_op({"v": 1, **header})
    assert info.value.code == code


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"action": None},
        {"action": ""},
        {"action": "   "},
        {"action": "x" * 300},
        {"action": 1.5},
        {"action": True},
        {"action": [1]},
        {"action": "walk", "count": 0},
        {"action": "walk", "count": -3},
        {"action": "walk", "count": 2.0},
        {"action": "walk", "count": "2"},
        {"action": "walk", "count": True},
        {"action": "walk", "seed": -1},
        {"action": "walk", "seed": 2**63},
        {"action": "walk", "seed": 1.0},
        {"action": "walk", "truncation": -0.1},
        {"action": "walk", "truncation": 1.5},
        {"action": "walk", "truncation": "0.5"},
        {"action": "walk", "truncation": math.nan},
        {"action": "walk", "truncation": math.inf},
        {"action": "walk", "vary_noise": 1},
        {"action": "walk", "model": 3},
        {"action": "walk", "surprise": 1},
        {"action": "walk", "frames": [{"name": "a", "dtype": "<f4", "shape": [0]}]},
    ],
)
def test_bad_generate_fields_are_bad_requests(fields):
    with pytest.raises(ProtocolError) as info:
        protocol.parse_generate({"v": 1, "op": "generate", "id": "a", **fields})
    assert info.value.code == "bad_request"


def test_integer_truncation_is_accepted():
    req = protocol.parse_generate(
        {"v": 1, "op": "generate", "id": "a", "action": 0, "truncation": 1}
    )
    assert req.truncation == 1


def test_replies():
    ok = protocol.decode(protocol.ok_reply("r", "ping", {"x": 1}))
    assert ok.header["ok"] is True and protocol.reply_error(ok.header) is None
    err = protocol.decode(protocol.error_reply("r", "busy", "full"))
    assert protocol.reply_error(err.header) == ("busy", "full")
    assert protocol.decode(protocol.error_reply(None, "internal", "x" * 5000)).header["id"] is None
    with pytest.raises(ValueError):
        protocol.error_reply("r", "oops", "no such code")
    for bad in (
        {"ok": True},
        {"ok": "yes"},
        {"ok": False, "error": {"code": "nope", "message": ""}},
    ):
        with pytest.raises(ProtocolError):
            protocol.reply_error(bad)


def test_error_codes_are_the_documented_closed_list():
    assert set(protocol.ERROR_CODES) == {
        "bad_request",
        "unknown_op",
        "unknown_model",
        "unknown_action",
        "too_large",
        "version_mismatch",
        "busy",
        "deadline",
        "cancelled",
        "internal",
    }
