"""A session whose customer is gone is ended by the server itself as `abandoned`
(cobrowse/lifecycle.py sessions_end_abandoned, swept by the journal writer's task), not left
"In progress" until a cron job runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from cobrowse.lifecycle import sessions_end_abandoned
from cobrowse.models import Operation, Participant, Role, Session, Status
from tests.conftest import Peer, open_session

pytestmark = pytest.mark.django_db(transaction=True)


def _customer(session: Session, *, left_ago: float | None) -> Participant:
    now = timezone.now()
    return Participant.objects.create(
        session=session,
        role=Role.CUSTOMER,
        display_name="Customer",
        connected_at=now - timedelta(hours=1),
        left_at=None if left_ago is None else now - timedelta(seconds=left_ago),
    )


def test_only_sessions_whose_customer_is_gone_long_enough_end_as_abandoned() -> None:
    gone = open_session()
    _customer(gone, left_ago=600)
    here = open_session()
    _customer(here, left_ago=None)  # connected now
    just_left = open_session()
    _customer(just_left, left_ago=5)  # may be changing pages

    ended = sessions_end_abandoned(gone_since=timezone.now() - timedelta(seconds=300))

    assert ended == [(str(gone.pk), gone.code)]
    assert Session.objects.get(pk=gone.pk).status == Status.ENDED
    end = Operation.objects.get(session=gone, kind="session", payload__action="end")
    assert end.payload == {"action": "end", "reason": "abandoned"}
    for session in (here, just_left):
        assert Session.objects.get(pk=session.pk).status != Status.ENDED


@pytest.fixture
def abandon_soon(settings: Any) -> None:
    """Before the server starts (the writer reads it when its task sweeps)."""
    settings.COBROWSE_ABANDON_AFTER_SECONDS = 1


async def test_the_server_ends_a_session_whose_customer_left_and_tells_the_operator(
    abandon_soon: None, pair: tuple[Session, Peer, Peer]
) -> None:
    """No cron job: the server's own task ends it, and the operator's desk hears why."""
    session, customer, operator = pair
    await customer.close()

    def is_end(frame: dict[str, object]) -> bool:
        return frame.get("kind") == "session" and frame["payload"]["action"] == "end"  # type: ignore[index]

    async def ended() -> list[dict[str, object]]:
        while True:  # without a shared channel layer the end reaches the desk at its next ping
            status = await sync_to_async(lambda: Session.objects.get(pk=session.pk).status)()
            if status == Status.ENDED:
                await operator.comm.send_json_to({"type": "ping"})
                return await operator.recv_until(is_end)
            await asyncio.sleep(0.2)

    frames = await asyncio.wait_for(ended(), timeout=10)
    assert frames[-1]["payload"] == {"action": "end", "reason": "abandoned"}
