"""Operator pages: the queue, join by code, the co-browse view, a session's history, whether
its customer is connected.

Every page is for operators only (`operator_required`): anonymous visitors are sent to the
login page, signed-in users who are not operators get 403. Who counts as an operator is
decided in `cobrowse.policy.is_operator_user`, the same check the WebSockets use. A session of a
site the operator's teams do not serve is a 403 too (`served_session`, `policy.may_serve`).

Logins (here and the admin's) are throttled by django-axes (config/settings.py); a refused one
gets `locked_out`: the login page saying so, with 429 and Retry-After.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cobrowse.models import Session
from cobrowse.policy import is_operator_user, may_serve, sites_served

from . import selectors

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
    config = {
        "session": str(session.pk),
        "code": session.code,
        "site": session.site.public_key,
        "status": session.status,
        "ws_url": f"/ws/cobrowse/{session.pk}/",
        "history_url": reverse("helpdesk:session-history", args=[session.pk]),
        "presence_url": reverse("helpdesk:session-presence", args=[session.pk]),
        "dashboard_url": reverse("helpdesk:dashboard"),
        "me": _display_name(request),
    }
    context = {
        "session": session,
        "customer": selectors.customer_identity(session),
        "config": config,
    }
    return render(request, "helpdesk/session.html", context)


def _display_name(request: HttpRequest) -> str:
    user = request.user
    full_name = user.get_full_name() if isinstance(user, User) else ""
    return full_name or user.get_username()


@require_GET
@operator_required
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
@operator_required
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
    }
    response = render(request, "helpdesk/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
