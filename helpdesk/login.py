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


class DeskAdminSite(admin.AdminSite):
    """Django's admin, whose sign-in page has the single sign-on button and obeys
    PASSWORD_LOGIN, and whose "Log out" ends the provider's session too, as the desk's does.
    It is the default admin site (helpdesk.admin_apps.DeskAdminConfig)."""

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {**(extra_context or {}), **sign_in_context()}
        if request.method == "POST" and not settings.PASSWORD_LOGIN:
            context = {**self.each_context(request), "title": "Log in", **context}
            context["next"] = request.POST.get("next", "")
            return password_refused(request, "admin/login.html", context)
        return super().login(request, extra_context=context)

    def logout(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return logout(request)


# Signing out, from the desk or the admin: ends the provider's session too when it can
# (helpdesk.sso.provider_logout_url), otherwise only the local one.
logout = OIDCLogoutView.as_view()
