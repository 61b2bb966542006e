"""The sign-in pages of the help desk and the admin: a password form unless `PASSWORD_LOGIN=0`,
and a "Sign in with <provider>" button when single sign-on is configured (helpdesk/sso.py).
With password sign-in off, a password POST is refused with 403 on both pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from mozilla_django_oidc.views import OIDCLogoutView

PASSWORD_OFF = "Password sign-in is switched off: sign in with {provider}."


def sign_in_context() -> dict[str, Any]:
    return {
        "sso_enabled": settings.OIDC_ENABLED,
        "sso_provider": settings.OIDC_PROVIDER_NAME,
        "password_login": settings.PASSWORD_LOGIN,
    }


def password_refused(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    message = PASSWORD_OFF.format(provider=settings.OIDC_PROVIDER_NAME)
    return render(request, template, {**context, "password_refused": message}, status=403)


class DeskLoginView(auth_views.LoginView):
    template_name = "helpdesk/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **sign_in_context()}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PASSWORD_LOGIN:
            context = {"next": request.POST.get("next", ""), **sign_in_context()}
            return password_refused(request, self.template_name, context)
        return super().post(request, *args, **kwargs)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own sign-in page, with the single sign-on button."""
    if request.method == "POST" and not settings.PASSWORD_LOGIN:
        context = {**admin.site.each_context(request), "title": "Log in", **sign_in_context()}
        context["next"] = request.POST.get("next", "")
        return password_refused(request, "admin/login.html", context)
    return admin.site.login(request, extra_context=sign_in_context())


# Signing out, from the desk or the admin: ends the provider's session too when it can
# (helpdesk.sso.provider_logout_url), otherwise only the local one.
logout = OIDCLogoutView.as_view()
