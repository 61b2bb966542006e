from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("cobrowse.urls")),
    path("helpdesk/", include("helpdesk.urls")),
    path("", include("shop_demo.urls")),
]
