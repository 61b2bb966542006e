from django.urls import path

from . import views

app_name = "cobrowse"
urlpatterns = [
    path("sessions/", views.sessions_create, name="sessions-create"),
    path("sessions/current/", views.sessions_current, name="sessions-current"),
]
