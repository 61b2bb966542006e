"""HTTP API for customers: ask for help, find the help request in progress.

Both endpoints go through Django's CSRF middleware; the demo pages set the CSRF cookie and the
widget sends it back in the X-CSRFToken header.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from . import lifecycle
from .models import Session, Site, Status
from .policy import CUSTOMER_SESSIONS_KEY


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _body(session: Session, request: HttpRequest) -> dict[str, Any]:
    return {
        "id": str(session.pk),
        "code": session.code,
        "site": session.site,
        "status": session.status,
        "head_seq": session.head_seq,
        "ws_url": f"/ws/cobrowse/{session.pk}/",
    }


def _open_session_of(request: HttpRequest, site: str) -> Session | None:
    owned = request.session.get(CUSTOMER_SESSIONS_KEY) or []
    return (
        Session.objects.filter(pk__in=owned, site=site)
        .exclude(status=Status.ENDED)
        .order_by("-created_at")
        .first()
    )


@require_POST
def sessions_create(request: HttpRequest) -> JsonResponse:
    try:
        data = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError:
        return _error(400, "bad_json", 'the body must be JSON such as {"site": "shop"}')
    site = data.get("site") if isinstance(data, dict) else None
    if site not in Site.values:
        return _error(400, "invalid_site", f"site must be one of: {', '.join(Site.values)}")
    existing = _open_session_of(request, site)
    if existing is not None:
        return JsonResponse(_body(existing, request), status=200)
    if request.session.session_key is None:
        request.session.save()
    session = lifecycle.session_open(
        site=site, customer_session_key=request.session.session_key or ""
    )
    lifecycle.publish_on_commit(session_id=session.pk, status=session.status)
    owned = [*(request.session.get(CUSTOMER_SESSIONS_KEY) or []), str(session.pk)]
    request.session[CUSTOMER_SESSIONS_KEY] = owned[-20:]
    return JsonResponse(_body(session, request), status=201)


@require_GET
def sessions_current(request: HttpRequest) -> JsonResponse:
    site = request.GET.get("site", Site.SHOP)
    if site not in Site.values:
        return _error(400, "invalid_site", f"site must be one of: {', '.join(Site.values)}")
    session = _open_session_of(request, site)
    if session is None:
        return _error(404, "no_session", "this browser has no open help request")
    return JsonResponse(_body(session, request))
