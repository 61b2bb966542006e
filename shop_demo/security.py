"""The Content-Security-Policy of the demo merchant's pages (ORIGIN_ROLE=merchant).

The desk's strict policy (cobrowse/security.py), plus what the widget's script tag needs from
the desk: its scripts (embed.js and the modules it imports), its stylesheet (in the widget's
shadow root), its embed API and its WebSocket. docs/install.md shows the same for a real
merchant.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from cobrowse.security import STRICT


def desk_sources(desk_url: str) -> tuple[str, str]:
    """The desk's origin, and its WebSocket origin, from its base URL."""
    parts = urlsplit(desk_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    socket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return origin, socket


def merchant_policy(desk_url: str) -> str:
    desk, socket = desk_sources(desk_url)
    directives = dict(STRICT)
    directives["script-src"] = f"'self' {desk}"
    directives["style-src"] = f"'self' {desk}"
    directives["connect-src"] = f"'self' {desk} {socket}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class MerchantPolicyMiddleware(MiddlewareMixin):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response.headers.setdefault(
            "Content-Security-Policy", merchant_policy(settings.COBROWSE_DESK_URL)
        )
        return response
