"""Test-only pages for tests/browser/test_csp.py: the project's URLconf plus two pages that run
the browser code under each Content-Security-Policy of cobrowse/security.py. Their scripts are
served from URLs of this origin (the policies allow no inline script)."""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

HERE = Path(__file__).resolve().parent / "csp"


def page(name: str) -> HttpResponse:
    return HttpResponse((HERE / f"{name}.html").read_text(), content_type="text/html")


def script(name: str) -> HttpResponse:
    return HttpResponse((HERE / f"{name}.js").read_text(), content_type="text/javascript")


def strict_page(request: HttpRequest) -> HttpResponse:
    return page("strict")


def strict_script(request: HttpRequest) -> HttpResponse:
    return script("strict")


def replay_page(request: HttpRequest) -> HttpResponse:
    return page("replay")


def replay_script(request: HttpRequest) -> HttpResponse:
    return script("replay")


urlpatterns = [
    path("csp-test/strict/", strict_page),
    path("csp-test/strict.js", strict_script),
    # Under /helpdesk/: the operator pages' policy, where sessions are replayed.
    path("helpdesk/csp-test/replay/", replay_page),
    path("helpdesk/csp-test/replay.js", replay_script),
    *project_urlpatterns,
]
