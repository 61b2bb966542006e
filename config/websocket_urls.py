"""Every WebSocket URL of the project."""

from cobrowse.routing import websocket_urlpatterns as cobrowse_ws

websocket_urlpatterns = [*cobrowse_ws]
