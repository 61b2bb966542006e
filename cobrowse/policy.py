"""Who may do what, in one place.

- DELIVERY: for each kind, whether a journaled op goes to every participant (`all`) or to every
  participant except its sender (`others`). The server decides this; clients cannot choose it.
  It is part of the wire format, so it is written down in `protocol.KIND_TABLE`.
- SEND_RULES: which role may send which kind, and for `control`/`session` which actions.
- NEEDS_CONTROL: operator kinds that act on the customer's page and so need granted control.
- Control: who may take, hand over and give back control (`check_control_held`,
  `control_change`), decided by the sequencer under the session row lock.
- Which sites an operator serves (`sites_served`, `may_serve`, `sessions_served`): the sites of
  their teams; a superuser serves every site. Everything an operator reaches of a session
  (the queue, join by code, the session page, its socket, replay and export) goes through
  these, and a session of another site is refused (403, close 4403), never hidden.
- Several operators per session (`check_may_invite`, `check_may_hand_over`): an operator in a
  session may invite another operator whose teams serve its site; the session's operator hands
  it over to an operator who is in it (an observer), who becomes its operator; control does not
  follow (the sequencer revokes it; the customer decides again).
- Supervisors (`is_supervisor_user`: the `cobrowse.supervise_session` permission) watch any live
  session of the sites their teams serve, read-only: their role sends nothing (SEND_RULES).
- Who may open a session's WebSocket (`websocket_admission`): a customer with the session's
  token from a page of an origin the session's site allows, or from the desk's own pages with
  the browser's Django session (`customer_owns`); an operator (`is_operator_user`) who serves
  the session's site, from the desk. The rest of the decision (an observer when the session is
  already claimed, a refusal once it ended) is `lifecycle.participant_join`'s.
- From which pages a WebSocket may be opened: `desk_origin_allowed` (the desk's own origin,
  scheme, host and port, or one of CSRF_TRUSTED_ORIGINS), applied by `guard.OriginGuard` to
  every socket but a session's, whose `websocket_admission` reads its verdict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse, urlsplit

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.db.models import QuerySet
from django.http.request import split_domain_port, validate_host

from . import embed
from .models import Role, Session, Site
from .protocol import DELIVERY, KINDS, CloseCode

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
        "panel": _ANY,
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
    # Read-only: no chat, no pointer, no control.
    Role.SUPERVISOR: {},
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


def is_supervisor_user(user: Any) -> bool:
    """Supervisors are active staff users with the supervise permission (an operator too or
    not): they watch sessions, never act in them."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("cobrowse.supervise_session")
    )


def may_supervise(user: Any, session: Session) -> bool:
    return is_supervisor_user(user) and may_serve(user, session)


# --- Several operators per session -----------------------------------------------------------

# Roles of the operators in a session (the one who helps, and those who watch and chat).
OPERATOR_ROLES = frozenset({Role.OPERATOR, Role.OBSERVER})


def check_may_invite(*, inviter_role: str | None, invitee: Any, session: Session) -> None:
    """Raise PolicyError unless an operator in the session (`inviter_role`: their role in it,
    None when they are not in it) may invite `invitee`: an operator whose teams serve the
    session's site, to a session that is open."""
    if inviter_role not in OPERATOR_ROLES:
        raise PolicyError("forbidden", "only an operator in the session may invite")
    if not session.is_open:
        raise PolicyError("session_ended", "the session has ended")
    if not is_operator_user(invitee):
        raise PolicyError("forbidden", "only an operator can be invited")
    if not may_serve(invitee, session):
        raise PolicyError("not_served", "the invitee's teams do not serve this site")


def check_may_hand_over(*, from_role: str | None, to_role: str | None, to_user: Any) -> None:
    """Raise PolicyError unless the session's operator (`from_role`) may hand it over to a
    participant with `to_role`: an operator watching the session (an observer) who is still an
    operator (serving the site is checked by the caller with `may_serve`)."""
    if from_role != Role.OPERATOR:
        raise PolicyError("forbidden", "only the session's operator may hand it over")
    if to_role != Role.OBSERVER or not is_operator_user(to_user):
        raise PolicyError("forbidden", "a session is handed over to an operator who is in it")


def operator_display_name(user: Any) -> str:
    """How an operator is named to the customer and in the desk: first name and last initial
    ("Ada L."), else the first name, else the username; never their full surname."""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if first and last:
        return f"{first} {last[0]}."
    return first or str(user.get_username())


def customer_owns(django_session: Any, session_id: str) -> bool:
    """A customer reaches only the sessions their own browser created."""
    if django_session is None:
        return False
    owned = django_session.get(CUSTOMER_SESSIONS_KEY) or []
    return str(session_id) in owned


# Key in the browser's Django session that lists the cobrowse sessions it created.
CUSTOMER_SESSIONS_KEY = "cobrowse_sessions"


# --- Teams: which sites an operator serves ---------------------------------------------------


def sites_served(user: Any) -> QuerySet[Site] | None:
    """The sites whose sessions `user` may see and join: their teams' sites; None for a
    superuser, who serves every site."""
    if getattr(user, "is_superuser", False):
        return None
    if user is None or not user.is_authenticated:
        return Site.objects.none()
    return Site.objects.filter(teams__members=user).distinct()


def may_serve(user: Any, session: Session) -> bool:
    served = sites_served(user)
    return served is None or served.filter(pk=session.site_id).exists()


def sessions_served(user: Any, sessions: QuerySet[Session]) -> QuerySet[Session]:
    served = sites_served(user)
    if served is None:
        return sessions
    return sessions.filter(site__in=served.values("pk"))


# --- Who may open a session's WebSocket ------------------------------------------------------


class Denied(Exception):
    """A WebSocket refused before it joins: closed with `close_code` and `reason`."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = int(close_code)  # a plain int for the ASGI server
        self.reason = reason


def is_desk_origin(origin: str | None) -> bool:
    """The desk's own pages: an Origin whose host is in ALLOWED_HOSTS (Channels'
    AllowedHostsOriginValidator, the check every other WebSocket of the desk gets)."""
    if not origin:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    try:
        parsed = urlparse(origin)
    except ValueError:
        return False
    return bool(OriginValidator(None, allowed).valid_origin(parsed))


def websocket_admission(*, scope: Mapping[str, Any], session_id: uuid.UUID | str) -> bool:
    """Whether this connection joins `session_id` as its customer (True) or may try to as an
    operator (False: `participant_join` still checks that the user is one). Raises Denied:
    4401 invalid_token for a missing, bad, expired or foreign session token; 4403
    origin_not_allowed for an Origin that is neither the desk's nor one of the session's
    site's; 4403 not_served for an operator whose teams do not serve the session's site."""
    origin = _header(scope, b"origin")
    token = _query(scope, "token")
    if token is not None:
        try:
            session = embed.token_check(token, session_id)
        except embed.InvalidToken:
            raise Denied(CloseCode.INVALID_TOKEN, "invalid_token") from None
        if not embed.origin_allowed(session.site, origin):
            raise Denied(CloseCode.FORBIDDEN, "origin_not_allowed")
        return True
    found = Session.objects.select_related("site").filter(pk=session_id).first()
    # A page of the site's own origins comes in with a token only. (Checked first: the desk's
    # check below compares hosts only, as Channels does, and a merchant may share its host.)
    if found is not None and embed.origin_allowed(found.site, origin):
        raise Denied(CloseCode.INVALID_TOKEN, "invalid_token")
    # The desk's own origin, scheme, host and port (`guard.OriginGuard` decided it for the
    # scope); without that guard, the host-only check.
    desk = scope["desk_origin"] if "desk_origin" in scope else is_desk_origin(origin)
    if not desk:
        raise Denied(CloseCode.FORBIDDEN, "origin_not_allowed")
    if customer_owns(scope.get("session"), str(session_id)):
        return True
    user = scope.get("user")
    if found is not None and is_operator_user(user) and not may_serve(user, found):
        raise Denied(CloseCode.FORBIDDEN, "not_served")
    return False


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _query(scope: Mapping[str, Any], name: str) -> str | None:
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get(name)
    return values[0] if values else None


# --- Origins ---------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_tuple(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialised origin such as `https://desk.example:8443`, the
    default port filled in; None for anything that is not an http(s) origin (`null`, a path,
    a user name, a fragment, a malformed port)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def desk_origin_allowed(
    *,
    origin: str | None,
    scheme: str,
    host: str | None,
    allowed_hosts: Iterable[str],
    trusted_origins: Iterable[str],
) -> bool:
    """Whether a page at `origin` may open the desk's WebSockets (the operators' and the
    customer's of the desk's own pages): only the desk's own origin, that is `scheme` (http or
    https) with the request's `host` (Host header, `host[:port]`, which must be one of
    `allowed_hosts` as for any Django request), or an origin listed exactly in
    `trusted_origins` (Django's CSRF_TRUSTED_ORIGINS; `https://*.example.com` matches its
    subdomains, as Django's CSRF check reads it). Scheme, host and port are compared, so
    another port of the same host is another origin. No Origin at all is refused: browsers
    always send one, and a script without a browser is not a page of the desk."""
    if not origin:
        return False
    seen = origin_tuple(origin)
    if seen is None:
        return False
    own = (
        host is not None
        and validate_host(split_domain_port(host)[0], list(allowed_hosts))
        and origin_tuple(f"{scheme}://{host}") == seen
    )
    return own or any(_trusted_match(seen, pattern) for pattern in trusted_origins)


def _trusted_match(seen: tuple[str, str, int], pattern: str) -> bool:
    wildcard = "://*." in pattern
    trusted = origin_tuple(pattern.replace("://*.", "://", 1) if wildcard else pattern)
    if trusted is None:
        return False
    scheme, host, port = seen
    if (scheme, port) != (trusted[0], trusted[2]):
        return False
    return host.endswith("." + trusted[1]) if wildcard else host == trusted[1]
