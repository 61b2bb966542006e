"""The production server's WebSocket implementation (config/websocket.py) with a real browser:
Chromium offers permessage-deflate, the server sends small messages uncompressed and large ones
compressed on one connection, and Chromium reads them all."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.websocket import COMPRESS_THRESHOLD, production_command
from tests.browser.conftest import free_port

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]

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
    port = free_port()
    log = (tmp_path / "echo.log").open("w")
    proc = subprocess.Popen(
        production_command("tests.echo_asgi:app", port), cwd=ROOT, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no echo server"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


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
