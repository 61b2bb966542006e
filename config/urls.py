from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from cobrowse.api import api, not_found


def to_merchant(request: HttpRequest, site: str) -> HttpResponseRedirect:
    """The demo shop and bank live on the merchant's origin now (config/urls_merchant.py)."""
    merchant = settings.DEMO_MERCHANT_URL.rstrip("/")
    return HttpResponseRedirect(f"{merchant}{request.get_full_path()}")


urlpatterns = [
    path("admin/", admin.site.urls),
    # /oidc/authenticate/ (the sign-in button), /oidc/callback/ (the provider's redirect back).
    path("oidc/", include("mozilla_django_oidc.urls")),
    # The REST API for ticket systems and CRMs (cobrowse/api.py, docs/integrations.md).
    path("api/v1/", api.urls),
    re_path(r"^api/v1/(?P<rest>.*)$", not_found),
    path("api/", include("cobrowse.urls")),
    path("helpdesk/", include("helpdesk.urls")),
    re_path(r"^(?P<site>shop|bank)/", to_merchant),
    path("", RedirectView.as_view(url="/helpdesk/", permanent=False)),
]
