"""Teams serve sites: an operator sees, joins (also by code) and replays only the sessions of the
sites their teams serve, and is refused (403, close 4403), never shown an empty page, for any
other; superusers see everything. Also the sites' admin (install snippet, origins) and the
demo sites and teams of `manage.py demo_setup`."""

from __future__ import annotations

from io import StringIO

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from cobrowse import lifecycle, sequencer
from cobrowse.models import Session, Site, Team
from cobrowse.protocol import CloseCode
from helpdesk import selectors
from tests.conftest import HOST, ORIGIN, demo_site, make_operator, open_session, operator_cookie

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bank_session() -> Session:
    return open_session("bank")


@pytest.fixture
def shop_operator() -> User:
    """An operator of the shop team only."""
    return make_operator(sites=("shop",))


# --- The help desk ---------------------------------------------------------------------------


def test_the_queue_lists_only_the_sites_of_the_operators_teams(shop_operator, bank_session):
    shop_session = open_session("shop")
    queue = selectors.queue_sessions(user=shop_operator)
    assert [s["id"] for s in queue["waiting"]] == [str(shop_session.pk)]
    assert queue["waiting"][0]["site_label"] == "Demo shop"
    page = signed_in(shop_operator).get("/helpdesk/").content.decode()
    assert shop_session.code in page and bank_session.code not in page
    assert "Sites of your teams: Demo shop." in page


def test_an_operator_in_no_team_is_told_so(bank_session):
    page = signed_in(make_operator(sites=())).get("/helpdesk/").content.decode()
    assert "Your teams serve no site yet" in page and bank_session.code not in page


def test_another_teams_session_is_403_by_code_page_history_and_presence(
    shop_operator, bank_session
):
    client = signed_in(shop_operator)
    by_code = client.post("/helpdesk/join/", {"code": bank_session.code})
    assert by_code.status_code == 403 and "Demo bank" in by_code.content.decode()
    for path in ("", "history/", "presence/"):
        response = client.get(f"/helpdesk/sessions/{bank_session.pk}/{path}")
        assert response.status_code == 403, path


def test_a_superuser_reaches_every_sites_sessions(bank_session):
    admin = User.objects.create_superuser("boss", password="pw")
    client = signed_in(admin)
    assert bank_session.code in client.get("/helpdesk/").content.decode()
    by_code = client.post("/helpdesk/join/", {"code": bank_session.code})
    assert by_code.status_code == 302
    assert client.get(f"/helpdesk/sessions/{bank_session.pk}/").status_code == 200


def test_an_operator_of_both_teams_reaches_both(bank_session):
    client = signed_in(make_operator(sites=("shop", "bank")))
    assert client.get(f"/helpdesk/sessions/{bank_session.pk}/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_another_teams_session_socket_closes_4403():
    session = await sync_to_async(open_session)("bank")
    outsider = await sync_to_async(make_operator)(sites=("shop",))
    insider = await sync_to_async(make_operator)(sites=("bank",))
    from config.asgi import application

    async def first_output(user: User) -> dict[str, object]:
        cookie = await sync_to_async(operator_cookie)(user)
        comm = WebsocketCommunicator(
            application,
            f"/ws/cobrowse/{session.pk}/",
            headers=[(b"host", HOST), (b"origin", ORIGIN), (b"cookie", cookie.encode())],
        )
        assert (await comm.connect(timeout=5))[0]
        output: dict[str, object] = await comm.receive_output(timeout=5)
        await comm.disconnect()
        return output

    refused = await first_output(outsider)
    assert refused["type"] == "websocket.close" and refused["code"] == CloseCode.FORBIDDEN
    assert refused.get("reason") == "not_served"
    assert not await sync_to_async(session.participants.exists)()  # nobody joined
    welcomed = await first_output(insider)
    assert welcomed["type"] == "websocket.send"
    assert orjson.loads(str(welcomed["text"]))["role"] == "operator"


@pytest.mark.django_db(transaction=True)
async def test_the_queue_socket_shows_only_the_operators_sites():
    shop = await sync_to_async(open_session)("shop")
    bank = await sync_to_async(open_session)("bank")
    user = await sync_to_async(make_operator)(sites=("bank",))
    from config.asgi import application

    cookie = await sync_to_async(operator_cookie)(user)
    comm = WebsocketCommunicator(
        application,
        "/ws/helpdesk/queue/",
        headers=[(b"host", HOST), (b"origin", ORIGIN), (b"cookie", cookie.encode())],
    )
    assert (await comm.connect(timeout=5))[0]
    frame = await comm.receive_json_from(timeout=5)
    await comm.disconnect()
    assert [s["id"] for s in frame["waiting"]] == [str(bank.pk)]
    assert str(shop.pk) not in orjson.dumps(frame).decode()


# --- Admin: replay, export, the journal ------------------------------------------------------


def reviewer(*sites: str) -> Client:
    """Staff who may view sessions in admin, in the teams of `sites`."""
    user = make_operator(sites=sites)
    user.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="cobrowse"),
        Permission.objects.get(codename="view_operation", content_type__app_label="cobrowse"),
    )
    return signed_in(user)


def journaled(site: str) -> Session:
    session = open_session(site)
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    sequencer.operations_append(
        session_id=session.pk,
        batch=[sequencer.Submission(customer.pk, "customer", "c1", "chat", None, {"text": "hi"})],
    )
    return session


def test_another_teams_session_cannot_be_replayed_exported_or_opened_in_admin():
    bank = journaled("bank")
    client = reviewer("shop")
    for path in ("replay/", "journal.json", "change/"):
        response = client.get(f"/admin/cobrowse/session/{bank.pk}/{path}")
        assert response.status_code == 403, path
    listed = client.get("/admin/cobrowse/session/").content.decode()
    assert bank.code not in listed
    journal = client.get("/admin/cobrowse/operation/").context["cl"]
    assert journal.result_count == 0


def test_own_teams_session_is_replayed_with_its_sites_name():
    shop = journaled("shop")
    client = reviewer("shop")
    replay = client.get(f"/admin/cobrowse/session/{shop.pk}/replay/")
    assert replay.status_code == 200 and "Demo shop" in replay.content.decode()
    assert client.get(f"/admin/cobrowse/session/{shop.pk}/journal.json").status_code == 200
    journal = client.get("/admin/cobrowse/operation/")
    assert journal.context["cl"].result_count == 1 and "Demo shop" in journal.content.decode()


def test_a_superuser_replays_every_sites_sessions(admin_client):
    bank = journaled("bank")
    assert admin_client.get(f"/admin/cobrowse/session/{bank.pk}/replay/").status_code == 200
    export = admin_client.get(f"/admin/cobrowse/session/{bank.pk}/journal.json").json()
    assert export["session"]["site"] == "pk_demo_bank"
    assert export["session"]["site_name"] == "Demo bank"


# --- Sites in admin --------------------------------------------------------------------------


def test_the_install_page_has_the_snippets_with_the_key_and_the_desk(admin_client):
    site = demo_site("shop")
    page = admin_client.get(f"/admin/cobrowse/site/{site.pk}/install/").content.decode()
    assert (
        "&lt;script src=&quot;http://testserver/static/cobrowse/embed.js&quot; "
        "data-site=&quot;pk_demo_shop&quot; async&gt;&lt;/script&gt;"
    ) in page
    assert "http://testserver/static/cobrowse/embed.mjs" in page
    assert "jwt.encode(claims, SECRET, algorithm=&quot;HS256&quot;)" in page
    assert "jwt.sign(" in page and "connect-src &#x27;self&#x27; http://testserver" in page
    assert "ws://testserver" in page
    change = admin_client.get(f"/admin/cobrowse/site/{site.pk}/change/").content.decode()
    assert f"/admin/cobrowse/site/{site.pk}/install/" in change


def test_a_new_site_gets_a_key_and_a_secret_and_its_origins_are_checked(admin_client):
    form = {"name": "Acme", "public_key": "pk_live_acme", "enabled": "on"}
    bad = admin_client.post(
        "/admin/cobrowse/site/add/", {**form, "allowed_origins": "https://acme.example/shop"}
    )
    assert bad.status_code == 200 and "is not an origin" in bad.content.decode()
    assert not Site.objects.filter(name="Acme").exists()
    admin_client.post(
        "/admin/cobrowse/site/add/",
        {**form, "allowed_origins": "https://Acme.example:443\nhttp://localhost:3000\n"},
    )
    site = Site.objects.get(name="Acme")
    assert site.allowed_origins == ["https://acme.example", "http://localhost:3000"]
    assert len(site.secret) >= 32 and site.previous_secret == ""


# --- demo_setup ------------------------------------------------------------------------------


def test_demo_setup_makes_the_demo_sites_and_teams_and_is_idempotent(settings):
    for _ in range(2):
        call_command("demo_setup", stdout=StringIO())
    assert sorted(Site.objects.values_list("public_key", "name")) == [
        ("pk_demo_bank", "Demo bank"),
        ("pk_demo_shop", "Demo shop"),
    ]
    shop = Site.objects.get(public_key="pk_demo_shop")
    bank = Site.objects.get(public_key="pk_demo_bank")
    assert shop.secret == "demo-shop-secret-change-me"
    assert bank.secret == "demo-bank-secret-change-me"
    assert shop.allowed_origins == ["http://127.0.0.1:8001", "http://localhost:8001"]
    assert list(Team.objects.get(name="Shop team").sites.all()) == [shop]
    assert list(Team.objects.get(name="Bank team").sites.all()) == [bank]
    operator = User.objects.get(username="operator")
    assert set(operator.cobrowse_teams.values_list("name", flat=True)) == {
        "Shop team",
        "Bank team",
    }
    assert Team.objects.count() == 2
    # Again with other settings: the same rows point at the new origin and secrets.
    settings.DEMO_MERCHANT_ORIGINS = ["http://127.0.0.1:45678"]
    settings.DEMO_SHOP_SECRET = "another-shop-secret"
    call_command("demo_setup", stdout=StringIO())
    shop.refresh_from_db()
    assert shop.allowed_origins == ["http://127.0.0.1:45678"]
    assert shop.secret == "another-shop-secret" and Site.objects.count() == 2


# --- The migration from the fixed choice of site ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_shop_and_bank_sessions_into_two_sites():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("cobrowse", "0004_participant_connected_at")]
    after = [("cobrowse", "0007_session_site_fk")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("cobrowse", "Session")
    old.objects.create(code="111111", site="shop")
    old.objects.create(code="222222", site="bank")
    old.objects.create(code="333333", site="shop", status="ended")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new_apps = executor.loader.project_state(after).apps
    new_site = new_apps.get_model("cobrowse", "Site")
    new_session = new_apps.get_model("cobrowse", "Session")
    assert sorted(new_site.objects.values_list("public_key", "name")) == [
        ("pk_demo_bank", "Demo bank"),
        ("pk_demo_shop", "Demo shop"),
    ]
    by_code = dict(new_session.objects.values_list("code", "site__public_key"))
    assert by_code == {"111111": "pk_demo_shop", "222222": "pk_demo_bank", "333333": "pk_demo_shop"}
    # Then demo_setup takes these rows over.
    call_command("migrate", verbosity=0)
    call_command("demo_setup", stdout=StringIO())
    assert Site.objects.count() == 2
    assert Session.objects.filter(site__public_key="pk_demo_shop").count() == 2


@pytest.mark.django_db
def test_joining_the_demo_teams_makes_them_where_only_the_sites_exist():
    """A database whose demo sites came from before teams (the bench's, kept across runs): the
    bench's and chaos's operators must still be served."""
    from cobrowse import policy
    from helpdesk.management.commands.demo_setup import demo_teams_join

    for key in ("pk_demo_shop", "pk_demo_bank"):
        demo_site(key)
    Team.objects.all().delete()
    user = User.objects.create_user("bench-operator-9")
    demo_teams_join(user)
    demo_teams_join(user)  # twice: nothing more
    served = policy.sites_served(user)
    assert served is not None
    assert set(served.values_list("public_key", flat=True)) == {
        "pk_demo_shop",
        "pk_demo_bank",
    }
    assert Team.objects.count() == 2
