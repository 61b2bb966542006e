"""The widget on a merchant's own site: the embed API (CORS to the site's origins only, no
session on any refusal), the session token, the signed identity and key rotation, and the
customer's WebSocket from the merchant's origin (docs/install.md, /work contract)."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import jwt
import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from cobrowse.models import Session, Site, Status
from cobrowse.protocol import CloseCode
from tests.conftest import MERCHANT_ORIGIN, customer_cookie, demo_site, open_session

pytestmark = pytest.mark.django_db

CREATE = "/api/embed/v1/sessions/"
SHOP_SECRET = "demo-shop-secret-change-me"
BANK_SECRET = "demo-bank-secret-change-me"


@pytest.fixture(autouse=True)
def _sites(demo_sites: dict[str, Site]) -> None:
    """The demo shop and bank, allowed on MERCHANT_ORIGIN (demo_setup's defaults)."""


def create(
    body: Any, *, origin: str | None = MERCHANT_ORIGIN, query: str = "", **extra: Any
) -> Any:
    client = Client(enforce_csrf_checks=True)  # no CSRF token: the embed API needs none
    headers: dict[str, Any] = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(
        CREATE + query,
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        **headers,
        **extra,
    )


def detail(session_id: str, token: str | None, *, origin: str = MERCHANT_ORIGIN) -> Any:
    headers: dict[str, Any] = {"HTTP_ORIGIN": origin}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Client().get(f"{CREATE}{session_id}/", **headers)


def identity(
    *, secret: str = SHOP_SECRET, aud: str = "pk_demo_shop", ttl: int = 600, **claims: Any
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": "c-42",
        "name": "Jane Doe",
        "email": "jane@example.com",
        "aud": aud,
    }
    payload.update({"iat": now, "exp": now + ttl, **claims})
    return jwt.encode(payload, secret, algorithm="HS256")


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# --- Opening a session from a merchant's page ------------------------------------------------


def test_a_page_of_an_allowed_origin_opens_a_session_and_may_read_the_answer():
    response = create({"site": "pk_demo_shop", "page": {"url": "http://x/", "title": "Shop"}})
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    assert "Access-Control-Allow-Credentials" not in response
    assert "Set-Cookie" not in response and not response.cookies
    body = response.json()
    session = Session.objects.get(pk=body["id"])
    assert session.site.public_key == "pk_demo_shop" and session.status == Status.WAITING
    assert body["code"] == session.code and body["status"] == "waiting" and body["head_seq"] == 0
    assert body["ws_url"] == f"ws://testserver/ws/cobrowse/{session.pk}/"
    assert body["site"] == "pk_demo_shop" and body["identity"] == {"verified": False}
    assert body["token"] and body["expires_at"]


def test_behind_a_tls_proxy_the_socket_is_wss(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = create(
        {"site": "pk_demo_shop"}, HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="testserver"
    )
    assert response.json()["ws_url"].startswith("wss://testserver/ws/cobrowse/")


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://127.0.0.1:8002",  # another port
        "https://127.0.0.1:8001",  # another scheme
        "http://127.0.0.1.evil.example:8001",
        "null",
        None,
    ],
)
def test_a_foreign_origin_gets_no_cors_answer_and_no_session(origin):
    response = create({"site": "pk_demo_shop"}, origin=origin)
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert not Session.objects.exists()


def test_an_origin_allowed_for_another_site_only_is_refused(demo_sites):
    Site.objects.filter(pk=demo_sites["bank"].pk).update(allowed_origins=["https://bank.example"])
    response = create({"site": "pk_demo_bank"})
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response
    assert not Session.objects.exists()


def preflight(path: str, origin: str, method: str = "POST") -> Any:
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )


def test_a_preflight_from_an_allowed_origin_is_answered():
    for path in (CREATE, CREATE + "?site=pk_demo_shop"):
        response = preflight(path, MERCHANT_ORIGIN)
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert "content-type" in response["Access-Control-Allow-Headers"]
    assert not Session.objects.exists()


def test_a_preflight_from_a_foreign_origin_is_not_answered(demo_sites):
    assert "Access-Control-Allow-Origin" not in preflight(CREATE, "https://evil.example")
    # Named by ?site=, the site's own list decides.
    Site.objects.filter(pk=demo_sites["bank"].pk).update(allowed_origins=["https://bank.example"])
    named = preflight(CREATE + "?site=pk_demo_bank", MERCHANT_ORIGIN)
    assert "Access-Control-Allow-Origin" not in named


def test_a_preflight_of_a_sessions_url_is_decided_by_its_site():
    session = open_session()
    path = f"{CREATE}{session.pk}/"
    allowed = preflight(path, MERCHANT_ORIGIN, "GET")
    assert allowed["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in preflight(path, "https://evil.example", "GET")


def test_cors_is_only_on_the_embed_api():
    response = Client().get("/api/sessions/current/?site=shop", HTTP_ORIGIN=MERCHANT_ORIGIN)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight("/api/sessions/", MERCHANT_ORIGIN)


@pytest.mark.parametrize("key", ["pk_nope", "", None, 7])
def test_an_unknown_key_is_404_and_opens_nothing(key):
    response = create({"site": key})
    assert response.status_code == 404 and error_code(response) == "unknown_site"
    assert response.json()["error"]["message"]
    assert not Session.objects.exists()


@pytest.mark.parametrize("origin", [MERCHANT_ORIGIN, "https://anywhere.example"])
def test_the_page_may_read_that_its_key_is_unknown(origin):
    """The 404 says no more than "no such site", so any page may read it (and its console say
    why, rather than show a CORS failure)."""
    response = create({"site": "pk_nope"}, origin=origin)
    assert response.status_code == 404 and response["Access-Control-Allow-Origin"] == origin


def test_a_disabled_site_is_404_and_opens_nothing():
    Site.objects.filter(public_key="pk_demo_shop").update(enabled=False)
    response = create({"site": "pk_demo_shop"})
    assert response.status_code == 404 and error_code(response) == "unknown_site"
    assert response["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    assert not Session.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_cors_is_decided_without_failing():
    """Through the ASGI handler, as runserver and uvicorn serve it: the per-request CORS
    decision reads the database, which Django refuses from the event loop."""
    from django.test import AsyncClient

    client = AsyncClient()
    allowed = await client.options(
        CREATE,
        headers={"origin": MERCHANT_ORIGIN, "access-control-request-method": "POST"},
    )
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    made = await client.post(
        CREATE,
        data=json.dumps({"site": "pk_demo_shop"}),
        content_type="application/json",
        headers={"origin": MERCHANT_ORIGIN},
    )
    assert made.status_code == 201 and made["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    foreign = await client.post(
        CREATE,
        data=json.dumps({"site": "pk_demo_shop"}),
        content_type="application/json",
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign


@pytest.mark.parametrize("body", ["{nope", "[1]", '"pk_demo_shop"'])
def test_a_body_that_is_not_a_json_object_is_400(body):
    response = create(body)
    assert response.status_code == 400 and error_code(response) == "bad_json"
    assert not Session.objects.exists()


def test_the_site_in_the_query_and_the_body_must_agree():
    response = create({"site": "pk_demo_shop"}, query="?site=pk_demo_bank")
    assert response.status_code == 400 and not Session.objects.exists()
    assert create({}, query="?site=pk_demo_shop").status_code == 201


def test_every_request_opens_its_own_session():
    first, second = create({"site": "pk_demo_shop"}), create({"site": "pk_demo_shop"})
    assert first.json()["id"] != second.json()["id"] and Session.objects.count() == 2


def test_the_queue_rings_when_a_merchants_customer_asks_for_help(
    django_capture_on_commit_callbacks,
):
    with (
        mock.patch("cobrowse.lifecycle.publish") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = create({"site": "pk_demo_shop"})
    publish.assert_called_once_with(session_id=mock.ANY, status="waiting")
    assert str(publish.call_args.kwargs["session_id"]) == response.json()["id"]


# --- The session token -----------------------------------------------------------------------


def opened(**body: Any) -> dict[str, Any]:
    response = create({"site": "pk_demo_shop", **body})
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result


def test_the_token_reads_its_session_without_the_token_in_the_answer():
    made = opened()
    response = detail(made["id"], made["token"])
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN
    body = response.json()
    assert "token" not in body
    assert body == {key: value for key, value in made.items() if key != "token"}


@pytest.mark.parametrize(
    "token", [None, "", "nonsense", "a:b:c", "Zm9v"], ids=["none", "empty", "junk", "colons", "b64"]
)
def test_a_missing_or_bad_token_is_401(token):
    made = opened()
    response = detail(made["id"], token)
    assert response.status_code == 401 and error_code(response) == "invalid_token"


def test_a_tampered_token_is_401():
    made = opened()
    token = made["token"]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert detail(made["id"], flipped).status_code == 401


def test_a_token_for_another_session_is_401():
    mine, other = opened(), opened()
    response = detail(other["id"], mine["token"])
    assert response.status_code == 401 and error_code(response) == "invalid_token"


def test_an_expired_token_is_401(settings):
    made = opened()
    later = time.time() + settings.COBROWSE_EMBED_TOKEN_HOURS * 3600 + 5
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = detail(made["id"], made["token"])
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_the_token_of_a_disabled_site_is_401():
    made = opened()
    Site.objects.filter(public_key="pk_demo_shop").update(enabled=False)
    assert detail(made["id"], made["token"]).status_code == 401


def test_the_token_of_an_ended_session_reads_that_it_ended():
    made = opened()
    Session.objects.filter(pk=made["id"]).update(status=Status.ENDED)
    response = detail(made["id"], made["token"])
    assert response.status_code == 200 and response.json()["status"] == "ended"


# --- The customer's signed identity ----------------------------------------------------------


def test_a_signed_identity_is_verified_and_kept_on_the_session():
    made = opened(identity=identity())
    assert made["identity"] == {
        "verified": True,
        "user_id": "c-42",
        "name": "Jane Doe",
        "email": "jane@example.com",
    }
    session = Session.objects.get(pk=made["id"])
    assert session.identity_verified and session.customer_id == "c-42"
    assert session.customer_name == "Jane Doe" and session.customer_email == "jane@example.com"


def test_without_an_identity_the_customer_is_not_verified():
    made = opened()
    session = Session.objects.get(pk=made["id"])
    assert made["identity"] == {"verified": False} and not session.identity_verified
    assert session.customer_id == session.customer_name == ""


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (lambda: identity(secret="not-the-shops-secret-not-the-shops"), "signature"),
        (lambda: identity(ttl=-60), "expired"),
        (lambda: identity(aud="pk_demo_bank"), "another site"),
        (lambda: identity(secret=BANK_SECRET, aud="pk_demo_bank"), "signature"),
        (lambda: identity()[:-4] + "AAAA", "signature"),
        (lambda: identity().replace(".", "", 1), "not valid"),
        (lambda: jwt.encode({"sub": "1", "aud": "pk_demo_shop"}, SHOP_SECRET), "'exp'"),
        (
            lambda: jwt.encode(
                {"sub": "1", "aud": "pk_demo_shop", "exp": int(time.time()) + 60},
                "",
                algorithm="none",
            ),
            "not valid",
        ),
        (lambda: 42, "JWT string"),
    ],
    ids=[
        "tampered-secret",
        "expired",
        "other-audience",
        "other-sites-token",
        "bad-signature",
        "garbled",
        "no-exp",
        "alg-none",
        "not-a-string",
    ],
)
def test_an_identity_that_does_not_check_out_is_400_and_opens_nothing(token, says):
    response = create({"site": "pk_demo_shop", "identity": token()})
    assert response.status_code == 400 and error_code(response) == "invalid_identity"
    assert says in response.json()["error"]["message"]
    assert response["Access-Control-Allow-Origin"] == MERCHANT_ORIGIN  # the page can read why
    assert not Session.objects.exists()


def test_after_a_rotation_the_previous_secret_is_accepted_until_cleared(admin_client):
    site = Site.objects.get(public_key="pk_demo_shop")
    admin_client.post(
        "/admin/cobrowse/site/",
        {"action": "rotate_secret", "_selected_action": [site.pk]},
    )
    site.refresh_from_db()
    assert site.previous_secret == SHOP_SECRET and site.secret != SHOP_SECRET
    assert opened(identity=identity())["identity"]["verified"]  # the old secret
    assert opened(identity=identity(secret=site.secret))["identity"]["verified"]
    admin_client.post(
        "/admin/cobrowse/site/",
        {"action": "clear_previous_secret", "_selected_action": [site.pk]},
    )
    site.refresh_from_db()
    assert site.previous_secret == ""
    count = Session.objects.count()
    refused = create({"site": "pk_demo_shop", "identity": identity()})
    assert refused.status_code == 400 and error_code(refused) == "invalid_identity"
    assert Session.objects.count() == count
    assert opened(identity=identity(secret=site.secret))["identity"]["verified"]


def test_the_operator_sees_whether_the_customer_is_verified(admin_client):
    verified = opened(identity=identity())
    unsigned = opened()
    queue = admin_client.get("/helpdesk/").content.decode()
    assert "Jane Doe · verified" in queue and "not verified" in queue
    page = admin_client.get(f"/helpdesk/sessions/{verified['id']}/").content.decode()
    assert "Jane Doe · verified" in page and "Demo shop" in page
    other = admin_client.get(f"/helpdesk/sessions/{unsigned['id']}/").content.decode()
    assert 'data-verified="false">not verified' in other


# --- The customer's WebSocket from the merchant's page ---------------------------------------


async def socket(
    session_id: str, *, token: str | None, origin: str | None = MERCHANT_ORIGIN, cookie: str = ""
) -> tuple[int | None, str | None, dict[str, Any] | None]:
    """(close code, reason, None) of a refused connection, or (None, None, welcome)."""
    from config.asgi import application

    headers = [(b"origin", origin.encode())] if origin else []
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    path = f"/ws/cobrowse/{session_id}/" + (f"?token={token}" if token is not None else "")
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    assert connected  # refusals are accepted, then closed with a code the page can read
    first = await comm.receive_output(timeout=5)
    await comm.disconnect()
    if first["type"] == "websocket.close":
        return first.get("code"), first.get("reason"), None
    return None, None, orjson.loads(first["text"])


@pytest.mark.django_db(transaction=True)
async def test_the_token_from_an_allowed_origin_joins_as_the_customer():
    made = await sync_to_async(opened)()
    code, _, welcome = await socket(made["id"], token=made["token"])
    assert code is None and welcome is not None
    assert welcome["type"] == "welcome" and welcome["role"] == "customer"
    assert welcome["site"] == "pk_demo_shop"


@pytest.mark.django_db(transaction=True)
async def test_without_a_token_or_with_a_bad_one_the_socket_closes_4401():
    made = await sync_to_async(opened)()
    other = await sync_to_async(opened)()
    for token in (None, "", "nonsense", made["token"][:-3] + "xyz", other["token"]):
        code, reason, _ = await socket(made["id"], token=token)
        assert (code, reason) == (CloseCode.INVALID_TOKEN, "invalid_token"), token


@pytest.mark.django_db(transaction=True)
async def test_an_expired_token_closes_4401(settings):
    made = await sync_to_async(opened)()
    later = time.time() + settings.COBROWSE_EMBED_TOKEN_HOURS * 3600 + 5
    with mock.patch("django.core.signing.time.time", return_value=later):
        code, _, _ = await socket(made["id"], token=made["token"])
    assert code == CloseCode.INVALID_TOKEN


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1:8002", "http://testserver", None]
)
async def test_a_foreign_origin_closes_4403_origin_not_allowed(origin):
    made = await sync_to_async(opened)()
    code, reason, _ = await socket(made["id"], token=made["token"], origin=origin)
    assert (code, reason) == (CloseCode.FORBIDDEN, "origin_not_allowed")


@pytest.mark.django_db(transaction=True)
async def test_a_merchant_page_cannot_use_the_desks_cookie_path():
    """A customer cookie of the desk does not let a merchant's page in without the token."""
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    code, _, _ = await socket(str(session.pk), token=None, cookie=cookie)
    assert code == CloseCode.INVALID_TOKEN
    code, reason, _ = await socket(
        str(session.pk), token=None, cookie=cookie, origin="https://evil.example"
    )
    assert (code, reason) == (CloseCode.FORBIDDEN, "origin_not_allowed")


@pytest.mark.django_db(transaction=True)
async def test_the_token_of_an_ended_session_closes_4410():
    made = await sync_to_async(opened)()
    await sync_to_async(Session.objects.filter(pk=made["id"]).update)(status=Status.ENDED)
    code, _, _ = await socket(made["id"], token=made["token"])
    assert code == CloseCode.ENDED


def test_origins_compare_on_scheme_host_and_port():
    from cobrowse.embed import normalize_origin, origin_allowed

    site = demo_site("shop")
    site.allowed_origins = ["https://Shop.Example", "http://localhost:8001"]
    assert origin_allowed(site, "https://shop.example")
    assert origin_allowed(site, "https://shop.example:443")
    assert not origin_allowed(site, "http://shop.example")
    assert not origin_allowed(site, "https://shop.example:8443")
    assert not origin_allowed(site, "https://www.shop.example")
    assert origin_allowed(site, "http://localhost:8001")
    assert not origin_allowed(site, "http://localhost")
    assert normalize_origin("https://shop.example/path") is None
    assert normalize_origin("javascript:alert(1)") is None
