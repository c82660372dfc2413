"""The Kinetic-GAN wire format: one definition, shared by the server, the client and the add-on.

A message is a list of ZeroMQ frames. Frame 0 is a UTF-8 JSON object (the *header*); every
following frame is one array as raw little-endian bytes, described in order by
``header["frames"] = [{"name", "dtype", "shape"}, ...]``. Nothing is ever pickled.

Only the standard library and numpy are imported here: the Blender add-on bundles this very
file (beside the ``records`` it sends: the request's fields, the generated takes).
``docs/protocol.md`` is the human-readable version of this module.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..records.request import GenerateRequest, RequestError, check_deadline
from ..records.shot import ComposedShot, Keys, ShotError, ShotRequest
from ..records.takes import ARRAY_FIELDS, GeneratedSet, from_fields

PROTOCOL_VERSION = 1
OPS = ("info", "generate", "ping", "cancel", "compose")

# The closed list of error codes a reply may carry (docs/protocol.md explains each).
ERROR_CODES = (
    "bad_request",  # malformed message: bad JSON, missing/wrong fields, frames that lie
    "unknown_op",  # an op outside OPS
    "unknown_model",  # no loaded model of that name
    "unknown_action",  # the model has no such class (name or index)
    "too_large",  # count over the server's limit, or a message over the size caps
    "version_mismatch",  # header "v" is an integer other than PROTOCOL_VERSION
    "busy",  # the server's queue is full; try again later
    "deadline",  # the request's deadline_ms passed before it could run
    "cancelled",  # the client cancelled the request (op "cancel")
    "internal",  # the server failed; the message says how
)

MAX_HEADER_BYTES = 64 * 1024
# The largest request frame a server or broker reads (ZMQ_MAXMSGSIZE); requests carry no
# arrays and their header fields are capped, so the largest honest one is far smaller.
MAX_REQUEST_BYTES = 16 * 1024
MAX_FRAMES = 16
MAX_ARRAY_BYTES = 256 * 1024 * 1024
MAX_NDIM = 8
MAX_ID_CHARS = 128
# Header keys every message may carry besides an op's own fields.
ENVELOPE_KEYS = ("v", "op", "id", "frames")

# dtype tag on the wire -> numpy dtype; always little-endian, never "object".
DTYPES: dict[str, np.dtype] = {
    "<f4": np.dtype("<f4"),
    "<f8": np.dtype("<f8"),
    "<i4": np.dtype("<i4"),
    "<i8": np.dtype("<i8"),
    "|u1": np.dtype("|u1"),
}


class ProtocolError(Exception):
    """A message that breaks the protocol; ``code`` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Message:
    """A decoded message: its JSON header and its named arrays (in frame order)."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def new_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- encoding


def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity by default; they are not JSON and never valid here.
    raise ValueError(f"non-finite number {name}")


def encode(
    header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
) -> list[bytes]:
    """Frames for ``header`` plus ``arrays`` (described in ``header["frames"]``)."""
    head = dict(header)
    frames: list[bytes] = []
    descriptions = []
    for name, array in (arrays or {}).items():
        a = np.asarray(array)
        tag = a.dtype.newbyteorder("<").str if a.dtype.byteorder != "|" else a.dtype.str
        if tag not in DTYPES:
            raise ValueError(f"array {name!r}: dtype {a.dtype} cannot travel (use {list(DTYPES)})")
        a = np.ascontiguousarray(a, dtype=DTYPES[tag])
        descriptions.append({"name": str(name), "dtype": tag, "shape": list(a.shape)})
        frames.append(a.tobytes())
    if descriptions:
        head["frames"] = descriptions
    else:
        head.pop("frames", None)
    text = json.dumps(head, allow_nan=False, separators=(",", ":"))
    return [text.encode("utf-8"), *frames]


def decode(frames: Sequence[bytes | memoryview], max_array_bytes: int = MAX_ARRAY_BYTES) -> Message:
    """Parse and check ``frames``; raises ProtocolError naming the first problem found.

    Arrays are returned as writable copies so callers may keep and modify them.
    """
    if not frames:
        raise ProtocolError("bad_request", "empty message")
    if len(frames) > MAX_FRAMES + 1:
        raise ProtocolError("too_large", f"{len(frames)} frames (at most {MAX_FRAMES + 1})")
    raw = bytes(frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"header of {len(raw)} bytes (at most {MAX_HEADER_BYTES})")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_request", f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_request", "header must be a JSON object")
    version = header.get("v")
    if not _is_int(version):
        raise ProtocolError("bad_request", 'header needs an integer protocol version "v"')
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "version_mismatch", f"protocol version {version} (this side speaks {PROTOCOL_VERSION})"
        )
    descriptions = header.get("frames", [])
    if not isinstance(descriptions, list):
        raise ProtocolError("bad_request", '"frames" must be a list')
    if len(descriptions) != len(frames) - 1:
        raise ProtocolError(
            "bad_request",
            f"header describes {len(descriptions)} binary frames, message has {len(frames) - 1}",
        )
    arrays: dict[str, np.ndarray] = {}
    for index, (desc, payload) in enumerate(zip(descriptions, frames[1:], strict=True)):
        name, dtype, shape = _check_description(index, desc, max_array_bytes)
        if name in arrays:
            raise ProtocolError("bad_request", f"frame {index + 1}: duplicate array name {name!r}")
        expected = dtype.itemsize * math.prod(shape)
        if len(payload) != expected:
            raise ProtocolError(
                "bad_request",
                f"frame {index + 1} ({name}): {len(payload)} bytes, "
                f"{dtype.str}{tuple(shape)} needs {expected}",
            )
        arrays[name] = np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
    return Message(header, arrays)


def _check_description(index: int, desc: Any, max_bytes: int) -> tuple[str, np.dtype, list[int]]:
    where = f"frame {index + 1}"
    if not isinstance(desc, dict):
        raise ProtocolError("bad_request", f"{where}: description must be an object")
    name, tag, shape = desc.get("name"), desc.get("dtype"), desc.get("shape")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ProtocolError("bad_request", f"{where}: needs a short string name")
    if not isinstance(tag, str) or tag not in DTYPES:
        raise ProtocolError("bad_request", f"{where}: dtype {tag!r} not one of {list(DTYPES)}")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(_is_int(s) and s >= 0 for s in shape)
    ):
        raise ProtocolError(
            "bad_request", f"{where}: shape must be a list of at most {MAX_NDIM} integers >= 0"
        )
    dtype = DTYPES[tag]
    # Python integers do not overflow, so a forged huge shape is caught here, not in numpy.
    if dtype.itemsize * math.prod(shape) > max_bytes:
        raise ProtocolError("too_large", f"{where}: shape {shape} is over {max_bytes} bytes")
    return name, dtype, shape


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python; true/false are never counts or versions.
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- requests


def request(
    op: str,
    request_id: str | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    **fields: Any,
) -> list[bytes]:
    """Frames of a request ``op`` with ``fields`` in its header and ``arrays`` as frames."""
    header = {"v": PROTOCOL_VERSION, "op": op, "id": request_id or new_id(), **fields}
    return encode(header, arrays)


def generate_request(req: GenerateRequest, request_id: str | None = None) -> list[bytes]:
    return request("generate", request_id, **check_generate(req).fields())


def request_op(header: Mapping[str, Any]) -> tuple[str, str]:
    """The (id, op) of a request header; raises ProtocolError for a bad id or unknown op."""
    request_id = header.get("id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_CHARS:
        raise ProtocolError("bad_request", f'"id" must be a string of 1..{MAX_ID_CHARS} chars')
    op = header.get("op")
    if not isinstance(op, str):
        raise ProtocolError("bad_request", '"op" must be a string')
    if op not in OPS:
        raise ProtocolError("unknown_op", f"unknown op {op[:64]!r} (ops: {', '.join(OPS)})")
    return request_id, op


def cancel_request(target: str, request_id: str | None = None) -> list[bytes]:
    """Frames of a ``cancel`` of this client's request ``target``."""
    return request("cancel", request_id, target=target)


def parse_cancel(header: Mapping[str, Any]) -> str:
    """The id of the request a ``cancel`` header names; ProtocolError when it names none."""
    if header.get("frames"):
        raise ProtocolError("bad_request", "cancel takes no binary frames")
    unknown = sorted(set(header) - {*ENVELOPE_KEYS, "target"})
    if unknown:
        raise ProtocolError("bad_request", f"cancel: unknown fields {unknown[:8]}")
    target = header.get("target")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_CHARS:
        raise ProtocolError(
            "bad_request", f'"target" must be a request id of 1..{MAX_ID_CHARS} chars'
        )
    return target


def request_cost(header: Mapping[str, Any]) -> float:
    """What a request costs to schedule, read from its header alone (the broker does not
    parse further): generator windows, so a ``generate`` of count N costs N and ops that
    compute nothing cost 0. A malformed count costs 1: the worker refuses it anyway."""
    if header.get("op") == "compose":
        shot = header.get("shot")
        return compose_cost(shot.get("segments") if isinstance(shot, Mapping) else None)
    if header.get("op") != "generate":
        return 0.0
    count = header.get("count", 1)
    return float(count) if _is_int(count) and 0 < count <= 1 << 20 else 1.0


def request_deadline_ms(header: Mapping[str, Any]) -> float | None:
    """A header's ``deadline_ms`` when it is a usable one, else None (leniently: the broker
    passes requests on and the server checks them)."""
    try:
        return check_deadline(header.get("deadline_ms"))
    except RequestError:
        return None


def parse_generate(header: Mapping[str, Any]) -> GenerateRequest:
    """A checked GenerateRequest from a ``generate`` header (count limits are the server's)."""
    if header.get("frames"):
        raise ProtocolError("bad_request", "generate takes no binary frames")
    fields = {k: v for k, v in header.items() if k not in ENVELOPE_KEYS}
    try:
        return GenerateRequest.from_fields(fields)
    except RequestError as exc:
        raise ProtocolError("bad_request", str(exc)) from None


def check_generate(req: GenerateRequest) -> GenerateRequest:
    """``req`` checked (ψ a float); ProtocolError("bad_request") names a wrong field."""
    try:
        return req.checked()
    except RequestError as exc:
        raise ProtocolError("bad_request", str(exc)) from None


# A shot's cost in generator windows: each optimisation step runs every window forward and
# back (about three forward passes), over frames / WINDOW_FRAMES windows; capped at one
# client's default share of the queue, so a long shot of a client with nothing queued is
# still admitted (and holds that client's share while it runs).
COMPOSE_STEPS = 40
WINDOW_FRAMES = 64
MAX_COMPOSE_COST = 1024.0
COMPOSE_ARRAYS = ("path", "key_frames", "key_joints", "key_mask")


def compose_cost(segments: Any) -> float:
    """Cost of a shot of these ``[action, frames]`` segments (malformed: 1, refused later)."""
    if not isinstance(segments, list):
        return 1.0
    frames = 0
    for item in segments[:10_000]:
        length = item[1] if isinstance(item, (list, tuple)) and len(item) == 2 else None
        frames += length if _is_int(length) and 0 < length <= 1 << 24 else 0
    return min(MAX_COMPOSE_COST, max(1.0, frames * COMPOSE_STEPS * 3 / WINDOW_FRAMES))


def compose_request(
    shot: ShotRequest,
    request_id: str | None = None,
    *,
    model: str | None = None,
    deadline_ms: float | None = None,
) -> list[bytes]:
    """Frames of a ``compose``: the shot's fields in the header, its path and keys as
    arrays (so keyed poses cost bytes, not JSON)."""
    fields, arrays = compose_fields(shot, model=model, deadline_ms=deadline_ms)
    return request("compose", request_id, arrays, **fields)


def compose_fields(
    shot: ShotRequest, *, model: str | None = None, deadline_ms: float | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header fields, arrays) of a ``compose`` request for ``shot``."""
    body = shot.to_dict()
    del body["path"], body["keys"]
    arrays: dict[str, np.ndarray] = {}
    if shot.path is not None:
        arrays["path"] = np.asarray(shot.path, "<f8")
    if shot.keys is not None:
        arrays["key_frames"] = np.asarray(shot.keys.frames, "<i8")
        arrays["key_joints"] = np.asarray(shot.keys.joints, "<f4")
        arrays["key_mask"] = np.asarray(shot.keys.mask, "|u1")
    fields: dict[str, Any] = {"shot": body, "model": model}
    if deadline_ms is not None:
        fields["deadline_ms"] = check_deadline(deadline_ms)
    return fields, arrays


def parse_compose(message: Message) -> tuple[ShotRequest, str | None, float | None]:
    """(shot, model, deadline_ms) of a ``compose`` message; ProtocolError("bad_request")
    names the field that is wrong (class names are the server's to check)."""
    header = message.header
    unknown = sorted(set(header) - {*ENVELOPE_KEYS, "shot", "model", "deadline_ms"})
    unknown += sorted(set(message.arrays) - set(COMPOSE_ARRAYS))
    if unknown:
        raise ProtocolError("bad_request", f"compose: unknown fields {unknown[:8]}")
    model = header.get("model")
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= 256):
        raise ProtocolError("bad_request", '"model" must be null or a model name')
    try:
        deadline = check_deadline(header.get("deadline_ms"))
        shot = header.get("shot")
        if not isinstance(shot, Mapping):
            raise ShotError('shot: missing (an object with "segments")')
        if "path" in shot or "keys" in shot:
            raise ShotError("shot: path and keys travel as arrays, not in the header")
        request = ShotRequest.from_dict(shot)
        arrays = message.arrays
        path = arrays.get("path")
        keys = None
        if "key_frames" in arrays or "key_joints" in arrays:
            if "key_frames" not in arrays or "key_joints" not in arrays:
                raise ShotError("keys: key_frames and key_joints travel together")
            keys = Keys.from_arrays(arrays["key_frames"], arrays["key_joints"],
                                    arrays.get("key_mask"))
        request = ShotRequest(
            segments=request.segments, seed=request.seed, truncation=request.truncation,
            loop=request.loop, path=path, keys=keys,
        ).checked()
    except (ShotError, RequestError) as exc:
        raise ProtocolError("bad_request", str(exc)) from None
    return request, model, deadline


# --------------------------------------------------------------------------- replies


def ok_reply(
    request_id: str | None,
    op: str,
    result: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> list[bytes]:
    header = {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "op": op, "result": dict(result)}
    return encode(header, arrays)


def generate_reply(request_id: str | None, takes: GeneratedSet) -> list[bytes]:
    """The reply to a ``generate``: the takes' arrays as frames, their other fields in
    ``result`` with the request's ``action`` and ``label`` (a server sends raw joints, so no
    ``cleanup``)."""
    result = takes.fields()
    arrays = {name: result.pop(name) for name in ARRAY_FIELDS}
    del result["cleanup"]
    result.update(action=takes.action, label=int(takes.labels[0]))
    return ok_reply(request_id, "generate", result, arrays)


def generated_from_reply(message: Message) -> GeneratedSet:
    """The takes of an ok ``generate`` reply, typed; ProtocolError when a field is missing
    or of the wrong kind (whether they answer the request is ``takes.check_generated``'s)."""
    try:
        return from_fields({**message.header["result"], **message.arrays}, {"cleanup": "none"})
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError("bad_request", str(exc)) from None


def compose_reply(request_id: str | None, shot: ComposedShot) -> list[bytes]:
    """The reply to a ``compose``: its one take as a ``generate`` reply's, plus the segment
    table ``[[start frame, frames, action], ...]`` in ``result``."""
    result = shot.takes.fields()
    arrays = {name: result.pop(name) for name in ARRAY_FIELDS}
    del result["cleanup"]
    result.update(action=shot.takes.action, label=int(shot.takes.labels[0]),
                  segments=[list(row) for row in shot.segments])
    return ok_reply(request_id, "compose", result, arrays)


def composed_from_reply(message: Message) -> ComposedShot:
    """The shot of an ok ``compose`` reply; ProtocolError when a field is missing or wrong."""
    result = dict(message.header["result"])
    rows = result.pop("segments", None)
    try:
        takes = from_fields({**result, **message.arrays}, {"cleanup": "none"})
        if not isinstance(rows, list):
            raise ValueError('"segments" must be a list')
        table = tuple((int(a), int(b), str(c)) for a, b, c in rows)
        return ComposedShot(takes, table)
    except (KeyError, TypeError, ValueError, OverflowError, ShotError) as exc:
        raise ProtocolError("bad_request", str(exc)) from None


def error_reply(request_id: str | None, code: str, message: str) -> list[bytes]:
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}")
    # Bound what we echo back: the message may quote attacker-chosen input.
    header = {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": code, "message": message[:1000]},
    }
    return encode(header)


def reply_error(header: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(code, message)`` of an error reply, None for an ok reply; ProtocolError if neither."""
    ok = header.get("ok")
    if ok is True:
        if not isinstance(header.get("result"), dict):
            raise ProtocolError("bad_request", 'ok reply without a "result" object')
        return None
    error = header.get("error")
    if ok is not False or not isinstance(error, dict):
        raise ProtocolError("bad_request", 'reply needs "ok" and a "result" or an "error"')
    code, message = error.get("code"), error.get("message")
    if code not in ERROR_CODES or not isinstance(message, str):
        raise ProtocolError("bad_request", f"reply carries an unknown error {error!r:.200}")
    return code, message
