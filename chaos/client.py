"""A participant as the chaos harness plays it: a real WebSocket client of the protocol.

It does what docs/protocol.md asks of a client, and what static/cobrowse/transport.js does:
- every op gets a client_op_id and stays in `pending`, in order, until it is acked; after every
  welcome the pending ops are sent again with the same ids (the server acks a repeated id with
  its first seq and never journals it twice);
- it connects with `?last_seq=N`, N the last seq it applied, to whichever server is up;
- it drops any seq it has already applied, and answers a seq jump with `resume`;
- `rate_limited` errors are re-sent later; `unavailable` (close TRY_AGAIN) means reconnect;
- one frame in flight: the ops generated while the server has not answered every op of the
  frame in flight pile up and go together as the next frame (`ops`), and their acks may come
  as one `acks` frame.

Besides what a browser keeps, it records what a checker needs: every op frame it applied, every
ack, and every protocol anomaly it saw on a connection (a frame out of shape, a duplicate or a
seq going backwards that no resume explains).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Origin

from cobrowse.protocol import (
    DELIVERY,
    FINAL_CLOSE_CODES,
    MAX_OPS_PER_FRAME,
    server_frame_problems,
)

_markers = itertools.count(1)


def marker_of(kind: str, payload: dict[str, Any]) -> int | None:
    """The run-wide op number a harness op carries in its payload (None: not a harness op)."""
    try:
        if kind == "chat":
            return int(str(payload["text"]).rsplit(" ", 1)[1])
        if kind in ("pointer", "highlight"):
            return int(payload["x"])
        if kind == "scroll":
            return int(payload["y"])
        if kind == "input":
            return int(str(payload["value"])[1:])
        if kind == "dom":
            return int(payload["events"][0]["timestamp"])
    except (KeyError, ValueError, IndexError, TypeError):
        return None
    return None


def make_op(kind: str, n: int, element_no: int) -> tuple[dict[str, Any], str | None]:
    """A payload of `kind` tagged with op number `n`, and its element."""
    if kind == "chat":
        return {"text": f"chaos message {n}"}, None
    if kind == "pointer":
        return {"x": n, "y": 0}, None
    if kind == "scroll":
        return {"x": 0, "y": n}, None
    if kind == "input":
        return {"value": f"v{n}"}, f"field:note-{element_no}"
    if kind == "highlight":
        return {"x": n, "y": 0, "w": 10, "h": 10}, None
    if kind == "dom":
        event = {
            "type": 3,
            "data": {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": []},
            "timestamp": n,
        }
        return {"events": [event]}, None
    raise ValueError(kind)


# What each role sends, with weights (observers may only chat).
MIX: dict[str, list[tuple[str, int]]] = {
    "customer": [("pointer", 5), ("scroll", 2), ("input", 3), ("dom", 3), ("chat", 1)],
    "operator": [("pointer", 5), ("highlight", 2), ("chat", 2)],
    "observer": [("chat", 1)],
}


@dataclass
class Stats:
    connects: int = 0
    connect_failures: int = 0
    frames_sent: int = 0
    resends: int = 0
    rate_limited: int = 0
    resumes: int = 0
    redelivered: int = 0  # op frames at or below the position after a resume (expected)
    unexpected_duplicates: int = 0  # ... without a resume in flight (a server bug)
    regressions: int = 0  # seq going backwards on one connection without a resume
    shape_errors: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)


class ChaosClient:
    """One participant (one browser tab) of one session."""

    def __init__(
        self,
        *,
        name: str,
        role: str,
        session_id: str,
        cookie: str,
        ports: list[int],
        rate: float,
        rng: random.Random,
        sent_at: dict[int, float],
        latencies: list[float],
        ping_interval: float = 2.0,
        max_pending: int = 300,
    ) -> None:
        self.name, self.role, self.session_id, self.cookie = name, role, session_id, cookie
        self.ports, self.rate, self.rng = ports, rate, rng
        self.sent_at, self.latencies = sent_at, latencies
        self.ping_interval, self.max_pending = ping_interval, max_pending
        self.participant: int | None = None
        self.pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.kind_of: dict[str, str] = {}
        self.generated: list[str] = []
        self.acked: dict[str, int] = {}
        self.ack_conflicts: list[tuple[str, int, int]] = []
        self.refused: list[dict[str, Any]] = []
        self.applied: list[tuple[int, str, int, Any]] = []  # (seq, kind, sender, payload)
        self.position = 0
        self.stats = Stats()
        self.fatal: str | None = None
        self.generating = True
        self.pinging = True
        self.stopped = False
        self.ws: ClientConnection | None = None
        self._out: asyncio.Queue[str] | None = None
        self._connected = asyncio.Event()
        self._resuming = False
        self._last_seq_on_conn = 0
        self._counter = itertools.count(1)
        self._resend_tasks: set[asyncio.Task[None]] = set()
        self._sent: set[str] = set()  # ids sent on this connection (again after a rate limit)
        self._in_flight: set[str] = set()  # ids sent on this connection and not answered yet
        self.last_pong: int | None = None
        self._pong = asyncio.Event()

    # --- Life --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, reconnect after every drop, until stopped."""
        failures = 0
        while not self.stopped and self.fatal is None:
            port = self.rng.choice(self.ports)
            try:
                await self._connection(port)
                failures = 0
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                self.stats.connect_failures += 1
                failures += 1
            self._connected.clear()
            self.ws = None
            if not self.stopped:
                await asyncio.sleep(min(2.0, 0.05 * 2 ** min(failures, 6)) * self.rng.random())

    async def _connection(self, port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/cobrowse/{self.session_id}/?last_seq={self.position}"
        async with connect(
            url,
            origin=Origin(f"http://127.0.0.1:{port}"),
            additional_headers={"Cookie": self.cookie},
            open_timeout=5,
            ping_interval=None,
            close_timeout=1,
            max_size=2**23,
            proxy=None,
            compression=None,
        ) as ws:
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if first.get("type") != "welcome" or server_frame_problems(first):
                self.stats.shape_errors += 1
                return
            self.stats.connects += 1
            self.participant = first["participant"]
            self.ws = ws
            self._resuming = False
            self._last_seq_on_conn = first["position"]
            self._out = asyncio.Queue()
            self._sent.clear()
            self._in_flight.clear()
            self.stats.resends += len(self.pending)
            self._flush()  # unacked ops again, same ids, same order
            self._connected.set()
            writer = asyncio.create_task(self._write(ws, self._out))
            pinger = asyncio.create_task(self._ping())
            try:
                async for message in ws:
                    self._on_frame(orjson.loads(message))
            finally:
                writer.cancel()
                pinger.cancel()
                self._out = None
                code = ws.close_code
                if code is not None:
                    self.stats.closes[code] += 1
                    if code in FINAL_CLOSE_CODES:
                        self.fatal = f"closed with {code}"

    async def _write(self, ws: ClientConnection, out: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                text = await out.get()
                await ws.send(text)
                self.stats.frames_sent += 1

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval * (0.5 + self.rng.random()))
            if self.pinging:
                self._send({"type": "ping"})

    def _send(self, frame: dict[str, Any]) -> None:
        if self._out is not None:
            self._out.put_nowait(orjson.dumps(frame).decode())

    def drop(self) -> bool:
        """Break the connection without a close handshake, as a network failure would."""
        ws = self.ws
        if ws is None or ws.transport is None:
            return False
        ws.transport.abort()
        return True

    # --- Sending -----------------------------------------------------------------------------

    async def generate(self) -> None:
        """Send ops at `rate` per second (with jitter) while `generating`."""
        kinds = [k for k, _ in MIX[self.role]]
        weights = [w for _, w in MIX[self.role]]
        while self.generating:
            await asyncio.sleep(self.rng.expovariate(self.rate))
            if not self.generating:
                break
            if len(self.pending) >= self.max_pending:
                continue  # like a page whose outbox is full: wait for acks
            self.send_op(self.rng.choices(kinds, weights)[0])

    def send_op(self, kind: str) -> None:
        n = next(_markers)
        payload, element = make_op(kind, n, self.rng.randrange(5))
        cid = f"{self.name}-{next(self._counter)}"
        frame: dict[str, Any] = {
            "type": "op",
            "client_op_id": cid,
            "kind": kind,
            "payload": payload,
        }
        if element is not None:
            frame["element"] = element
        self.pending[cid] = frame
        self.kind_of[cid] = kind
        self.generated.append(cid)
        self.sent_at[n] = time.monotonic()
        self._flush()

    def _flush(self) -> None:
        """Unless a frame is in flight, every pending op not sent on this connection yet, as
        `ops` frames (one op: an `op` frame); those are then in flight."""
        if self._out is None or self._in_flight:
            return
        due = [cid for cid in self.pending if cid not in self._sent]
        for start in range(0, len(due), MAX_OPS_PER_FRAME):
            chunk = due[start : start + MAX_OPS_PER_FRAME]
            self._sent.update(chunk)
            self._in_flight.update(chunk)
            if len(chunk) == 1:
                self._send(self.pending[chunk[0]])
            else:
                ops = [{k: v for k, v in self.pending[c].items() if k != "type"} for c in chunk]
                self._send({"type": "ops", "ops": ops})

    def _answered(self, cid: str) -> None:
        self._in_flight.discard(cid)
        self._flush()

    def _resend_later(self, cid: str, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            if cid in self.pending:
                self._sent.discard(cid)
                self.stats.resends += 1
                self._flush()

        task = asyncio.create_task(later())
        self._resend_tasks.add(task)
        task.add_done_callback(self._resend_tasks.discard)

    # --- Receiving ---------------------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if server_frame_problems(frame):
            self.stats.shape_errors += 1
            return
        kind = frame["type"]
        if kind == "op":
            self._on_op(frame)
        elif kind == "ack":
            self._on_ack(frame)
            self._answered(frame["client_op_id"])
        elif kind == "acks":
            for offset, cid in enumerate(frame["client_op_ids"]):
                ack = {"client_op_id": cid, "seq": frame["seq"] + offset}
                self._on_ack(ack)
                self._in_flight.discard(cid)
            self._flush()
        elif kind == "synced":
            self._resuming = False
        elif kind == "pong":
            self.last_pong = frame["head_seq"]
            self._pong.set()
        elif kind == "error":
            self._on_error(frame)
            if "client_op_id" in frame:
                self._answered(frame["client_op_id"])

    def _check_order(self, seq: int, same_seq_ok: bool) -> None:
        last = self._last_seq_on_conn
        if (seq < last or (seq == last and not same_seq_ok)) and not self._resuming:
            self.stats.regressions += 1
        self._last_seq_on_conn = max(last, seq)

    def _on_ack(self, frame: dict[str, Any]) -> None:
        cid, seq = frame["client_op_id"], frame["seq"]
        first = self.acked.setdefault(cid, seq)
        if first != seq:
            self.ack_conflicts.append((cid, first, seq))
        self.pending.pop(cid, None)
        if seq <= self.position:
            return  # an ack repeated for a re-sent op, or during a replay
        self._check_order(seq, same_seq_ok=False)
        if seq > self.position + 1:
            self._gap()
            return
        # An own op of delivery `all` comes as ack then op with the same seq: wait for the op.
        # Ops of the server's own (joined) are of delivery `all` too.
        kind = self.kind_of.get(cid, "session")
        if DELIVERY[kind] == "others":
            self.position = seq

    def _on_op(self, frame: dict[str, Any]) -> None:
        seq = frame["seq"]
        if seq <= self.position:
            if self._resuming:
                self.stats.redelivered += 1
            else:
                self.stats.unexpected_duplicates += 1
            return
        self._check_order(seq, same_seq_ok=frame["sender"]["participant"] == self.participant)
        if seq > self.position + 1:
            self._gap()
            return
        self.position = seq
        self.applied.append((seq, frame["kind"], frame["sender"]["participant"], frame["payload"]))
        if frame["sender"]["participant"] != self.participant:
            n = marker_of(frame["kind"], frame["payload"])
            sent = self.sent_at.get(n) if n is not None else None
            if sent is not None:
                self.latencies.append(time.monotonic() - sent)

    def _gap(self) -> None:
        if not self._resuming:
            self._resuming = True
            self.stats.resumes += 1
            self._send({"type": "resume", "last_seq": self.position})

    def _on_error(self, frame: dict[str, Any]) -> None:
        code = frame["code"]
        self.stats.errors[code] += 1
        cid = frame.get("client_op_id")
        if code == "rate_limited":
            self.stats.rate_limited += 1
            if cid is not None:
                self._resend_later(cid, 0.2 + self.rng.random() * 0.5)
        elif code == "unavailable":
            pass  # the server closes with TRY_AGAIN; the ops are sent again after reconnecting
        elif cid is not None and cid in self.pending:
            # Refused for good: the server says it will never journal it.
            self.refused.append(frame)
            self.pending.pop(cid, None)

    # --- End of the run ----------------------------------------------------------------------

    async def settle(self, head: Callable[[], int], deadline: float) -> bool:
        """Wait until every op is acked and everything up to the session's head is applied."""
        while time.monotonic() < deadline and self.fatal is None:
            if not self.pending and self.position >= head():
                return True
            if self._connected.is_set():
                self._pong.clear()
                self._send({"type": "ping"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pong.wait(), 1.0)
                if self.pending:
                    for frame in list(self.pending.values()):
                        self._send(frame)
                    await asyncio.sleep(0.3)
            else:
                await asyncio.sleep(0.1)
        return not self.pending and self.position >= head()
