"""WebSocket URLs of the help desk."""

from django.urls import path

from .consumers import QueueConsumer

websocket_urlpatterns = [
    path("ws/helpdesk/queue/", QueueConsumer.as_asgi()),
]
