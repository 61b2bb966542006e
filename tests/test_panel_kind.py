"""The `panel` op: where the customer's help panel (or the handle it collapses to) covers their
page, so the desk can outline it over the mirror. Only the customer sends it, it goes to the
others only, and its payload is exactly a box of finite numbers with no negative size."""

from __future__ import annotations

from typing import Any

import pytest

from cobrowse import policy, protocol


def panel(payload: Any) -> dict[str, Any]:
    return {"type": "op", "client_op_id": "p1", "kind": "panel", "payload": payload}


def test_a_panel_box_is_accepted():
    box = {"x": 12, "y": 700.5, "w": 180, "h": 44}
    frame = protocol.parse_frame(panel(box))
    assert isinstance(frame, protocol.OpFrame) and frame.payload == box


@pytest.mark.parametrize(
    "payload",
    [
        {"x": 1, "y": 2, "w": 3},  # h missing
        {"x": 1, "y": 2, "w": 3, "h": 4, "open": True},  # nothing else
        {"x": "1", "y": 2, "w": 3, "h": 4},
        {"x": True, "y": 2, "w": 3, "h": 4},
        {"x": 1, "y": 2, "w": -3, "h": 4},
        {"x": 1, "y": 2, "w": 3, "h": -0.5},
        {"x": 1e16, "y": 2, "w": 3, "h": 4},
    ],
)
def test_anything_but_a_box_is_refused(payload):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_frame(panel(payload))
    assert refused.value.code == "invalid_payload"


def test_the_panel_goes_to_the_others_and_only_the_customer_sends_it():
    assert protocol.DELIVERY["panel"] == protocol.Delivery.OTHERS
    box = {"x": 1, "y": 2, "w": 3, "h": 4}
    policy.check_may_send(role="customer", kind="panel", payload=box)
    for role in ("operator", "observer", "supervisor"):
        with pytest.raises(policy.PolicyError):
            policy.check_may_send(role=role, kind="panel", payload=box)
