"""The baselines, written the way the Channels tutorial writes a chat room.

Mounted only in the bench's server processes (`bench/asgi.py`), never in the product's URLs:

- `TutorialRelay`: persists nothing; one `group_send` per message on `RedisChannelLayer` (the
  tutorial's layer), stdlib `json`, the consumer exactly as the tutorial's `ChatConsumer`.
- `ProductionLayerRelay`: the same relay on the channel layer the product uses in production
  (settings' default layer), to be served by the production ASGI server.
- `SavePerMessage`: the tutorial relay that first saves each message with
  `database_sync_to_async`, each save its own transaction (autocommit).

Each relays whatever JSON object a client sends to every member of the room, the sender
included, as `{"message": ...}`: no order, no journal, no acks, no resume.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from .models import Message


class TutorialRelay(AsyncWebsocketConsumer):
    channel_layer_alias = "core"

    async def connect(self) -> None:
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "null")
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


class ProductionLayerRelay(TutorialRelay):
    channel_layer_alias = "default"


class SavePerMessage(TutorialRelay):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "null")
        await self.save_message(message)
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    @database_sync_to_async
    def save_message(self, message: Any) -> None:
        Message.objects.create(room=self.room_name, body=message)


websocket_urlpatterns = [
    path("ws/bench/relay/<str:room_name>/", TutorialRelay.as_asgi()),
    path("ws/bench/relay-production/<str:room_name>/", ProductionLayerRelay.as_asgi()),
    path("ws/bench/save/<str:room_name>/", SavePerMessage.as_asgi()),
]
