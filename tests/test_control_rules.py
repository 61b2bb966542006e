"""Who holds control after a `control` op, and which such ops are refused (`policy`): pure
rules, decided by the sequencer under the session row lock."""

from __future__ import annotations

import pytest

from cobrowse import policy

FIRST_OPERATOR, SECOND_OPERATOR, CUSTOMER = 11, 12, 10
OPERATORS = [FIRST_OPERATOR, SECOND_OPERATOR]


def change(action: str, *, by: int, control: int | None, **payload: int) -> tuple[dict, int | None]:
    return policy.control_change(
        payload={"action": action, **payload},
        participant_id=by,
        control=control,
        operators=OPERATORS,
    )


def test_a_grant_naming_nobody_goes_to_the_first_operator_and_names_them():
    assert change("grant", by=CUSTOMER, control=None) == (
        {"action": "grant", "participant": FIRST_OPERATOR},
        FIRST_OPERATOR,
    )


def test_a_grant_goes_to_the_operator_it_names():
    _, holder = change("grant", by=CUSTOMER, control=None, participant=SECOND_OPERATOR)
    assert holder == SECOND_OPERATOR


def test_a_grant_to_anyone_but_an_operator_of_the_session_is_refused():
    with pytest.raises(policy.PolicyError) as refused:
        change("grant", by=CUSTOMER, control=None, participant=CUSTOMER)
    assert refused.value.code == "invalid_payload"


def test_revoke_and_release_leave_nobody_in_control_and_name_who_held_it():
    assert change("revoke", by=CUSTOMER, control=FIRST_OPERATOR) == (
        {"action": "revoke", "participant": FIRST_OPERATOR},
        None,
    )
    assert change("release", by=FIRST_OPERATOR, control=FIRST_OPERATOR)[1] is None


def test_only_the_holder_may_release_control():
    with pytest.raises(policy.PolicyError) as refused:
        change("release", by=SECOND_OPERATOR, control=FIRST_OPERATOR)
    assert refused.value.code == "control_required"


def test_a_request_changes_nothing():
    assert change("request", by=SECOND_OPERATOR, control=FIRST_OPERATOR) == (
        {"action": "request"},
        FIRST_OPERATOR,
    )


@pytest.mark.parametrize("kind", ["input", "click", "navigate"])
def test_an_operator_acts_on_the_page_only_while_holding_control(kind):
    policy.check_control_held(role="operator", kind=kind, participant_id=11, control=11)
    with pytest.raises(policy.PolicyError) as refused:
        policy.check_control_held(role="operator", kind=kind, participant_id=11, control=None)
    assert refused.value.code == "control_required"
    policy.check_control_held(role="customer", kind=kind, participant_id=10, control=None)
