"""Webhooks (cobrowse/webhooks.py): every event delivered, signed, with its payload; retries with
back-off; a worker killed between the write and the send loses nothing and sends once; the
documented verification code tells a forged request; redelivery from admin.

The receiver is a real HTTP server on a free port that checks every request with the Python
verification code of docs/integrations.md."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from cobrowse import lifecycle, sequencer, webhooks
from cobrowse.models import (
    Operation,
    Session,
    Site,
    WebhookCursor,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from cobrowse.sequencer import Submission
from tests.conftest import SERVICES, demo_site, make_operator, open_session

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "integrations.md").read_text()


def documented(language: str) -> str:
    """The verification code of docs/integrations.md in `language` ("python", "js")."""
    section = DOC.split("### Verifying a request", 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} verification example in docs/integrations.md"
    return match.group(1)


def python_verify() -> Any:
    scope: dict[str, Any] = {}
    exec(documented("python"), scope)
    return scope["verify"]


# --- A receiver --------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    """An HTTP server that records every request, answers with `statuses` in turn (then 200),
    and checks the signature with `secret` by the documented code."""

    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set: the first request is held unanswered until `release` is set.
    hold_first: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} request(s), expected {count}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    verify = python_verify()
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = dict(self.headers.items())
            with state.lock:
                state.requests.append(Received(headers, body, verify(state.secret, headers, body)))
                status = state.statuses.pop(0) if state.statuses else 200
                hold = state.hold_first and len(state.requests) == 1
            if hold:
                state.release.wait(timeout=30)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/cobrowse"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def endpoint_for(receiver: Receiver, site: Site, **fields: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.create(site=site, url=receiver.url, **fields)
    receiver.secret = endpoint.secret
    return endpoint


def poll(worker: webhooks.Worker | None = None) -> tuple[int, int, int]:
    worker = worker or webhooks.Worker()
    try:
        return worker.poll()
    finally:
        worker.close()


# --- A session's life through the journal ---------------------------------------------------


def join_operator(session: Session, user: User) -> int:
    joined = lifecycle.participant_join(session_id=session.pk, user=user, owns_as_customer=False)
    sequencer.operations_append(
        session_id=session.pk,
        batch=[lifecycle.participant_join_submission(participant=joined.participant)],
    )
    return joined.participant.pk


def customer_sends(session: Session, kind: str, payload: dict[str, Any]) -> None:
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    (outcome,) = sequencer.operations_append(
        session_id=session.pk,
        batch=[
            Submission(
                participant_id=customer.pk,
                role=customer.role,
                client_op_id=f"{kind}-{payload['action']}-{time.monotonic_ns()}",
                kind=kind,
                element=None,
                payload=payload,
            )
        ],
    ).outcomes
    assert isinstance(outcome, sequencer.Accepted), outcome


# --- Events and their payloads -------------------------------------------------------------------


@pytest.mark.django_db
def test_each_event_is_delivered_signed_with_its_payload(receiver: Receiver) -> None:
    shop = demo_site("shop")
    endpoint_for(receiver, shop)
    session = open_session(shop, customer_id="42", customer_name="Ada", identity_verified=True)
    operator = join_operator(session, make_operator(sites=("shop",)))
    customer_sends(session, "control", {"action": "grant"})
    customer_sends(session, "session", {"action": "end"})

    poll()
    got = receiver.wait_for(4)

    assert [r.headers["X-Cobrowse-Event"] for r in got] == [
        "session.requested",
        "session.joined",
        "control.granted",
        "session.ended",
    ]
    assert all(r.verified for r in got)
    assert len({r.headers["X-Cobrowse-Delivery"] for r in got}) == 4
    for r in got:
        event = r.event
        assert event["type"] == r.headers["X-Cobrowse-Event"]
        assert event["id"] == r.headers["X-Cobrowse-Event-Id"]
        assert event["site"]["public_key"] == shop.public_key
        assert event["session"]["id"] == str(session.pk)
        assert event["session"]["code"] == session.code
        assert event["session"]["customer"] == {
            "verified": True,
            "id": "42",
            "name": "Ada",
            "email": "",
        }
    requested, joined, granted, ended = (r.event["data"] for r in got)
    assert requested == {}
    assert joined["operator"] == {"participant": operator, "name": "Olga", "role": "operator"}
    assert granted["operator"] == {"participant": operator, "name": "Olga"}
    assert ended["reason"] == "ended"
    assert ended["ended_by"]["role"] == "customer"
    assert (
        ended["replay_url"] == f"http://127.0.0.1:8000/admin/cobrowse/session/{session.pk}/replay/"
    )
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert poll() == (0, 0, 0)  # nothing made or sent twice
    assert len(receiver.requests) == 4


@pytest.mark.django_db
def test_replay_url_is_on_the_desks_public_url(receiver: Receiver, settings: Any) -> None:
    settings.COBROWSE_DESK_URL = "https://help.example.com"
    shop = demo_site("shop")
    endpoint_for(receiver, shop, events=["session.ended"])
    session = open_session(shop)
    customer_sends(session, "session", {"action": "end"})
    poll()
    (got,) = receiver.wait_for(1)
    assert got.event["data"]["replay_url"] == (
        f"https://help.example.com/admin/cobrowse/session/{session.pk}/replay/"
    )


@pytest.mark.django_db
def test_an_endpoint_gets_only_its_sites_enabled_subscribed_events(receiver: Receiver) -> None:
    shop, bank = demo_site("shop"), demo_site("bank")
    endpoint_for(receiver, shop, events=["session.joined"])
    WebhookEndpoint.objects.create(site=shop, url=receiver.url + "/off", enabled=False)
    session = open_session(shop)
    join_operator(session, make_operator(sites=("shop",)))
    join_operator(open_session(bank), make_operator(sites=("bank",)))

    poll()
    (got,) = receiver.wait_for(1)
    time.sleep(0.2)
    assert got.headers["X-Cobrowse-Event"] == "session.joined"
    assert got.event["session"]["id"] == str(session.pk)
    assert len(receiver.requests) == 1
    # No event at all for a site nobody listens to: the outbox stays small.
    assert not WebhookEvent.objects.filter(site=bank).exists()


@pytest.mark.django_db
def test_a_session_that_ends_idle_unjoined_sends_its_end(receiver: Receiver) -> None:
    shop = demo_site("shop")
    endpoint_for(receiver, shop, events=["session.ended"])
    session = open_session(shop)
    lifecycle.sessions_end_idle(idle_since=timezone.now() + timedelta(seconds=1))
    poll()
    (got,) = receiver.wait_for(1)
    assert got.event["session"]["id"] == str(session.pk)
    assert got.event["data"]["reason"] == "idle"
    assert got.event["data"]["ended_by"] is None


@pytest.mark.django_db
def test_a_session_that_is_not_opened_has_no_event(receiver: Receiver) -> None:
    shop = demo_site("shop")
    endpoint_for(receiver, shop)
    with pytest.raises(RuntimeError), transaction.atomic():
        open_session(shop)
        raise RuntimeError("the request failed after opening")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_reading_the_journal_again_after_a_restart_makes_nothing_twice(
    receiver: Receiver,
) -> None:
    shop = demo_site("shop")
    endpoint_for(receiver, shop)
    session = open_session(shop)
    join_operator(session, make_operator(sites=("shop",)))
    first = webhooks.JournalReader()
    assert first.events_from_journal() == 1
    # A new process re-reads the ops of the last JOURNAL_LAG: the unique op id keeps one event.
    webhooks.JournalReader().events_from_journal()
    assert WebhookEvent.objects.filter(type="session.joined").count() == 1
    poll()
    poll()
    assert len(receiver.wait_for(2)) == 2
    time.sleep(0.2)
    assert len(receiver.requests) == 2


@pytest.mark.django_db
def test_the_cursor_moves_only_past_ops_older_than_the_lag(receiver: Receiver) -> None:
    shop = demo_site("shop")
    endpoint_for(receiver, shop)
    join_operator(open_session(shop), make_operator(sites=("shop",)))
    reader = webhooks.JournalReader()
    reader.events_from_journal()
    assert WebhookCursor.objects.get(name="journal").operation_id == 0
    reader.events_from_journal(now=timezone.now() + webhooks.JOURNAL_LAG * 2)
    top = Operation.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert WebhookCursor.objects.get(name="journal").operation_id == top


# --- Retries -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_receiver_failing_twice_gets_it_on_the_third_try_after_back_off(
    receiver: Receiver, settings: Any
) -> None:
    settings.COBROWSE_WEBHOOK_RETRY_BASE_SECONDS = 1.0
    receiver.statuses = [500, 503]
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    worker = webhooks.Worker()
    try:
        waits: list[float] = []
        for attempt in (1, 2):
            worker.poll()
            delivery = WebhookDelivery.objects.get()
            assert (delivery.status, delivery.attempts) == ("pending", attempt)
            assert delivery.last_status_code == (500, 503)[attempt - 1]
            assert delivery.last_attempt_at is not None
            wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
            waits.append(wait)
            # Exponential with jitter: between half and all of base * 2**(attempt-1).
            assert 0.5 * 2 ** (attempt - 1) <= wait <= 1.0 * 2 ** (attempt - 1)
            assert worker.poll()[2] == 0  # not due yet: nothing sent
            time.sleep(wait + 0.05)
        worker.poll()
    finally:
        worker.close()
    assert waits[1] >= waits[0]  # backing off
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
    got = receiver.wait_for(3)
    assert len({r.headers["X-Cobrowse-Delivery"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(r.verified for r in got)


@pytest.mark.django_db
def test_a_delivery_fails_after_the_last_attempt(receiver: Receiver, settings: Any) -> None:
    settings.COBROWSE_WEBHOOK_RETRY_BASE_SECONDS = 0.01
    settings.COBROWSE_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500] * 10
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    worker = webhooks.Worker()
    try:
        for _ in range(5):
            worker.poll()
            time.sleep(0.05)
    finally:
        worker.close()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error.startswith("HTTP 500")
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_an_unreachable_receiver_is_an_error_tried_again(settings: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(site=demo_site("shop"), url="http://127.0.0.1:9/x")
    open_session("shop")
    poll()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "Connect" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()


# --- Signatures ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_documented_python_verification_tells_a_forged_request(receiver: Receiver) -> None:
    endpoint = endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    poll()
    (got,) = receiver.wait_for(1)
    verify = python_verify()
    assert got.verified
    assert verify(endpoint.secret, got.headers, got.body)
    assert not verify("another secret", got.headers, got.body)
    assert not verify(endpoint.secret, got.headers, got.body.replace(b"}", b" }", 1))
    stale = {**got.headers, "X-Cobrowse-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(endpoint.secret, stale, got.body)
    unsigned = {k: v for k, v in got.headers.items() if k != "X-Cobrowse-Signature"}
    assert not verify(endpoint.secret, unsigned, got.body)


NODE_DRIVER = """
import { readFileSync } from "node:fs";
import { verify } from "./verify.mjs";
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
console.log(JSON.stringify(cases.map(
  (c) => verify(c.secret, c.headers, Buffer.from(c.body, "base64")))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.django_db
def test_the_documented_node_verification_tells_a_forged_request(
    receiver: Receiver, tmp_path: Path
) -> None:
    endpoint = endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    poll()
    (got,) = receiver.wait_for(1)
    headers = {k.lower(): v for k, v in got.headers.items()}
    body = base64.b64encode(got.body).decode()
    forged = base64.b64encode(got.body.replace(b"}", b" }", 1)).decode()
    cases = [
        {"secret": endpoint.secret, "headers": headers, "body": body},
        {"secret": "another secret", "headers": headers, "body": body},
        {"secret": endpoint.secret, "headers": headers, "body": forged},
    ]
    (tmp_path / "verify.mjs").write_text(documented("js"))
    (tmp_path / "driver.mjs").write_text(NODE_DRIVER)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    out = subprocess.run(
        ["node", str(tmp_path / "driver.mjs"), str(tmp_path / "cases.json")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out) == [True, False, False]


# --- Admin ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_redeliver_from_admin_sends_it_again_with_the_same_delivery_id(
    receiver: Receiver,
) -> None:
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    poll()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered"
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))

    page = admin.get(f"/admin/cobrowse/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b'id="redeliver-button"' in page.content
    response = admin.post(f"/admin/cobrowse/webhookdelivery/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    poll()

    response = admin.post(
        "/admin/cobrowse/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
    )
    assert response.status_code == 302
    poll()
    got = receiver.wait_for(3)
    assert len({r.headers["X-Cobrowse-Delivery"] for r in got}) == 1
    assert WebhookDelivery.objects.get().status == WebhookDeliveryStatus.DELIVERED


@pytest.mark.django_db
def test_an_operator_sees_only_the_webhooks_of_sites_they_serve(receiver: Receiver) -> None:
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    WebhookEndpoint.objects.create(site=demo_site("bank"), url="https://bank.example/hook")
    user = make_operator(sites=("shop",))
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_webhookendpoint", "view_webhookdelivery"])
    )
    admin = Client()
    admin.force_login(user)
    page = admin.get("/admin/cobrowse/webhookendpoint/")
    assert receiver.url.encode() in page.content
    assert b"bank.example" not in page.content


@pytest.mark.django_db
def test_an_endpoint_is_made_in_admin_with_its_events(receiver: Receiver) -> None:
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="pw"))
    shop = demo_site("shop")
    response = admin.post(
        "/admin/cobrowse/webhookendpoint/add/",
        {
            "site": shop.pk,
            "url": receiver.url,
            "events": ["session.requested", "session.ended"],
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["session.requested", "session.ended"]
    assert len(endpoint.secret) >= 32


# --- The worker process, killed -------------------------------------------------------------------


def worker_process(interval: float) -> subprocess.Popen[str]:
    from tests.test_multiprocess import database_url_of_test_db

    env = {**os.environ, "DATABASE_URL": database_url_of_test_db()}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "webhooks_worker", "-v", "2", "--interval", str(interval)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 30) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"the worker never printed {prefix!r}")


@pytest.mark.services
@pytest.mark.skipif(not SERVICES, reason="needs DATABASE_URL and REDIS_URL (make test runs it)")
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_between_the_write_and_the_send_loses_nothing_and_sends_once(
    receiver: Receiver,
) -> None:
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    # A worker that has polled once and now sleeps for a minute: the event written next is
    # committed, and the worker is killed before it could send it.
    first = worker_process(interval=60)
    try:
        wait_for_line(first, "polled:")
        session = open_session("shop")
        assert WebhookEvent.objects.filter(session=session).exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    time.sleep(0.3)
    assert receiver.requests == []

    second = worker_process(interval=0.1)
    try:
        (got,) = receiver.wait_for(1)
        for _ in range(10):  # ten more polls: nothing again
            wait_for_line(second, "polled:")
    finally:
        second.terminate()
        assert second.wait(timeout=10) == 0  # SIGTERM: a clean stop
    assert len(receiver.requests) == 1
    assert got.verified
    assert got.event["session"]["id"] == str(session.pk)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert got.headers["X-Cobrowse-Delivery"] == str(delivery.pk)


@pytest.mark.services
@pytest.mark.skipif(not SERVICES, reason="needs DATABASE_URL and REDIS_URL (make test runs it)")
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_sending_sends_again_with_the_same_delivery_id(
    receiver: Receiver,
) -> None:
    """The one repeat a receiver can see (docs/integrations.md): the worker died after the
    request went out and before it recorded the answer."""
    receiver.hold_first = True
    endpoint_for(receiver, demo_site("shop"), events=["session.requested"])
    open_session("shop")
    first = worker_process(interval=60)
    try:
        receiver.wait_for(1)  # sent, and held unanswered
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    receiver.release.set()

    second = worker_process(interval=0.1)
    try:
        got = receiver.wait_for(2)
        for _ in range(10):
            wait_for_line(second, "polled:")
    finally:
        second.terminate()
        second.wait(timeout=10)
    assert len(receiver.requests) == 2
    assert got[0].headers["X-Cobrowse-Delivery"] == got[1].headers["X-Cobrowse-Delivery"]
    assert got[0].body == got[1].body
    delivery = WebhookDelivery.objects.get()
    # The killed worker's attempt died with its transaction.
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
