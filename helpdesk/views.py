"""Operator pages: the queue, join by code, the co-browse view, a session's history, whether
its customer is connected.

Every page is for operators only (`operator_required`): anonymous visitors are sent to the
login page, signed-in users who are not operators get 403. Who counts as an operator is
decided in `cobrowse.policy.is_operator_user`, the same check the WebSockets use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cobrowse.models import Session
from cobrowse.policy import is_operator_user

from . import selectors

View = Callable[..., HttpResponse]


def operator_required(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_operator_user(request.user):
            raise PermissionDenied("operators only")
        return view(request, *args, **kwargs)

    return wrapped


def _dashboard(
    request: HttpRequest, *, code: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    context = {"queue": selectors.queue_sessions(), "code": code, "code_error": error}
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
    return redirect("helpdesk:session", session_id=session.pk)


@require_GET
@operator_required
def session_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = get_object_or_404(Session, pk=session_id)
    config = {
        "session": str(session.pk),
        "code": session.code,
        "site": session.site,
        "status": session.status,
        "ws_url": f"/ws/cobrowse/{session.pk}/",
        "history_url": reverse("helpdesk:session-history", args=[session.pk]),
        "presence_url": reverse("helpdesk:session-presence", args=[session.pk]),
        "dashboard_url": reverse("helpdesk:dashboard"),
        "me": _display_name(request),
    }
    return render(request, "helpdesk/session.html", {"session": session, "config": config})


def _display_name(request: HttpRequest) -> str:
    user = request.user
    full_name = user.get_full_name() if isinstance(user, User) else ""
    return full_name or user.get_username()


@require_GET
@operator_required
def session_history(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """Chat, session and control ops up to `?upto=` (a late joiner's position)."""
    session = get_object_or_404(Session, pk=session_id)
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
    session = get_object_or_404(Session, pk=session_id)
    return JsonResponse(selectors.customer_presence(session_id=session.pk))
