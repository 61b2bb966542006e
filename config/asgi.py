"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets pass the Origin check (AllowedHostsOriginValidator: the Origin header's host must be
in ALLOWED_HOSTS; a session's socket checks it itself, against the desk or the session's site:
cobrowse/middleware.py, DeskOriginValidator) and Django's session and auth middleware before
they reach a consumer (the session read-only: `cobrowse/middleware.py`). A database failure on
the way (loading the session or the user) closes with 1013, "try again" (cobrowse/guard.py).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from cobrowse.guard import TryAgainOnFailure  # noqa: E402
from cobrowse.middleware import DeskOriginValidator, WebSocketAuthStack  # noqa: E402
from config.websocket_urls import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TryAgainOnFailure(
            DeskOriginValidator(WebSocketAuthStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# What starting made (modules, settings, URL patterns: most of the heap) is never garbage. Out
# of the collector's full passes, each of which stops the event loop while it walks the heap
# (docs/performance.md, change 12).
gc.freeze()
