"""WebSocket URLs of the co-browsing server."""

from django.urls import path

from .consumers import CobrowseConsumer

websocket_urlpatterns = [
    path("ws/cobrowse/<str:session_id>/", CobrowseConsumer.as_asgi()),
]
