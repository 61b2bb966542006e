"""The embed HTTP API, `/api/embed/v1/`: what the widget on a merchant's own site calls
(docs/install.md, docs/protocol.md).

No cookies and no CSRF: a request is authenticated by its site's public key and its Origin,
then by the session token the desk issued. CORS (django-cors-headers) answers only to the
origins of the site a request names: `cors_allowed` decides it per request through the
`check_request_enabled` signal. A refused request opens no session.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import embed, lifecycle
from .embed import EmbedError
from .models import Session, Site
from .throttle import rate_limit

EMBED_PREFIX = "/api/embed/"


def _error(exc: EmbedError) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)


def ws_url(request: HttpRequest, session: Session) -> str:
    """The session's WebSocket on this desk: wss behind TLS (also behind a proxy that says so
    in X-Forwarded-Proto, SECURE_PROXY_SSL_HEADER), ws otherwise."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/cobrowse/{session.pk}/"


def session_body(request: HttpRequest, session: Session) -> dict[str, Any]:
    identity = embed.Identity(
        verified=session.identity_verified,
        user_id=session.customer_id,
        name=session.customer_name,
        email=session.customer_email,
    )
    return {
        "id": str(session.pk),
        "code": session.code,
        "status": session.status,
        "head_seq": session.head_seq,
        "ws_url": ws_url(request, session),
        "expires_at": embed.token_expires_at(session).isoformat(),
        "site": session.site.public_key,
        "identity": identity.as_json(),
    }


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError:
        raise EmbedError(
            400, "bad_json", 'the body must be JSON such as {"site": "<public key>"}'
        ) from None
    if not isinstance(data, dict):
        raise EmbedError(400, "bad_json", "the body must be a JSON object")
    return data


def _site_key(request: HttpRequest, data: dict[str, Any]) -> Any:
    """The site a request names: in the body, or in `?site=` (which a preflight can see)."""
    in_query = request.GET.get("site")
    in_body = data.get("site")
    if in_query and in_body and in_query != in_body:
        raise EmbedError(400, "bad_json", "the site in the query and in the body differ")
    return in_body or in_query


@csrf_exempt
@require_POST
# Per address only: the embed sends no cookies, so there is no browser to count by.
@rate_limit("session-create", per_address="COBROWSE_SESSION_CREATE_PER_ADDRESS")
def sessions_create(request: HttpRequest) -> JsonResponse:
    """Open a help session for a customer on a page of an allowed origin of the site."""
    try:
        data = _json_body(request)
        site = embed.site_for_key(_site_key(request, data))
        origin = request.headers.get("origin")
        if not embed.origin_allowed(site, origin):
            raise EmbedError(
                403,
                "origin_not_allowed",
                f"the origin {origin!r} is not on the allowed origins of this site"
                if origin
                else "the request has no Origin header",
            )
        if data.get("page") is not None and not isinstance(data["page"], dict):
            raise EmbedError(400, "bad_json", 'page must be an object {"url", "title"}')
        identity = embed.identity_verify(site=site, token=data.get("identity"))
    except EmbedError as exc:
        return _error(exc)
    with transaction.atomic():
        session = lifecycle.session_open(
            site=site,
            customer_session_key="",
            identity_verified=identity.verified,
            customer_id=identity.user_id,
            customer_name=identity.name,
            customer_email=identity.email,
            user_agent=request.headers.get("User-Agent", ""),
        )
        lifecycle.publish_on_commit(session_id=session.pk, status=session.status)
    body = session_body(request, session)
    body["token"] = embed.token_issue(session, site)
    return JsonResponse(body, status=201)


@csrf_exempt
@require_GET
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> JsonResponse:
    """The session of the bearer token: open, or `status: "ended"`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise embed.InvalidToken("no bearer token")
        session = embed.token_check(token.strip(), session_id)
    except embed.InvalidToken as exc:
        return _error(EmbedError(401, "invalid_token", str(exc)))
    return JsonResponse(session_body(request, session))


# --- CORS ------------------------------------------------------------------------------------


def cors_allowed(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """django-cors-headers' `check_request_enabled`: whether this request's Origin may read
    the answer. Only embed paths, and only an origin of the site the request names: by
    `?site=` or the JSON body's `site`, or, for a session's URL, the session's site. A
    preflight that names no site (it carries no body) is answered to an origin that some
    enabled site allows; the request itself is then decided against its own site. A request
    that names a key of no enabled site may read its 404 `unknown_site` from any origin.
    Runs in Django's thread (cobrowse.middleware.SyncCorsMiddleware): it reads the database."""
    if not request.path_info.startswith(EMBED_PREFIX):
        return False
    origin = request.headers.get("origin")
    if not origin:
        return False
    site = _site_of(request)
    if isinstance(site, Site):
        return embed.origin_allowed(site, origin)
    if request.method == "OPTIONS":
        return embed.any_site_allows(origin)
    # A key that names no enabled site: the answer is the 404 `unknown_site` and says no more
    # than that, so the page may read it (and its console say why) rather than a CORS failure.
    return site is UNKNOWN


UNKNOWN = object()  # `_site_of`: the request names a key, but no enabled site has it


def _site_of(request: HttpRequest) -> Site | object | None:
    """The site the request names (the session's site for a session's URL), UNKNOWN for a
    key of no enabled site, None when it names none."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    session_id = match.kwargs.get("session_id")
    if session_id is not None:
        session = Session.objects.select_related("site").filter(pk=session_id).first()
        return session.site if session is not None else None
    key = request.GET.get("site")
    if not key and request.method == "POST":
        try:
            data = orjson.loads(request.body or b"")
        except Exception:  # a body too large or not JSON: the view says so, without CORS
            return None
        key = data.get("site") if isinstance(data, dict) else None
    if key is None or key == "":
        return None
    if not isinstance(key, str):
        return UNKNOWN
    site = Site.objects.filter(public_key=key, enabled=True).first()
    return UNKNOWN if site is None else site
