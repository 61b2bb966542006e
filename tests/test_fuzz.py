"""Bad input: property-based tests of the frame parser and the masker, and a fuzzer throwing
thousands of malformed frames at a live consumer.

For every bad frame the client gets one error frame with a documented code (and the shape
written down in cobrowse/protocol.py: no stack trace, no file path, a short message); nothing is
journaled; the connection stays usable, or is closed with 4400 when the client keeps sending
nothing but refused frames."""

from __future__ import annotations

import json
import random
import re
import string
import struct
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobrowse import lifecycle, sequencer
from cobrowse.audit import journal_verify
from cobrowse.masking import SessionMasker, luhn_valid
from cobrowse.models import Operation, Participant, Session
from cobrowse.protocol import (
    ERROR_CODES,
    KINDS,
    MAX_DEPTH,
    MAX_ERROR_MESSAGE,
    CloseCode,
    OpFrame,
    PingFrame,
    ProtocolError,
    ResumeFrame,
    decode,
    parse_frame,
    server_frame_problems,
)
from tests.conftest import Peer, customer_cookie, make_operator, open_session, operator_cookie

# --- Strategies --------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    ["type", "client_op_id", "kind", "payload", "element", "last_seq", "seq", "delivery"]
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["op", "resume", "ping", "ack", "welcome"]) | json_values},
    optional={
        "client_op_id": st.text(min_size=1, max_size=70) | json_values,
        "kind": st.sampled_from(sorted(KINDS)) | json_values,
        "payload": st.dictionaries(
            st.sampled_from(["x", "y", "id", "text", "value", "events", "url", "action"]),
            json_values,
            max_size=4,
        )
        | json_values,
        "element": st.text(max_size=210) | json_values,
        "last_seq": json_values,
        "seq": json_values,
    },
) | st.dictionaries(field_names, json_values, max_size=6)


def assert_refusal(exc: ProtocolError) -> None:
    assert exc.code in ERROR_CODES
    assert 0 < len(exc.message) <= MAX_ERROR_MESSAGE
    assert "Traceback" not in exc.message


# --- The parser --------------------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(frame_like | json_values)
def test_parser_accepts_a_well_formed_frame_or_refuses_with_a_code(data: Any) -> None:
    try:
        frame = parse_frame(data)
    except ProtocolError as exc:
        assert_refusal(exc)
        return
    assert isinstance(frame, OpFrame | ResumeFrame | PingFrame)
    if isinstance(frame, OpFrame):
        # What it accepts survives any journal backend unchanged.
        text = json.dumps(frame.payload)
        assert "\\u0000" not in text
        assert json.loads(text) == frame.payload


@pytest.mark.parametrize(
    ("wraps", "leaf", "refused"),
    [
        (MAX_DEPTH - 2, 1, False),  # the number lies at MAX_DEPTH: the deepest allowed
        (MAX_DEPTH - 1, 1, True),
        (MAX_DEPTH - 2, [], False),  # an empty list may be the deepest value too
        (MAX_DEPTH - 1, [], True),
    ],
)
def test_payload_depth_counts_every_value_scalars_and_empty_containers_alike(
    wraps: int, leaf: Any, refused: bool
) -> None:
    value = leaf
    for _ in range(wraps):
        value = [value]
    frame = {"type": "op", "client_op_id": "c", "kind": "pointer", "payload": {"deep": value}}
    with pytest.raises(ProtocolError) as refusal:
        parse_frame(frame)  # refused either way: a pointer has no `deep`, if not too deep
    assert ("nests deeper" in refusal.value.message) is refused, refusal.value.message


@settings(max_examples=800, deadline=None)
@given(st.text(max_size=300) | st.builds(lambda b: b.decode("latin-1"), st.binary(max_size=200)))
def test_any_text_is_parsed_or_refused_with_a_code(text: str) -> None:
    try:
        parse_frame(decode(text))
    except ProtocolError as exc:
        assert_refusal(exc)


# --- The masker --------------------------------------------------------------------------------


def luhn_complete(digits: list[int]) -> str:
    for check in range(10):
        candidate = "".join(map(str, digits)) + str(check)
        if luhn_valid(candidate):
            return candidate
    raise AssertionError


cards = st.lists(st.integers(0, 9), min_size=15, max_size=15).map(
    lambda d: luhn_complete([4, *d[1:]])
)
no_digits = st.text(alphabet=string.ascii_letters + " .,:-", max_size=20)
_CARD_LIKE = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)


@given(no_digits, cards, st.sampled_from(["", " ", "-"]), no_digits)
def test_a_card_number_anywhere_in_a_string_is_masked(before, card, sep, after) -> None:
    spaced = sep.join(card[i : i + 4] for i in range(0, 16, 4))
    payload = {"text": f"{before}{spaced}{after}"}
    out = SessionMasker().redact("chat", None, payload)
    assert card not in re.sub(r"[^0-9]", "", out["text"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.dictionaries(st.text(max_size=8), json_values))
def test_masking_is_idempotent_and_leaves_no_card_number(kind, payload) -> None:
    masker = SessionMasker()
    once = masker.redact(kind, None, json.loads(json.dumps(payload)))
    twice = SessionMasker(masker.stored()).redact(kind, None, json.loads(json.dumps(once)))
    assert once == twice
    for text in strings_in(once):
        for run in _CARD_LIKE.findall(text):
            assert not luhn_valid(run), run
    assert json.loads(orjson.dumps(once)) == once


# --- The journal keeps what it was given, verifiably -------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
pointer_payloads = st.fixed_dictionaries(
    {"x": finite | st.integers(-(2**53), 2**53), "y": finite},
    optional={"id": st.integers(0, 10**9)},
)


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        pointer_payloads | st.builds(lambda t: {"text": t}, st.text(min_size=1, max_size=60)),
        min_size=1,
        max_size=5,
    )
)
def test_journaled_payloads_verify_on_every_backend(payloads: list[dict[str, Any]]) -> None:
    session = Session.objects.order_by("created_at").first() or open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    batch: list[sequencer.Submission] = []
    for payload in payloads:
        kind = "chat" if "text" in payload else "pointer"
        try:
            parse_frame({"type": "op", "client_op_id": "c", "kind": kind, "payload": payload})
        except ProtocolError:
            continue
        batch.append(
            sequencer.Submission(
                participant_id=customer.pk,
                role="customer",
                client_op_id=f"h{Operation.objects.count()}-{len(batch)}",
                kind=kind,
                element=None,
                payload=payload,
            )
        )
    sequencer.operations_append(session_id=session.pk, batch=batch)
    assert journal_verify(session_id=session.pk).broken is None


# --- A live consumer under a fuzzer ------------------------------------------------------------

FUZZ_FRAMES = 2500
Maker = Callable[[random.Random], tuple[str | bytes, str | None]]


def op(kind: Any = "chat", payload: Any = None, **fields: Any) -> dict[str, Any]:
    frame = {"type": "op", "client_op_id": "f-1", "kind": kind, "payload": payload or {"text": "a"}}
    frame.update(fields)
    return {k: v for k, v in frame.items() if v is not _DROP}


_DROP = object()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # nests deeper than orjson will


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def makers(other_operator: int) -> list[Maker]:
    """Each maker returns (frame, expected code or None for 'any documented code')."""
    junk = string.printable + "\x00\u2028\ud7ff\ue000\U0001f600"
    return [
        lambda r: ("".join(r.choice(junk) for _ in range(r.randrange(1, 60))), None),
        lambda r: ('{"type": "op", "client_op_id": "x"', "bad_json"),
        lambda r: (r.choice(["1", '"op"', "null", "true", "[]", '[{"type":"op"}]']), "bad_frame"),
        lambda r: (
            dumps({"type": r.choice([1, None, [], {}, "OP", "ack", "welcome"])}),
            "bad_frame",
        ),
        lambda r: (dumps(op(client_op_id=r.choice([1, "", "x" * 65, [], None]))), "bad_frame"),
        lambda r: (dumps(op(kind=r.choice(["telepathy", "DOM", "", "dom ", 3, None]))), None),
        lambda r: (dumps(op(payload=r.choice([[1], "text", 5, True]))), None),
        lambda r: (dumps(op(element=r.choice([1, "", "e" * 201, ["node:1"]]))), "bad_frame"),
        lambda r: (dumps(op(**{r.choice(["kind", "payload", "type"]): _DROP})), None),
        lambda r: (
            dumps(op(**{r.choice(["seq", "delivery", "sender", "ts", "participant"]): 7})),
            "bad_frame",
        ),
        lambda r: (dumps(op(payload={"text": "a", "extra": 1})), "invalid_payload"),
        lambda r: (dumps(op(payload={"text": 5})), "invalid_payload"),
        lambda r: (dumps(op(payload={"text": "x" * 2001})), "invalid_payload"),
        lambda r: (dumps(op("pointer", {"x": "1", "y": 2})), "invalid_payload"),
        lambda r: (
            dumps(op("pointer", {"x": r.choice([1e16, -1e300]), "y": 0})),
            "invalid_payload",
        ),
        lambda r: (dumps(op(payload={"text": "a\x00b"})), "invalid_payload"),
        lambda r: (dumps(op(payload={"text": "a", "k\x00": 1})), "invalid_payload"),
        lambda r: (dumps(op(client_op_id="id\x00")), "bad_frame"),
        lambda r: (dumps(op(client_op_id="4111111111111111")), "bad_frame"),
        lambda r: (
            dumps(op("input", {"value": "v"}, element="field:4111 1111 1111 1111")),
            "bad_frame",
        ),
        lambda r: (dumps(op("pointer", {"x": 1, "y": 1, "label": nested(3)})), "invalid_payload"),
        lambda r: (
            dumps(op("dom", {"events": [nested(r.randrange(201, 300))]})),
            "invalid_payload",
        ),
        lambda r: ("[" * 1100 + "]" * 1100, "bad_json"),
        lambda r: (dumps(op("dom", {"events": []})), "invalid_payload"),
        lambda r: (dumps(op("dom", {"events": [{"type": "2"}]})), "invalid_payload"),
        lambda r: (dumps(op(payload={"text": "y" * 300_000})), "too_large"),
        lambda r: (dumps({"type": "ping", "x": 1}), "bad_frame"),
        lambda r: (
            dumps({"type": "resume", "last_seq": r.choice([-1, "3", 1.5, True, None])}),
            "bad_frame",
        ),
        lambda r: (bytes(r.randrange(256) for _ in range(r.randrange(0, 40))), "bad_json"),
        lambda r: ('{"type": "ping"}\ud800', "bad_json"),  # not valid UTF-8 once encoded
        # Valid shapes the policy refuses: nothing of them may be journaled.
        lambda r: (
            dumps(op("control", {"action": r.choice(["request", "release"])})),
            "forbidden_kind",
        ),
        lambda r: (dumps(op("session", {"action": "joined"})), "invalid_payload"),
        lambda r: (
            dumps(op("control", {"action": "grant", "participant": other_operator})),
            "invalid_payload",
        ),
    ]


@pytest.fixture
async def fuzz_pair(transactional_db: None, settings: Any) -> Any:
    settings.COBROWSE_RATE_PER_SECOND = 100_000
    settings.COBROWSE_RATE_BURST = 100_000
    session, other = await sync_to_async(open_session)(), await sync_to_async(open_session)()
    # An operator of another session, whose participant id the fuzzer tries to use here.
    other_user = await sync_to_async(make_operator)()
    stranger = Peer(other, await sync_to_async(operator_cookie)(other_user))
    assert await stranger.connect()
    await stranger.close()
    customer = Peer(session, await sync_to_async(customer_cookie)(session))
    operator = Peer(
        session, await sync_to_async(operator_cookie)(await sync_to_async(make_operator)())
    )
    assert await customer.connect() and await operator.connect()
    await customer.recv()  # the operator's join
    yield session, customer, operator, stranger.welcome["participant"]
    await customer.close()
    await operator.close()


async def test_thousands_of_malformed_frames_get_error_frames_and_journal_nothing(fuzz_pair):
    session, customer, operator, other_operator = fuzz_pair
    rng = random.Random(20261121)
    generators = makers(other_operator)
    codes: dict[str, int] = {}
    for i in range(FUZZ_FRAMES):
        frame, expected = rng.choice(generators)(rng)
        kind = "bytes" if isinstance(frame, bytes) else "text"
        await customer.comm.send_input({"type": "websocket.receive", kind: frame})
        answer = await customer.recv()  # held to its shape by Peer.recv
        assert answer["type"] == "error", (frame[:200], answer)
        assert expected is None or answer["code"] == expected, (frame[:200], answer)
        assert "Traceback" not in answer["message"] and 'File "' not in answer["message"]
        codes[answer["code"]] = codes.get(answer["code"], 0) + 1
        if i % 50 == 49:  # still usable (and not yet taken for abusive)
            await customer.comm.send_json_to({"type": "ping"})
            assert (await customer.recv())["type"] == "pong"
    assert set(codes) >= {"bad_json", "bad_frame", "unknown_kind", "invalid_payload", "too_large"}
    assert await operator.nothing()
    rows = await sync_to_async(lambda: Operation.objects.filter(session=session).count())()
    assert rows == 2  # the two joins, nothing else
    cid = await customer.send_op("chat", {"text": "still here"})
    assert (await customer.recv())["client_op_id"] == cid


async def test_nothing_but_refused_frames_closes_with_4400(pair):
    _, customer, _ = pair
    for _ in range(99):
        await customer.comm.send_to(text_data="{nope")
        assert (await customer.recv())["code"] == "bad_json"
    await customer.comm.send_to(text_data="{nope")
    assert (await customer.recv())["code"] == "bad_json"
    closing = await customer.comm.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": CloseCode.ABUSIVE}


async def test_a_participant_id_of_another_session_is_refused_as_control_target(fuzz_pair):
    session, customer, _operator, other_operator = fuzz_pair
    await customer.send_op("control", {"action": "grant", "participant": other_operator})
    assert (await customer.recv())["code"] == "invalid_payload"
    assert (
        await sync_to_async(
            lambda: Participant.objects.filter(session=session, pk=other_operator).exists()
        )()
        is False
    )
    assert server_frame_problems({"type": "error", "code": "nope", "message": "x"})


# --- What no WebSocket library would send, against a real server -------------------------------


@pytest.mark.parametrize("kind", ["production", "development"])
async def test_raw_frames_invalid_utf8_binary_and_oversized(transactional_db, tmp_path, kind):
    """On both servers (`make serve`'s and `make run`'s): each closes with the code RFC 6455
    gives, never by dropping the connection (1006)."""
    from tests.live import OP_BINARY, Closed, RawSocket, server_process

    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    path = f"/ws/cobrowse/{session.pk}/"
    with server_process(kind, tmp_path) as server:

        def connect() -> RawSocket:
            raw = RawSocket(server.port, path, cookie=cookie)
            assert raw.status == 101
            assert orjson.loads(raw.recv()[1])["type"] == "welcome"
            return raw

        def answer(raw: RawSocket) -> dict[str, Any]:
            frame: dict[str, Any] = orjson.loads(raw.recv()[1])
            assert not server_frame_problems(frame), frame
            return frame

        raw = await sync_to_async(connect)()
        # A binary frame: an error frame, and the connection stays usable.
        await sync_to_async(raw.send)(b"\x00\xff\xfe", OP_BINARY)
        assert (await sync_to_async(answer)(raw))["code"] == "bad_json"
        await sync_to_async(raw.send_text)('{"type": "ping"}')
        assert (await sync_to_async(answer)(raw))["type"] == "pong"
        # A text frame over the size limit (not a dom op): too_large, still usable.
        big = dumps(op(payload={"text": "z" * 400_000}))
        await sync_to_async(raw.send_text)(big)
        assert (await sync_to_async(answer)(raw))["code"] == "too_large"
        # Invalid UTF-8 in a text frame: the server closes with 1007 (RFC 6455).
        await sync_to_async(raw.send)(b'{"type": "ping", "x": "\xc3\x28"}')
        with pytest.raises(Closed) as closed:
            await sync_to_async(raw.recv)()
        assert closed.value.code == CloseCode.INVALID_UTF8
        raw.close()
        # A frame over the server's WebSocket limit (5 MiB): closed with 1009.
        raw = await sync_to_async(connect)()
        # Only the header and a first chunk: the server refuses as soon as it reads the length.
        header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 5 * 1024 * 1024 + 1) + b"mask"
        await sync_to_async(raw.sock.sendall)(header + b"x" * 1024)
        with pytest.raises(Closed) as closed:
            await sync_to_async(raw.recv)()
        assert closed.value.code == CloseCode.TOO_BIG
        raw.close()
        assert "Traceback" not in server.log.read_text()
    rows = await sync_to_async(lambda: Operation.objects.filter(session=session).count())()
    assert rows == 1  # the customer's join
