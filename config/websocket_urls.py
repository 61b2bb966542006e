"""Every WebSocket URL of the project."""

from cobrowse.routing import websocket_urlpatterns as cobrowse_ws
from helpdesk.routing import websocket_urlpatterns as helpdesk_ws

websocket_urlpatterns = [*cobrowse_ws, *helpdesk_ws]
