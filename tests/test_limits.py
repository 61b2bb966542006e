"""Floods are cut at their limits and everyone else carries on: help requests per address and per
browser, WebSockets per participant, failed logins per account and per address, and a client
cut off for flooding re-sends without a duplicate and gets every ack."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from cobrowse.models import Operation, Session
from cobrowse.protocol import CloseCode
from cobrowse.throttle import rate_limit
from helpdesk.selectors import customer_presence
from tests.conftest import Peer, customer_cookie, make_operator, open_session, operator_cookie
from tests.test_helpdesk_queue import QueueClient

# --- The decorator ---------------------------------------------------------------------------


@rate_limit("test-view", per_address="TEST_RATE")
def limited_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def call(address: str) -> HttpResponse:
    return limited_view(RequestFactory().get("/", REMOTE_ADDR=address))


def test_over_the_rate_the_view_answers_429_with_retry_after_until_the_window_ends(settings):
    settings.TEST_RATE = (3, 60)
    with time_machine.travel(timezone.now().replace(second=0, microsecond=0), tick=False) as clock:
        assert [call("10.0.0.1").status_code for _ in range(3)] == [200, 200, 200]
        refused = call("10.0.0.1")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "60"
        assert orjson.loads(refused.content)["error"] == {
            "code": "rate_limited",
            "message": "too many requests; try again in 60 s",
            "retry_after": 60,
        }
        assert call("10.0.0.2").status_code == 200  # another address has its own count
        clock.shift(timedelta(seconds=45))
        assert call("10.0.0.1")["Retry-After"] == "15"
        clock.shift(timedelta(seconds=15))
        assert call("10.0.0.1").status_code == 200


def test_no_rate_means_no_limit(settings):
    settings.TEST_RATE = None
    assert {call("10.0.0.1").status_code for _ in range(100)} == {200}


# --- Help requests ---------------------------------------------------------------------------


def ask_for_help(client: Client) -> HttpResponse:
    response: Any = client.post(
        "/api/sessions/", data=b'{"site": "shop"}', content_type="application/json"
    )
    return response


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("demo_sites")
async def test_a_flood_of_help_requests_is_cut_at_the_limit_and_the_queue_still_answers(
    settings,
):
    settings.COBROWSE_SESSION_CREATE_PER_ADDRESS = (5, 600)

    def flood() -> tuple[list[int], list[str]]:
        # A new browser (no cookie) each time, from one address.
        statuses = [ask_for_help(Client(REMOTE_ADDR="203.0.113.9")).status_code for _ in range(50)]
        legit = [ask_for_help(Client(REMOTE_ADDR=f"198.51.100.{i}")) for i in (1, 2)]
        assert [r.status_code for r in legit] == [201, 201]
        return statuses, [orjson.loads(r.content)["id"] for r in legit]

    statuses, legit = await sync_to_async(flood)()
    assert statuses == [201] * 5 + [429] * 45
    assert await sync_to_async(Session.objects.count)() == 7

    user = await sync_to_async(make_operator)()
    cookie = await sync_to_async(operator_cookie)(user)

    def dashboard() -> HttpResponse:
        client = Client()
        client.force_login(user)
        response: Any = client.get("/helpdesk/")
        return response

    page = await sync_to_async(dashboard)()
    assert page.status_code == 200
    for session_id in legit:
        code = await sync_to_async(lambda s=session_id: Session.objects.get(pk=s).code)()
        assert code in page.content.decode()
    queue = QueueClient(cookie)
    ok, first = await queue.connect()
    assert ok
    waiting = [entry["id"] for entry in first["waiting"]]
    assert len(waiting) == 7 and set(legit) <= set(waiting)
    await queue.close()


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_sites")
def test_one_browser_is_limited_even_from_addresses_that_are_not(settings):
    settings.COBROWSE_SESSION_CREATE_PER_BROWSER = (3, 600)
    client = Client()
    statuses = []
    for i in range(5):
        client.defaults["REMOTE_ADDR"] = f"192.0.2.{i}"
        statuses.append(ask_for_help(client).status_code)
    # The first opens the session (and the browser's Django session: it counts by its address
    # alone), the next three find it; then the browser is over its limit.
    assert statuses == [201, 200, 200, 200, 429]


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_sites")
def test_the_default_limits_let_a_person_ask_again_but_not_a_script():
    client = Client()
    assert ask_for_help(client).status_code == 201
    # (the first counted by its address alone: the browser had no Django session yet)
    assert {ask_for_help(client).status_code for _ in range(10)} == {200}
    assert ask_for_help(client).status_code == 429


# --- WebSocket connections per participant --------------------------------------------------


async def test_a_participant_opening_too_many_connections_is_closed_with_4429(
    transactional_db, settings
):
    settings.COBROWSE_CONNECTIONS_PER_PARTICIPANT = (3, 60)
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    for _ in range(3):
        peer = Peer(session, cookie)
        assert await peer.connect()
        await peer.close()
    refused = Peer(session, cookie)
    assert not await refused.connect()
    assert refused.close_code == CloseCode.TOO_MANY == 4429
    # Another participant of the same session is not affected.
    operator = Peer(
        session, await sync_to_async(operator_cookie)(await sync_to_async(make_operator)())
    )
    assert await operator.connect()
    await operator.close()


async def test_a_refused_connection_leaves_the_participants_presence_as_it_was(
    transactional_db, settings
):
    settings.COBROWSE_CONNECTIONS_PER_PARTICIPANT = (1, 60)
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    first = Peer(session, cookie)
    assert await first.connect()
    await first.close()
    presence = sync_to_async(customer_presence)
    assert (await presence(session_id=session.pk))["connected"] is False
    refused = Peer(session, cookie)
    assert not await refused.connect() and refused.close_code == 4429
    assert (await presence(session_id=session.pk))["connected"] is False


async def test_a_participant_may_hold_only_so_many_connections_open(transactional_db, settings):
    settings.COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT = 2
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    first, second, third = Peer(session, cookie), Peer(session, cookie), Peer(session, cookie)
    assert await first.connect() and await second.connect()
    assert not await third.connect() and third.close_code == 4429
    await first.close()
    again = Peer(session, cookie)
    assert await again.connect()
    await again.close()
    await second.close()


async def test_admitting_connections_reuses_the_cache_client(transactional_db, monkeypatch):
    """Each admission counts the connection in Django's cache (Redis in production). The count
    runs in an executor thread that keeps its cache client: a new client for each admission
    meant a new Redis connection for each WebSocket, left open until garbage collection."""
    from django.core.cache import caches

    made = []
    create = caches.create_connection

    def counted(alias: str) -> Any:
        made.append(alias)
        return create(alias)

    monkeypatch.setattr(caches, "create_connection", counted)
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    admitted = 20
    for _ in range(admitted):
        peer = Peer(session, cookie)
        assert await peer.connect()
        await peer.close()
    # At most one client for each thread of the default executor (a handful), however many
    # connections were admitted.
    assert 0 < len(made) < admitted // 2


# --- Failed logins ---------------------------------------------------------------------------

LOGINS = {
    "/helpdesk/login/": lambda: make_operator("olga"),
    "/admin/login/": lambda: make_operator("olga", permission=False),
}


def sign_in(path: str, username: str, password: str, address: str) -> HttpResponse:
    client = Client(REMOTE_ADDR=address)
    response: Any = client.post(path, {"username": username, "password": password})
    return response


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGINS)
def test_fifty_wrong_passwords_are_refused_with_429_and_the_lock_expires(path, caplog):
    make_user: Callable[[], Any] = LOGINS[path]
    make_user()
    other = make_operator("pat")
    statuses = [sign_in(path, "olga", f"wrong-{i}", "203.0.113.7").status_code for i in range(50)]
    # Wrong passwords are answered 200 (the form again); the tenth locks the account out.
    assert statuses == [200] * 9 + [429] * 41
    refused = sign_in(path, "olga", "wrong", "203.0.113.7")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(15 * 60)
    assert "Too many failed sign-ins. Try again in 15 minutes." in refused.content.decode()
    assert 'name="password"' in refused.content.decode()  # the form stays, to try again later
    assert "too many failed attempts" in caplog.text
    # The locked account is locked whatever the address, and the address whatever the account
    # (even with the right password)...
    assert sign_in(path, "olga", "pw", "198.51.100.3").status_code == 429
    assert sign_in(path, other.username, "pw", "203.0.113.7").status_code == 429
    # ...but another account from another address signs in.
    assert sign_in(path, other.username, "pw", "198.51.100.3").status_code == 302
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert sign_in(path, "olga", "pw", "203.0.113.7").status_code == 302


@pytest.mark.django_db
def test_signing_in_to_an_account_of_ones_own_does_not_clear_the_failures():
    make_operator("olga")
    mine = make_operator("mallory")
    for i in range(9):
        assert sign_in("/helpdesk/login/", "olga", f"wrong-{i}", "203.0.113.7").status_code == 200
    assert sign_in("/helpdesk/login/", mine.username, "pw", "203.0.113.7").status_code == 302
    assert sign_in("/helpdesk/login/", "olga", "wrong-9", "203.0.113.7").status_code == 429


# --- A flood's acks after a reconnect ----------------------------------------------------------


async def test_a_client_cut_off_for_flooding_re_sends_without_duplicates_and_gets_every_ack(
    transactional_db, settings
):
    settings.COBROWSE_RATE_PER_SECOND, settings.COBROWSE_RATE_BURST = 1, 50
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    flooder = Peer(session, cookie)
    assert await flooder.connect()
    ids = [f"flood-{i}" for i in range(200)]

    def op(cid: str, i: int) -> dict[str, Any]:
        return {
            "type": "op",
            "client_op_id": cid,
            "kind": "pointer",
            "payload": {"x": i, "y": i},
        }

    for i, cid in enumerate(ids):
        await flooder.comm.send_json_to(op(cid, i))
    # 50 within the burst, then 100 refused in a row: the connection is closed as abusive.
    while (message := await flooder.comm.receive_output(timeout=10))["type"] != "websocket.close":
        pass
    assert message["code"] == CloseCode.ABUSIVE

    def journal() -> dict[str, int]:
        rows = Operation.objects.filter(session=session, client_op_id__startswith="flood-")
        return dict(rows.values_list("client_op_id", "seq"))

    # The journal writer commits what it was handed, after the close too.
    for _ in range(100):
        first = await sync_to_async(journal)()
        if len(first) == 50:
            break
        await asyncio.sleep(0.05)
    assert len(first) == 50
    assert set(first) == set(ids[:50])

    # Back, within the rate this time, the same ops again with the same client_op_ids.
    settings.COBROWSE_RATE_PER_SECOND, settings.COBROWSE_RATE_BURST = 200, 400
    again = Peer(session, cookie)
    assert await again.connect()
    for i, cid in enumerate(ids):
        await again.comm.send_json_to(op(cid, i))
    acks: dict[str, int] = {}
    while len(acks) < len(ids):
        frame = await again.recv()
        assert frame["type"] == "ack", frame
        assert frame["client_op_id"] not in acks, frame
        acks[frame["client_op_id"]] = frame["seq"]
    assert await again.nothing()
    await again.close()

    after = await sync_to_async(journal)()
    assert len(after) == len(ids)  # each op once
    assert {cid: acks[cid] for cid in first} == first  # acked with the seq first journaled
    assert acks == after


@pytest.mark.django_db
@pytest.mark.usefixtures("demo_sites")
def test_help_requests_from_merchant_pages_are_limited_per_address_and_readable_there(settings):
    """The embed API is how customers ask for help on a merchant's site: a flood from one
    address is cut there too, and the 429 carries CORS so the widget can say why."""
    from tests.conftest import MERCHANT_ORIGIN

    settings.COBROWSE_SESSION_CREATE_PER_ADDRESS = (3, 600)

    def ask(address: str) -> Any:
        return Client(REMOTE_ADDR=address).post(
            "/api/embed/v1/sessions/",
            data=orjson.dumps({"site": "pk_demo_shop"}),
            content_type="application/json",
            HTTP_ORIGIN=MERCHANT_ORIGIN,
        )

    answers = [ask("203.0.113.7") for _ in range(5)]
    assert [a.status_code for a in answers] == [201] * 3 + [429] * 2
    refused = answers[-1]
    assert orjson.loads(refused.content)["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert refused["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    assert ask("198.51.100.7").status_code == 201  # another address is not held back
    assert Session.objects.count() == 4
