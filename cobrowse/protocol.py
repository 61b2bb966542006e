"""What goes over the wire: frame types, payload shapes per kind, and error codes.

`docs/protocol.md` is the prose version of this module. Incoming frames are parsed with
`parse_frame`, which either returns a typed frame or raises `ProtocolError` carrying the error
code the client receives. Outgoing frames are built by the `*_frame` functions, so the shape of
every frame the server sends is written down here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from .policy import KINDS

MAX_CLIENT_OP_ID = 64
MAX_ELEMENT = 200
MAX_DEPTH = 200  # nesting of a payload; rrweb snapshots nest two levels per DOM level
MAX_DOM_EVENTS = 500
MAX_TEXT = 2000
MAX_VALUE = 10_000
MAX_URL = 2048

ERROR_CODES = frozenset(
    {
        "bad_json",
        "bad_frame",
        "unknown_kind",
        "forbidden_kind",
        "control_required",
        "invalid_payload",
        "too_large",
        "rate_limited",
        "session_ended",
        "unavailable",
    }
)


class ProtocolError(Exception):
    """A frame the server refuses. `code` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str, client_op_id: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_op_id = client_op_id


# --- Incoming frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpFrame:
    client_op_id: str
    kind: str
    element: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ResumeFrame:
    last_seq: int


@dataclass(frozen=True)
class PingFrame:
    pass


Frame = OpFrame | ResumeFrame | PingFrame


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
    if frame_type == "resume":
        _exact_keys(data, {"type", "last_seq"}, set())
        last_seq = data["last_seq"]
        if not _is_int(last_seq) or last_seq < 0:
            raise ProtocolError("bad_frame", "resume.last_seq must be a non-negative integer")
        return ResumeFrame(last_seq=last_seq)
    if frame_type == "ping":
        _exact_keys(data, {"type"}, set())
        return PingFrame()
    raise ProtocolError("bad_frame", f"unknown frame type {str(frame_type)[:40]!r}")


def _parse_op(data: dict[str, Any]) -> OpFrame:
    client_op_id = data.get("client_op_id")
    if not isinstance(client_op_id, str) or not 1 <= len(client_op_id) <= MAX_CLIENT_OP_ID:
        raise ProtocolError("bad_frame", "op.client_op_id must be a string of 1-64 characters")
    try:
        _exact_keys(data, {"type", "client_op_id", "kind", "payload"}, {"element"})
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
            "bad_frame", "op.element must be a string of 1-200 characters", client_op_id
        )
    payload = data["payload"]
    if not isinstance(payload, dict):
        raise ProtocolError("invalid_payload", "op.payload must be an object", client_op_id)
    try:
        _check_depth(payload)
        PAYLOAD_CHECKS[kind](payload)
    except ProtocolError as exc:
        exc.client_op_id = client_op_id
        raise
    return OpFrame(client_op_id=client_op_id, kind=kind, element=element, payload=payload)


def _exact_keys(data: Mapping[str, Any], required: set[str], optional: set[str]) -> None:
    keys = set(data)
    missing = required - keys
    if missing:
        raise ProtocolError("bad_frame", f"missing field(s): {', '.join(sorted(missing))}")
    extra = keys - required - optional
    if extra:
        names = ", ".join(sorted(str(k)[:40] for k in extra)[:5])
        raise ProtocolError("bad_frame", f"unexpected field(s): {names}")


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ProtocolError("invalid_payload", f"payload nests deeper than {MAX_DEPTH}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ProtocolError("invalid_payload", "numbers must be finite")


# --- Payload shapes per kind -----------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(limit: int, minimum: int = 0) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and minimum <= len(value) <= limit


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


_TYPE_NAMES: dict[Callable[[Any], bool], str] = {
    _is_int: "an integer",
    _is_number: "a number",
    _is_bool: "a boolean",
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


def _check_action(kind: str, actions: frozenset[str]) -> Callable[[dict[str, Any]], None]:
    shape = _shape(kind, {"action": _is_str(32, 1)}, {"participant": _is_int})

    def check(payload: dict[str, Any]) -> None:
        shape(payload)
        if payload["action"] not in actions:
            raise ProtocolError("invalid_payload", f"unknown {kind} action")

    return check


CONTROL_ACTIONS = frozenset({"request", "grant", "revoke", "release"})

PAYLOAD_CHECKS: Mapping[str, Callable[[dict[str, Any]], None]] = {
    "dom": _check_dom,
    "pointer": _shape("pointer", {"x": _is_number, "y": _is_number}, {"id": _is_int}),
    "scroll": _shape("scroll", {"x": _is_number, "y": _is_number}, {"id": _is_int}),
    "input": _shape("input", {"value": _is_str(MAX_VALUE)}, {"id": _is_int, "checked": _is_bool}),
    "click": _shape("click", {"id": _is_int}, {"x": _is_number, "y": _is_number}),
    "navigate": _shape("navigate", {"url": _is_str(MAX_URL, 1)}, {"title": _is_str(300)}),
    "highlight": _check_highlight,
    "chat": _shape("chat", {"text": _is_str(MAX_TEXT, 1)}, {}),
    "control": _check_action("control", CONTROL_ACTIONS),
    "session": _check_action("session", frozenset({"end"})),
}
assert set(PAYLOAD_CHECKS) == KINDS


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


def error_frame(error: ProtocolError) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if error.client_op_id is not None:
        frame["client_op_id"] = error.client_op_id
    return frame


def synced_frame(*, head_seq: int) -> dict[str, Any]:
    return {"type": "synced", "head_seq": head_seq}


def pong_frame(*, head_seq: int) -> dict[str, Any]:
    return {"type": "pong", "head_seq": head_seq}
