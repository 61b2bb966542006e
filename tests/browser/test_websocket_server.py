"""The production server's WebSocket implementation (config/websocket.py) with a real browser:
Chromium offers permessage-deflate, the server sends small messages uncompressed and large ones
compressed on one connection, and Chromium reads them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.websocket import COMPRESS_THRESHOLD
from tests.live import live_server_process

pytestmark = pytest.mark.browser

EXCHANGE = """
async ([sizes]) => {
  const socket = new WebSocket(`ws://${location.host}/echo/`);
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
  const sent = sizes.map((size, i) => `${i}:` + "abcdefghij".repeat(size / 10 + 1).slice(0, size));
  const echoes = [];
  const done = new Promise((resolve) => {
    socket.onmessage = (event) => {
      echoes.push(event.data);
      if (echoes.length === sent.length) resolve();
    };
  });
  for (const text of sent) socket.send(text);
  await done;
  socket.close();
  return { extensions: socket.extensions, same: echoes.map((text, i) => text === sent[i]) };
}
"""


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[str]:
    with live_server_process(tmp_path, app="tests.echo_asgi:app") as server:
        yield f"http://127.0.0.1:{server.port}"


def test_chromium_reads_compressed_and_uncompressed_messages_on_one_socket(
    browser: Any, echo_server: str
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{echo_server}/")
        small, large = 40, COMPRESS_THRESHOLD * 50
        sizes = [small, large, small, small, large * 3, small, COMPRESS_THRESHOLD]
        result: dict[str, Any] = page.evaluate(EXCHANGE, [sizes])
    finally:
        context.close()
    assert "permessage-deflate" in result["extensions"]
    assert result["same"] == [True] * len(sizes)
