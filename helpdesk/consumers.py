"""The help desk's live queue: one WebSocket per open dashboard.

Operators only (the same `policy.is_operator_user` check as the pages); anyone else is accepted
only to be closed at once with 4403, so the browser can read why. The Origin check happens
before this consumer, in `config/asgi.py`, for every WebSocket.

Frames (server -> client), the whole queue every time:
    {"type": "queue", "waiting": [entry, ...], "active": [entry, ...], "invited": [entry, ...]}
    entry: {"id", "code", "site", "site_label", "customer", "status", "created_at",
            "started_at", "operator", "url"}; an `invited` entry (a session an operator in it
            invited this operator into) also has "invited_by" (their name).
Each operator's queue holds only the sessions of the sites their teams serve
(`cobrowse.policy.sessions_served`); a superuser's, every site's.
It is sent on connect and whenever the `cobrowse.sessions` doorbell rings (a session opened,
claimed, handed over or ended, or an invitation made): the consumer re-reads the open sessions
from the database, never trusting the message itself. A client may send {"type": "refresh"}
to have it sent again.
"""

from __future__ import annotations

from typing import Any

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from cobrowse.lifecycle import SESSIONS_GROUP
from cobrowse.policy import is_operator_user
from cobrowse.protocol import CloseCode

from . import selectors


class QueueConsumer(AsyncWebsocketConsumer):
    # --- Connection lifecycle ----------------------------------------------------------------

    async def connect(self) -> None:
        self._subscribed = False
        allowed = await database_sync_to_async(is_operator_user)(self.scope.get("user"))
        if not allowed:
            await self.accept()
            await self.close(code=CloseCode.FORBIDDEN)
            return
        # Subscribe first, then read: a change committed after the read still rings.
        await self.channel_layer.group_add(SESSIONS_GROUP, self.channel_name)
        self._subscribed = True
        await self.accept()
        await self._send_queue()

    async def disconnect(self, code: int) -> None:
        if self._subscribed:
            await self.channel_layer.group_discard(SESSIONS_GROUP, self.channel_name)

    # --- Incoming frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = orjson.loads(text_data or b"")
        except orjson.JSONDecodeError:
            return
        if isinstance(frame, dict) and frame.get("type") == "refresh":
            await self._send_queue()

    # --- Channel layer -----------------------------------------------------------------------

    async def sessions_changed(self, message: dict[str, Any]) -> None:
        await self._send_queue()

    async def _send_queue(self) -> None:
        queue = await database_sync_to_async(selectors.queue_sessions)(user=self.scope["user"])
        await self.send(orjson.dumps({"type": "queue", **queue}).decode())
