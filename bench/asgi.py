"""ASGI application of the bench's server processes: the product's application, with the
baselines' consumers mounted next to it under /ws/bench/ (never in the product's URLs)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from bench.baselines import websocket_urlpatterns as baseline_urlpatterns  # noqa: E402
from config.websocket_urls import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*baseline_urlpatterns, *websocket_urlpatterns]))
        ),
    }
)
