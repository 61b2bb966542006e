"""Security headers on every HTTP response: a Content-Security-Policy and a Permissions-Policy.

Django's own middleware already sends X-Frame-Options (DENY), X-Content-Type-Options, the
Referrer-Policy, Cross-Origin-Opener-Policy and, in production, HSTS (config/settings.py).

Two policies (docs/reliability.md explains the choice):
- STRICT, for every page but the operator's: scripts, styles, fonts and connections from this
  origin only (plus the WebSocket of this host), no plugins, no framing, no inline script or
  style. The customer-side widget (static/cobrowse/) works under it as long as it loads
  everything from static files and styles its overlays through the CSSOM (`el.style.left =
  ...`), never with `<style>` elements or `style="..."` markup.
- REPLAY, for the operator pages (`COBROWSE_CSP_REPLAY_PATHS`: the help desk and the admin,
  where sessions are replayed): rrweb's Replayer rebuilds the customer's page inside a
  sandboxed about:blank iframe, which inherits this policy, and that page's styles are inline
  `<style>` elements and style attributes, its images and fonts come from the customer's site
  (and, for a page too large to inline its stylesheets, the stylesheets too). So styles may be
  inline and stylesheets/images/fonts/media may come from any https origin. Scripts stay
  'self' only: the Replayer never runs the customer's scripts (its iframe is sandboxed without
  allow-scripts), and no inline script is allowed anywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

_COMMON = {
    "default-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "manifest-src": "'self'",
    "worker-src": "'self'",
}
STRICT = {
    **_COMMON,
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "frame-src": "'none'",
}
REPLAY = {
    **_COMMON,
    "style-src": "'self' 'unsafe-inline' https:",
    "img-src": "'self' data: blob: https:",
    "font-src": "'self' data: https:",
    "media-src": "'self' data: blob: https:",
    "frame-src": "'self'",
}
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)


def content_security_policy(request: HttpRequest) -> str:
    """The policy for this request's page, with the WebSocket endpoint of this host."""
    replay = request.path.startswith(tuple(settings.COBROWSE_CSP_REPLAY_PATHS))
    directives = dict(REPLAY if replay else STRICT)
    host = request.get_host()
    sockets = f"wss://{host}" if request.is_secure() else f"ws://{host} wss://{host}"
    directives["connect-src"] = f"'self' {sockets}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware(MiddlewareMixin):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = content_security_policy(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request.path.startswith("/api/"):
            # Session ids and join codes: never stored by a shared cache or the browser's.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
