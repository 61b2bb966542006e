"""Operator pages: the queue, join by code, the co-browse view, a session's history, whether
its customer is connected; inviting another operator into a session and handing it over;
the supervisors' live list of sessions and their read-only watch page.

Every page is for operators only (`operator_required`): anonymous visitors are sent to the
login page, signed-in users who are not operators get 403. Who counts as an operator is
decided in `cobrowse.policy.is_operator_user`, the same check the WebSockets use. A session of a
site the operator's teams do not serve is a 403 too (`served_session`, `policy.may_serve`).

Logins (here and the admin's) are throttled by django-axes (config/settings.py); a refused one
gets `locked_out`: the login page saying so, with 429 and Retry-After.

Supervisors (`policy.is_supervisor_user`) reach the supervise pages and a session's history and
presence (`desk_user_required`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cobrowse import lifecycle
from cobrowse.models import Session
from cobrowse.policy import (
    PolicyError,
    is_operator_user,
    is_supervisor_user,
    may_serve,
    operator_display_name,
    sites_served,
)
from cobrowse.writer import JournalWriter

from . import selectors
from .login import sign_in_context

View = Callable[..., HttpResponse]

logger = logging.getLogger(__name__)


def operator_required(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_operator_user(request.user):
            raise PermissionDenied("operators only")
        return view(request, *args, **kwargs)

    return wrapped


def supervisor_required(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_supervisor_user(request.user):
            raise PermissionDenied("supervisors only")
        return view(request, *args, **kwargs)

    return wrapped


def desk_user_required(view: View) -> View:
    """Operators and supervisors: the reads both kinds of desk page need."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (is_operator_user(request.user) or is_supervisor_user(request.user)):
            raise PermissionDenied("operators and supervisors only")
        return view(request, *args, **kwargs)

    return wrapped


def served_session(request: HttpRequest, session_id: uuid.UUID) -> Session:
    """The session, if this operator's teams serve its site: 404 if there is none, 403 if
    it is another team's."""
    session = get_object_or_404(Session.objects.select_related("site"), pk=session_id)
    if not may_serve(request.user, session):
        raise PermissionDenied(f"your teams do not serve {session.site.name}")
    return session


def _dashboard(
    request: HttpRequest, *, code: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    served = sites_served(request.user)
    context = {
        "queue": selectors.queue_sessions(user=request.user),
        "code": code,
        "code_error": error,
        "serves_all": served is None,
        "sites_served": [] if served is None else [site.name for site in served],
    }
    return render(request, "helpdesk/dashboard.html", context, status=status)


@require_GET
@operator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return _dashboard(request)


@require_POST
@operator_required
def join_by_code(request: HttpRequest) -> HttpResponse:
    """The customer reads out their 6-digit code; it leads to their open session."""
    code = request.POST.get("code", "").strip()
    if not selectors.CODE_PATTERN.match(code.replace(" ", "")):
        return _dashboard(request, code=code, error="A join code has 6 digits.", status=400)
    session = selectors.open_session_by_code(code=code)
    if session is None:
        return _dashboard(
            request, code=code, error=f"No open session has the code {code}.", status=404
        )
    if not may_serve(request.user, session):
        return _dashboard(
            request,
            code=code,
            error=f"The session {code} is on {session.site.name}, which your teams do not serve.",
            status=403,
        )
    return redirect("helpdesk:session", session_id=session.pk)


@require_GET
@operator_required
def session_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = served_session(request, session_id)
    return _session_page(request, session, watch=False)


@require_GET
@supervisor_required
def session_watch(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """A supervisor watches the session read-only (their socket joins with `?watch=1`)."""
    session = served_session(request, session_id)
    return _session_page(request, session, watch=True)


def _session_page(request: HttpRequest, session: Session, *, watch: bool) -> HttpResponse:
    config = {
        "session": str(session.pk),
        "code": session.code,
        "site": session.site.public_key,
        "status": session.status,
        "ws_url": f"/ws/cobrowse/{session.pk}/",
        "watch": watch,
        "history_url": reverse("helpdesk:session-history", args=[session.pk]),
        "presence_url": reverse("helpdesk:session-presence", args=[session.pk]),
        "dashboard_url": reverse("helpdesk:dashboard"),
        "me": _display_name(request),
        "invite_url": reverse("helpdesk:session-invite", args=[session.pk]),
        "handover_url": reverse("helpdesk:session-handover", args=[session.pk]),
        "invitable": []
        if watch
        else [
            o for o in selectors.operators_to_invite(session=session) if o["id"] != request.user.pk
        ],
        "csrf": get_token(request),
    }
    context = {
        "session": session,
        "customer": selectors.customer_identity(session),
        "config": config,
    }
    return render(request, "helpdesk/session.html", context)


def _display_name(request: HttpRequest) -> str:
    return operator_display_name(request.user)


@require_GET
@desk_user_required
def session_history(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """Chat, session and control ops up to `?upto=` (a late joiner's position)."""
    session = served_session(request, session_id)
    try:
        upto = int(request.GET.get("upto", session.head_seq))
    except ValueError:
        upto = session.head_seq
    ops = selectors.session_history(session_id=session.pk, upto=max(0, upto))
    return JsonResponse({"ops": ops})


@require_GET
@desk_user_required
def session_presence(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """Whether the customer is connected: {"connected": bool, "since": ISO time or null}."""
    session = served_session(request, session_id)
    return JsonResponse(selectors.customer_presence(session_id=session.pk))


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """django-axes' answer to a login refused for too many failed attempts (of this account or
    from this address): the login page, saying so, with 429 and when to try again."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    logger.warning(
        "login refused: too many failed attempts for %r or from %s",
        username,
        request.META.get("REMOTE_ADDR"),
    )
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get("next", request.GET.get("next", "")),
        "throttled": f"Too many failed sign-ins. Try again in {minutes} minutes.",
        **sign_in_context(),
    }
    response = render(request, "helpdesk/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


# --- Several operators per session -----------------------------------------------------------


def _policy_error(exc: PolicyError) -> JsonResponse:
    status = 409 if exc.code == "session_ended" else 403
    return JsonResponse({"error": exc.code, "message": exc.message}, status=status)


@require_POST
@operator_required
def session_invite(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """Invite the operator `user` (their id) into the session: they see it in their queue."""
    session = served_session(request, session_id)
    try:
        invitee = get_user_model().objects.get(pk=int(request.POST.get("user", "")))
    except (ValueError, get_user_model().DoesNotExist):
        return JsonResponse(
            {"error": "invalid", "message": "name an operator to invite"}, status=400
        )
    try:
        lifecycle.session_invite(session_id=session.pk, by=request.user, invitee=invitee)
    except PolicyError as exc:
        return _policy_error(exc)
    return JsonResponse({"invited": invitee.pk})


@require_POST
async def session_handover(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """Hand the session over to `participant` (an operator watching it): journaled in the
    session's order; this process's connections get it at once. (Async, for the journal
    writer of the server's event loop; the same checks as `operator_required`.)"""
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not await sync_to_async(is_operator_user)(user):
        raise PermissionDenied("operators only")
    session = await sync_to_async(served_session)(request, session_id)
    try:
        to = int(request.POST.get("participant", ""))
    except ValueError:
        return JsonResponse(
            {"error": "invalid", "message": "name the participant to hand over to"}, status=400
        )
    try:
        first, last = await sync_to_async(lifecycle.session_handover)(
            session_id=session.pk, by=user, to_participant=to
        )
    except PolicyError as exc:
        return _policy_error(exc)
    JournalWriter.ring_here({str(session.pk): (first, last)})
    return JsonResponse({"seq": last, "operator": to})


@require_GET
@supervisor_required
def supervise(request: HttpRequest) -> HttpResponse:
    context = {
        "sessions": selectors.supervised_sessions(user=request.user),
        "supervise_url": reverse("helpdesk:supervise-sessions"),
    }
    return render(request, "helpdesk/supervise.html", context)


@require_GET
@supervisor_required
def supervise_sessions(request: HttpRequest) -> JsonResponse:
    """The live list of the supervise page: {"sessions": [...]} (`supervised_sessions`)."""
    return JsonResponse({"sessions": selectors.supervised_sessions(user=request.user)})
