from django.urls import path

from . import embed_views, views

app_name = "cobrowse"
urlpatterns = [
    path("sessions/", views.sessions_create, name="sessions-create"),
    path("sessions/current/", views.sessions_current, name="sessions-current"),
    # The widget on a merchant's own site (cross-origin, no cookies): cobrowse/embed_views.py.
    path("embed/v1/sessions/", embed_views.sessions_create, name="embed-sessions-create"),
    path(
        "embed/v1/sessions/<uuid:session_id>/",
        embed_views.session_detail,
        name="embed-session-detail",
    ),
]
