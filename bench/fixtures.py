"""What the bench puts in its database before it measures (runs in the orchestrator, with
Django set up on the `cobrowse_bench` database): sessions, operator accounts, login cookies,
and the 50,000-op journal of the late-join measurement, written through the real sequencer."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission, User
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from cobrowse import lifecycle, sequencer
from cobrowse.models import Session
from cobrowse.policy import CUSTOMER_SESSIONS_KEY
from cobrowse.sequencer import Submission
from helpdesk.management.commands.demo_setup import demo_site, demo_teams_join

BENCH_TABLES = [
    "cobrowse_operation",
    "cobrowse_participant",
    "cobrowse_session",
    "bench_message",
    "django_session",
]


def prepare_database() -> None:
    """Migrate, then empty what earlier runs left, so every run starts from the same state."""
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(BENCH_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("VACUUM ANALYZE")


def vacuum() -> None:
    """VACUUM ANALYZE the tables the systems write, so no autovacuum runs in a measurement."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cobrowse_operation, cobrowse_session, bench_message")


def operators(count: int) -> list[str]:
    """Cookies of `count` logged-in operators (accounts made once, kept across runs)."""
    permission = Permission.objects.get(codename="operate_session")
    cookies = []
    for index in range(count):
        user, created = User.objects.get_or_create(
            username=f"bench-operator-{index}", defaults={"is_staff": True, "first_name": "Bench"}
        )
        if created:
            user.set_unusable_password()
            user.save()
            user.user_permissions.add(permission)
        demo_teams_join(user)  # idempotent: also accounts of earlier runs
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return cookies


def customer_cookie(session_id: str) -> str:
    store = SessionStore()
    store[CUSTOMER_SESSIONS_KEY] = [session_id]
    store.create()
    return f"sessionid={store.session_key}"


@dataclass(frozen=True)
class BenchSession:
    id: str
    customer_cookie: str


def sessions(count: int) -> list[BenchSession]:
    made = []
    for _ in range(count):
        session = lifecycle.session_open(site=demo_site(), customer_session_key="")
        made.append(BenchSession(str(session.pk), customer_cookie(str(session.pk))))
    return made


# --- The late-join journal -------------------------------------------------------------------


def _node(
    node_id: int, tag: str, children: list[dict[str, Any]], **attributes: str
) -> dict[str, Any]:
    return {
        "type": 2,
        "id": node_id,
        "tagName": tag,
        "attributes": attributes,
        "childNodes": children,
    }


def full_snapshot(fields: int = 200) -> dict[str, Any]:
    """An rrweb full snapshot (event type 2) of a form page with `fields` labelled inputs."""
    ids = iter(range(1, 10_000))
    rows = []
    for index in range(fields):
        label = {"type": 3, "id": next(ids), "textContent": f"Field number {index}"}
        rows.append(
            _node(
                next(ids),
                "div",
                [
                    _node(next(ids), "label", [label], **{"for": f"f{index}"}),
                    _node(
                        next(ids),
                        "input",
                        [],
                        id=f"f{index}",
                        name=f"field{index}",
                        type="text",
                        value="",
                    ),
                ],
                **{"class": "row"},
            )
        )
    body = _node(next(ids), "body", rows)
    html = _node(next(ids), "html", [body])
    document = {"type": 0, "id": next(ids), "childNodes": [html]}
    return {"type": 2, "data": {"node": document, "initialOffset": {"top": 0, "left": 0}}}


def _op(index: int) -> tuple[str, str | None, dict[str, Any]]:
    """The index-th op after the snapshot: a customer's ordinary mix of pointer, scroll, DOM
    mutations, typing and chat."""
    pick = index % 10
    if pick < 4:
        return "pointer", None, {"x": index % 1280, "y": index % 720, "id": 5}
    if pick == 4:
        return "scroll", None, {"x": 0, "y": index % 4000}
    if pick < 8:
        mutation = {
            "type": 3,
            "data": {
                "source": 0,
                "texts": [{"id": 7, "value": f"Total: {index % 997} items"}],
                "attributes": [{"id": 9, "attributes": {"class": f"state-{index % 3}"}}],
                "removes": [],
                "adds": [],
            },
        }
        return "dom", None, {"events": [mutation]}
    if pick == 8:
        return "input", f"field:f{index % 50}", {"value": f"typed {index}", "id": 12}
    return "chat", None, {"text": f"message {index}"}


def late_join_session(
    total_ops: int, *, joiners: int, batch: int = 1000
) -> tuple[str, str, list[str]]:
    """A session whose journal holds `total_ops` ops: the customer's and operator's `joined`,
    one full snapshot, then ordinary ops. Written through `sequencer.operations_append` (hash
    chain, element seqs, masking), as the product writes them. Returns its id, its customer's
    cookie, and the cookies of `joiners` operators who have not joined it yet."""
    session = lifecycle.session_open(site=demo_site(), customer_session_key="")
    sid = str(session.pk)
    customer = lifecycle.participant_join(session_id=sid, user=None, owns_as_customer=True)
    operator_user = User.objects.get(username="bench-operator-0")
    operator = lifecycle.participant_join(
        session_id=sid, user=operator_user, owns_as_customer=False
    )
    sequencer.operations_append(
        session_id=sid,
        batch=[
            lifecycle.participant_join_submission(participant=customer.participant),
            lifecycle.participant_join_submission(participant=operator.participant),
        ],
    )
    cid = customer.participant.pk
    subs = [
        Submission(cid, "customer", "snap", "dom", None, {"events": [full_snapshot()]}),
    ]
    for index in range(total_ops - 3):
        kind, element, payload = _op(index)
        subs.append(Submission(cid, "customer", f"o{index}", kind, element, payload))
    for start in range(0, len(subs), batch):
        result = sequencer.operations_append(session_id=sid, batch=subs[start : start + batch])
        assert all(isinstance(o, sequencer.Accepted) for o in result.outcomes), result.outcomes[:3]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cobrowse_operation")
    return sid, customer_cookie(sid), operators(joiners + 1)[1:]


def idle_sessions(count: int, *, batch: int = 2000) -> list[BenchSession]:
    """`count` sessions with their customers' login cookies, written in bulk (a few statements
    per `batch`, where `sessions` makes a few round trips each): the rows `session_open` writes
    for a customer whose site has no webhook endpoint, with a join code unique among open
    sessions, and a browser session per customer as `customer_cookie` makes it."""
    site = demo_site()
    open_codes = Session.objects.exclude(status="ended").values_list("code", flat=True)
    taken = {int(code) for code in open_codes}
    free = [code for code in range(1_000_000) if code not in taken]
    if count > len(free):
        raise ValueError(f"{count} sessions need more free join codes than the {len(free)} left")
    codes = random.sample(free, count)
    store_model = SessionStore.get_model_class()
    made: list[BenchSession] = []
    for start in range(0, count, batch):
        rows = [
            Session(site=site, code=f"{code:06d}", customer_session_key="")
            for code in codes[start : start + batch]
        ]
        stores = []
        for row in rows:
            store = SessionStore()
            key = uuid.uuid4().hex  # 32 lowercase letters and digits, as Django makes them
            data = store.encode({CUSTOMER_SESSIONS_KEY: [str(row.pk)]})
            stores.append(
                store_model(session_key=key, session_data=data, expire_date=store.get_expiry_date())
            )
            made.append(BenchSession(str(row.pk), f"sessionid={key}"))
        with transaction.atomic():
            Session.objects.bulk_create(rows)
            store_model.objects.bulk_create(stores)
    return made


def new_id() -> str:
    return uuid.uuid4().hex[:8]
