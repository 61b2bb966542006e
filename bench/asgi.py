"""ASGI application of the bench's server processes: the product's application exactly as
production serves it (`config.asgi`), and the baselines' consumers under /ws/bench/ behind the
stack the Channels tutorial uses (never in the product's URLs)."""

# ruff: noqa: I001 (config.asgi sets Django up before anything else is imported)
from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from config.asgi import application as product

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from bench.baselines import websocket_urlpatterns as baseline_urlpatterns

baselines = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(baseline_urlpatterns)))


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket" and scope["path"].startswith("/ws/bench/"):
        await baselines(scope, receive, send)
    else:
        await product(scope, receive, send)
