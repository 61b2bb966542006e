"""The customer meets the operator by the name on their account ("Olga K."), not as
"Operator": in the welcome's participants and in the `joined` op the customer is sent."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from cobrowse.policy import operator_display_name
from tests.conftest import Peer, customer_cookie, make_operator, open_session, operator_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_name_and_last_initial_else_first_name_else_username() -> None:
    assert (
        operator_display_name(User(username="ok", first_name="Olga", last_name="Kowalska"))
        == "Olga K."
    )
    assert operator_display_name(User(username="ok", first_name="Olga")) == "Olga"
    assert operator_display_name(User(username="ok", last_name="Kowalska")) == "ok"
    assert operator_display_name(User(username="ok")) == "ok"


async def test_the_customer_is_told_the_operators_name() -> None:
    def setup() -> tuple[object, str, str]:
        session = open_session()
        user = make_operator()
        user.last_name = "Kowalska"
        user.save()
        return session, customer_cookie(session), operator_cookie(user)

    session, customer_side, operator_side = await sync_to_async(setup)()
    customer = Peer(session, customer_side)  # type: ignore[arg-type]
    operator = Peer(session, operator_side)  # type: ignore[arg-type]
    assert await customer.connect()
    assert await operator.connect()
    joined = await customer.recv()
    assert joined["payload"]["action"] == "joined"
    assert joined["payload"]["name"] == "Olga K."
    again = Peer(session, customer_side)  # type: ignore[arg-type]
    assert await again.connect()
    names = {p["role"]: p["name"] for p in again.welcome["participants"]}
    assert names["operator"] == "Olga K."
    for peer in (customer, operator, again):
        await peer.close()
