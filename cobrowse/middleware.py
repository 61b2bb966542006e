"""The WebSocket middleware stack: Channels' `AuthMiddlewareStack` without its send wrapper.

Channels' `SessionMiddleware` wraps the `send` of every connection to save the Django session
when a message could carry a cookie, and looks at the session on *every* frame sent to do so
(lazy-object lookups that cost about 5% of the server's CPU under load, and more during a late
join). A co-browsing WebSocket reads the browser's session (who the customer or the operator
is) and never changes it, so this stack puts the session in the scope just as Channels does
and leaves `send` alone.

Also: which WebSocket decides on its Origin itself (`SESSION_SOCKET_PREFIX`, for
`cobrowse.guard.OriginGuard`), and django-cors-headers run in Django's thread
(`SyncCorsMiddleware`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware
from corsheaders.middleware import CorsMiddleware
from django.conf import settings


class ReadOnlySessionMiddleware:
    """`scope["session"]`: the Django session of the request's cookie, loaded on first use
    (by `AuthMiddleware`, in a thread). Requires `CookieMiddleware` above it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if "cookies" not in scope:
            raise ValueError("ReadOnlySessionMiddleware needs CookieMiddleware above it")
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        scope = {**scope, "session": self.store(session_key)}
        return await self.inner(scope, receive, send)


def WebSocketAuthStack(inner: Any) -> Any:  # named like Channels' stacks
    return CookieMiddleware(ReadOnlySessionMiddleware(AuthMiddleware(inner)))


# The one WebSocket a merchant's page opens: it decides on the Origin itself (the session's
# site's origins, or the desk's as `cobrowse.guard.OriginGuard` judged it:
# cobrowse.policy.websocket_admission) and says why it refuses with a close code.
SESSION_SOCKET_PREFIX = "/ws/cobrowse/"


class SyncCorsMiddleware(CorsMiddleware):
    """django-cors-headers' middleware, run synchronously. Whether a request's Origin may read
    the answer is decided per request against the site it names, in the database
    (`cobrowse.embed_views.cors_allowed`, its `check_request_enabled` signal); under ASGI the
    middleware's async path would send that signal from the event loop, where Django refuses
    database queries. Django runs a sync-only middleware in its thread instead."""

    async_capable = False
