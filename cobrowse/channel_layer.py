"""The Redis pub/sub channel layer, made to survive a Redis restart and to say so.

channels-redis's `RedisPubSubChannelLayer` says nothing when its Redis connection drops:
messages published meanwhile are lost without anyone knowing, and its receive task only logs
the error and tries the same connection again a second later, so whether the process's
subscriptions come back is left to redis-py (found by the fault-injection suite, `make chaos`:
a process stopped hearing doorbells after a Redis restart). This layer:

- notices a broken pub/sub connection (in the receive task, or when subscribing), reconnects
  with a capped backoff and subscribes again to everything this process listens to;
- then puts `{"type": RECONNECTED}` in the queue of every channel of this process that is in a
  group: messages published while the connection was down are lost. (The journal writer's
  doorbell channel is the only such channel: the writer then has every connection of this
  process read what it missed from the journal, `Delivery.catch_up`; connections hold no channel.)
- keeps subscribing and unsubscribing usable while Redis is down (they are replayed once it is
  back), so a Redis outage slows cross-process delivery but refuses no connection;
- retries a publish once on a fresh connection (the first command after a restart fails on the
  old socket) and bounds it in time, so a hung Redis cannot hold the doorbells up for long.

It subclasses channels-redis's classes and uses some of their internals (no public hook does
this); the pin in pyproject.toml and tests/test_contracts.py keep them honest.
The channel layer stays a doorbell: a message it loses is repaired from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# The message every grouped channel of this process receives once the connection is back.
RECONNECTED = "layer.reconnected"
PUBLISH_TIMEOUT = 2.0
BACKOFF_START, BACKOFF_CAP = 0.1, 2.0
# What a dropped, refused or hung Redis connection raises.
_LOST = (RedisError, OSError, TimeoutError)


class _Shard(RedisSingleShardConnection):
    """One Redis connection of one process (per event loop) that comes back after a drop."""

    _redis: Any
    _pubsub: Any

    def __init__(self, host: Any, channel_layer: _LoopLayer) -> None:
        super().__init__(host, channel_layer)
        self._broken = False
        self.reconnects = 0

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await super().publish(channel, message)
            return
        except _LOST:
            async with self._lock:
                await self._reset_client()
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await super().publish(channel, message)

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._subscribed_to:
                return
            self._subscribed_to.add(channel)
            self._ensure_redis()
            self._ensure_receiver()
            if self._broken:
                return  # the receive task subscribes to everything once Redis is back
            try:
                await self._pubsub.subscribe(channel)
            except _LOST:
                logger.warning("Redis unavailable while subscribing; will resubscribe")
                self._broken = True

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._subscribed_to:
                return
            self._subscribed_to.discard(channel)
            if self._broken or self._pubsub is None:
                return
            try:
                await self._pubsub.unsubscribe(channel)
            except _LOST:
                self._broken = True

    async def _do_receiving(self) -> None:
        delay = BACKOFF_START
        while True:
            if self._broken:
                if await self._reconnect():
                    delay = BACKOFF_START
                    self.reconnects += 1
                    logger.warning("Redis pub/sub connection restored; telling its channels")
                    self.channel_layer.tell_reconnected()
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_CAP)
                continue
            try:
                if self._pubsub is not None and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:
                logger.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
                self._broken = True

    async def _reconnect(self) -> bool:
        async with self._lock:
            await self._reset_client()
            self._ensure_redis()
            try:
                if self._subscribed_to:
                    await self._pubsub.subscribe(*self._subscribed_to)
                else:
                    await self._redis.ping()
            except _LOST:
                return False
            self._broken = False
            return True

    async def _reset_client(self) -> None:
        """Drop the current client (its sockets may belong to a Redis that is gone)."""
        pubsub, redis = self._pubsub, self._redis
        self._pubsub = self._redis = None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose(close_connection_pool=True)


class _LoopLayer(RedisPubSubLoopLayer):
    _shards: list[_Shard]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    def tell_reconnected(self) -> None:
        """Tell every channel that is in a group that its messages may have been lost."""
        data = self.channel_layer.serialize({"type": RECONNECTED})
        members = set().union(*self.groups.values()) if self.groups else set()
        for name in members:
            queue = self.channels.get(name)
            if queue is not None:
                queue.put_nowait(data)


class ResilientPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose connections come back after a Redis restart, and which
    then sends every grouped channel of this process `{"type": RECONNECTED}`."""

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer: _LoopLayer | None = self._layers.get(loop)
        if layer is None:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
