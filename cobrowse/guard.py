"""ASGI wrappers for the WebSocket stack, before any consumer runs.

- `OriginGuard`: a WebSocket from a page whose origin (scheme, host and port) is neither the
  desk's own nor listed in CSRF_TRUSTED_ORIGINS is closed with 4403
  (`policy.desk_origin_allowed`).
- `TryAgainOnFailure`: a failure before the consumer answers (the Django session or the user
  cannot be loaded because the database is down) closes the connection with 1013, "try again
  later", instead of failing the handshake with an error page and a traceback.
- `refuse_unrouted`: the last WebSocket route; a path no route matches is closed with 4404
  instead of an exception in the router (a 500 and a traceback in the log).

A browser cannot read why a handshake failed (it sees 1006), but it can read a close code, so
each refusal accepts the connection only to close it at once, before any frame, as the consumer
does for its own refusals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from .policy import desk_origin_allowed
from .protocol import CloseCode

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


# Between accepting and closing a refused socket. daphne (`make run`) completes the handshake a
# turn of its reactor after the accept; a close that reaches it before then is taken as a
# rejection of the handshake (HTTP 403), which a page sees as 1006 with no code. A refusal is
# rare, so a few milliseconds there cost nothing.
ACCEPT_SETTLE_SECONDS = 0.02


async def refuse(send: Any, code: int, reason: str) -> None:
    """Accept, then close with `code` and `reason` (servers that cannot send a reason, such as
    daphne, send the code alone)."""
    await send({"type": "websocket.accept"})
    await asyncio.sleep(ACCEPT_SETTLE_SECONDS)
    await send({"type": "websocket.close", "code": int(code), "reason": reason})


async def _drain_connect(receive: Any) -> bool:
    """Read the client's `websocket.connect`; False when it went away first."""
    message = await receive()
    return bool(message["type"] == "websocket.connect")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def request_origin(scope: Scope) -> tuple[str, str | None]:
    """(scheme as a page would have it, Host) of a WebSocket request: `ws` is `http`, `wss` is
    `https`, or `https` behind a proxy that says so in SECURE_PROXY_SSL_HEADER, as Django reads
    a request; the host is X-Forwarded-Host's with USE_X_FORWARDED_HOST, as Django's."""
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header_name = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = _header(scope, header_name)
        if forwarded is not None:
            scheme = "https" if forwarded.split(",")[0].strip() == secure_value else "http"
    host = None
    if settings.USE_X_FORWARDED_HOST:
        forwarded_host = _header(scope, b"x-forwarded-host")
        host = forwarded_host.split(",")[0].strip() if forwarded_host else None
    return scheme, host or _header(scope, b"host")


class OriginGuard:
    """Lets a WebSocket through only from a page of the desk's own origin or of one of
    CSRF_TRUSTED_ORIGINS (`policy.desk_origin_allowed`); anyone else is closed with 4403.

    Sockets whose consumer applies an origin rule of its own (a customer's socket from a
    merchant's site, allowed per site) are named by `own_rule(scope)`: those pass with
    `scope["desk_origin"]` False when the desk's rule does not admit them, and their consumer
    must then refuse them with 4403 unless its own rule does. Every socket that passes carries
    `scope["desk_origin"]` (whether the desk's rule admitted it) and `scope["origin"]` (the
    Origin header, or None)."""

    def __init__(self, app: Any, *, own_rule: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.own_rule = own_rule

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        scheme, host = request_origin(scope)
        allowed = desk_origin_allowed(
            origin=origin,
            scheme=scheme,
            host=host,
            allowed_hosts=settings.ALLOWED_HOSTS,
            trusted_origins=settings.CSRF_TRUSTED_ORIGINS,
        )
        scope = {**scope, "desk_origin": allowed, "origin": origin}
        if allowed or (self.own_rule is not None and self.own_rule(scope)):
            await self.app(scope, receive, send)
            return
        logger.info("WebSocket %s refused: Origin %r is not the desk's", scope.get("path"), origin)
        if await _drain_connect(receive):
            await refuse(send, CloseCode.FORBIDDEN, "origin not allowed")


async def refuse_unrouted(scope: Scope, receive: Any, send: Any) -> None:
    """The ASGI application of the catch-all WebSocket route: closes with 4404."""
    if await _drain_connect(receive):
        await refuse(send, CloseCode.NOT_FOUND, "no WebSocket at this path")


class TryAgainOnFailure:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        state = {"accepted": False, "closed": False}

        async def tracking_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] in ("websocket.close", "websocket.http.response.start"):
                state["closed"] = True
                if "code" in message:  # a CloseCode: ASGI servers take plain ints (daphne insists)
                    message = {**message, "code": int(message["code"])}
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DatabaseError as exc:
            logger.warning("WebSocket %s refused for now: %r", scope.get("path"), exc)
            if state["closed"]:
                return
            try:
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": int(CloseCode.TRY_AGAIN)})
            except Exception as send_error:  # the peer may be gone already
                logger.info("could not close: %r", send_error)
