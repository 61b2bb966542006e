"""Sessions and their read-only journal in Django admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from cobrowse import lifecycle, sequencer
from cobrowse.sequencer import Submission
from tests.conftest import open_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def journaled():
    session = open_session()
    customer = lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant
    sequencer.operations_append(
        session_id=session.pk,
        batch=[
            Submission(
                participant_id=customer.pk,
                role="customer",
                client_op_id=f"a{i}",
                kind="chat" if i % 2 else "pointer",
                element=None,
                payload={"text": f"t{i}"} if i % 2 else {"x": i, "y": i},
            )
            for i in range(6)
        ],
    )
    return session


def test_journal_lists_in_seq_order_and_filters_by_kind(admin_client, journaled):
    url = f"/admin/cobrowse/operation/?session__id__exact={journaled.pk}"
    listed = admin_client.get(url).context["cl"].result_list
    assert [op.seq for op in listed] == [1, 2, 3, 4, 5, 6]
    chats = admin_client.get(url + "&kind=chat")
    assert chats.status_code == 200 and chats.context["cl"].result_count == 3


@pytest.mark.parametrize("how", ["one", "action"])
def test_a_session_is_deleted_in_admin_under_its_row_lock(
    admin_client, journaled, how, monkeypatch
):
    """The journal has no foreign keys in the database, so a session leaves admin only
    through lifecycle.sessions_delete (the session row's lock first, its rows with it). One
    with a journal is not deleted at all: journal rows are read-only there, retention's purge
    removes them."""
    from cobrowse.models import Operation, Participant, Session

    deleted = []
    sessions_delete = lifecycle.sessions_delete

    def spy(*, ids):
        deleted.extend(ids)
        return sessions_delete(ids=ids)

    monkeypatch.setattr(lifecycle, "sessions_delete", spy)
    empty, kept = open_session(), open_session()
    lifecycle.participant_join(session_id=empty.pk, user=None, owns_as_customer=True)

    def delete(session):
        if how == "one":
            return admin_client.post(
                f"/admin/cobrowse/session/{session.pk}/delete/", {"post": "yes"}
            )
        return admin_client.post(
            "/admin/cobrowse/session/",
            {"action": "delete_selected", "_selected_action": [session.pk], "post": "yes"},
        )

    delete(journaled)
    assert Operation.objects.filter(session_id=journaled.pk).count() == 6
    assert delete(empty).status_code == 302
    assert deleted == [empty.pk]
    assert not Session.objects.filter(pk=empty.pk).exists()
    assert not Participant.objects.filter(session_id=empty.pk).exists()
    assert Session.objects.filter(pk=kept.pk).exists()


def test_journal_rows_are_read_only(admin_client, journaled):
    op = journaled.operations.first()
    assert (
        admin_client.post(
            f"/admin/cobrowse/operation/{op.pk}/change/", {"kind": "chat"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(f"/admin/cobrowse/operation/{op.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert admin_client.get("/admin/cobrowse/operation/add/").status_code == 403


def test_session_page_shows_participants_and_links_the_journal(admin_client, journaled):
    page = admin_client.get(f"/admin/cobrowse/session/{journaled.pk}/change/").content.decode()
    assert "Customer" in page
    assert (
        f"session__id__exact={journaled.pk}"
        in admin_client.get("/admin/cobrowse/session/").content.decode()
    )


def test_staff_without_admin_rights_cannot_read_the_journal(client, journaled):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/cobrowse/operation/").status_code == 403
