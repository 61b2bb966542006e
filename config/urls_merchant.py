"""The URLs of the demo merchant's origin (ORIGIN_ROLE=merchant): the shop and the bank only.
Their pages install the widget from the desk with its script tag, as any merchant would."""

from django.urls import include, path

urlpatterns = [
    path("", include("shop_demo.urls")),
]
