"""The Redis pub/sub channel layer after a Redis restart (cobrowse/channel_layer.py).

channels-redis's own pub/sub layer stays deaf after some restarts (its receive task keeps
waiting on a connection that subscribes to nothing); ours reconnects, subscribes again and
tells every grouped channel that it reconnected. Each test runs a Redis of its own on a
free port, so restarting it disturbs nobody."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from chaos.cluster import free_port, wait_for_port
from cobrowse.channel_layer import RECONNECTED, ResilientPubSubChannelLayer

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        assert wait_for_port(self.port, 10)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


async def receive(
    layer: ResilientPubSubChannelLayer, channel: str, timeout: float = 3
) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), timeout)
    return message


@pytest.mark.parametrize(("down", "back"), [(0.1, 0.1), (1.0, 0.5), (2.5, 0.2)])
async def test_group_messages_flow_again_after_a_redis_restart(redis, down, back):
    hosts = [f"redis://127.0.0.1:{redis.port}/0"]
    subscriber, publisher = (
        ResilientPubSubChannelLayer(hosts=hosts),
        ResilientPubSubChannelLayer(hosts=hosts),
    )
    channel = await subscriber.new_channel()
    await subscriber.group_add("g", channel)
    await publisher.group_send("g", {"type": "x", "n": 1})
    assert (await receive(subscriber, channel))["n"] == 1

    redis.kill()
    await asyncio.sleep(down)
    with pytest.raises(Exception):  # noqa: B017 - whatever redis-py raises for a refused socket
        await publisher.group_send("g", {"type": "x", "n": 2})
    redis.start()
    await asyncio.sleep(back)

    # Doorbells rung while Redis was down are lost: the subscriber is told to repair ...
    assert await receive(subscriber, channel, timeout=10) == {"type": RECONNECTED}
    # ... and hears new ones again.
    await publisher.group_send("g", {"type": "x", "n": 3})
    assert (await receive(subscriber, channel))["n"] == 3
    await subscriber.flush()
    await publisher.flush()


async def test_subscribing_while_redis_is_down_takes_effect_when_it_is_back(redis):
    hosts = [f"redis://127.0.0.1:{redis.port}/0"]
    subscriber, publisher = (
        ResilientPubSubChannelLayer(hosts=hosts),
        ResilientPubSubChannelLayer(hosts=hosts),
    )
    first = await subscriber.new_channel()
    redis.kill()
    second = await subscriber.new_channel()  # a connection arriving during the outage
    await subscriber.group_add("g", second)
    redis.start()
    assert await receive(subscriber, second, timeout=10) == {"type": RECONNECTED}
    await publisher.group_send("g", {"type": "x", "n": 1})
    assert (await receive(subscriber, second))["n"] == 1
    assert first != second
    await subscriber.flush()
    await publisher.flush()
