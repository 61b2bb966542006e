"""The REST API for ticket systems and CRMs (/api/v1/, cobrowse/api.py): per-site tokens kept
as hashes, every endpoint and every refusal, pagination and the rate limit. Every JSON answer
is checked against the OpenAPI document the API serves (`call`)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import jsonschema
import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient, Client
from django.utils import timezone

from cobrowse import api_tokens, embed, lifecycle, selectors, sequencer
from cobrowse.models import ApiToken, Operation, Session, Site, Status
from cobrowse.sequencer import Submission
from tests.conftest import MERCHANT_ORIGIN, Peer, make_operator, open_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_sites")]

BASE = "/api/v1"
_SESSION = re.compile(r"^/sessions/[^/]+")
_openapi: dict[str, Any] = {}


def openapi() -> dict[str, Any]:
    if not _openapi:
        response = Client().get(f"{BASE}/openapi.json")
        assert response.status_code == 200
        _openapi.update(response.json())
    return _openapi


def check_against_openapi(method: str, path: str, response: Any) -> None:
    """The answer's status is one the document lists for the operation, and its JSON body
    validates against that status's schema."""
    doc = openapi()
    template = BASE + _SESSION.sub("/sessions/{session_id}", path.removeprefix(BASE).split("?")[0])
    operation = doc["paths"].get(template, {}).get(method)
    if operation is None:  # a path the API does not have: only its JSON 404
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        return
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {template}: {response.status_code} not documented"
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(
        response.json(),
        {**schema, "components": doc["components"]},
        cls=jsonschema.Draft202012Validator,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def call(
    method: str, path: str, *, token: str | None, body: Any = None, client: Client | None = None
) -> Any:
    client = client or Client(enforce_csrf_checks=True)
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if method == "post":
        response = client.post(
            BASE + path,
            data=body if isinstance(body, str) else json.dumps(body or {}),
            content_type="application/json",
            headers=headers,
        )
    else:
        response = client.get(BASE + path, headers=headers)
    check_against_openapi(method, path, response)
    return response


def site(name: str = "shop") -> Site:
    return Site.objects.get(public_key=f"pk_demo_{name}")


def new_token(name: str = "shop") -> str:
    return api_tokens.api_token_create(site=site(name), name=f"Tickets of {name}")[1]


@pytest.fixture
def token() -> str:
    return new_token("shop")


def error_of(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return str(body["error"]["code"])


# --- The document ----------------------------------------------------------------------------


def test_the_openapi_document_lists_every_endpoint_with_bearer_auth():
    doc = openapi()
    assert doc["openapi"].startswith("3.")
    assert {
        (path, method) for path, operations in doc["paths"].items() for method in operations
    } == {
        (f"{BASE}/sessions", "get"),
        (f"{BASE}/sessions", "post"),
        (f"{BASE}/sessions/{{session_id}}", "get"),
        (f"{BASE}/sessions/{{session_id}}/end", "post"),
        (f"{BASE}/sessions/{{session_id}}/journal", "get"),
    }
    schemes = doc["components"]["securitySchemes"]
    assert list(schemes.values()) == [{"type": "http", "scheme": "bearer"}]
    journal = doc["paths"][f"{BASE}/sessions/{{session_id}}/journal"]["get"]
    assert "application/x-ndjson" in journal["responses"]["200"]["content"]


def test_the_docs_ui_is_served():
    response = Client().get(f"{BASE}/docs")
    assert response.status_code == 200 and b"openapi.json" in response.content


# --- Authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Basic dXNlcjpwdw==", "Bearer ", "Bearer cbt_not-a-token", "Token cbt_x"],
)
def test_a_request_without_a_valid_bearer_token_is_a_401(authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get(f"{BASE}/sessions", **headers)
    assert response.status_code == 401
    assert error_of(response) in {"unauthenticated", "invalid_token"}
    check_against_openapi("get", "/sessions", response)


def test_a_logged_in_browser_cannot_use_the_api_with_its_cookie():
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert error_of(call("get", "/sessions", token=None, client=client)) == "unauthenticated"
    created = call("post", "/sessions", token=None, client=client, body={"customer": {"id": "1"}})
    assert created.status_code == 401
    assert not Session.objects.exists()


def test_a_token_needs_no_csrf_token_to_write(token):
    # enforce_csrf_checks: the desk's forms would be refused without a CSRF token.
    response = call("post", "/sessions", token=token, body={"customer": {"id": "c-1"}})
    assert response.status_code == 201


def test_the_database_holds_the_hash_of_the_token_never_the_token():
    row, token = api_tokens.api_token_create(site=site(), name="Zendesk")
    assert re.fullmatch(r"cbt_[A-Za-z0-9_-]{43}", token)
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(row.prefix) and len(row.prefix) < 16
    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert not any(token in str(value) for value in stored.values())
    secret = token.removeprefix("cbt_")
    assert not any(secret[8:] in str(value) for value in stored.values())


def test_a_revoked_token_is_refused_and_a_disabled_site_s_token_too(token):
    assert call("get", "/sessions", token=token).status_code == 200
    api_tokens.api_tokens_revoke(ids=list(ApiToken.objects.values_list("pk", flat=True)))
    assert error_of(call("get", "/sessions", token=token)) == "invalid_token"
    other = new_token("bank")
    Site.objects.filter(public_key="pk_demo_bank").update(enabled=False)
    assert error_of(call("get", "/sessions", token=other)) == "invalid_token"


def test_a_token_notes_when_it_was_last_used(token):
    row = ApiToken.objects.get()
    assert row.last_used_at is None
    call("get", "/sessions", token=token)
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert timezone.now() - row.last_used_at < timedelta(seconds=30)


# --- Admin: created, shown once, revoked -------------------------------------------------------


def test_admin_shows_a_new_token_once_and_keeps_its_hash(admin_client):
    response = admin_client.post(
        "/admin/cobrowse/apitoken/add/", {"site": site().pk, "name": "Freshdesk"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # the secret stays in no cache
    token = re.search(rb'id="api-token">(cbt_[A-Za-z0-9_-]+)<', response.content)
    assert token is not None
    row = ApiToken.objects.get(name="Freshdesk")
    assert row.key_hash == hashlib.sha256(token.group(1)).hexdigest()
    assert call("get", "/sessions", token=token.group(1).decode()).status_code == 200
    # Never again: not on its page, not in the list.
    for url in (f"/admin/cobrowse/apitoken/{row.pk}/change/", "/admin/cobrowse/apitoken/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert token.group(1) not in page.content and row.prefix.encode() in page.content


def test_admin_revokes_a_token(admin_client, token):
    row = ApiToken.objects.get()
    response = admin_client.post(
        "/admin/cobrowse/apitoken/",
        {"action": "revoke", "_selected_action": [row.pk]},
        follow=True,
    )
    assert response.status_code == 200 and b"Revoked 1 token" in response.content
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert call("get", "/sessions", token=token).status_code == 401


# --- Listing -----------------------------------------------------------------------------------


def test_the_list_holds_the_token_s_site_only(token):
    mine = open_session("shop", customer_id="c-1")
    open_session("bank", customer_id="c-1")
    body = call("get", "/sessions", token=token).json()
    assert [item["id"] for item in body["items"]] == [str(mine.pk)]
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None
    assert body["items"][0]["site"] == "pk_demo_shop"


def test_the_list_filters_by_status_time_and_customer(token):
    old = open_session("shop", customer_id="c-1")
    Session.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    ended = open_session("shop", customer_id="c-2")
    lifecycle.session_end(session_id=ended.pk, reason="api")
    fresh = open_session("shop", customer_id="c-1")

    def ids(query: str) -> set[str]:
        return {
            item["id"] for item in call("get", f"/sessions?{query}", token=token).json()["items"]
        }

    day_ago = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids("status=ended") == {str(ended.pk)}
    assert ids("status=waiting") == {str(old.pk), str(fresh.pk)}
    assert ids("customer_id=c-1") == {str(old.pk), str(fresh.pk)}
    assert ids(f"created_after={day_ago}") == {str(ended.pk), str(fresh.pk)}
    assert ids(f"created_before={day_ago}") == {str(old.pk)}
    # Without an offset: UTC.
    naive = (timezone.now() - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert ids(f"created_before={naive}&customer_id=c-1") == {str(old.pk)}


def test_the_list_is_paginated_with_next_links(token):
    made = {str(open_session("shop").pk) for _ in range(5)}
    seen: list[str] = []
    url: str | None = f"{BASE}/sessions?limit=2&status=waiting"
    pages = 0
    while url is not None:
        body = call("get", url.split(BASE, 1)[1], token=token).json()
        assert body["count"] == 5 and len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        url = body["next"]
        pages += 1
    assert pages == 3 and len(seen) == 5 and set(seen) == made
    assert body["previous"] is not None and "status=waiting" in body["previous"]
    created = [Session.objects.get(pk=pk).created_at for pk in seen]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "offset=-1", "status=gone", "created_after=yesterday", "limit=x"],
)
def test_a_bad_filter_is_a_422(token, query):
    response = call("get", f"/sessions?{query}", token=token)
    assert response.status_code == 422 and error_of(response) == "invalid_request"


# --- One session -------------------------------------------------------------------------------


def test_a_session_reads_with_its_participants(token):
    session = open_session("shop", customer_id="c-9", customer_name="Ada")
    customer = lifecycle.participant_join(session_id=session.pk, user=None, owns_as_customer=True)
    operator = make_operator()
    lifecycle.participant_join(session_id=session.pk, user=operator, owns_as_customer=False)
    lifecycle.participant_leave(
        participant_id=customer.participant.pk, connected_at=customer.participant.connected_at
    )
    body = call("get", f"/sessions/{session.pk}", token=token).json()
    assert body["status"] == "active" and body["code"] == session.code
    assert body["customer"] == {"verified": False, "id": "c-9", "name": "Ada", "email": ""}
    roles = [(p["role"], p["display_name"], p["left_at"] is None) for p in body["participants"]]
    assert roles == [("customer", "Customer", False), ("operator", "Olga", True)]


def test_another_site_s_session_is_a_403_and_an_unknown_one_a_404(token):
    theirs = open_session("bank")
    for method, suffix in (("get", ""), ("post", "/end"), ("get", "/journal")):
        response = call(method, f"/sessions/{theirs.pk}{suffix}", token=token)
        assert response.status_code == 403 and error_of(response) == "forbidden"
        missing = call(method, f"/sessions/{Session().pk}{suffix}", token=token)
        assert missing.status_code == 404 and error_of(missing) == "not_found"
    assert Session.objects.get(pk=theirs.pk).status == Status.WAITING


def test_a_session_id_that_is_no_uuid_is_a_422_and_an_unknown_path_a_json_404(token):
    response = call("get", "/sessions/123", token=token)
    assert response.status_code == 422 and error_of(response) == "invalid_request"
    response = Client().get(f"{BASE}/tickets", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404 and error_of(response) == "not_found"


# --- Ending ------------------------------------------------------------------------------------


def test_ending_journals_the_end_in_the_customer_s_name(token):
    session = open_session("shop")
    lifecycle.participant_join(session_id=session.pk, user=None, owns_as_customer=True)
    body = call("post", f"/sessions/{session.pk}/end", token=token).json()
    assert body["status"] == "ended" and body["ended_at"] is not None
    end = Operation.objects.get(session=session, kind="session")
    assert end.payload == {"action": "end", "reason": "api"}
    assert end.sender.role == "customer" and end.seq == 1
    # Again: nothing more happens, the same answer.
    again = call("post", f"/sessions/{session.pk}/end", token=token)
    assert again.status_code == 200 and again.json()["ended_at"] == body["ended_at"]
    assert Operation.objects.filter(session=session).count() == 1


def test_ending_a_session_nobody_joined_marks_it_ended(token):
    session = open_session("shop")
    body = call("post", f"/sessions/{session.pk}/end", token=token).json()
    assert body["status"] == "ended"
    assert not Operation.objects.filter(session=session).exists()


async def test_an_end_by_the_api_reaches_the_connected_participants(pair):
    """As `end_idle_sessions`: with a channel layer shared with the server the doorbell brings
    the end at once; without one, the next ping does."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    session, _customer, operator = pair
    token = await sync_to_async(new_token)()
    response = await AsyncClient().post(
        f"{BASE}/sessions/{session.pk}/end", headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    is_end = lambda f: f.get("kind") == "session" and f["payload"]["action"] == "end"  # noqa: E731
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        assert await operator.nothing(0.5)
        await operator.comm.send_json_to({"type": "ping"})
    frames = await operator.recv_until(is_end)
    assert frames[-1]["payload"] == {"action": "end", "reason": "api"}


# --- The journal -------------------------------------------------------------------------------


def _journaled_session(chats: int = 3) -> Session:
    """An ended session whose journal holds `chats` chat ops of its customer, then the end."""
    session = open_session("shop", customer_id="c-7")
    customer = lifecycle.participant_join(session_id=session.pk, user=None, owns_as_customer=True)
    lifecycle.participant_join(session_id=session.pk, user=make_operator(), owns_as_customer=False)
    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            Submission(
                participant_id=customer.participant.pk,
                role="customer",
                client_op_id=f"c{n}",
                kind="chat",
                element=None,
                payload={"text": f"hello {n}"},
            )
            for n in range(chats)
        ],
    )
    lifecycle.session_end(session_id=session.pk, reason="api")
    return session


@pytest.mark.django_db(transaction=True)
async def test_the_journal_streams_the_admin_export_as_json_lines():
    session = await sync_to_async(_journaled_session)()
    token = await sync_to_async(new_token)()
    response = await AsyncClient().get(
        f"{BASE}/sessions/{session.pk}/journal", headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [orjson.loads(line) async for line in _lines(response)]
    export = await sync_to_async(selectors.journal_export)(session_id=session.pk)
    assert lines[0] == {"session": export["session"], "participants": export["participants"]}
    assert lines[1:] == export["operations"] and len(lines) == 5
    assert [op["kind"] for op in lines[1:]] == ["chat", "chat", "chat", "session"]
    assert lines[-1]["payload"] == {"action": "end", "reason": "api"}


async def _lines(response: Any):
    buffer = b""
    async for chunk in response.streaming_content:
        buffer += chunk
    for line in buffer.split(b"\n"):
        if line:
            yield line


@pytest.mark.django_db(transaction=True)
async def test_the_journal_stream_reads_page_by_page(monkeypatch):
    """A journal longer than a page comes whole and in order."""
    session = await sync_to_async(_journaled_session)()
    real = selectors.journal_export_operations
    pages: list[int] = []

    def small_pages(**kwargs: Any) -> list[dict[str, Any]]:
        page = real(**{**kwargs, "limit": 1})
        pages.append(len(page))
        return page

    monkeypatch.setattr(selectors, "journal_export_operations", small_pages)
    token = await sync_to_async(new_token)()
    response = await AsyncClient().get(
        f"{BASE}/sessions/{session.pk}/journal", headers={"authorization": f"Bearer {token}"}
    )
    lines = [orjson.loads(line) async for line in _lines(response)]
    assert [op["seq"] for op in lines[1:]] == [1, 2, 3, 4] and pages == [1, 1, 1, 1]
    assert lines[0]["session"]["head_seq"] == 4


# --- Opening -----------------------------------------------------------------------------------


def test_a_session_opens_for_a_known_customer_with_a_join_code_and_an_embed_token(token):
    response = call(
        "post",
        "/sessions",
        token=token,
        body={
            "customer": {"id": "crm-42", "name": "Ada Lovelace", "email": "ada@example.com"},
            "page": {"url": "https://shop.example.com/cart", "title": "Cart"},
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"\d{6}", body["join_code"]) and body["code"] == body["join_code"]
    assert body["status"] == "waiting" and body["participants"] == []
    assert body["customer"] == {
        "verified": True,
        "id": "crm-42",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }
    session = embed.token_check(body["embed"]["token"], body["id"])
    assert session.site.public_key == "pk_demo_shop" and session.identity_verified
    assert body["embed"]["ws_url"] == f"ws://testserver/ws/cobrowse/{session.pk}/"


@pytest.mark.django_db(transaction=True)
async def test_the_customer_s_page_joins_with_the_embed_token():
    token = await sync_to_async(new_token)()
    response = await AsyncClient().post(
        f"{BASE}/sessions",
        data={"customer": {"id": "crm-1"}},
        content_type="application/json",
        headers={"authorization": f"Bearer {token}"},
    )
    made = response.json()
    session = await Session.objects.aget(pk=made["id"])
    peer = Peer(
        session,
        None,
        origin=MERCHANT_ORIGIN.encode(),
        query=f"token={made['embed']['token']}",
    )
    assert await peer.connect()
    assert peer.welcome["role"] == "customer"
    await peer.close()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customer": {}},
        {"customer": {"id": ""}},
        {"customer": {"id": "x" * 201}},
        {"customer": {"id": "1", "email": "not-an-email"}},
        {"customer": {"id": "1"}, "page": {"url": "javascript:alert(1)"}},
        {"customer": "1"},
    ],
)
def test_a_bad_body_is_a_422_and_opens_nothing(token, body):
    response = call("post", "/sessions", token=token, body=body)
    assert response.status_code == 422 and error_of(response) == "invalid_request"
    assert not Session.objects.exists()


def test_a_body_that_is_not_json_is_a_400(token):
    response = call("post", "/sessions", token=token, body="{not json")
    assert response.status_code == 400 and error_of(response) == "bad_request"
    assert not Session.objects.exists()


# --- Rate limit --------------------------------------------------------------------------------


def test_a_token_over_its_rate_limit_gets_a_429_with_retry_after(token, settings):
    settings.COBROWSE_API_RATE_LIMIT = 3
    settings.COBROWSE_API_RATE_WINDOW_SECONDS = 3600
    for _ in range(3):
        assert call("get", "/sessions", token=token).status_code == 200
    response = call("get", "/sessions", token=token)
    assert response.status_code == 429 and error_of(response) == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 3600
    # Another token of the same site counts for itself.
    assert call("get", "/sessions", token=new_token()).status_code == 200


def test_the_admin_export_holds_every_page_of_operations(monkeypatch):
    """journal_export is journal_export_head plus every page of operations, however many."""
    session = _journaled_session(chats=5)
    real = selectors.journal_export_operations
    monkeypatch.setattr(
        selectors,
        "journal_export_operations",
        lambda **kwargs: real(**{**kwargs, "limit": 2}),
    )
    export = selectors.journal_export(session_id=session.pk)
    assert set(export) == {"session", "participants", "operations"}
    assert [op["seq"] for op in export["operations"]] == [1, 2, 3, 4, 5, 6]


def test_staff_see_and_make_tokens_of_the_sites_their_teams_serve_only():
    from django.contrib.auth.models import Permission

    clerk = make_operator(sites=("shop",))
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"])
    )
    client = Client()
    client.force_login(clerk)
    new_token("shop"), new_token("bank")
    listed = client.get("/admin/cobrowse/apitoken/")
    assert b"Tickets of shop" in listed.content and b"Tickets of bank" not in listed.content
    refused = client.post("/admin/cobrowse/apitoken/add/", {"site": site("bank").pk, "name": "X"})
    assert refused.status_code == 200 and not ApiToken.objects.filter(name="X").exists()
    made = client.post("/admin/cobrowse/apitoken/add/", {"site": site("shop").pk, "name": "Y"})
    assert made.status_code == 200 and b'id="api-token"' in made.content
    assert ApiToken.objects.get(name="Y").site == site("shop")
