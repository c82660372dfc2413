"""The Kinetic-GAN wire format: one definition, shared by the server, the client and the add-on.

A message is a list of ZeroMQ frames. Frame 0 is a UTF-8 JSON object (the *header*); every
following frame is one array as raw little-endian bytes, described in order by
``header["frames"] = [{"name", "dtype", "shape"}, ...]``. Nothing is ever pickled.

Only the standard library and numpy are imported here: the Blender add-on bundles this very
file. ``docs/protocol.md`` is the human-readable version of this module.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1
OPS = ("info", "generate", "ping")

# The closed list of error codes a reply may carry (docs/protocol.md explains each).
ERROR_CODES = (
    "bad_request",  # malformed message: bad JSON, missing/wrong fields, frames that lie
    "unknown_op",  # an op outside OPS
    "unknown_model",  # no loaded model of that name
    "unknown_action",  # the model has no such class (name or index)
    "too_large",  # count over the server's limit, or a message over the size caps
    "version_mismatch",  # header "v" is an integer other than PROTOCOL_VERSION
    "busy",  # the server's queue is full; try again later
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
MAX_ACTION_CHARS = 256
MAX_SEED = 2**63 - 1
MAX_TRUNCATION = 1.0

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


@dataclass(frozen=True)
class GenerateRequest:
    """The validated fields of a ``generate`` request."""

    action: str | int
    count: int = 1
    model: str | None = None
    seed: int | None = None
    truncation: float | None = None
    vary_noise: bool = False


def new_id() -> str:
    return uuid.uuid4().hex


def parse_action(text: str) -> str | int:
    """An action typed by a user: an index when it is ASCII digits only, else a class name.

    ``str.isdigit`` alone is not enough: "²", "①" and "٣" are digits to it and then make
    ``int()`` raise, so every entry point parses actions here.
    """
    token = text.strip()
    if token.isascii() and token.isdigit():
        return int(token)
    return text


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


def request(op: str, request_id: str | None = None, **fields: Any) -> list[bytes]:
    """Frames of a request ``op`` with ``fields`` in its header."""
    return encode({"v": PROTOCOL_VERSION, "op": op, "id": request_id or new_id(), **fields})


def generate_request(req: GenerateRequest, request_id: str | None = None) -> list[bytes]:
    check_generate(req)
    return request(
        "generate",
        request_id,
        model=req.model,
        action=req.action,
        count=req.count,
        seed=req.seed,
        truncation=req.truncation,
        vary_noise=req.vary_noise,
    )


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


def parse_generate(header: Mapping[str, Any]) -> GenerateRequest:
    """A checked GenerateRequest from a ``generate`` header (count limits are the server's)."""
    known = {"v", "op", "id", "model", "action", "count", "seed", "truncation", "vary_noise"}
    extra = sorted(set(header) - known - {"frames"})
    if extra:
        raise ProtocolError("bad_request", f"generate: unknown fields {extra[:8]}")
    if header.get("frames"):
        raise ProtocolError("bad_request", "generate takes no binary frames")
    if "action" not in header:
        raise ProtocolError("bad_request", 'generate needs "action" (a class name or index)')
    req = GenerateRequest(
        action=header["action"],
        count=header.get("count", 1),
        model=header.get("model"),
        seed=header.get("seed"),
        truncation=header.get("truncation"),
        vary_noise=header.get("vary_noise", False),
    )
    check_generate(req)
    return req


def check_generate(req: GenerateRequest) -> None:
    """Raise ProtocolError("bad_request") for a field of the wrong type or range."""
    action = req.action
    if isinstance(action, str):
        if not action.strip() or len(action) > MAX_ACTION_CHARS:
            raise ProtocolError("bad_request", f'"action" must be 1..{MAX_ACTION_CHARS} chars')
    elif not _is_int(action):
        raise ProtocolError("bad_request", '"action" must be a class name or an integer index')
    if not _is_int(req.count) or req.count < 1:
        raise ProtocolError("bad_request", f'"count" must be an integer >= 1, got {req.count!r}')
    if req.model is not None and (not isinstance(req.model, str) or len(req.model) > 256):
        raise ProtocolError("bad_request", '"model" must be null or a model name')
    if req.seed is not None and (not _is_int(req.seed) or not 0 <= req.seed <= MAX_SEED):
        raise ProtocolError("bad_request", f'"seed" must be null or an integer in 0..{MAX_SEED}')
    psi = req.truncation
    if psi is not None:
        if _is_int(psi):
            psi = float(psi)
        if not isinstance(psi, float) or not math.isfinite(psi) or not 0 <= psi <= MAX_TRUNCATION:
            raise ProtocolError(
                "bad_request", f'"truncation" must be null or a number in 0..{MAX_TRUNCATION}'
            )
    if not isinstance(req.vary_noise, bool):
        raise ProtocolError("bad_request", '"vary_noise" must be true or false')


# --------------------------------------------------------------------------- replies


def ok_reply(
    request_id: str | None,
    op: str,
    result: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> list[bytes]:
    header = {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "op": op, "result": dict(result)}
    return encode(header, arrays)


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
