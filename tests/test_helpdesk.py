"""The operator's pages: who may see them, the queue, join by code, the session's history,
whether its customer is connected."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cobrowse import lifecycle, sequencer
from cobrowse.models import Session, Status
from cobrowse.sequencer import Submission
from helpdesk import selectors
from tests.conftest import make_operator, open_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/helpdesk/")
    assert response.status_code == 302 and response["Location"].startswith("/helpdesk/login/")


@pytest.mark.parametrize(
    "kwargs", [{"permission": False}, {"staff": False}], ids=["no-permission", "not-staff"]
)
def test_signed_in_users_who_are_not_operators_get_403(client, kwargs):
    client.force_login(make_operator(**kwargs))
    assert client.get("/helpdesk/").status_code == 403
    session = open_session()
    assert client.get(f"/helpdesk/sessions/{session.pk}/").status_code == 403
    assert client.post("/helpdesk/join/", {"code": session.code}).status_code == 403
    assert client.get(f"/helpdesk/sessions/{session.pk}/presence/").status_code == 403


def test_login_page_signs_an_operator_in(client):
    User.objects.filter(username="olga").delete()
    make_operator("olga")
    response = client.post("/helpdesk/login/", {"username": "olga", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/helpdesk/"
    assert client.get("/helpdesk/").status_code == 200


def test_dashboard_lists_waiting_sessions_oldest_first(operator_client):
    first, second = open_session(), open_session("bank")
    ended = open_session()
    Session.objects.filter(pk=ended.pk).update(status=Status.ENDED)
    page = operator_client.get("/helpdesk/").content.decode()
    assert page.index(first.code) < page.index(second.code)
    assert f'data-session="{ended.pk}"' not in page


def test_queue_separates_waiting_from_claimed_sessions_with_their_operator():
    waiting, claimed = open_session(), open_session()
    user = make_operator()
    lifecycle.participant_join(session_id=claimed.pk, user=user, owns_as_customer=False)
    queue = selectors.queue_sessions(user=user)
    assert [s["id"] for s in queue["waiting"]] == [str(waiting.pk)]
    assert [(s["id"], s["operator"]) for s in queue["active"]] == [(str(claimed.pk), "Olga")]
    assert queue["waiting"][0]["url"] == f"/helpdesk/sessions/{waiting.pk}/"


def test_join_by_code_leads_to_the_open_session(operator_client):
    session = open_session()
    response = operator_client.post("/helpdesk/join/", {"code": session.code})
    assert response.status_code == 302
    assert response["Location"] == f"/helpdesk/sessions/{session.pk}/"


def test_join_by_code_accepts_a_code_read_out_with_a_space(operator_client):
    session = open_session()
    spaced = f"{session.code[:3]} {session.code[3:]}"
    response = operator_client.post("/helpdesk/join/", {"code": spaced})
    assert response["Location"] == f"/helpdesk/sessions/{session.pk}/"


def test_join_by_code_of_an_ended_session_is_not_found(operator_client):
    session = open_session()
    Session.objects.filter(pk=session.pk).update(status=Status.ENDED)
    response = operator_client.post("/helpdesk/join/", {"code": session.code})
    assert response.status_code == 404
    assert "No open session has the code" in response.content.decode()


def test_join_by_code_rejects_what_is_not_six_digits(operator_client):
    response = operator_client.post("/helpdesk/join/", {"code": "12ab"})
    assert response.status_code == 400 and "6 digits" in response.content.decode()


def test_join_by_code_needs_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    session = open_session()
    assert client.post("/helpdesk/join/", {"code": session.code}).status_code == 403


def test_session_page_carries_its_config(operator_client):
    session = open_session()
    response = operator_client.get(f"/helpdesk/sessions/{session.pk}/")
    assert response.status_code == 200
    config = response.context["config"]
    assert config["ws_url"] == f"/ws/cobrowse/{session.pk}/"
    assert config["code"] == session.code and config["me"] == "Olga"
    assert 'id="desk-config"' in response.content.decode()


def test_unknown_session_page_is_404(operator_client):
    assert (
        operator_client.get("/helpdesk/sessions/00000000-0000-0000-0000-000000000000/").status_code
        == 404
    )


def test_history_returns_chat_and_session_ops_up_to_a_seq(operator_client):
    session = open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant

    def op(cid: str, kind: str, payload: dict[str, object]) -> Submission:
        return Submission(
            participant_id=customer.pk,
            role="customer",
            client_op_id=cid,
            kind=kind,
            element=None,
            payload=payload,
        )

    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            op("a", "chat", {"text": "hello"}),
            op("b", "pointer", {"x": 1, "y": 2}),
            op("c", "chat", {"text": "later"}),
        ],
    )
    body = operator_client.get(f"/helpdesk/sessions/{session.pk}/history/?upto=2").json()
    assert [(o["seq"], o["kind"], o["payload"]) for o in body["ops"]] == [
        (1, "chat", {"text": "hello"})
    ]
    assert body["ops"][0]["sender"] == {"role": "customer", "participant": customer.pk}


def test_presence_says_whether_the_customer_is_connected_and_since_when(operator_client):
    session = open_session()
    url = f"/helpdesk/sessions/{session.pk}/presence/"
    assert operator_client.get(url).json() == {"connected": False, "since": None}
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    assert customer.connected_at is not None
    assert operator_client.get(url).json() == {
        "connected": True,
        "since": customer.connected_at.isoformat(),
    }
    lifecycle.participant_leave(participant_id=customer.pk, connected_at=customer.connected_at)
    customer.refresh_from_db()
    assert customer.left_at is not None
    assert operator_client.get(url).json() == {
        "connected": False,
        "since": customer.left_at.isoformat(),
    }
    unknown = "/helpdesk/sessions/00000000-0000-0000-0000-000000000000/presence/"
    assert operator_client.get(unknown).status_code == 404
