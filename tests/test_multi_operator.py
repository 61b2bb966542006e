"""Several operators per session: an operator invites another (who joins as an observer who can
chat), the session's operator hands it over (journaled in the session's order; control does not
follow), and supervisors watch read-only. The rules are the server's (policy, under the
session row lock), not the desk's."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User
from django.test import Client

from cobrowse import lifecycle, policy
from cobrowse.models import Invitation, Operation, Participant, Role, Session
from cobrowse.protocol import CloseCode
from cobrowse.writer import JournalWriter
from helpdesk import selectors
from tests.conftest import (
    Peer,
    make_operator,
    open_session,
    operator_cookie,
)

pytestmark = pytest.mark.django_db


def make_supervisor(*, sites: tuple[str, ...] = ("shop",), operator: bool = False) -> User:
    user = make_operator(sites=sites, permission=operator)
    user.user_permissions.add(Permission.objects.get(codename="supervise_session"))
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def joined_peer(session: Session, user: User, query: str = "") -> Peer:
    peer = Peer(session, await sync_to_async(operator_cookie)(user), query=query)
    assert await peer.connect()
    return peer


async def op_of(peer: Peer, kind: str, action: str | None) -> dict[str, Any]:
    frames = await peer.recv_until(
        lambda f: f.get("kind") == kind and f["payload"].get("action") == action
    )
    return frames[-1]


async def hand_over(session: Session, by: User, to: int) -> tuple[int, int]:
    """What the desk's hand-over request does, from this test's event loop (its writer)."""
    seqs = await sync_to_async(lifecycle.session_handover)(
        session_id=session.pk, by=by, to_participant=to
    )
    JournalWriter.ring_here({str(session.pk): seqs})
    return seqs


# --- Observers and supervisors: the send rules ----------------------------------------------


def test_observers_may_chat_only_and_supervisors_may_send_nothing():
    for kind, payload in [
        ("pointer", {"x": 1, "y": 2}),
        ("control", {"action": "request"}),
        ("session", {"action": "end"}),
    ]:
        for role in (Role.OBSERVER, Role.SUPERVISOR):
            with pytest.raises(policy.PolicyError):
                policy.check_may_send(role=role, kind=kind, payload=payload)
    policy.check_may_send(role=Role.OBSERVER, kind="chat", payload={"text": "hi"})
    with pytest.raises(policy.PolicyError):
        policy.check_may_send(role=Role.SUPERVISOR, kind="chat", payload={"text": "hi"})


@pytest.mark.django_db(transaction=True)
async def test_an_observer_cannot_send_pointer_or_control(pair):
    session, _customer, _operator = pair
    colleague = await joined_peer(session, await sync_to_async(make_operator)())
    assert colleague.welcome["role"] == "observer"
    await colleague.send_op("pointer", {"x": 1, "y": 2})
    assert (await colleague.recv_until(lambda f: f["type"] == "error"))[-1][
        "code"
    ] == "forbidden_kind"
    await colleague.send_op("control", {"action": "request"})
    assert (await colleague.recv())["code"] == "forbidden_kind"
    await colleague.close()


@pytest.mark.django_db(transaction=True)
async def test_a_supervisor_watches_read_only_and_every_op_of_theirs_is_refused(pair):
    session, customer, _operator = pair
    supervisor = await sync_to_async(make_supervisor)()
    watcher = await joined_peer(session, supervisor, query="watch=1")
    assert watcher.welcome["role"] == "supervisor"
    for kind, payload in [
        ("chat", {"text": "hello"}),
        ("pointer", {"x": 1, "y": 2}),
        ("control", {"action": "request"}),
        ("session", {"action": "end"}),
    ]:
        await watcher.send_op(kind, payload)
        assert (await watcher.recv_until(lambda f: f["type"] == "error"))[-1][
            "code"
        ] == "forbidden_kind", kind
    # They still see what happens in the session.
    await customer.send_op("chat", {"text": "anyone?"})
    assert (await op_of(watcher, "chat", None))["payload"]["text"] == "anyone?"
    assert await sync_to_async(Operation.objects.filter(sender__role="supervisor").count)() == 1
    await watcher.close()


@pytest.mark.django_db(transaction=True)
async def test_a_supervisor_of_other_sites_or_without_the_permission_cannot_watch(pair):
    session, _customer, _operator = pair
    elsewhere = await sync_to_async(make_supervisor)(sites=("bank",))
    peer = Peer(session, await sync_to_async(operator_cookie)(elsewhere), query="watch=1")
    assert not await peer.connect()
    assert peer.close_code == CloseCode.FORBIDDEN
    plain = await sync_to_async(make_operator)()
    peer = Peer(session, await sync_to_async(operator_cookie)(plain), query="watch=1")
    assert not await peer.connect()
    assert peer.close_code == CloseCode.FORBIDDEN


# --- Hand-over ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_hand_over_is_journaled_and_swaps_operator_and_observer(pair):
    session, customer, operator = pair
    first = await sync_to_async(
        lambda: Participant.objects.get(pk=operator.welcome["participant"]).user
    )()
    second_user = await sync_to_async(make_operator)("second")
    await sync_to_async(User.objects.filter(pk=second_user.pk).update)(first_name="Sam")
    second = await joined_peer(session, second_user)
    await op_of(customer, "session", "joined")

    _, seq = await hand_over(session, first, second.welcome["participant"])

    handover = await op_of(customer, "session", "handover")
    assert handover["seq"] == seq
    assert handover["payload"] == {
        "action": "handover",
        "from": operator.welcome["participant"],
        "to": second.welcome["participant"],
        "name": "Sam",
    }
    roles = await sync_to_async(
        lambda: dict(Participant.objects.filter(user__isnull=False).values_list("pk", "role"))
    )()
    assert roles == {
        operator.welcome["participant"]: "observer",
        second.welcome["participant"]: "operator",
    }
    # The old operator's connection, still open, acts as an observer from the hand-over on.
    await op_of(operator, "session", "handover")
    await operator.send_op("pointer", {"x": 1, "y": 2})
    refused = (await operator.recv_until(lambda f: f["type"] == "error"))[-1]
    assert refused["code"] == "forbidden_kind"
    await operator.send_op("chat", {"text": "over to Sam"})
    await op_of(customer, "chat", None)
    journaled = await sync_to_async(
        lambda: Operation.objects.get(session=session, seq=seq).payload
    )()
    assert journaled["action"] == "handover"
    # The new operator joins again as the operator (a reconnect reads the role).
    await second.close()
    again = await joined_peer(session, second_user)
    assert again.welcome["role"] == "operator"
    await again.close()


@pytest.mark.django_db(transaction=True)
async def test_control_granted_to_the_old_operator_is_revoked_at_hand_over(pair):
    session, customer, operator = pair
    first = await sync_to_async(
        lambda: Participant.objects.get(pk=operator.welcome["participant"]).user
    )()
    second_user = await sync_to_async(make_operator)()
    second = await joined_peer(session, second_user)
    await customer.send_op("control", {"action": "grant"})
    await op_of(customer, "control", "grant")

    revoke_seq, handover_seq = await hand_over(session, first, second.welcome["participant"])

    revoke = await op_of(customer, "control", "revoke")
    assert revoke["seq"] == revoke_seq == handover_seq - 1
    assert revoke["payload"]["participant"] == operator.welcome["participant"]
    await op_of(customer, "session", "handover")
    fresh = await sync_to_async(Session.objects.get)(pk=session.pk)
    assert fresh.control_participant_id is None
    # The new operator must ask: the customer's next grant goes to them.
    new_operator = await joined_peer(session, second_user)
    await new_operator.send_op("click", {"id": 1})
    assert (await new_operator.recv_until(lambda f: f["type"] == "error"))[-1][
        "code"
    ] == "control_required"
    await customer.send_op("control", {"action": "grant"})
    grant = await op_of(customer, "control", "grant")
    assert grant["payload"]["participant"] == second.welcome["participant"]
    await second.close()
    await new_operator.close()


def test_only_the_sessions_operator_hands_over_and_only_to_an_operator_in_it():
    session = open_session()
    first, second, outsider = make_operator(), make_operator(), make_operator()
    joined = {
        user: lifecycle.participant_join(session_id=session.pk, user=user, owns_as_customer=False)
        for user in (first, second)
    }
    assert joined[first].participant.role == Role.OPERATOR
    to_second = joined[second].participant.pk
    with pytest.raises(policy.PolicyError):  # an observer cannot hand over
        lifecycle.session_handover(
            session_id=session.pk, by=second, to_participant=joined[first].participant.pk
        )
    with pytest.raises(policy.PolicyError):  # someone not in the session cannot either
        lifecycle.session_handover(session_id=session.pk, by=outsider, to_participant=to_second)
    with pytest.raises(policy.PolicyError):  # nor to themselves
        lifecycle.session_handover(
            session_id=session.pk, by=first, to_participant=joined[first].participant.pk
        )
    assert not Operation.objects.filter(session=session, payload__action="handover").exists()
    lifecycle.session_handover(session_id=session.pk, by=first, to_participant=to_second)
    # And back: each hand-over journaled once more.
    lifecycle.session_handover(
        session_id=session.pk, by=second, to_participant=joined[first].participant.pk
    )
    assert Operation.objects.filter(session=session, payload__action="handover").count() == 2


def test_the_hand_over_view_answers_403_to_an_observer():
    session = open_session()
    first, second = make_operator(), make_operator()
    for user in (first, second):
        lifecycle.participant_join(session_id=session.pk, user=user, owns_as_customer=False)
    first_pk = Participant.objects.get(session=session, user=first).pk
    response = signed_in(second).post(
        f"/helpdesk/sessions/{session.pk}/handover/", {"participant": first_pk}
    )
    assert response.status_code == 403
    second_pk = Participant.objects.get(session=session, user=second).pk
    response = signed_in(first).post(
        f"/helpdesk/sessions/{session.pk}/handover/", {"participant": second_pk}
    )
    assert response.status_code == 200
    assert Participant.objects.get(pk=second_pk).role == Role.OPERATOR


# --- Invitations ---------------------------------------------------------------------------------


def test_an_invitation_shows_in_the_invitees_queue_until_they_join():
    session = open_session("shop")
    first, invitee = make_operator(), make_operator(sites=("shop",))
    lifecycle.participant_join(session_id=session.pk, user=first, owns_as_customer=False)
    offered = selectors.operators_to_invite(session=Session.objects.get(pk=session.pk))
    assert invitee.pk in [o["id"] for o in offered] and first.pk not in [o["id"] for o in offered]

    response = signed_in(first).post(
        f"/helpdesk/sessions/{session.pk}/invite/", {"user": invitee.pk}
    )
    assert response.status_code == 200
    invited = selectors.queue_sessions(user=invitee)["invited"]
    assert [s["id"] for s in invited] == [str(session.pk)]
    assert invited[0]["invited_by"] == "Olga"
    assert selectors.queue_sessions(user=first)["invited"] == []

    joined = lifecycle.participant_join(session_id=session.pk, user=invitee, owns_as_customer=False)
    assert joined.participant.role == Role.OBSERVER
    assert not Invitation.objects.exists()


def test_invite_to_an_operator_not_serving_the_site_is_refused():
    session = open_session("shop")
    first, bank_only = make_operator(), make_operator(sites=("bank",))
    lifecycle.participant_join(session_id=session.pk, user=first, owns_as_customer=False)
    with pytest.raises(policy.PolicyError) as refused:
        lifecycle.session_invite(session_id=session.pk, by=first, invitee=bank_only)
    assert refused.value.code == "not_served"
    response = signed_in(first).post(
        f"/helpdesk/sessions/{session.pk}/invite/", {"user": bank_only.pk}
    )
    assert response.status_code == 403
    assert bank_only.pk not in [
        o["id"] for o in selectors.operators_to_invite(session=Session.objects.get(pk=session.pk))
    ]
    assert not Invitation.objects.exists()


def test_only_an_operator_in_the_session_invites_and_only_operators_are_invited():
    session = open_session("shop")
    first, outsider = make_operator(), make_operator()
    not_operator = make_operator(permission=False)
    lifecycle.participant_join(session_id=session.pk, user=first, owns_as_customer=False)
    with pytest.raises(policy.PolicyError):
        lifecycle.session_invite(session_id=session.pk, by=outsider, invitee=make_operator())
    with pytest.raises(policy.PolicyError):
        lifecycle.session_invite(session_id=session.pk, by=first, invitee=not_operator)
    assert not Invitation.objects.exists()


# --- The supervise page ------------------------------------------------------------------------


def test_the_supervise_list_shows_who_is_on_each_session_of_the_sites_served():
    shop, bank = open_session("shop"), open_session("bank")
    first = make_operator()
    lifecycle.participant_join(session_id=shop.pk, user=first, owns_as_customer=False)
    supervisor = make_supervisor(sites=("shop",))
    client = signed_in(supervisor)
    listed = client.get("/helpdesk/supervise/sessions/").json()["sessions"]
    assert [s["id"] for s in listed] == [str(shop.pk)]
    assert listed[0]["participants"] == [
        {
            "participant": Participant.objects.get(user=first).pk,
            "role": "operator",
            "name": "Olga",
            "connected": True,
        }
    ]
    page = client.get("/helpdesk/supervise/")
    assert page.status_code == 200 and shop.code in page.content.decode()
    assert bank.code not in page.content.decode()
    assert client.get(f"/helpdesk/sessions/{shop.pk}/watch/").status_code == 200
    assert client.get(f"/helpdesk/sessions/{bank.pk}/watch/").status_code == 403
    # An operator without the permission is not a supervisor.
    assert signed_in(first).get("/helpdesk/supervise/").status_code == 403
    assert signed_in(first).get(f"/helpdesk/sessions/{shop.pk}/watch/").status_code == 403
