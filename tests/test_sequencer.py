"""The sequencer on its own: order, idempotency, control state, redaction and the hash chain."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from cobrowse import lifecycle, sequencer
from cobrowse.models import Operation, Participant, Role, Session
from cobrowse.sequencer import Accepted, Duplicate, Rejected, Submission, operations_append
from tests.conftest import make_operator, open_session


def customer_of(session: Session) -> Participant:
    return lifecycle.participant_join(
        session_id=session.pk, user=None, owns_as_customer=True
    ).participant


def sub(
    p: Participant,
    cid: str,
    kind: str = "chat",
    payload: dict[str, Any] | None = None,
    element: str | None = None,
) -> Submission:
    return Submission(
        participant_id=p.pk,
        role=p.role,
        client_op_id=cid,
        kind=kind,
        element=element,
        payload=payload or {"text": cid},
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_appenders_get_gap_free_seqs():
    session = open_session()
    customer = customer_of(session)
    results: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            for batch_no in range(10):
                batch = [
                    sub(customer, f"t{index}-{batch_no}-{i}", element="node:1") for i in range(5)
                ]
                outcome = operations_append(session_id=session.pk, batch=batch)
                with lock:
                    results.extend(
                        o.entry["seq"] for o in outcome.outcomes if isinstance(o, Accepted)
                    )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 201))
    rows = list(Operation.objects.filter(session=session).order_by("seq"))
    assert [r.element_seq for r in rows] == list(range(1, 201))
    session.refresh_from_db()
    assert session.head_seq == 200


@pytest.mark.django_db
def test_a_resent_op_is_a_duplicate_with_its_first_seq():
    session = open_session()
    customer = customer_of(session)
    first = operations_append(session_id=session.pk, batch=[sub(customer, "a")]).outcomes[0]
    again = operations_append(session_id=session.pk, batch=[sub(customer, "a"), sub(customer, "a")])
    assert isinstance(first, Accepted)
    assert again.outcomes == [Duplicate(first.entry["seq"], None)] * 2
    assert Operation.objects.filter(session=session).count() == 1


@pytest.mark.django_db
def test_ops_after_the_end_are_rejected_in_the_same_batch():
    session = open_session()
    customer = customer_of(session)
    result = operations_append(
        session_id=session.pk,
        batch=[sub(customer, "end", "session", {"action": "end"}), sub(customer, "late")],
    )
    assert isinstance(result.outcomes[0], Accepted) and result.outcomes[0].entry["ends_session"]
    assert result.outcomes[1] == Rejected("session_ended", "the session has ended")
    session.refresh_from_db()
    assert session.status == "ended" and session.ended_at is not None


@pytest.mark.django_db
def test_grant_to_a_participant_who_is_not_an_operator_is_rejected():
    session = open_session()
    customer = customer_of(session)
    outcome = operations_append(
        session_id=session.pk,
        batch=[sub(customer, "g", "control", {"action": "grant", "participant": customer.pk})],
    ).outcomes[0]
    assert isinstance(outcome, Rejected) and outcome.code == "invalid_payload"


@pytest.mark.django_db
def test_second_operator_joins_as_observer_and_session_becomes_active():
    session = open_session()
    first = lifecycle.participant_join(
        session_id=session.pk, user=make_operator(), owns_as_customer=False
    )
    second = lifecycle.participant_join(
        session_id=session.pk, user=make_operator(), owns_as_customer=False
    )
    assert (first.participant.role, second.participant.role) == (Role.OPERATOR, Role.OBSERVER)
    session.refresh_from_db()
    assert session.status == "active"


@pytest.mark.django_db
def test_card_numbers_and_ibans_are_redacted_before_journaling():
    session = open_session()
    customer = customer_of(session)
    operations_append(
        session_id=session.pk,
        batch=[
            sub(
                customer,
                "c1",
                "chat",
                {"text": "my card is 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00"},
            ),
            sub(customer, "c2", "input", {"value": "4012888888881881"}, element="field:x"),
            sub(customer, "c3", "chat", {"text": "order 1234567812345678 ok"}),  # not Luhn-valid
        ],
    )
    texts = [str(op.payload) for op in Operation.objects.filter(session=session).order_by("seq")]
    assert "4111" not in texts[0] and "DE89" not in texts[0] and "**** ****" in texts[0]
    assert "4012888888881881" not in texts[1]
    assert "1234567812345678" in texts[2]


@pytest.mark.django_db
def test_masked_fields_in_rrweb_snapshots_lose_their_values():
    session = open_session()
    customer = customer_of(session)
    node = {
        "type": 0,
        "id": 1,
        "childNodes": [
            {
                "type": 2,
                "id": 2,
                "tagName": "input",
                "attributes": {"name": "cvc", "value": "123"},
                "childNodes": [],
            },
            {
                "type": 2,
                "id": 3,
                "tagName": "input",
                "attributes": {"name": "city", "value": "Berlin"},
                "childNodes": [],
            },
            {
                "type": 2,
                "id": 4,
                "tagName": "div",
                "attributes": {"data-cobrowse-mask": ""},
                "childNodes": [{"type": 3, "id": 5, "textContent": "secret balance"}],
            },
        ],
    }
    operations_append(
        session_id=session.pk,
        batch=[
            sub(
                customer,
                "d1",
                "dom",
                {"events": [{"type": 2, "data": {"node": node}, "timestamp": 1}]},
            )
        ],
    )
    stored = str(Operation.objects.get(session=session).payload)
    assert "123" not in stored.replace("'id': 1", "")
    assert "Berlin" in stored
    assert "secret balance" not in stored


@pytest.mark.django_db
def test_each_row_hash_chains_over_the_previous_one():
    session = open_session()
    customer = customer_of(session)
    operations_append(session_id=session.pk, batch=[sub(customer, f"h{i}") for i in range(3)])
    operations_append(session_id=session.pk, batch=[sub(customer, "h3")])
    prev = "0" * 64
    for op in Operation.objects.filter(session=session).order_by("seq"):
        expected = sequencer.op_hash(
            prev_hash=prev,
            session_id=session.pk,
            seq=op.seq,
            kind=op.kind,
            element=op.element,
            element_seq=op.element_seq,
            delivery=op.delivery,
            sender_id=op.sender_id,
            client_op_id=op.client_op_id,
            payload=op.payload,
            received_at=op.received_at,
        )
        assert op.hash == expected
        prev = op.hash
    session.refresh_from_db()
    assert session.head_hash == prev


@pytest.mark.django_db
def test_svg_path_data_is_not_mistaken_for_card_numbers():
    session = open_session()
    customer = customer_of(session)
    # Its coordinates, read as one run, pass Luhn: in geometry they are separate numbers.
    path = "M60 72c20-8 27-28 18-42-13 9-19 26-18 42z"
    node = {"type": 2, "id": 2, "tagName": "path", "attributes": {"d": path}, "childNodes": []}
    operations_append(
        session_id=session.pk,
        batch=[
            sub(
                customer,
                "svg",
                "dom",
                {"events": [{"type": 2, "data": {"node": node}, "timestamp": 1}]},
            )
        ],
    )
    stored = Operation.objects.get(session=session).payload
    assert stored["events"][0]["data"]["node"]["attributes"]["d"] == path
