"""Admin review: the Replay page and the JSON export of a session's journal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from cobrowse import lifecycle, sequencer
from cobrowse.models import Session, Team
from cobrowse.sequencer import Submission
from tests.conftest import make_operator, open_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def journaled() -> Session:
    session = open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    operator = lifecycle.participant_join(
        session_id=session.pk, user=make_operator(), owns_as_customer=False
    ).participant
    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            Submission(customer.pk, "customer", "c1", "navigate", None, {"url": "/shop/"}),
            Submission(customer.pk, "customer", "c2", "input", "node:7", {"id": 7, "value": "a"}),
            Submission(operator.pk, "operator", "o1", "chat", None, {"text": "hello"}),
        ],
    )
    session.refresh_from_db()
    return session


def test_export_holds_every_column_of_every_row_in_seq_order(admin_client, journaled):
    response = admin_client.get(f"/admin/cobrowse/session/{journaled.pk}/journal.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["session"]["id"] == str(journaled.pk)
    assert body["session"]["head_hash"] == journaled.head_hash
    ops = body["operations"]
    assert [op["seq"] for op in ops] == [1, 2, 3]
    row = ops[1]
    assert set(row) == {
        "seq",
        "kind",
        "element",
        "element_seq",
        "delivery",
        "sender",
        "client_op_id",
        "payload",
        "received_at",
        "ts",
        "hash",
    }
    assert row["kind"] == "input" and row["element"] == "node:7" and row["element_seq"] == 1
    assert row["delivery"] == "others" and row["client_op_id"] == "c2"
    assert row["sender"]["role"] == "customer" and row["payload"] == {"id": 7, "value": "a"}
    stored = journaled.operations.get(seq=2)
    assert row["hash"] == stored.hash and row["received_at"] == stored.received_at.isoformat()
    assert ops[2]["sender"] == {
        "participant": stored.session.participants.get(role="operator").pk,
        "role": "operator",
        "name": "Olga",
    }
    assert {p["role"] for p in body["participants"]} == {"customer", "operator"}


def test_export_can_be_downloaded_as_a_file(admin_client, journaled):
    response = admin_client.get(f"/admin/cobrowse/session/{journaled.pk}/journal.json?download=1")
    assert response["Content-Disposition"].startswith("attachment;")


def test_replay_page_points_at_the_export(admin_client, journaled):
    response = admin_client.get(f"/admin/cobrowse/session/{journaled.pk}/replay/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"/admin/cobrowse/session/{journaled.pk}/journal.json" in page
    assert "helpdesk/replay.js" in page and 'id="replay-config"' in page


def test_session_page_and_list_link_to_replay_and_export(admin_client, journaled):
    change = admin_client.get(f"/admin/cobrowse/session/{journaled.pk}/change/").content.decode()
    listing = admin_client.get("/admin/cobrowse/session/").content.decode()
    for page in (change, listing):
        assert f"/admin/cobrowse/session/{journaled.pk}/replay/" in page
        assert f"/admin/cobrowse/session/{journaled.pk}/journal.json" in page


def test_staff_without_admin_rights_get_neither_replay_nor_export(journaled):
    client = Client()
    client.force_login(User.objects.create_user("clerk", password="pw", is_staff=True))
    assert client.get(f"/admin/cobrowse/session/{journaled.pk}/replay/").status_code == 403
    assert client.get(f"/admin/cobrowse/session/{journaled.pk}/journal.json").status_code == 403


def test_staff_with_view_permission_may_replay_the_sessions_of_their_teams(journaled):
    user = User.objects.create_user("reviewer", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="cobrowse")
    )
    client = Client()
    client.force_login(user)
    replay = f"/admin/cobrowse/session/{journaled.pk}/replay/"
    assert client.get(replay).status_code == 403  # in no team yet
    Team.objects.get(sites=journaled.site).members.add(user)
    response = client.get(replay)
    assert response.status_code == 200 and "Demo shop" in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_admin_login(client, journaled):
    response = client.get(f"/admin/cobrowse/session/{journaled.pk}/journal.json")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_unknown_session_is_404(admin_client):
    missing = "00000000-0000-0000-0000-000000000000"
    assert admin_client.get(f"/admin/cobrowse/session/{missing}/replay/").status_code == 404
