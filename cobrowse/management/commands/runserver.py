"""`manage.py runserver` (`make run`): daphne's development server, with the WebSocket limits of
the production server.

Daphne's runserver takes its message and frame caps from DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE and
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE (config/settings.py sets both from COBROWSE_MAX_DOM_FRAME_BYTES,
as `make serve` sets uvicorn's --ws-max-size), but autobahn, under daphne, fails a connection
that breaks them, or sends invalid UTF-8, by dropping the TCP connection: the client sees 1006,
as for a network failure. Here it closes with 1009 ("message too big") or 1007 ("invalid
payload"), as RFC 6455 says and as the production server does (docs/reliability.md).

This app is listed before `daphne` in INSTALLED_APPS so that this command is the one Django runs.
"""

from __future__ import annotations

from daphne.management.commands.runserver import Command as DaphneRunserver
from daphne.server import Server
from twisted.internet import reactor


class CleanCloseServer(Server):
    def run(self) -> None:
        # `run` builds the WebSocket factory and then starts the reactor; the factory exists
        # when the reactor runs this, before it accepts a connection (each connection copies
        # the factory's options when it is made).
        reactor.callWhenRunning(self._close_cleanly)
        super().run()

    def _close_cleanly(self) -> None:
        self.ws_factory.setProtocolOptions(failByDrop=False)


class Command(DaphneRunserver):
    server_cls = CleanCloseServer
