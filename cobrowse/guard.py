"""An ASGI wrapper for the WebSocket stack: a failure before the consumer answers (the Django
session or the user cannot be loaded because the database is down) closes the connection with
1013, "try again later", instead of failing the handshake with an error page and a traceback.

A browser cannot read why a handshake failed (it sees 1006), but it can read a close code, so
the connection is accepted only to be closed at once, as the consumer does for its refusals."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError

from .protocol import CloseCode

logger = logging.getLogger(__name__)

Scope = dict[str, Any]


class TryAgainOnFailure:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        state = {"accepted": False, "closed": False}

        async def tracking_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] in ("websocket.close", "websocket.http.response.start"):
                state["closed"] = True
                if "code" in message:  # a CloseCode: ASGI servers take plain ints (daphne insists)
                    message = {**message, "code": int(message["code"])}
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DatabaseError as exc:
            logger.warning("WebSocket %s refused for now: %r", scope.get("path"), exc)
            if state["closed"]:
                return
            try:
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CloseCode.TRY_AGAIN})
            except Exception as send_error:  # the peer may be gone already
                logger.info("could not close: %r", send_error)
