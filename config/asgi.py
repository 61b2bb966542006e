"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets pass the Origin check (the page's scheme, host and port must be the desk's own or
one of CSRF_TRUSTED_ORIGINS, else 4403: `cobrowse.guard.OriginGuard`; a session's socket gets
the verdict and decides itself, against the desk or the session's site:
`cobrowse.policy.websocket_admission`) and Django's session and auth middleware before they
reach a consumer (the session read-only: `cobrowse/middleware.py`). A database failure on the
way (loading the session or the user) closes with 1013, "try again", and a path no route
matches with 4404 (cobrowse/guard.py).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

from cobrowse.guard import OriginGuard, TryAgainOnFailure  # noqa: E402
from cobrowse.middleware import SESSION_SOCKET_PREFIX, WebSocketAuthStack  # noqa: E402
from config.websocket_urls import websocket_urlpatterns  # noqa: E402


def close_request_connections(**kwargs: object) -> None:
    """Django serves each HTTP request under ASGI on a thread of its own, which ends with the
    request: its database connection, persistent by CONN_MAX_AGE, is never used again, and a
    connection object sits in reference cycles, so it would stay open until a pass of the
    garbage collector found it (one per request: PostgreSQL's max_connections ran out in the
    browser tests once the collector's passes were fewer). Closed here, at the end of the
    request, on its own thread. (The WebSockets' database calls run on Channels' one long-lived
    thread and keep their connection.)"""
    for connection in connections.all(initialized_only=True):
        connection.close()


request_finished.connect(
    close_request_connections, sender=ASGIHandler, dispatch_uid="close-request-connections"
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TryAgainOnFailure(
            OriginGuard(
                WebSocketAuthStack(URLRouter(websocket_urlpatterns)),
                own_rule=lambda scope: scope["path"].startswith(SESSION_SOCKET_PREFIX),
            )
        ),
    }
)

# What starting made (modules, settings, URL patterns: most of the heap) is never garbage. Out
# of the collector's full passes, each of which stops the event loop while it walks the heap
# (docs/performance.md, change 12).
gc.freeze()
# The young generation is collected after 50,000 more tracked objects than were freed, not 700
# (COBROWSE_GC_THRESHOLDS). The hot path's objects (a frame, its ops, a batch, its entries) die
# by their reference counts, but under load thousands are alive at any moment: at 11,500-14,000
# ops/s the default thresholds collected 60-90 times a second for nothing, 5-6% of the event
# loop's time, and promoted enough to set off a full pass of about 20 ms every 2 s
# (docs/performance.md, change 22). Garbage in cycles is still collected, after at most 50,000
# objects.
gc.set_threshold(*settings.COBROWSE_GC_THRESHOLDS)
