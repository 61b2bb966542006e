from django.urls import path

from . import views

app_name = "shop_demo"
urlpatterns = [
    path("", views.home, name="home"),
]
