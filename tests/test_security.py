"""Nobody let in, nothing leaked: Origin and CSRF, who reaches which session and may send what,
server-side masking down to the database, the tamper-evident journal, retention, deployment
checks and security headers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from cobrowse import lifecycle, sequencer
from cobrowse.guard import request_origin
from cobrowse.masking import MASKED_VALUE
from cobrowse.models import Operation, Participant, Session, Status
from cobrowse.policy import desk_origin_allowed
from cobrowse.protocol import CloseCode
from config.asgi import application
from tests.conftest import HOST, Peer, customer_cookie, make_operator, open_session, operator_cookie
from tests.live import ROOT, RawSocket, live_server_process
from tests.test_consumer import refusal

# --- Cross-site WebSocket hijacking ---------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        b"https://evil.example",
        b"null",
        b"http://testserver:1",  # the desk's host on another port is another origin
        b"https://testserver",  # and with another scheme
        b"http://testserver.evil.example",
        b"http://evil.example/http://testserver",
        b"http://evil.example#testserver",
        b"http://user@testserver",
        b"",
    ],
)
async def test_a_foreign_or_missing_origin_is_refused(transactional_db, origin):
    """A session's socket decides on the Origin itself (a merchant's page may be let in with a
    token), and closes with 4403 so the page can read why; the desk's other sockets are closed
    with 4403 by the origin guard."""
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    assert await refusal(session, cookie, origin=origin) == 4403
    headers = [(b"host", HOST)] + ([(b"origin", origin)] if origin else [])
    queue = WebsocketCommunicator(application, "/ws/helpdesk/queue/", headers=headers)
    connected, _ = await queue.connect(timeout=5)
    assert connected and (await queue.receive_output(timeout=5))["code"] == 4403


async def test_the_desks_own_origin_is_let_in_with_its_port(transactional_db):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    assert await refusal(session, cookie, origin=b"http://testserver") is False
    assert await refusal(session, cookie, origin=b"http://testserver:80") is False
    assert (
        await refusal(session, cookie, origin=b"http://testserver:8443", host=b"testserver:8443")
        is False
    )
    assert await refusal(session, cookie, origin=b"http://testserver:8443") == 4403


async def test_a_host_outside_allowed_hosts_is_not_an_origin_of_the_desk(transactional_db):
    """DNS rebinding: a foreign name pointed at the desk sends its own name as Host and Origin."""
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    origin, host = b"http://rebound.example", b"rebound.example"
    assert await refusal(session, cookie, origin=origin, host=host) == 4403


async def test_csrf_trusted_origins_are_let_in_exactly(transactional_db, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://shop.example", "https://*.merchant.example"]
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    assert await refusal(session, cookie, origin=b"https://shop.example") is False
    assert await refusal(session, cookie, origin=b"https://www.merchant.example") is False
    assert await refusal(session, cookie, origin=b"http://shop.example") == 4403
    assert await refusal(session, cookie, origin=b"https://shop.example:8443") == 4403
    assert await refusal(session, cookie, origin=b"https://merchant.example") == 4403


@pytest.mark.parametrize(
    ("scheme", "headers", "expected"),
    [
        ("ws", {}, "http"),
        ("wss", {}, "https"),
        ("ws", {b"x-forwarded-proto": b"https"}, "http"),  # no proxy setting: not believed
    ],
)
def test_the_scheme_of_the_desks_origin_comes_from_the_connection(scheme, headers, expected):
    scope = {"scheme": scheme, "headers": [(b"host", b"desk.example"), *headers.items()]}
    assert request_origin(scope) == (expected, "desk.example")


def test_behind_a_proxy_its_ssl_header_gives_the_scheme(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope = {
        "scheme": "ws",
        "headers": [(b"host", b"desk.example"), (b"x-forwarded-proto", b"https")],
    }
    assert request_origin(scope) == ("https", "desk.example")


@pytest.mark.parametrize(
    ("origin", "scheme", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "http", "127.0.0.1:8000", True),
        ("http://127.0.0.1:1", "http", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", "http", "127.0.0.1:8000", False),
        ("https://localhost", "https", "localhost:443", True),
        ("HTTP://LOCALHOST:80", "http", "localhost", True),
        ("http://localhost:99999", "http", "localhost:99999", False),
        ("http://localhost", "http", None, False),
        ("http://localhost/", "http", "localhost", True),
        ("http://localhost/path", "http", "localhost", False),
    ],
)
def test_desk_origin_rule_compares_scheme_host_and_port(origin, scheme, host, allowed):
    verdict = desk_origin_allowed(
        origin=origin,
        scheme=scheme,
        host=host,
        allowed_hosts=["127.0.0.1", "localhost"],
        trusted_origins=[],
    )
    assert verdict is allowed


# --- CSRF on every state-changing HTTP endpoint ---------------------------------------------------


def csrf_failed(request: HttpRequest, reason: str = "") -> HttpResponse:
    response = HttpResponse("CSRF failed", status=403)
    response["X-CSRF-Failed"] = reason or "yes"
    return response


def _sample_path(pattern: str) -> str:
    """A concrete path for a URL pattern of the URLconf (route or regex)."""
    path = re.sub(r"\(\?P<\w+>([\w|]+)\)", lambda m: m.group(1).split("|")[0], pattern)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)
    path = re.sub(r"<uuid:\w+>", "00000000-0000-4000-8000-000000000001", path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", "1", path)  # <path:object_id> -> 1
    return "/" + path.replace("^", "").replace("$", "")


def every_url() -> Iterator[tuple[str, Any]]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback

    yield from walk(get_resolver().url_patterns, "")


# The embed API for merchants' pages: no cookies, authenticated by site key and Origin, then by
# the session token (tests/test_embed.py); nothing else is exempt.
EMBED_PATTERNS = ["api/embed/v1/sessions/", "api/embed/v1/sessions/<uuid:session_id>/"]
# The REST API for ticket systems and CRMs: no cookies, authenticated by a site's API token
# only, so a browser's login reaches nothing there (tests/test_api_v1.py).
REST_API_PATTERNS = [
    "api/v1/sessions",
    "api/v1/sessions/<session_id>",
    "api/v1/sessions/<session_id>/end",
    "api/v1/sessions/<session_id>/journal",
]


def test_no_view_but_the_embed_api_and_the_rest_api_is_exempt_from_csrf():
    exempt = {pattern for pattern, view in every_url() if getattr(view, "csrf_exempt", False)}
    assert exempt == {*EMBED_PATTERNS, *REST_API_PATTERNS}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_endpoint_refuses_a_state_changing_request_without_the_csrf_token(method, settings):
    settings.CSRF_FAILURE_VIEW = "tests.test_security.csrf_failed"
    admin = User.objects.create_superuser("root", password="pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    checked = []
    for pattern, view in every_url():
        if pattern in EMBED_PATTERNS or pattern in REST_API_PATTERNS:
            continue
        path = _sample_path(pattern)
        assert resolve(path).func == view, f"cannot build a path for {pattern}"
        response = getattr(client, method)(path, data="{}", content_type="application/json")
        assert response.status_code == 403 and response.get("X-CSRF-Failed"), (
            f"{method.upper()} {path} ({pattern}) answered {response.status_code} without CSRF"
        )
        checked.append(path)
    assert "/api/sessions/" in checked and len(checked) > 30


@pytest.mark.usefixtures("demo_sites")
def test_with_the_token_the_api_accepts_the_request(settings):
    settings.CSRF_FAILURE_VIEW = "tests.test_security.csrf_failed"
    client = Client(enforce_csrf_checks=True)
    client.get("/helpdesk/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/sessions/",
        data='{"site": "bank"}',
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201


# --- Who reaches which session --------------------------------------------------------------------


async def end(session: Session) -> None:
    customer = await sync_to_async(
        lambda: Participant.objects.get_or_create(session=session, role="customer")[0]
    )()
    await sync_to_async(sequencer.operations_append)(
        session_id=session.pk,
        batch=[
            sequencer.Submission(
                participant_id=customer.pk,
                role="customer",
                client_op_id="end",
                kind="session",
                element=None,
                payload={"action": "end"},
            )
        ],
    )


async def test_a_customer_reaches_only_their_own_session_and_only_while_it_is_open(
    transactional_db,
):
    mine, theirs = await sync_to_async(open_session)(), await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(mine)
    assert await refusal(mine, cookie) is False
    assert await refusal(theirs, cookie) == CloseCode.FORBIDDEN
    await end(mine)
    assert await refusal(mine, cookie) == CloseCode.ENDED


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_sites")
def test_an_ended_session_is_no_longer_the_browsers_current_one():
    client = Client()
    first = client.post("/api/sessions/", data='{"site": "shop"}', content_type="application/json")
    assert first.status_code == 201
    Session.objects.filter(pk=first.json()["id"]).update(status=Status.ENDED)
    assert client.get("/api/sessions/current/?site=shop").status_code == 404
    again = client.post("/api/sessions/", data='{"site": "shop"}', content_type="application/json")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


async def test_operators_need_the_permission_staff_status_and_an_active_account(
    transactional_db,
):
    session = await sync_to_async(open_session)()
    for user in (
        await sync_to_async(make_operator)(permission=False),
        await sync_to_async(make_operator)(staff=False),
    ):
        assert (
            await refusal(session, await sync_to_async(operator_cookie)(user))
            == CloseCode.FORBIDDEN
        )
    # Signed in while active, then deactivated: the login no longer counts.
    leaver = await sync_to_async(make_operator)()
    cookie = await sync_to_async(operator_cookie)(leaver)
    await sync_to_async(User.objects.filter(pk=leaver.pk).update)(is_active=False)
    assert await refusal(session, cookie) == CloseCode.FORBIDDEN
    ok = await sync_to_async(make_operator)()
    assert await refusal(session, await sync_to_async(operator_cookie)(ok)) is False


@pytest.mark.django_db
def test_the_help_desk_needs_the_permission():
    assert Client().get("/helpdesk/").status_code == 302  # to the login page
    client = Client()
    client.force_login(make_operator(permission=False))
    assert client.get("/helpdesk/").status_code == 403
    client.force_login(make_operator())
    assert client.get("/helpdesk/").status_code == 200


# What each role may send, stated independently of cobrowse/policy.py (docs/protocol.md).
ATTEMPTS: list[tuple[str, dict[str, Any], str | None]] = [
    ("dom", {"events": [{"type": 3, "data": {"source": 0}, "timestamp": 1}]}, None),
    ("pointer", {"x": 1, "y": 2}, None),
    ("scroll", {"x": 0, "y": 5}, None),
    ("input", {"value": "a"}, "field:name"),
    ("click", {"id": 4}, None),
    ("navigate", {"url": "/shop/"}, None),
    ("highlight", {"id": 4}, None),
    ("panel", {"x": 900, "y": 700, "w": 180, "h": 44}, None),
    ("chat", {"text": "hi"}, None),
    ("control", {"action": "request"}, None),
    ("control", {"action": "release"}, None),
    ("control", {"action": "revoke"}, None),
]
MAY_SEND = {
    "customer": {
        "dom",
        "pointer",
        "scroll",
        "input",
        "click",
        "navigate",
        "highlight",
        "panel",
        "chat",
        "control:revoke",
    },
    # input, click and navigate need granted control: refused with control_required here.
    "operator": {"pointer", "scroll", "highlight", "chat", "control:request"},
    "observer": {"chat"},
}


def answers(cid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("client_op_id") == cid


def _name(kind: str, payload: dict[str, Any]) -> str:
    return f"{kind}:{payload['action']}" if kind == "control" else kind


async def test_each_role_may_send_exactly_its_kinds(pair):
    session, customer, operator = pair
    observer = Peer(
        session, await sync_to_async(operator_cookie)(await sync_to_async(make_operator)())
    )
    assert await observer.connect() and observer.welcome["role"] == "observer"
    for role, peer in (("customer", customer), ("operator", operator), ("observer", observer)):
        for kind, payload, element in ATTEMPTS:
            name = _name(kind, payload)
            cid = await peer.send_op(kind, payload, element=element)
            answer = (await peer.recv_until(answers(cid)))[-1]
            if name in MAY_SEND[role]:
                assert answer["type"] == "ack", (role, name, answer)
            elif (role == "operator" and kind in ("input", "click", "navigate")) or (
                role == "operator" and name == "control:release"
            ):
                assert answer.get("code") == "control_required", (role, name, answer)
            else:
                assert answer.get("code") == "forbidden_kind", (role, name, answer)
    await observer.close()


async def test_nobody_may_end_a_session_as_an_observer_or_journal_a_join(pair):
    session, customer, _ = pair
    observer = Peer(
        session, await sync_to_async(operator_cookie)(await sync_to_async(make_operator)())
    )
    assert await observer.connect()
    await observer.send_op("session", {"action": "end"})
    assert (await observer.recv())["code"] == "forbidden_kind"
    await customer.send_op("session", {"action": "joined"})
    answer = (await customer.recv_until(lambda f: f["type"] == "error"))[-1]
    assert answer["code"] == "invalid_payload"
    await observer.close()


# --- Masking, down to the database ----------------------------------------------------------------

SECRETS = {
    "password typed": "Hunter2-Typed-Secret",
    "password value attribute": "Pw-Value-Attr-Secret",
    "hidden input value": "Hidden-Csrf-Secret-77",
    "card field value": "5555555555554444",
    "card typed": "4000056655665556",
    "masked block text": "Masked-Block-Text-Secret",
    "text mutation in masked block": "Mutated-Masked-Secret",
    "input op on sensitive node": "Op-On-Node-Secret",
    "input op on secret field key": "Op-Field-Key-Secret",
    "chat card": "4111111111111111",
    "chat iban": "DE89370400440532013000",
    "navigate card": "378282246310005",
    "late password": "Late-Password-Secret",
}


def _snapshot() -> dict[str, Any]:
    def el(node_id: int, tag: str, attrs: dict[str, Any], children: list[Any] | None = None):
        return {
            "type": 2,
            "id": node_id,
            "tagName": tag,
            "attributes": attrs,
            "childNodes": children or [],
        }

    body = el(
        3,
        "body",
        {},
        [
            el(
                10,
                "input",
                {"type": "password", "name": "pw", "value": SECRETS["password value attribute"]},
            ),
            el(
                11,
                "input",
                {"type": "hidden", "name": "csrf", "value": SECRETS["hidden input value"]},
            ),
            el(
                12,
                "input",
                {"name": "cc-number", "autocomplete": "cc-number", "value": "5555 5555 5555 4444"},
            ),
            el(
                13,
                "div",
                {"data-cobrowse-mask": ""},
                [
                    {"type": 3, "id": 14, "textContent": SECRETS["masked block text"]},
                ],
            ),
            el(15, "input", {"name": "note", "value": "harmless"}),
        ],
    )
    html = el(2, "html", {}, [body])
    return {
        "type": 2,
        "data": {
            "node": {"type": 0, "id": 1, "childNodes": [html]},
            "initialOffset": {"left": 0, "top": 0},
        },
        "timestamp": 1,
    }


def _incremental(data: dict[str, Any], ts: int) -> dict[str, Any]:
    return {"type": 3, "data": data, "timestamp": ts}


def secret_frames() -> list[dict[str, Any]]:
    events = [
        _snapshot(),
        _incremental(
            {"source": 5, "id": 10, "text": SECRETS["password typed"], "isChecked": False}, 2
        ),
        _incremental({"source": 5, "id": 12, "text": "4000 0566 5566 5556"}, 3),
        _incremental(
            {
                "source": 0,
                "texts": [{"id": 14, "value": SECRETS["text mutation in masked block"]}],
                "attributes": [],
                "removes": [],
                "adds": [],
            },
            4,
        ),
        # A field that becomes a password later, then gets typed into.
        _incremental(
            {
                "source": 0,
                "texts": [],
                "removes": [],
                "adds": [],
                "attributes": [{"id": 15, "attributes": {"type": "password"}}],
            },
            5,
        ),
        _incremental({"source": 5, "id": 15, "text": SECRETS["late password"]}, 6),
    ]
    ops: list[dict[str, Any]] = [
        {"kind": "dom", "payload": {"events": events}},
        {
            "kind": "input",
            "element": "node:10",
            "payload": {"value": SECRETS["input op on sensitive node"]},
        },
        {
            "kind": "input",
            "element": "field:password",
            "payload": {"value": SECRETS["input op on secret field key"]},
        },
        {
            "kind": "chat",
            "payload": {"text": "my card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00"},
        },
        {"kind": "navigate", "payload": {"url": "/pay?card=378282246310005"}},
    ]
    return [{"type": "op", "client_op_id": f"secret-{i}", **op} for i, op in enumerate(ops)]


def scan_database(secrets: dict[str, str]) -> list[str]:
    """Every table, every column, as text: where does any secret (or its digits) appear?"""
    needles = {name: re.sub(r"[\s-]", "", value) for name, value in secrets.items()}
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            for row in cursor.fetchall():
                text = re.sub(r"[\s-]", "", " ".join(str(value) for value in row))
                for name, needle in needles.items():
                    if needle in text:
                        found.append(f"{name} in {table}")
    return found


async def test_masked_values_never_reach_the_database_whatever_a_raw_client_sends(
    transactional_db, tmp_path
):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    path = f"/ws/cobrowse/{session.pk}/"
    with live_server_process(tmp_path) as server:

        def send_all() -> list[dict[str, Any]]:
            raw = RawSocket(server.port, path, cookie=cookie)
            assert raw.status == 101
            answers = [orjson.loads(raw.recv()[1])]
            frames = secret_frames()
            for frame in frames:
                raw.send_text(orjson.dumps(frame).decode())
            while sum(1 for a in answers if a.get("type") in ("ack", "error")) < len(frames):
                answers.append(orjson.loads(raw.recv()[1]))
            raw.close()
            return answers

        answers = await sync_to_async(send_all)()
    assert [a["type"] for a in answers if a["type"] in ("ack", "error")] == ["ack"] * 5, answers
    rows = await sync_to_async(lambda: Operation.objects.filter(session=session).count())()
    assert rows == 6  # the join and the five ops: journaled, masked
    assert await sync_to_async(scan_database)(SECRETS) == []
    # And the harmless parts were kept.
    stored = await sync_to_async(
        lambda: orjson.dumps([o.payload for o in Operation.objects.filter(session=session)])
    )()
    assert b"harmless" in stored and b"my card" in stored


# --- The tamper-evident journal -------------------------------------------------------------------


def journal_of(count: int) -> Session:
    session = open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            sequencer.Submission(
                participant_id=customer.pk,
                role="customer",
                client_op_id=f"c{i}",
                kind="chat",
                element=None,
                payload={"text": f"message {i}"},
            )
            for i in range(count)
        ],
    )
    return session


def verify(*args: str) -> tuple[str, str | None]:
    out = StringIO()
    try:
        call_command("verify_journal", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


@pytest.mark.django_db
def test_verify_journal_passes_an_untouched_journal():
    session = journal_of(5)
    output, error = verify("--session", str(session.pk))
    assert error is None and f"ok {session.pk}: 5 ops" in output


@pytest.mark.django_db
def test_verify_journal_reports_the_first_changed_row():
    session, untouched = journal_of(6), journal_of(3)
    Operation.objects.filter(session=session, seq=4).update(payload={"text": "rewritten"})
    Operation.objects.filter(session=session, seq=5).update(payload={"text": "also rewritten"})
    output, error = verify()
    assert error is not None and "1 of 2" in error
    assert f"BROKEN {session.pk}: first broken link at seq 4" in output
    assert f"ok {untouched.pk}" in output


@pytest.mark.django_db
def test_verify_journal_reports_a_row_whose_hash_was_recomputed():
    from cobrowse.sequencer import op_hash

    session = journal_of(4)
    rows = list(Operation.objects.filter(session=session).order_by("seq"))
    forged = rows[1]  # seq 2, rewritten along with its own hash
    forged.payload = {"text": "forged"}
    forged.hash = op_hash(
        prev_hash=rows[0].hash,
        session_id=session.pk,
        seq=2,
        kind="chat",
        element=None,
        element_seq=None,
        delivery="all",
        sender_id=forged.sender_id,
        client_op_id=forged.client_op_id,
        payload=forged.payload,
        received_at=forged.received_at,
    )
    Operation.objects.filter(pk=forged.pk).update(payload=forged.payload, hash=forged.hash)
    output, _ = verify("--session", str(session.pk))
    assert "first broken link at seq 3" in output  # the next link no longer holds


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("seq", "expected"), [(3, "seq 3: row missing"), (4, "rows missing at the end")]
)
def test_verify_journal_reports_deleted_rows(seq, expected):
    session = journal_of(4)  # seqs 1 .. 4
    Operation.objects.filter(session=session, seq=seq).delete()
    output, error = verify("--session", str(session.pk))
    assert error is not None and expected in output


# --- Retention ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_purge_sessions_deletes_old_ended_and_abandoned_sessions_and_says_which():
    now = timezone.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    ended_old, ended_recent = journal_of(2), journal_of(2)
    Session.objects.filter(pk=ended_old.pk).update(status=Status.ENDED, ended_at=old)
    Session.objects.filter(pk=ended_recent.pk).update(status=Status.ENDED, ended_at=recent)
    abandoned, busy, fresh = journal_of(1), journal_of(1), open_session()
    for session in (abandoned, busy):
        Session.objects.filter(pk=session.pk).update(created_at=old)
    Operation.objects.filter(session=abandoned).update(received_at=old)
    # `busy` was created long ago too, but its ops are from now: still in use.

    out = StringIO()
    call_command("purge_sessions", "--older-than", "30", "--dry-run", stdout=out)
    assert "would delete 1 ended session(s) and 1 abandoned" in out.getvalue()
    assert Session.objects.count() == 5

    out = StringIO()
    call_command("purge_sessions", "--older-than", "30", stdout=out)
    text = out.getvalue()
    assert f"ended: {ended_old.pk}" in text and f"abandoned (never ended): {abandoned.pk}" in text
    assert set(Session.objects.values_list("pk", flat=True)) == {ended_recent.pk, busy.pk, fresh.pk}
    assert not Operation.objects.filter(session_id__in=[ended_old.pk, abandoned.pk]).exists()
    _, error = verify()
    assert error is None  # what remains still verifies


@pytest.mark.django_db
def test_end_idle_sessions_ends_the_open_sessions_nobody_used_and_journals_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = timezone.now() - timedelta(minutes=90)
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: old)  # written 90 minutes ago, hashes and all
        idle, never_joined = journal_of(2), open_session()
    busy, fresh = journal_of(1), open_session()
    Session.objects.filter(pk=busy.pk).update(created_at=old)
    # `busy` was created long ago too, but its op is from now: still in use. `fresh` was just
    # created: a customer who has not connected yet.

    out = StringIO()
    call_command("end_idle_sessions", "--idle-minutes", "30", "--dry-run", stdout=out)
    assert "would end 2 session(s)" in out.getvalue()
    assert not Session.objects.filter(status=Status.ENDED).exists()

    out = StringIO()
    call_command("end_idle_sessions", "--idle-minutes", "30", stdout=out)
    text = out.getvalue()
    assert "ended 2 session(s)" in text and str(idle.pk) in text and str(never_joined.pk) in text
    status = dict(Session.objects.values_list("pk", "status"))
    assert status == {
        idle.pk: Status.ENDED,
        never_joined.pk: Status.ENDED,
        busy.pk: Status.WAITING,
        fresh.pk: Status.WAITING,
    }
    last = Operation.objects.filter(session=idle).order_by("seq").last()
    assert last is not None and last.seq == 3  # two chats, then the end
    assert (last.kind, last.payload) == ("session", {"action": "end", "reason": "idle"})
    assert last.sender.role == "customer" and last.client_op_id == "server-idle-end"
    assert not Operation.objects.filter(session=never_joined).exists()
    _, error = verify()
    assert error is None  # the end is a link of the chain like any op

    # Ended sessions are not ended twice.
    assert "ended 0 session(s)" in _end_idle("30")
    with pytest.raises(CommandError, match="1 or more"):
        _end_idle("0")


def _end_idle(minutes: str) -> str:
    out = StringIO()
    call_command("end_idle_sessions", "--idle-minutes", minutes, stdout=out)
    return out.getvalue()


# --- Deployment settings and headers --------------------------------------------------------------


def _production_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        DEBUG="0",
        SECRET_KEY="x7-" + uuid.uuid4().hex + uuid.uuid4().hex,
        ALLOWED_HOSTS="help.example.com",
        SQLITE_PATH=str(ROOT / ".deploy-check.sqlite3"),
    )
    env.update(changes)
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_production_env(SECRET_KEY=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "replay"),
    [
        ("/", False),
        ("/api/sessions/current/", False),
        ("/helpdesk/login/", True),
        ("/admin/login/", True),
    ],
)
def test_pages_send_security_headers_and_a_content_security_policy(client, path, replay):
    response = client.get(path)
    csp = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "ws://testserver" in csp["connect-src"] and "'self'" in csp["connect-src"]
    assert ("'unsafe-inline'" in csp["style-src"]) is replay
    # The mirror of a page recorded with linked stylesheets loads them from the customer's site.
    assert ("https:" in csp["style-src"].split()) is replay
    assert "'unsafe-inline'" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    if path.startswith("/api/"):
        assert response["Cache-Control"] == "no-store"


def _append(
    session: Session,
    participant: Participant,
    cid: str,
    kind: str,
    payload: Any,
    element: str | None = None,
) -> dict[str, Any]:
    result = sequencer.operations_append(
        session_id=session.pk,
        batch=[
            sequencer.Submission(
                participant_id=participant.pk,
                role="customer",
                client_op_id=cid,
                kind=kind,
                element=element,
                payload=payload,
            )
        ],
    )
    entry = result.entries[0]
    return dict(orjson.loads(entry["text"])["payload"])


@pytest.mark.django_db
def test_sensitive_nodes_are_remembered_across_transactions_until_the_next_full_snapshot():
    session = open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    _append(session, customer, "snap", "dom", {"events": [_snapshot()]})
    session.refresh_from_db()
    assert {10, 11, 12, 13, 14} <= set(session.sensitive_nodes)

    typed = _append(
        session,
        customer,
        "typed",
        "dom",
        {"events": [_incremental({"source": 5, "id": 10, "text": "later-secret"}, 9)]},
    )
    assert typed["events"][0]["data"]["text"] == MASKED_VALUE
    assert _append(session, customer, "op", "input", {"value": "v2"}, "node:12")["value"] == (
        MASKED_VALUE
    )
    # A new page: its snapshot has no sensitive field, so node 10 is an ordinary one now.
    plain = {
        "type": 2,
        "timestamp": 10,
        "data": {
            "node": {
                "type": 0,
                "id": 1,
                "childNodes": [
                    {
                        "type": 2,
                        "id": 10,
                        "tagName": "input",
                        "attributes": {"name": "search"},
                        "childNodes": [],
                    }
                ],
            }
        },
    }
    _append(session, customer, "snap2", "dom", {"events": [plain]})
    session.refresh_from_db()
    assert session.sensitive_nodes == []
    free = _append(
        session,
        customer,
        "typed2",
        "dom",
        {"events": [_incremental({"source": 5, "id": 10, "text": "shoes"}, 11)]},
    )
    assert free["events"][0]["data"]["text"] == "shoes"


async def test_a_route_with_its_own_origin_rule_gets_the_foreign_origin_to_decide_on():
    """How origins allowed per site plug in: `own_rule` names the sockets whose consumer
    decides; they pass with `desk_origin` False, every other socket is still closed."""
    from channels.testing import WebsocketCommunicator

    from cobrowse.guard import OriginGuard

    seen: list[tuple[bool, str]] = []

    async def consumer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        seen.append((scope["desk_origin"], scope["origin"]))
        await send({"type": "websocket.accept"})

    app = OriginGuard(consumer, own_rule=lambda scope: scope["path"].startswith("/ws/embed/"))
    headers = [(b"host", b"testserver"), (b"origin", b"https://merchant.example")]
    embed = WebsocketCommunicator(app, "/ws/embed/x/", headers=headers)
    assert (await embed.connect())[0]
    assert seen == [(False, "https://merchant.example")]
    await embed.disconnect()
    other = WebsocketCommunicator(app, "/ws/cobrowse/x/", headers=headers)
    assert (await other.connect())[0]  # accepted, to be closed with a readable code
    assert (await other.receive_output())["code"] == 4403
    assert len(seen) == 1
