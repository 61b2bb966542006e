"""HTTP API for customers on the desk's own pages: ask for help, find the help request in
progress. (A merchant's own site uses the embed API instead: cobrowse/embed_views.py.)

Both endpoints go through Django's CSRF middleware; the demo pages set the CSRF cookie and the
widget sends it back in the X-CSRFToken header. The customer is known by their Django session.
A site is named by its public key; the desk's own demo pages (shop_demo) may call theirs by
their short names, "shop" and "bank".
Asking for help is rate limited per client address and per browser (cobrowse/throttle.py):
every new session lands in every operator's queue.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from . import lifecycle
from .models import Session, Site, Status
from .policy import CUSTOMER_SESSIONS_KEY
from .throttle import rate_limit

# The desk's own demo pages name their site by these (the sites `manage.py demo_setup` makes).
DEMO_SITE_KEYS = {"shop": "pk_demo_shop", "bank": "pk_demo_bank"}


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _site(name: Any) -> Site | None:
    if not isinstance(name, str) or not name:
        return None
    key = DEMO_SITE_KEYS.get(name, name)
    return Site.objects.filter(public_key=key, enabled=True).first()


def _invalid_site() -> JsonResponse:
    return _error(
        400, "invalid_site", "site must be the public key of an enabled site, or shop/bank"
    )


def _body(session: Session, site_name: str) -> dict[str, Any]:
    return {
        "id": str(session.pk),
        "code": session.code,
        # As the page named it: the widget keeps its session under that name.
        "site": site_name,
        "status": session.status,
        "head_seq": session.head_seq,
        "ws_url": f"/ws/cobrowse/{session.pk}/",
    }


def _open_session_of(request: HttpRequest, site: Site) -> Session | None:
    owned = request.session.get(CUSTOMER_SESSIONS_KEY) or []
    return (
        Session.objects.filter(pk__in=owned, site=site)
        .exclude(status=Status.ENDED)
        .order_by("-created_at")
        .first()
    )


@require_POST
@rate_limit(
    "session-create",
    per_address="COBROWSE_SESSION_CREATE_PER_ADDRESS",
    per_browser="COBROWSE_SESSION_CREATE_PER_BROWSER",
)
def sessions_create(request: HttpRequest) -> JsonResponse:
    try:
        data = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError:
        return _error(400, "bad_json", 'the body must be JSON such as {"site": "shop"}')
    name = data.get("site") if isinstance(data, dict) else None
    site = _site(name)
    if site is None or not isinstance(name, str):
        return _invalid_site()
    existing = _open_session_of(request, site)
    if existing is not None:
        return JsonResponse(_body(existing, name), status=200)
    if request.session.session_key is None:
        request.session.save()
    session = lifecycle.session_open(
        site=site,
        customer_session_key=request.session.session_key or "",
        user_agent=request.headers.get("User-Agent", ""),
    )
    lifecycle.publish_on_commit(session_id=session.pk, status=session.status)
    owned = [*(request.session.get(CUSTOMER_SESSIONS_KEY) or []), str(session.pk)]
    request.session[CUSTOMER_SESSIONS_KEY] = owned[-20:]
    return JsonResponse(_body(session, name), status=201)


@require_GET
def sessions_current(request: HttpRequest) -> JsonResponse:
    name = request.GET.get("site") or "shop"
    site = _site(name)
    if site is None:
        return _invalid_site()
    session = _open_session_of(request, site)
    if session is None:
        return _error(404, "no_session", "this browser has no open help request")
    return JsonResponse(_body(session, name))
