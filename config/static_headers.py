"""Headers of static files (WhiteNoise's WHITENOISE_ADD_HEADERS_FUNCTION).

The widget is installed on the merchant's own origin and imports its ES modules (and rrweb)
from the desk's: a cross-origin module import needs `Access-Control-Allow-Origin` on the
response. These files are public code, so any origin may read them; a CDN in front of the desk
must send the same header for the same paths (docs/install.md).
"""

from __future__ import annotations

from wsgiref.headers import Headers

from django.conf import settings


def add_headers(headers: Headers, path: str, url: str) -> None:
    relative = url.removeprefix(settings.STATIC_URL)
    if relative.startswith(tuple(settings.STATIC_CORS_PREFIXES)):
        headers["Access-Control-Allow-Origin"] = "*"
