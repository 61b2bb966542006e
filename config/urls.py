from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # /oidc/authenticate/ (the sign-in button), /oidc/callback/ (the provider's redirect back).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/", include("cobrowse.urls")),
    path("helpdesk/", include("helpdesk.urls")),
    path("", include("shop_demo.urls")),
]
