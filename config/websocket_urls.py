"""Every WebSocket URL of the project. A path that matches none of them is closed with 4404
(`refuse_unrouted`) rather than left to fail in the router."""

from django.urls import re_path

from cobrowse.guard import refuse_unrouted
from cobrowse.routing import websocket_urlpatterns as cobrowse_ws
from helpdesk.routing import websocket_urlpatterns as helpdesk_ws

websocket_urlpatterns = [*cobrowse_ws, *helpdesk_ws, re_path(r"", refuse_unrouted)]  # type: ignore[arg-type]  # an ASGI app
