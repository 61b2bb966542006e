from django.urls import path

from . import login, views

app_name = "helpdesk"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("join/", views.join_by_code, name="join"),
    path("sessions/<uuid:session_id>/", views.session_view, name="session"),
    path("sessions/<uuid:session_id>/history/", views.session_history, name="session-history"),
    path("sessions/<uuid:session_id>/presence/", views.session_presence, name="session-presence"),
    path("sessions/<uuid:session_id>/watch/", views.session_watch, name="watch"),
    path("sessions/<uuid:session_id>/invite/", views.session_invite, name="session-invite"),
    path("sessions/<uuid:session_id>/handover/", views.session_handover, name="session-handover"),
    path("supervise/", views.supervise, name="supervise"),
    path("supervise/sessions/", views.supervise_sessions, name="supervise-sessions"),
    path("login/", login.DeskLoginView.as_view(), name="login"),
    path("logout/", login.logout, name="logout"),
]
