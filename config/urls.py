from django.contrib import admin
from django.urls import include, path

from helpdesk import login

urlpatterns = [
    # The admin signs in and out as the desk does (single sign-on, PASSWORD_LOGIN).
    path("admin/login/", login.admin_login),
    path("admin/logout/", login.logout),
    path("admin/", admin.site.urls),
    # /oidc/authenticate/ (the sign-in button), /oidc/callback/ (the provider's redirect back).
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("api/", include("cobrowse.urls")),
    path("helpdesk/", include("helpdesk.urls")),
    path("", include("shop_demo.urls")),
]
