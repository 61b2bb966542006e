from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, re_path
from django.views.generic import RedirectView


def to_merchant(request: HttpRequest, site: str) -> HttpResponseRedirect:
    """The demo shop and bank live on the merchant's origin now (config/urls_merchant.py)."""
    merchant = settings.DEMO_MERCHANT_URL.rstrip("/")
    return HttpResponseRedirect(f"{merchant}{request.get_full_path()}")


urlpatterns = [
    path("admin/", admin.site.urls),
    # /oidc/authenticate/ (the sign-in button), /oidc/callback/ (the provider's redirect back).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/", include("cobrowse.urls")),
    path("helpdesk/", include("helpdesk.urls")),
    re_path(r"^(?P<site>shop|bank)/", to_merchant),
    path("", RedirectView.as_view(url="/helpdesk/", permanent=False)),
]
