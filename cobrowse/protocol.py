"""What goes over the wire: kinds and their delivery, payload shapes, limits, error codes and
close codes, written down here once.

Incoming frames are parsed with `parse_frame`, which either returns a typed frame or raises
`ProtocolError` carrying the error code the client receives. Outgoing frames are built by the
`*_frame` functions and checked against `SERVER_FRAMES`. Everything else is generated from this
module by `python manage.py protocol_files`: the browser's constants (`static/cobrowse/protocol.js`)
and the tables of `docs/protocol.md`; `tests/test_protocol_files.py` fails when they disagree.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

import orjson

from .masking import scrub_text

MAX_CLIENT_OP_ID = 64
# Ops in one `ops` frame: what a browser piles up during one round trip, with room to spare.
MAX_OPS_PER_FRAME = 200
# client_op_ids of ops the server journals itself; clients may not use the prefix.
SERVER_OP_PREFIX = "server-"
# The ops the server journals when a session is handed over, in the old operator's name.
HANDOVER_OP_PREFIX = f"{SERVER_OP_PREFIX}handover-"
MAX_ELEMENT = 200
MAX_DEPTH = 200  # nesting of a payload; rrweb snapshots nest two levels per DOM level
MAX_DOM_EVENTS = 500
MAX_TEXT = 2000
MAX_VALUE = 10_000
MAX_URL = 2048
MAX_TITLE = 300  # navigate.title
# Larger floats come back from PostgreSQL's jsonb as integers (1e16 is stored as
# 10000000000000000), which would change the journal's hashes; no page needs them.
MAX_FLOAT = 1e15
# Defaults of COBROWSE_MAX_FRAME_BYTES and COBROWSE_MAX_DOM_FRAME_BYTES (config/settings.py); the
# widget sizes its dom ops below the latter. dom ops carry rrweb full snapshots, which real
# pages make larger than any other frame.
MAX_FRAME_BYTES = 256 * 1024
MAX_DOM_FRAME_BYTES = 4 * 1024 * 1024


class CloseCode(enum.IntEnum):
    """Every WebSocket close code the server sends (CLOSE_CODES says when)."""

    TRY_AGAIN = 1013  # the database or channel layer failed: reconnect and re-send
    ABUSIVE = 4400  # nothing but refused frames: fix the client
    INVALID_TOKEN = 4401  # the session token is missing, bad, expired or another's: do not retry
    FORBIDDEN = 4403  # not a participant of this session, or Origin not allowed: do not retry
    NOT_FOUND = 4404  # no WebSocket at this path: do not retry
    TOO_SLOW = 4408  # the reader fell too far behind: reconnect and resume
    SILENT = 4409  # nothing heard for the heartbeat timeout: the network is gone; reconnect
    ENDED = 4410  # the session has ended: do not retry
    TOO_MANY = 4429  # too many connections of this participant: reconnect after a while
    # Sent by the WebSocket layer (config/websocket.py, uvicorn), RFC 6455.
    INVALID_UTF8 = 1007
    TOO_BIG = 1009


# A client that sees one of these does not reconnect; it reports the lower-case name as its
# status ("forbidden", "ended").
FINAL_CLOSE_CODES = frozenset({CloseCode.INVALID_TOKEN, CloseCode.FORBIDDEN, CloseCode.ENDED})

CLOSE_CODES: Mapping[CloseCode, str] = {
    CloseCode.ABUSIVE: "the client sent frames abusively (100 refused frames in a row)",
    CloseCode.INVALID_TOKEN: (
        "`invalid_token`: the session token (`?token=`, a merchant's page) is missing, bad, "
        "expired or another session's; a new help request gets a new one"
    ),
    CloseCode.FORBIDDEN: (
        "not allowed into this session; the reason is `origin_not_allowed` for an Origin that "
        "may not reach it, `not_served` for an operator whose teams do not serve its site"
    ),
    CloseCode.NOT_FOUND: "no WebSocket at this path",
    CloseCode.TOO_SLOW: (
        "the client did not read fast enough: more than `COBROWSE_SEND_QUEUE_LIMIT` frames or "
        "`COBROWSE_SEND_QUEUE_BYTES` bytes were waiting for it; reconnect with `?last_seq=` and "
        "resume from the journal. A client that reads nothing at all may see its TCP connection "
        "reset instead (the close frame cannot reach it)"
    ),
    CloseCode.SILENT: (
        "a client that connected with `?heartbeat=1` sent nothing, not even a `heartbeat`, for "
        "`COBROWSE_SILENCE_TIMEOUT_MS` (6 s): its network is taken for gone and the participant "
        "for left as of when it was last heard; reconnect. Mostly the close cannot reach it"
    ),
    CloseCode.ENDED: "the session has ended",
    CloseCode.TOO_MANY: (
        "this participant opened too many connections (`COBROWSE_CONNECTIONS_PER_PARTICIPANT` "
        "per window, or `COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT` open at once in one "
        "process); reconnect after a while, with backoff"
    ),
    CloseCode.TRY_AGAIN: (
        "the server could not journal or read the journal (database or channel layer "
        "unavailable), also while admitting the connection; reconnect and re-send"
    ),
    CloseCode.INVALID_UTF8: (
        "a text frame was not valid UTF-8 (closed by the WebSocket layer, RFC 6455)"
    ),
    CloseCode.TOO_BIG: (
        "a frame was larger than the server accepts at all (5 MiB with `make serve` and "
        "`make run`, see docs/reliability.md)"
    ),
}
assert set(CLOSE_CODES) == set(CloseCode)

# code -> when the server answers with it
ERROR_CODES: Mapping[str, str] = {
    "bad_json": "the frame is not JSON, or is binary",
    "bad_frame": "not an object, unknown `type`, missing or extra fields, wrong field types",
    "unknown_kind": "`kind` is not in the table above",
    "forbidden_kind": "the sender's role may not send that kind or action",
    "control_required": "an operator action that needs control, without control",
    "invalid_payload": "the payload does not match its kind",
    "too_large": (
        "the frame is over the size limit, whatever else is wrong with it "
        "(`COBROWSE_MAX_FRAME_BYTES`, 256 KiB; `dom` ops, which carry rrweb snapshots, "
        "`COBROWSE_MAX_DOM_FRAME_BYTES`, 4 MiB)"
    ),
    "rate_limited": (
        "more frames (of any type: ops, `ping`, `heartbeat`, `resume`) than "
        "`COBROWSE_RATE_PER_SECOND` (burst `COBROWSE_RATE_BURST`), each op of an `ops` frame "
        "counting as one frame; the op was not journaled, re-send it later"
    ),
    "session_ended": "the session has ended; nothing more is journaled",
    "unavailable": (
        f"the journal could not be written; the socket closes with {CloseCode.TRY_AGAIN.value}"
    ),
}


class ProtocolError(Exception):
    """A frame the server refuses. `code` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str, client_op_id: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_op_id = client_op_id


# --- Incoming frames -------------------------------------------------------------------------


class OpFrame(NamedTuple):
    client_op_id: str
    kind: str
    element: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class OpsFrame:
    """Several ops in one frame, in the order sent. Each is checked on its own: an op that
    fails its check is its ProtocolError here (answered with an error for that op alone), and
    the others are journaled."""

    ops: tuple[OpFrame | ProtocolError, ...]


@dataclass(frozen=True)
class ResumeFrame:
    last_seq: int


@dataclass(frozen=True)
class PingFrame:
    pass


@dataclass(frozen=True)
class HeartbeatFrame:
    """The client is there (the answer to the server's `heartbeat`); nothing is answered."""


Frame = OpFrame | OpsFrame | ResumeFrame | PingFrame | HeartbeatFrame


def decode(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", "the frame is not valid JSON") from exc


def encode(frame: Mapping[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def parse_frame(data: Any) -> Frame:
    """Check one decoded client frame against the protocol."""
    if not isinstance(data, dict):
        raise ProtocolError("bad_frame", "a frame must be a JSON object")
    frame_type = data.get("type")
    if frame_type == "op":
        return _parse_op(data)
    if frame_type == "ops":
        return _parse_ops(data)
    if frame_type == "resume":
        _exact_keys(data, {"type", "last_seq"}, set())
        last_seq = data["last_seq"]
        if not _is_int(last_seq) or last_seq < 0:
            raise ProtocolError("bad_frame", "resume.last_seq must be a non-negative integer")
        return ResumeFrame(last_seq=last_seq)
    if frame_type == "ping":
        _exact_keys(data, {"type"}, set())
        return PingFrame()
    if frame_type == "heartbeat":
        _exact_keys(data, {"type"}, set())
        return HeartbeatFrame()
    raise ProtocolError("bad_frame", f"unknown frame type {str(frame_type)[:40]!r}")


_OP_FIELDS = {"type", "client_op_id", "kind", "payload"}
_OPS_OP_FIELDS = {"client_op_id", "kind", "payload"}  # an op inside an `ops` frame: no type


def _parse_ops(data: dict[str, Any]) -> OpsFrame:
    _exact_keys(data, {"type", "ops"}, set())
    items = data["ops"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_OPS_PER_FRAME:
        raise ProtocolError("bad_frame", f"ops.ops must be a list of 1-{MAX_OPS_PER_FRAME} ops")
    ops: list[OpFrame | ProtocolError] = []
    for item in items:
        if not isinstance(item, dict):
            ops.append(ProtocolError("bad_frame", "each of ops.ops must be an object"))
            continue
        try:
            ops.append(_parse_op(item, _OPS_OP_FIELDS))
        except ProtocolError as exc:
            ops.append(exc)
    return OpsFrame(ops=tuple(ops))


def _parse_op(data: dict[str, Any], fields: set[str] = _OP_FIELDS) -> OpFrame:
    client_op_id = data.get("client_op_id")
    if not isinstance(client_op_id, str) or not 1 <= len(client_op_id) <= MAX_CLIENT_OP_ID:
        raise ProtocolError(
            "bad_frame", f"op.client_op_id must be a string of 1-{MAX_CLIENT_OP_ID} characters"
        )
    if client_op_id.startswith(SERVER_OP_PREFIX):
        raise ProtocolError("bad_frame", f"op.client_op_id may not start with {SERVER_OP_PREFIX!r}")
    if not _is_clean_key(client_op_id):
        # Keys are stored as sent (they identify the op), so they may carry no secret.
        raise ProtocolError(
            "bad_frame", "op.client_op_id may not contain NUL or a card number or IBAN"
        )
    try:
        _exact_keys(data, fields, {"element"})
    except ProtocolError as exc:
        exc.client_op_id = client_op_id
        raise
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise ProtocolError("unknown_kind", f"unknown kind {str(kind)[:40]!r}", client_op_id)
    element = data.get("element")
    if element is not None and (
        not isinstance(element, str) or not 1 <= len(element) <= MAX_ELEMENT
    ):
        raise ProtocolError(
            "bad_frame", f"op.element must be a string of 1-{MAX_ELEMENT} characters", client_op_id
        )
    if element is not None and not _is_clean_key(element):
        raise ProtocolError(
            "bad_frame", "op.element may not contain NUL or a card number or IBAN", client_op_id
        )
    payload = data["payload"]
    if not isinstance(payload, dict):
        raise ProtocolError("invalid_payload", "op.payload must be an object", client_op_id)
    try:
        _check_values(payload)
        PAYLOAD_CHECKS[kind](payload)
    except ProtocolError as exc:
        exc.client_op_id = client_op_id
        raise
    return OpFrame(client_op_id=client_op_id, kind=kind, element=element, payload=payload)


def _exact_keys(data: Mapping[str, Any], required: set[str], optional: set[str]) -> None:
    if data.keys() == required:  # most frames: each field once, no optional one
        return
    keys = set(data)
    missing = required - keys
    if missing:
        raise ProtocolError("bad_frame", f"missing field(s): {', '.join(sorted(missing))}")
    extra = keys - required - optional
    if extra:
        names = ", ".join(sorted(str(k)[:40] for k in extra)[:5])
        raise ProtocolError("bad_frame", f"unexpected field(s): {names}")


def _is_clean_key(value: str) -> bool:
    return "\x00" not in value and scrub_text(value) == value


def _check_values(value: Any) -> None:
    """Depth, and values every journal backend stores unchanged: no NUL character (PostgreSQL
    refuses it, and one such op would fail the whole batch it is written with), finite floats
    of modest size. (Scalars are checked where their container is met: no stack entry each.)"""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if "\x00" in key:
                    raise ProtocolError("invalid_payload", "strings may not contain NUL")
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:  # a scalar at the top: only its depth applies
            if depth > MAX_DEPTH:
                raise ProtocolError("invalid_payload", f"payload nests deeper than {MAX_DEPTH}")
            _check_scalar(item)
            continue
        if depth >= MAX_DEPTH:
            if depth > MAX_DEPTH or item:
                raise ProtocolError("invalid_payload", f"payload nests deeper than {MAX_DEPTH}")
            continue
        for child in children:
            kind = type(child)
            if kind is int or kind is bool or child is None:
                continue
            if kind is dict or kind is list or isinstance(child, dict | list):
                stack.append((child, depth + 1))
            else:
                _check_scalar(child)


def _check_scalar(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ProtocolError("invalid_payload", "strings may not contain NUL")
    elif isinstance(value, float) and not (math.isfinite(value) and abs(value) < MAX_FLOAT):
        raise ProtocolError("invalid_payload", f"numbers must be finite and below {MAX_FLOAT:g}")


# --- Payload shapes per kind -----------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(limit: int, minimum: int = 0) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and minimum <= len(value) <= limit


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


# A scheme as browsers read a URL: after dropping surrounding C0 controls and spaces, and tabs
# and newlines anywhere (so "java\tscript:" is javascript:).
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_URL_IGNORED = re.compile(r"[\t\n\r]")
WEB_SCHEMES = frozenset({"http", "https"})


def _is_page_url(value: Any) -> bool:
    """A page the desk may link to: an http(s) URL, or one relative to the customer's page."""
    if not (isinstance(value, str) and 1 <= len(value) <= MAX_URL):
        return False
    scheme = _URL_SCHEME.match(_URL_IGNORED.sub("", value.strip("".join(map(chr, range(33))))))
    return scheme is None or scheme.group(1).lower() in WEB_SCHEMES


_TYPE_NAMES: dict[Callable[[Any], bool], str] = {
    _is_int: "an integer",
    _is_number: "a number",
    _is_bool: "a boolean",
    _is_page_url: "an http(s) or relative URL of at most 2048 characters",
}


def _shape(
    kind: str, required: Mapping[str, Callable[[Any], bool]], optional: Mapping[str, Any]
) -> Callable[[dict[str, Any]], None]:
    def check(payload: dict[str, Any]) -> None:
        for name, test in required.items():
            if name not in payload:
                raise ProtocolError("invalid_payload", f"{kind}.{name} is required")
            if not test(payload[name]):
                raise ProtocolError("invalid_payload", _describe(kind, name, test))
        for name, value in payload.items():
            if name in required:
                continue
            optional_test = optional.get(name)
            if optional_test is None:
                raise ProtocolError("invalid_payload", f"{kind}.{str(name)[:40]} is not allowed")
            if not optional_test(value):
                raise ProtocolError("invalid_payload", _describe(kind, name, optional_test))

    return check


def _describe(kind: str, name: str, test: Callable[[Any], bool]) -> str:
    return f"{kind}.{name} must be {_TYPE_NAMES.get(test, 'of the documented type')}"


def _check_dom(payload: dict[str, Any]) -> None:
    _shape("dom", {"events": lambda v: isinstance(v, list)}, {})(payload)
    events = payload["events"]
    if not 1 <= len(events) <= MAX_DOM_EVENTS:
        raise ProtocolError("invalid_payload", f"dom.events must hold 1-{MAX_DOM_EVENTS} events")
    for event in events:
        if not isinstance(event, dict) or not _is_int(event.get("type")):
            raise ProtocolError("invalid_payload", "each dom event needs an integer type")


def _check_highlight(payload: dict[str, Any]) -> None:
    _shape(
        "highlight",
        {},
        {
            "id": _is_int,
            "x": _is_number,
            "y": _is_number,
            "w": _is_number,
            "h": _is_number,
            "label": _is_str(200),
        },
    )(payload)
    if "id" not in payload and not all(k in payload for k in ("x", "y", "w", "h")):
        raise ProtocolError("invalid_payload", "highlight needs id, or x, y, w and h")


def _check_panel(payload: dict[str, Any]) -> None:
    _shape("panel", {"x": _is_number, "y": _is_number, "w": _is_number, "h": _is_number}, {})(
        payload
    )
    if payload["w"] < 0 or payload["h"] < 0:
        raise ProtocolError("invalid_payload", "panel.w and panel.h may not be negative")


def _check_action(kind: str, actions: frozenset[str]) -> Callable[[dict[str, Any]], None]:
    shape = _shape(kind, {"action": _is_str(32, 1)}, {"participant": _is_int})

    def check(payload: dict[str, Any]) -> None:
        shape(payload)
        if payload["action"] not in actions:
            raise ProtocolError("invalid_payload", f"unknown {kind} action")

    return check


CONTROL_ACTIONS = frozenset({"request", "grant", "revoke", "release"})


class Delivery(enum.StrEnum):
    """Who gets a journaled op; the server decides it per kind, clients cannot choose it."""

    ALL = "all"  # every participant, the sender too (its op comes back after its ack)
    OTHERS = "others"  # every participant except the sender


@dataclass(frozen=True)
class Kind:
    delivery: Delivery
    check: Callable[[dict[str, Any]], None]  # raises ProtocolError when the payload is wrong
    shape: str  # the payload, as docs/protocol.md shows it


KIND_TABLE: Mapping[str, Kind] = {
    "dom": Kind(
        Delivery.OTHERS,
        _check_dom,
        f'`{{"events": [rrweb event, ...]}}` (1-{MAX_DOM_EVENTS} events)',
    ),
    "pointer": Kind(
        Delivery.OTHERS,
        _shape("pointer", {"x": _is_number, "y": _is_number}, {"id": _is_int}),
        '`{"x": number, "y": number}` plus optional `"id"` (rrweb node)',
    ),
    "scroll": Kind(
        Delivery.OTHERS,
        _shape("scroll", {"x": _is_number, "y": _is_number}, {"id": _is_int}),
        '`{"x": number, "y": number}` plus optional `"id"`',
    ),
    "input": Kind(
        Delivery.OTHERS,
        _shape("input", {"value": _is_str(MAX_VALUE)}, {"id": _is_int, "checked": _is_bool}),
        '`{"value": string}` plus optional `"id"`, `"checked"`',
    ),
    "click": Kind(
        Delivery.ALL,
        _shape("click", {"id": _is_int}, {"x": _is_number, "y": _is_number}),
        '`{"id": int}` plus optional `"x"`, `"y"`',
    ),
    "navigate": Kind(
        Delivery.ALL,
        _shape("navigate", {"url": _is_page_url}, {"title": _is_str(MAX_TITLE)}),
        '`{"url": string}` (http(s) or relative to the page) plus optional `"title"`',
    ),
    "highlight": Kind(
        Delivery.ALL,
        _check_highlight,
        '`{"id": int}` or `{"x", "y", "w", "h"}`, optional `"label"`',
    ),
    # Where the widget's own UI (its help panel, or the handle it collapses to) covers the
    # customer's page: rrweb never records it, so the desk learns its box from this.
    "panel": Kind(
        Delivery.OTHERS,
        _check_panel,
        '`{"x": number, "y": number, "w": number, "h": number}` (viewport CSS px of the '
        "customer's page; `w` and `h` not negative)",
    ),
    "chat": Kind(
        Delivery.ALL,
        _shape("chat", {"text": _is_str(MAX_TEXT, 1)}, {}),
        f'`{{"text": string}}` (1-{MAX_TEXT} characters)',
    ),
    "control": Kind(
        Delivery.ALL,
        _check_action("control", CONTROL_ACTIONS),
        '`{"action": ..., "participant"?: int}`',
    ),
    "session": Kind(
        Delivery.ALL,
        _check_action("session", frozenset({"end"})),
        '`{"action": "end"}`; the server journals `{"action": "joined", ...}` and, when the '
        'session\'s operator hands it over, `{"action": "handover", "from": int, "to": int, '
        '"name": string}` (after a control `revoke` if `from` held control)',
    ),
}

KINDS = frozenset(KIND_TABLE)
DELIVERY: Mapping[str, Delivery] = {name: kind.delivery for name, kind in KIND_TABLE.items()}
PAYLOAD_CHECKS: Mapping[str, Callable[[dict[str, Any]], None]] = {
    name: kind.check for name, kind in KIND_TABLE.items()
}


# --- Outgoing frames -------------------------------------------------------------------------


class Sender(TypedDict):
    role: str
    participant: int


def op_frame(
    *,
    seq: int,
    kind: str,
    element: str | None,
    element_seq: int | None,
    delivery: str,
    sender: Sender,
    payload: Mapping[str, Any] | orjson.Fragment,  # a Fragment: JSON text as stored
    ts: int,
) -> dict[str, Any]:
    return {
        "type": "op",
        "seq": seq,
        "kind": kind,
        "element": element,
        "element_seq": element_seq,
        "delivery": delivery,
        "sender": sender,
        "payload": payload,
        "ts": ts,
    }


def ack_frame(*, client_op_id: str, seq: int, element_seq: int | None) -> dict[str, Any]:
    return {"type": "ack", "client_op_id": client_op_id, "seq": seq, "element_seq": element_seq}


def acks_frame(
    *, seq: int, client_op_ids: list[str], element_seqs: list[int | None]
) -> dict[str, Any]:
    """The acks of a run of this participant's ops that got the seqs `seq`, `seq + 1`, ...:
    `client_op_ids[i]` got `seq + i` (and `element_seqs[i]`)."""
    return {
        "type": "acks",
        "seq": seq,
        "client_op_ids": client_op_ids,
        "element_seqs": element_seqs,
    }


def error_frame(error: ProtocolError) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if error.client_op_id is not None:
        frame["client_op_id"] = error.client_op_id
    return frame


def synced_frame(*, head_seq: int) -> dict[str, Any]:
    return {"type": "synced", "head_seq": head_seq}


def pong_frame(*, head_seq: int) -> dict[str, Any]:
    return {"type": "pong", "head_seq": head_seq}


# To a quiet connection held to heartbeats (`?heartbeat=1`): answer with the same frame.
HEARTBEAT_TEXT = encode({"type": "heartbeat"})


def welcome_frame(
    *, state: Mapping[str, Any], role: str, participant: int, position: int
) -> dict[str, Any]:
    """The first frame of a connection: the session's `state` (`selectors.session_state`), who
    the connection is, and `position`, the seq after which its delivery starts."""
    return {
        "type": "welcome",
        **state,
        "role": role,
        "participant": participant,
        "position": position,
    }


_BATCH_HEAD = '{"type":"batch","frames":['
_BATCH_TAIL = "]}"


def batch_frames(texts: list[str], limit: int) -> list[str]:
    """`texts` (encoded ack and op frames, in order) as `batch` frames of at most about `limit`
    characters each; a frame alone in its batch (one larger than `limit`, or the last) goes as
    it is. The frames are spliced in as they were encoded: nothing is decoded again."""
    frames: list[str] = []
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) + 1 > limit:
            frames.append(_batch(group))
            group, size = [], 0
        group.append(text)
        size += len(text) + 1
    if group:
        frames.append(_batch(group))
    return frames


def _batch(group: list[str]) -> str:
    if len(group) == 1:
        return group[0]
    return _BATCH_HEAD + ",".join(group) + _BATCH_TAIL


# --- Shapes of outgoing frames ---------------------------------------------------------------
# Every frame the server sends, field by field. Tests hold each frame they receive to this
# (`server_frame_problems`), so a new field or frame type is written down here first.


def _is_seq(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_optional(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or test(value)


def _is_sender(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"role", "participant"}
        and value["role"] in ROLES
        and _is_int(value["participant"])
    )


def _is_participant_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, dict)
        and set(p) == {"participant", "role", "name"}
        and _is_int(p["participant"])
        and p["role"] in ROLES
        and isinstance(p["name"], str)
        for p in value
    )


ROLES = frozenset({"customer", "operator", "observer", "supervisor"})
MAX_ERROR_MESSAGE = 200

SERVER_FRAMES: Mapping[str, tuple[Mapping[str, Callable[[Any], bool]], frozenset[str]]] = {
    # type -> (required fields with their tests, optional fields)
    "welcome": (
        {
            "session": _is_str(36, 36),
            "code": _is_str(6, 6),
            "site": _is_str(64, 1),
            "status": lambda v: v in ("waiting", "active", "ended"),
            "head_seq": _is_seq,
            "snapshot_seq": _is_seq,
            "control": _is_optional(_is_int),
            "participants": _is_participant_list,
            "role": lambda v: v in ROLES,
            "participant": _is_int,
            "position": _is_seq,
        },
        frozenset(),
    ),
    "ack": (
        {
            "client_op_id": _is_str(MAX_CLIENT_OP_ID, 1),
            "seq": lambda v: _is_int(v) and v >= 1,
            "element_seq": _is_optional(lambda v: _is_int(v) and v >= 1),
        },
        frozenset(),
    ),
    # The acks of a run of own ops with consecutive seqs (connections that sent an `ops` frame).
    "acks": (
        {
            "seq": lambda v: _is_int(v) and v >= 1,
            "client_op_ids": lambda v: (
                isinstance(v, list) and len(v) >= 2 and all(map(_is_str(MAX_CLIENT_OP_ID, 1), v))
            ),
            "element_seqs": lambda v: (
                isinstance(v, list) and all(map(_is_optional(lambda e: _is_int(e) and e >= 1), v))
            ),
        },
        frozenset(),
    ),
    "op": (
        {
            "seq": lambda v: _is_int(v) and v >= 1,
            "kind": lambda v: v in KINDS,
            "element": _is_optional(_is_str(MAX_ELEMENT, 1)),
            "element_seq": _is_optional(lambda v: _is_int(v) and v >= 1),
            "delivery": lambda v: v in {d.value for d in Delivery},
            "sender": _is_sender,
            "payload": lambda v: isinstance(v, dict),
            "ts": _is_seq,
        },
        frozenset(),
    ),
    # Several ack and op frames in one (clients that connected with ?batch=1); checked one by
    # one in server_frame_problems.
    "batch": ({"frames": lambda v: isinstance(v, list) and len(v) >= 2}, frozenset()),
    "synced": ({"head_seq": _is_seq}, frozenset()),
    "pong": ({"head_seq": _is_seq}, frozenset()),
    "heartbeat": ({}, frozenset()),
    "error": (
        {
            "code": lambda v: v in ERROR_CODES,
            "message": _is_str(MAX_ERROR_MESSAGE, 1),
        },
        frozenset({"client_op_id"}),
    ),
}

_JOINED = _shape(
    "session",
    {"action": lambda v: v == "joined", "participant": _is_int, "role": lambda v: v in ROLES},
    {"name": _is_str(150)},
)
# The hand-over the server journals (lifecycle.session_handover): `to` is the operator now.
_HANDOVER = _shape(
    "session",
    {"action": lambda v: v == "handover", "from": _is_int, "to": _is_int},
    {"name": _is_str(150)},
)
# The end the server journals for a session nobody used for a while (lifecycle.sessions_end_idle)
# or that a ticket system ended through the REST API (lifecycle.session_end), or whose customer
# is gone (lifecycle.sessions_end_abandoned).
END_REASONS = frozenset({"idle", "api", "abandoned"})
_ENDED_BY_SERVER = _shape(
    "session", {"action": lambda v: v == "end", "reason": lambda v: v in END_REASONS}, {}
)


def server_frame_problems(frame: Any) -> list[str]:
    """What is wrong with a frame the server sent (empty when it matches its shape)."""
    if not isinstance(frame, dict) or frame.get("type") not in SERVER_FRAMES:
        return [f"unknown frame {str(frame)[:80]}"]
    required, optional = SERVER_FRAMES[frame["type"]]
    problems = [f"{frame['type']}.{name} missing" for name in required if name not in frame]
    extra = set(frame) - set(required) - optional - {"type"}
    problems += [f"{frame['type']}.{name} not allowed" for name in sorted(extra)]
    problems += [
        f"{frame['type']}.{name} = {str(frame[name])[:80]}"
        for name, test in required.items()
        if name in frame and not test(frame[name])
    ]
    if frame["type"] == "batch" and not problems:
        for inner in frame["frames"]:
            if not isinstance(inner, dict) or inner.get("type") not in ("ack", "acks", "op"):
                problems.append(f"batch holds {str(inner)[:80]}")
            else:
                problems += server_frame_problems(inner)
    if (
        frame["type"] == "acks"
        and not problems
        and len(frame["element_seqs"]) != len(frame["client_op_ids"])
    ):
        problems.append("acks.element_seqs and acks.client_op_ids differ in length")
    if (
        frame["type"] == "error"
        and "client_op_id" in frame
        and not _is_str(MAX_CLIENT_OP_ID, 1)(frame["client_op_id"])
    ):
        problems.append("error.client_op_id")
    if frame["type"] == "op" and not problems:
        payload, kind = frame["payload"], frame["kind"]
        check = PAYLOAD_CHECKS[kind]
        if kind == "session" and payload.get("action") == "joined":
            check = _JOINED
        elif kind == "session" and payload.get("action") == "handover":
            check = _HANDOVER
        elif kind == "session" and "reason" in payload:
            check = _ENDED_BY_SERVER
        elif kind == "control" and payload.get("participant", 0) is None:
            # revoke/release when nobody held control: the server states `participant: null`
            payload = {k: v for k, v in payload.items() if k != "participant"}
        try:
            check(payload)
        except ProtocolError as exc:
            problems.append(f"op payload: {exc.message}")
    return problems
