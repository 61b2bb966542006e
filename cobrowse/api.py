"""The REST API for ticket systems and CRMs, `/api/v1/` (django-ninja; docs/integrations.md).

- Authenticated by a site's API token only (`Authorization: Bearer cbt_…`, cobrowse/api_tokens.py):
  no cookies, so no CSRF, and a browser's desk or admin login reaches nothing here (401).
- A token reaches its own site's sessions: another site's session is a 403, one that does not
  exist a 404. Every error is `{"error": {"code", "message"}}` (401, 403, 404, 422, 429).
- Writes go through the same services as the desk: `lifecycle.session_open`, and
  `lifecycle.session_end`, which journals the end like `end_idle_sessions` does and rings the
  processes serving the session. The journal export is the admin's (`selectors.journal_export_*`)
  as JSON lines, streamed a page at a time.
- The OpenAPI document is at /api/v1/openapi.json, its Swagger UI at /api/v1/docs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import field_validator

from . import api_tokens, embed, embed_views, lifecycle, selectors
from .models import ApiToken, Participant, Session

StatusName = Literal["waiting", "active", "ended"]


class ApiError(Exception):
    """A refusal: `status` and `code` go into the error body, with `headers` if any."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# --- Schemas ---------------------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 422: ErrorOut, 429: ErrorOut}
SESSION_ERRORS: dict[int, type[Schema]] = {**ERRORS, 403: ErrorOut, 404: ErrorOut}


class CustomerOut(Schema):
    verified: bool = Field(description="Signed by the site's server or given by an API caller.")
    id: str
    name: str
    email: str


class ParticipantOut(Schema):
    id: int
    role: Literal["customer", "operator", "observer"]
    display_name: str
    joined_at: datetime
    left_at: datetime | None = Field(description="null while connected")


class SessionOut(Schema):
    id: uuid.UUID
    code: str = Field(description="Six digits, unique among open sessions: the join code.")
    site: str = Field(description="The site's public key.")
    status: StatusName
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    head_seq: int = Field(description="How many ops the journal holds.")
    customer: CustomerOut


class SessionDetailOut(SessionOut):
    participants: list[ParticipantOut]


class SessionPage(Schema):
    items: list[SessionOut]
    count: int = Field(description="Sessions that match the filter, on every page.")
    limit: int
    offset: int
    next: str | None = Field(description="The next page's URL; null on the last page.")
    previous: str | None


class SessionFilter(Schema):
    status: StatusName | None = None
    created_after: datetime | None = Field(None, description="ISO 8601; UTC when no offset.")
    created_before: datetime | None = Field(None, description="ISO 8601; UTC when no offset.")
    customer_id: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class CustomerIn(Schema):
    id: str = Field(min_length=1, max_length=200, description="Your id of the customer.")
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value:
            try:
                validate_email(value)
            except DjangoValidationError:
                raise ValueError("not an email address") from None
        return value


class PageIn(Schema):
    url: str = Field(max_length=2000, pattern=r"^https?://", description="http(s) URL")
    title: str = Field("", max_length=300)


class SessionCreateIn(Schema):
    customer: CustomerIn = Field(
        description="Who the customer is, as your system knows them: the desk shows it as verified."
    )
    page: PageIn | None = Field(
        None, description="The page the customer is on, as in the embed API (not stored)."
    )


class EmbedOut(Schema):
    token: str = Field(description="The session token for the customer's page (embed API).")
    expires_at: datetime
    ws_url: str = Field(description="The session's WebSocket; the page adds ?token=<token>.")


class SessionCreatedOut(SessionDetailOut):
    join_code: str = Field(description="The code the customer reads to the operator.")
    embed: EmbedOut


# --- The API and its errors --------------------------------------------------------------------


class SiteToken(HttpBearer):
    """`Authorization: Bearer <token>` of a live API token; counts the request against the
    token's rate limit. Refuses with ApiError 401 or 429, so the body says why."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                401, "unauthenticated", "send the site's API token: Authorization: Bearer <token>"
            )
        token = self.authenticate(request, value.strip())
        throttled = api_tokens.rate_take(token)
        if throttled is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"at most {throttled.limit} requests per {throttled.window} s for one token; "
                f"try again in {throttled.retry_after} s",
                headers={"Retry-After": str(throttled.retry_after)},
            )
        return token

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = api_tokens.api_token_check(token)
        if found is None:
            raise ApiError(401, "invalid_token", "the API token is unknown or revoked")
        return found


api = NinjaAPI(
    title="Co-browsing help desk API",
    version="1",
    description="Sessions of one site for ticket systems and CRMs (docs/integrations.md).",
    auth=SiteToken(),
    urls_namespace="api-v1",
)


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = error_response(exc.status, exc.code, exc.message)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'payload'))}: "
        f"{e.get('msg', 'invalid')}"
        for e in exc.errors
    ]
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "no such resource")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja's own refusals: a body that is not JSON (400).
    return error_response(exc.status_code, "bad_request", f"{exc}: it must be JSON")


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Every other path under /api/v1/: a JSON 404, not the desk's HTML one."""
    return error_response(404, "not_found", f"no such endpoint: {request.path}")


# --- Helpers -----------------------------------------------------------------------------------


def _token(request: HttpRequest) -> ApiToken:
    token = getattr(request, "auth", None)
    assert isinstance(token, ApiToken)
    return token


def _session_of(request: HttpRequest, session_id: uuid.UUID) -> Session:
    """The session, if it is of the token's site: 404 when there is none, 403 when it is
    another site's (refused, not hidden, as the desk refuses another team's session)."""
    session = Session.objects.select_related("site").filter(pk=session_id).first()
    if session is None:
        raise ApiError(404, "not_found", f"no session {session_id}")
    if session.site_id != _token(request).site_id:
        raise ApiError(403, "forbidden", "this session belongs to another site than the token's")
    return session


def _session_out(session: Session) -> dict[str, Any]:
    return {
        "id": session.pk,
        "code": session.code,
        "site": session.site.public_key,
        "status": session.status,
        "created_at": session.created_at,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "head_seq": session.head_seq,
        "customer": {
            "verified": session.identity_verified,
            "id": session.customer_id,
            "name": session.customer_name,
            "email": session.customer_email,
        },
    }


def _detail_out(session: Session) -> dict[str, Any]:
    participants = [
        {
            "id": p.pk,
            "role": p.role,
            "display_name": p.display_name,
            "joined_at": p.joined_at,
            "left_at": p.left_at,
        }
        for p in Participant.objects.filter(session=session).order_by("joined_at", "pk")
    ]
    return {**_session_out(session), "participants": participants}


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _page_url(request: HttpRequest, offset: int) -> str:
    query = request.GET.copy()
    query["offset"] = str(offset)
    return request.build_absolute_uri(f"{request.path}?{urlencode(sorted(query.items()))}")


# --- Endpoints ---------------------------------------------------------------------------------


@api.get(
    "/sessions",
    response={200: SessionPage, **ERRORS},
    summary="List the site's sessions",
    description="Newest first; filter by status, creation time and customer id. Paginated by "
    "limit and offset: `next` is the next page's URL, null on the last page.",
)
def sessions_list(request: HttpRequest, filters: Query[SessionFilter]) -> dict[str, Any]:
    sessions = Session.objects.select_related("site").filter(site_id=_token(request).site_id)
    if filters.status is not None:
        sessions = sessions.filter(status=filters.status)
    if filters.created_after is not None:
        sessions = sessions.filter(created_at__gt=_aware(filters.created_after))
    if filters.created_before is not None:
        sessions = sessions.filter(created_at__lt=_aware(filters.created_before))
    if filters.customer_id is not None:
        sessions = sessions.filter(customer_id=filters.customer_id)
    count = sessions.count()
    limit, offset = filters.limit, filters.offset
    page = sessions.order_by("-created_at", "-pk")[offset : offset + limit]
    return {
        "items": [_session_out(s) for s in page],
        "count": count,
        "limit": limit,
        "offset": offset,
        "next": _page_url(request, offset + limit) if offset + limit < count else None,
        "previous": _page_url(request, max(0, offset - limit)) if offset > 0 else None,
    }


@api.post(
    "/sessions",
    response={201: SessionCreatedOut, 400: ErrorOut, **ERRORS},
    summary="Open a session for a known customer",
    description="Opens a waiting session of the token's site for the customer your system "
    "names (shown as verified on the desk). Hand `embed.token` to the customer's page, which "
    "joins with it as the embed widget does; the customer reads `join_code` to the operator.",
)
def sessions_create(request: HttpRequest, body: SessionCreateIn) -> Status[dict[str, Any]]:
    site = _token(request).site
    with transaction.atomic():
        session = lifecycle.session_open(
            site=site,
            customer_session_key="",
            identity_verified=True,
            customer_id=body.customer.id,
            customer_name=body.customer.name,
            customer_email=body.customer.email,
        )
        lifecycle.publish_on_commit(session_id=session.pk, status=session.status)
    return Status(
        201,
        {
            **_detail_out(session),
            "join_code": session.code,
            "embed": {
                "token": embed.token_issue(session, site),
                "expires_at": embed.token_expires_at(session),
                "ws_url": embed_views.ws_url(request, session),
            },
        },
    )


@api.get(
    "/sessions/{session_id}",
    response={200: SessionDetailOut, **SESSION_ERRORS},
    summary="Read a session with its participants",
)
def session_detail(request: HttpRequest, session_id: uuid.UUID) -> dict[str, Any]:
    return _detail_out(_session_of(request, session_id))


@api.post(
    "/sessions/{session_id}/end",
    response={200: SessionDetailOut, **SESSION_ERRORS},
    summary="End a session",
    description='Journals the session\'s end (`{"action": "end", "reason": "api"}`) as '
    "the desk's idle end does; its connected participants get it at once. Ending a session "
    "that has ended changes nothing and answers the same.",
)
def session_end(request: HttpRequest, session_id: uuid.UUID) -> dict[str, Any]:
    session = _session_of(request, session_id)
    lifecycle.session_end(session_id=session.pk, reason="api")
    session.refresh_from_db()
    return _detail_out(session)


JSON_LINES = "application/x-ndjson"


@api.get(
    "/sessions/{session_id}/journal",
    response={200: None, **SESSION_ERRORS},
    summary="Export a session's journal as JSON lines",
    description="What admin replay and its JSON export hold, streamed: the first line is "
    '`{"session": …, "participants": […]}`, then one line for each journaled op in seq '
    "order, as in the export's `operations`. Payloads as journaled, after masking.",
    openapi_extra={
        "responses": {
            200: {
                "description": "JSON lines",
                "content": {JSON_LINES: {"schema": {"type": "string"}}},
            }
        }
    },
)
def session_journal(request: HttpRequest, session_id: uuid.UUID) -> StreamingHttpResponse:
    session = _session_of(request, session_id)
    response = StreamingHttpResponse(_journal_lines(session.pk), content_type=JSON_LINES)
    response["Content-Disposition"] = (
        f'attachment; filename="session-{session.code}-{session.pk}.jsonl"'
    )
    return response


async def _journal_lines(session_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The export a page of ops at a time (an async iterator: served by ASGI as it is read).
    Up to the head the first line states, so the lines agree with it."""
    head = await sync_to_async(selectors.journal_export_head)(session_id=session_id)
    yield orjson.dumps(head) + b"\n"
    last, upto = 0, head["session"]["head_seq"]
    while last < upto:
        page = await sync_to_async(selectors.journal_export_operations)(
            session_id=session_id, after_seq=last
        )
        if not page:
            break
        for op in page:
            if op["seq"] > upto:
                return
            yield orjson.dumps(op) + b"\n"
        last = page[-1]["seq"]
