"""Who may do what, in one place.

- DELIVERY: for each kind, whether a journaled op goes to every participant (`all`) or to every
  participant except its sender (`others`). The server decides this; clients cannot choose it.
  It is part of the wire format, so it is written down in `protocol.KIND_TABLE`.
- SEND_RULES: which role may send which kind, and for `control`/`session` which actions.
- NEEDS_CONTROL: operator kinds that act on the customer's page and so need granted control.
- Control: who may take, hand over and give back control (`check_control_held`,
  `control_change`), decided by the sequencer under the session row lock.
- Who may join a session (and so open its WebSocket): its customer, recognised by the browser's
  Django session (`customer_owns`), and operator users (`is_operator_user`); the rest of the
  decision (an observer when the session is already claimed, a refusal once it ended) is
  `lifecycle.participant_join`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .models import Role
from .protocol import DELIVERY, KINDS

__all__ = ["DELIVERY", "KINDS"]  # the rules below are written for these kinds

# kind -> allowed actions (payload["action"]) or None when the kind has no action field.
_ANY = None
SEND_RULES: Mapping[str, Mapping[str, frozenset[str] | None]] = {
    Role.CUSTOMER: {
        "dom": _ANY,
        "pointer": _ANY,
        "scroll": _ANY,
        "input": _ANY,
        "click": _ANY,
        "navigate": _ANY,
        "highlight": _ANY,
        "chat": _ANY,
        "control": frozenset({"grant", "revoke"}),
        "session": frozenset({"end"}),
    },
    Role.OPERATOR: {
        "pointer": _ANY,
        "scroll": _ANY,
        "input": _ANY,
        "click": _ANY,
        "navigate": _ANY,
        "highlight": _ANY,
        "chat": _ANY,
        "control": frozenset({"request", "release"}),
        "session": frozenset({"end"}),
    },
    Role.OBSERVER: {
        "chat": _ANY,
    },
}

# An operator may send these only while the customer has granted control to them.
NEEDS_CONTROL = frozenset({"input", "click", "navigate"})


class PolicyError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_may_send(*, role: str, kind: str, payload: Mapping[str, Any]) -> None:
    """Raise PolicyError unless `role` may send `kind` (with its action). Control is checked
    later, inside the journal transaction, because it depends on the session's current state."""
    rules = SEND_RULES.get(role, {})
    if kind not in rules:
        raise PolicyError("forbidden_kind", f"a {role} may not send {kind} ops")
    actions = rules[kind]
    if actions is not None and payload.get("action") not in actions:
        raise PolicyError(
            "forbidden_kind", f"a {role} may not send {kind} action {payload.get('action')!r}"
        )


def needs_control(*, role: str, kind: str) -> bool:
    """Whether `role` may send `kind` only while holding control."""
    return role == Role.OPERATOR and kind in NEEDS_CONTROL


def check_control_held(*, role: str, kind: str, participant_id: int, control: int | None) -> None:
    """Raise PolicyError unless the sender holds control where `kind` needs it; `control` is
    the participant who holds it now (read under the session row lock)."""
    if needs_control(role=role, kind=kind) and control != participant_id:
        raise PolicyError("control_required", "the customer has not granted you control")


def control_change(
    *,
    payload: dict[str, Any],
    participant_id: int,
    control: int | None,
    operators: Sequence[int],
) -> tuple[dict[str, Any], int | None]:
    """A `control` op of `participant_id` applied to the session's holder of control
    (`control`): the payload as it is journaled, naming the participant it concerns, and who
    holds control after it. A grant names an operator of the session (`operators`, first
    joined first; the first one when it names nobody); only the holder may release. Raises
    PolicyError when the op may not change control."""
    action = payload["action"]
    if action == "grant":
        target = payload.get("participant")
        if target is None:
            target = operators[0] if operators else None
        if target is None or target not in operators:
            raise PolicyError(
                "invalid_payload", "control can be granted to an operator of this session only"
            )
        return {**payload, "participant": target}, target
    if action in ("revoke", "release"):
        if action == "release" and control != participant_id:
            raise PolicyError("control_required", "you do not hold control")
        return {**payload, "participant": control}, None
    return payload, control


def is_operator_user(user: Any) -> bool:
    """Operators are active staff users with the cobrowse permission."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("cobrowse.operate_session")
    )


def customer_owns(django_session: Any, session_id: str) -> bool:
    """A customer reaches only the sessions their own browser created."""
    if django_session is None:
        return False
    owned = django_session.get(CUSTOMER_SESSIONS_KEY) or []
    return str(session_id) in owned


# Key in the browser's Django session that lists the cobrowse sessions it created.
CUSTOMER_SESSIONS_KEY = "cobrowse_sessions"
