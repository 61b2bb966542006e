"""What the project relies on in third-party internals, checked by name.

config/websocket.py subclasses uvicorn's sans-I/O WebSocket protocol, and
cobrowse/channel_layer.py channels-redis's pub/sub layer; both use attributes and methods that
those libraries do not document. pyproject.toml pins both to the versions tested; these tests
say which name moved when an upgrade breaks what the code relies on, instead of a failure
somewhere in a running server. (websockets' sans-I/O API used there is public and documented.)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from channels_redis import pubsub, utils
from uvicorn.config import Config
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.server import ServerState

# Attributes of a `WebSocketsSansIOProtocol` instance that config/websocket.py reads or sets.
UVICORN_ATTRIBUTES = [
    "conn",  # websockets' ServerProtocol: its extensions, state, send_* and data_to_send
    "transport",
    "writable",  # asyncio.Event, clear while the transport's buffer is above its high mark
    "handshake_complete",
    "disconnected",
    "close_sent",
    "close_timeout",  # seconds uvicorn waits for the peer's close before closing itself
    "queue",  # the ASGI receive queue
    "read_paused",
    "frames",  # the data of the message being read
    "curr_msg_data_type",
]
# Methods it overrides or calls, with the parameters it passes or takes.
UVICORN_METHODS = {
    "handle_connect": ["self", "event"],
    "run_asgi": ["self"],
    "send": ["self", "message"],
    "send_receive_event_to_app": ["self"],
    "handle_parser_exception": ["self"],
}
# What cobrowse/channel_layer.py uses of channels-redis, by class.
CHANNELS_REDIS_ATTRIBUTES = {
    "RedisPubSubChannelLayer": ["_get_layer", "_layers", "_args", "_kwargs", "serialize"],
    "RedisPubSubLoopLayer": ["_shards", "groups", "channels", "channel_layer"],
    "RedisSingleShardConnection": [
        "host",
        "channel_layer",
        "_lock",
        "_subscribed_to",
        "_redis",
        "_pubsub",
        "_ensure_redis",
        "_ensure_receiver",
        "_do_receiving",
        "_receive_message",
    ],
}
CHANNELS_REDIS_METHODS = {
    ("RedisSingleShardConnection", "__init__"): ["self", "host", "channel_layer"],
    ("RedisSingleShardConnection", "publish"): ["self", "channel", "message"],
    ("RedisSingleShardConnection", "subscribe"): ["self", "channel"],
    ("RedisSingleShardConnection", "unsubscribe"): ["self", "channel"],
    ("RedisSingleShardConnection", "_receive_message"): ["self", "message"],
}


def parameters(function: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


@pytest.fixture
def protocol() -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    try:
        config = Config(app=lambda scope, receive, send: None, ws="websockets-sansio")
        yield websockets_sansio_impl.WebSocketsSansIOProtocol(config, ServerState(), {}, _loop=loop)
    finally:
        loop.close()


def test_uvicorn_has_the_protocol_class_the_production_server_subclasses() -> None:
    assert hasattr(websockets_sansio_impl, "WebSocketsSansIOProtocol"), (
        "uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol moved: "
        "config/websocket.py subclasses it"
    )


@pytest.mark.parametrize("name", UVICORN_ATTRIBUTES)
def test_uvicorn_protocol_attribute_the_production_server_uses(protocol: Any, name: str) -> None:
    assert hasattr(protocol, name), (
        f"uvicorn's WebSocketsSansIOProtocol has no attribute {name!r} any more: "
        "config/websocket.py relies on it"
    )


def test_uvicorn_protocol_sets_the_scope_the_production_server_extends() -> None:
    # Set by handle_connect, after which config/websocket.py adds its ASGI extensions to it.
    source = inspect.getsource(websockets_sansio_impl.WebSocketsSansIOProtocol.handle_connect)
    assert "self.scope" in source, (
        "uvicorn's WebSocketsSansIOProtocol.handle_connect sets no self.scope any more: "
        "config/websocket.py adds its ASGI extensions there"
    )


def test_uvicorn_protocol_offers_what_the_threshold_deflate_wraps(protocol: Any) -> None:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    assert hasattr(protocol.conn, "available_extensions"), (
        "websockets' ServerProtocol.available_extensions is gone: config/websocket.py "
        "replaces uvicorn's permessage-deflate factory there"
    )
    assert any(
        isinstance(f, ServerPerMessageDeflateFactory) for f in protocol.conn.available_extensions
    ), "uvicorn no longer offers permessage-deflate through conn.available_extensions"


def test_uvicorn_closes_before_the_production_server_aborts(protocol: Any) -> None:
    assert isinstance(protocol.close_timeout, int | float) and protocol.close_timeout > 0, (
        "WebSocketsSansIOProtocol.close_timeout is no longer a number of seconds"
    )


@pytest.mark.parametrize("name", sorted(UVICORN_METHODS))
def test_uvicorn_protocol_method_the_production_server_overrides(name: str) -> None:
    method = getattr(websockets_sansio_impl.WebSocketsSansIOProtocol, name, None)
    assert callable(method), f"uvicorn's WebSocketsSansIOProtocol.{name} is gone"
    assert parameters(method) == UVICORN_METHODS[name], (
        f"uvicorn's WebSocketsSansIOProtocol.{name} takes {parameters(method)} now, "
        f"config/websocket.py expects {UVICORN_METHODS[name]}"
    )
    if name in ("run_asgi", "send"):
        assert inspect.iscoroutinefunction(method), f"WebSocketsSansIOProtocol.{name} is not async"


@pytest.mark.parametrize(
    ("cls", "name"), [(c, n) for c, names in CHANNELS_REDIS_ATTRIBUTES.items() for n in names]
)
def test_channels_redis_attribute_the_channel_layer_uses(cls: str, name: str) -> None:
    owner = getattr(pubsub, cls, None)
    assert owner is not None, f"channels_redis.pubsub.{cls} is gone: cobrowse/channel_layer.py"
    if hasattr(owner, name):
        return
    # An instance attribute: set in __init__.
    source = inspect.getsource(owner.__init__)
    assert f"self.{name} =" in source, (
        f"channels_redis.pubsub.{cls}.{name} is gone: cobrowse/channel_layer.py relies on it"
    )


@pytest.mark.parametrize(("cls", "name"), sorted(CHANNELS_REDIS_METHODS))
def test_channels_redis_method_the_channel_layer_overrides(cls: str, name: str) -> None:
    method = getattr(getattr(pubsub, cls), name, None)
    assert callable(method), f"channels_redis.pubsub.{cls}.{name} is gone"
    expected = CHANNELS_REDIS_METHODS[(cls, name)]
    assert parameters(method) == expected, (
        f"channels_redis.pubsub.{cls}.{name} takes {parameters(method)} now, "
        f"cobrowse/channel_layer.py expects {expected}"
    )


def test_channels_redis_still_wraps_the_loop_close_as_the_channel_layer_does() -> None:
    assert callable(getattr(utils, "_wrap_close", None)), (
        "channels_redis.utils._wrap_close is gone: cobrowse/channel_layer.py's _get_layer "
        "calls it as RedisPubSubChannelLayer._get_layer does"
    )
    assert parameters(utils._wrap_close) == ["proxy", "loop"]
    assert "_wrap_close(self, loop)" in inspect.getsource(pubsub.RedisPubSubChannelLayer._get_layer)
