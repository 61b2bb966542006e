from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "helpdesk"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("join/", views.join_by_code, name="join"),
    path("sessions/<uuid:session_id>/", views.session_view, name="session"),
    path("sessions/<uuid:session_id>/history/", views.session_history, name="session-history"),
    path("sessions/<uuid:session_id>/presence/", views.session_presence, name="session-presence"),
    path("login/", auth_views.LoginView.as_view(template_name="helpdesk/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
