"""The client side of the bench: processes that hold WebSockets and send and receive ops.

No Django here. Each client process (multiprocessing, `spawn`) connects its share of the
participants, then obeys the orchestrator over a pipe: `step` (send at a given rate for a given
time, then wait for the deliveries), `finish` (wait for stragglers, report loss), `stop`.

Every op carries its sender's number, its index and its send time (time.time(): one clock for
every process of the machine), so a receiver knows the end-to-end latency of each delivery and
can tell a missing, duplicated or out-of-order op. On the product's protocol the server's `seq`
is checked too: per connection strictly increasing (an own `all` op comes as ack, then op).

A sender on the product's protocol sends as the product's browser transport does
(static/cobrowse/transport.js): one frame in flight, and the ops that come due meanwhile pile up
and go together as the next frame (`ops`) once every op in flight is answered, in as few frames
as the server's limit of ops a frame allows (the transport's `#flush`); each op keeps its own
send time, so its latency counts its wait in the pile. It connects with
`?batch=1`, as the product's clients do. The relays get one frame per op, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import threading
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from cobrowse.protocol import MAX_OPS_PER_FRAME

from .rawws import RawWebSocket

TICK = 0.002  # the sender's clock: ops due are sent every 2 ms
CONNECT_CONCURRENCY = 32


@dataclass(frozen=True)
class Spec:
    """One participant as the orchestrator describes it (picklable)."""

    url: str
    cookie: str | None
    session: int  # index of its session
    number: int  # unique across the run; the sender id in every payload
    protocol: str  # "cobrowse" (the product) or "relay" (the baselines)
    kind: str = "pointer"  # what it sends on a relay (on cobrowse: decided by its role)
    sends: bool = True  # the session's one sender; the others only receive


@dataclass
class StepStats:
    deliveries: array[float] = field(default_factory=lambda: array("f"))  # ms, send -> receipt
    acks: array[float] = field(default_factory=lambda: array("f"))  # ms, send -> own ack / echo
    expected: int = 0
    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    stale: int = 0  # arrived after its step had ended
    errors: dict[str, int] = field(default_factory=dict)
    first_send: float = 0.0
    last_send: float = 0.0
    last_receive: float = 0.0


class Client:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.ws: Any = None
        self.kind = spec.kind
        self.welcome: dict[str, Any] = {}
        self.peers: list[int] = []  # numbers of the other participants of its session
        self.next_index = 0
        # Index range of the running step, [step_low, step_high): the same for every client,
        # as every sender sends `count` ops a step (a receiver counts its sender's ops by it).
        self.step_low = 0
        self.step_high = 0
        self.sent_at: dict[int, float] = {}
        self.seen: dict[int, set[int]] = {}  # sender -> indices received in this run
        self.last_index: dict[int, int] = {}
        self.acked: set[int] = set()
        self.last_seq = 0
        self.last_type = ""
        self.seqs: set[int] = set()
        self.seq_problems = 0
        self.closed: int | None = None
        self.failure = ""
        self.stats = StepStats()
        self.done = asyncio.Event()
        self.pending = 0
        self.piled: list[dict[str, Any]] = []  # ops due while a frame is in flight
        self.in_flight = 0  # ops of the frames in flight not answered yet

    # --- Connection --------------------------------------------------------------------------

    async def connect(self) -> None:
        self.ws = await RawWebSocket.connect(self.spec.url, cookie=self.spec.cookie)
        if self.spec.protocol == "cobrowse":
            self.welcome = orjson.loads(await self.ws.recv())
            if self.welcome.get("type") != "welcome":
                raise RuntimeError(f"expected welcome, got {self.welcome}")
            self.kind = "chat" if self.welcome["role"] == "observer" else "pointer"
            self.last_seq = self.welcome["position"]

    def start_reading(self) -> None:
        """From now on each read's frames are handled in the socket's callback (no task)."""
        self.ws.on_close = self._on_close
        self.ws.on_frames = self._on_frames
        for raw in self.ws.pending:  # anything that came between the welcome and now
            self._on_frames([raw])
        self.ws.pending.clear()
        if self.ws.close_code is not None:
            self._on_close(self.ws.close_code)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()

    # --- Sending -----------------------------------------------------------------------------

    def op(self, index: int, now: float) -> dict[str, Any]:
        number = self.spec.number
        if self.kind == "chat":
            payload: dict[str, Any] = {"text": f"b|{number}|{index}|{now!r}"}
        else:
            payload = {"x": now, "y": index, "id": number}
        return {"client_op_id": f"b{number}-{index}", "kind": self.kind, "payload": payload}

    def send_one(self, now: float) -> None:
        index = self.next_index
        self.next_index += 1
        self.sent_at[index] = now
        op = self.op(index, now)
        if self.spec.protocol != "cobrowse":
            self.ws.send_text(orjson.dumps({"type": "op", **op}))
            return
        self.piled.append(op)
        if self.in_flight == 0:
            self._send_piled()

    def _send_piled(self) -> None:
        """Every op piled up, now in flight, as the browser transport's `#flush` sends them: in
        as few frames as the server's limit of ops a frame allows (one op: an `op` frame)."""
        piled, self.piled = self.piled, []
        self.in_flight = len(piled)
        for start in range(0, len(piled), MAX_OPS_PER_FRAME):
            ops = piled[start : start + MAX_OPS_PER_FRAME]
            frame = {"type": "op", **ops[0]} if len(ops) == 1 else {"type": "ops", "ops": ops}
            self.ws.send_text(orjson.dumps(frame))

    def _answered(self, count: int) -> None:
        self.in_flight = max(0, self.in_flight - count)
        if self.in_flight == 0 and self.piled:
            self._send_piled()

    # --- Receiving ---------------------------------------------------------------------------

    def _on_frames(self, frames: list[bytes]) -> None:
        now = time.time()
        try:
            for raw in frames:
                self._on_frame(orjson.loads(raw), now)
        except Exception as exc:  # a frame the bench cannot read: this client is done
            self.failure = f"{type(exc).__name__}: {exc}"
            self.ws.on_frames = None
            self._on_close(-1)

    def _on_close(self, code: int) -> None:
        if self.closed is None:
            self.closed = code

    def _on_frame(self, frame: dict[str, Any], now: float) -> None:
        stats = self.stats
        stats.last_receive = now
        if "message" in frame:  # a baseline relay
            marker = _marker(frame["message"].get("payload"))
            if marker is None:
                return
            sender, index, sent = marker
            if sender == self.spec.number:
                self._on_ack(index, now)
            else:
                self._on_delivery(sender, index, sent, now)
            return
        frame_type = frame["type"]
        if frame_type == "batch":
            for inner in frame["frames"]:
                self._on_frame(inner, now)
            return
        if frame_type == "op":
            self._check_seq(frame["seq"], "op")
            marker = _marker(frame["payload"])
            if marker is None:  # not a bench op (a participant's `joined`)
                return
            sender, index, sent = marker
            if sender != self.spec.number:
                self._on_delivery(sender, index, sent, now)
        elif frame_type == "ack":
            self._check_seq(frame["seq"], "ack")
            self._on_ack(int(frame["client_op_id"].rsplit("-", 1)[1]), now)
            self._answered(1)
        elif frame_type == "acks":
            for offset, client_op_id in enumerate(frame["client_op_ids"]):
                self._check_seq(frame["seq"] + offset, "ack")
                self._on_ack(int(client_op_id.rsplit("-", 1)[1]), now)
            self._answered(len(frame["client_op_ids"]))
        elif frame_type == "error":
            code = frame.get("code", "?")
            stats.errors[code] = stats.errors.get(code, 0) + 1
            if "client_op_id" in frame:
                self._answered(1)

    def _check_seq(self, seq: int, frame_type: str) -> None:
        if seq > self.last_seq or (
            seq == self.last_seq and self.last_type == "ack" and frame_type == "op"
        ):
            self.last_seq, self.last_type = seq, frame_type
            self.seqs.add(seq)
        else:
            self.seq_problems += 1
            if seq in self.seqs:
                self.stats.duplicates += 1
            else:
                self.stats.reordered += 1

    def _on_ack(self, index: int, now: float) -> None:
        if index in self.acked:
            self.stats.duplicates += 1
            return
        self.acked.add(index)
        sent = self.sent_at.pop(index, None)
        if sent is not None and self.step_low <= index < self.step_high:
            self.stats.acks.append((now - sent) * 1000)
            self._progress()
        else:
            self.stats.stale += 1

    def _on_delivery(self, sender: int, index: int, sent: float, now: float) -> None:
        seen = self.seen.setdefault(sender, set())
        if index in seen:
            self.stats.duplicates += 1
            return
        if index < self.last_index.get(sender, -1):
            self.stats.reordered += 1
        else:
            self.last_index[sender] = index
        seen.add(index)
        if self.step_low <= index < self.step_high:
            self.stats.deliveries.append((now - sent) * 1000)
            self.stats.received += 1
            self._progress()
        else:
            self.stats.stale += 1

    def _progress(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.done.set()

    # --- Steps -------------------------------------------------------------------------------

    def begin_step(self, count: int) -> None:
        self.stats = StepStats()
        self.step_low = self.step_high
        self.step_high = self.step_low + count
        # Each sender sends `count`; this one receives them from its sender, or is the sender.
        self.stats.expected = count * len(self.peers)
        self.pending = self.stats.expected + (count if self.spec.sends else 0)
        self.done = asyncio.Event()
        if self.pending == 0:
            self.done.set()

    def lost(self, sent_by: dict[int, int]) -> int:
        """Ops of its peers never received in this run (`sent_by`: sender -> ops sent)."""
        return sum(sent_by.get(p, 0) - len(self.seen.get(p, ())) for p in self.peers) + (
            self.next_index - len(self.acked)
        )


def _marker(payload: Any) -> tuple[int, int, float] | None:
    """(sender, index, send time) of a bench op, None for anything else."""
    if not isinstance(payload, dict):
        return None
    text = payload.get("text")
    if isinstance(text, str) and text.startswith("b|"):
        _, sender, index, sent = text.split("|")
        return int(sender), int(index), float(sent)
    if "id" in payload and "y" in payload and "x" in payload:
        return int(payload["id"]), int(payload["y"]), float(payload["x"])
    return None


# --- The process -----------------------------------------------------------------------------


def client_process(conn: Connection, specs: list[Spec], peers: dict[int, list[int]]) -> None:
    """Entry point of one client process."""
    if os.environ.get("BENCH_NICE"):
        os.nice(int(os.environ["BENCH_NICE"]))
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_main(conn, specs, peers))


async def _main(conn: Connection, specs: list[Spec], peers: dict[int, list[int]]) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def pipe_reader() -> None:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                message = ("stop",)
            loop.call_soon_threadsafe(commands.put_nowait, message)
            if message[0] == "stop":
                return

    threading.Thread(target=pipe_reader, daemon=True).start()
    clients = [Client(spec) for spec in specs]
    for client in clients:
        client.peers = peers[client.spec.number]
    await _connect_all(conn, clients)
    try:
        while True:
            command = await commands.get()
            if command[0] == "step":
                conn.send(("step", await _step(clients, **command[1])))
            elif command[0] == "finish":
                conn.send(("finish", await _finish(clients, **command[1])))
            elif command[0] == "stop":
                break
    finally:
        await asyncio.gather(*(c.close() for c in clients if c.ws is not None))
    conn.send(("stopped", {}))


async def _step(
    clients: list[Client], *, start_at: float, rate: float, duration: float, drain: float
) -> dict[str, Any]:
    count = int(rate * duration)
    cpu = time.process_time()
    for client in clients:
        client.begin_step(count)
    senders = [c for c in clients if c.spec.sends]
    # Each participant sends at `rate` from its own phase, so the load has no bursts.
    phases = [(i * 0.618034) % 1.0 / rate for i in range(len(senders))]
    sent = [0] * len(senders)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    first = time.time()
    while True:
        now = time.time()
        elapsed = now - start_at
        busy = False
        for i, client in enumerate(senders):
            if sent[i] >= count or client.closed is not None:
                continue
            # floor, not int(): before its phase a participant has nothing due (int() rounds
            # toward zero, and every participant sent its first op at once at the start).
            due = min(count, math.floor((elapsed - phases[i]) * rate) + 1)
            while sent[i] < due:
                client.send_one(time.time())
                sent[i] += 1
            busy = busy or sent[i] < count
        if not busy:
            break
        await asyncio.sleep(TICK)
    last = time.time()
    deadline = last + drain
    for client in clients:
        remaining = deadline - time.time()
        if remaining <= 0 or client.closed is not None:
            break
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(client.done.wait(), remaining)
    deliveries = array("f")
    acks = array("f")
    errors: dict[str, int] = {}
    totals = dict.fromkeys(
        ("expected", "received", "duplicates", "reordered", "stale", "acks_expected"), 0
    )
    last_receive = 0.0
    for client in clients:
        stats = client.stats
        deliveries.extend(stats.deliveries)
        acks.extend(stats.acks)
        for code, n in stats.errors.items():
            errors[code] = errors.get(code, 0) + n
        totals["expected"] += stats.expected
        totals["received"] += stats.received
        totals["duplicates"] += stats.duplicates
        totals["reordered"] += stats.reordered
        totals["stale"] += stats.stale
        totals["acks_expected"] += count if client.spec.sends else 0
        last_receive = max(last_receive, stats.last_receive)
    return {
        **totals,
        "deliveries": deliveries.tobytes(),
        "acks": acks.tobytes(),
        "errors": errors,
        "first_send": first,
        "last_send": last,
        "last_receive": last_receive,
        "sent": count * len(senders),
        "closed": sum(1 for c in clients if c.closed is not None),
        "sent_by": {c.spec.number: c.next_index for c in clients},
        "cpu_seconds": time.process_time() - cpu,
    }


async def _finish(clients: list[Client], *, sent_by: dict[int, int], wait: float) -> dict[str, Any]:
    """After the last step: give stragglers `wait` seconds, then count what never came."""
    deadline = time.time() + wait
    while time.time() < deadline:
        if all(c.lost(sent_by) <= 0 or c.closed is not None for c in clients):
            break
        await asyncio.sleep(0.05)
    seq_gaps = 0
    for client in clients:
        if client.spec.protocol == "cobrowse" and client.seqs:
            low = client.welcome["position"] + 1
            seq_gaps += len(set(range(low, max(client.seqs) + 1)) - client.seqs)
    return {
        "lost": sum(max(0, c.lost(sent_by)) for c in clients),
        "seq_gaps": seq_gaps,
        "seq_problems": sum(c.seq_problems for c in clients),
        "closed": sum(1 for c in clients if c.closed is not None),
        "close_codes": sorted({c.closed for c in clients if c.closed is not None}),
        "failures": [c.failure for c in clients if c.failure][:5],
    }


# --- Idle connections ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectPlan:
    """How a client process opens its sockets: `concurrency` handshakes at a time, each given
    `timeout` seconds until its welcome, and a word to the parent every `progress_every`."""

    concurrency: int = CONNECT_CONCURRENCY
    timeout: float | None = None
    progress_every: int = 0


def idle_process(conn: Connection, specs: list[Spec], plan: ConnectPlan) -> None:
    """Hold `specs` open, doing nothing, until told to stop."""
    from .stack import raise_open_files

    raise_open_files(len(specs) + 100)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_idle(conn, specs, plan))


async def _connect_all(
    conn: Connection, clients: list[Client], plan: ConnectPlan | None = None
) -> None:
    """Open every client's socket (a few at a time), start reading, and tell the parent how
    many connected."""
    plan = plan or ConnectPlan()
    gate = asyncio.Semaphore(plan.concurrency)
    done = 0
    started = time.time()

    async def connect(client: Client) -> str | None:
        nonlocal done
        async with gate:
            try:
                await asyncio.wait_for(client.connect(), plan.timeout)
            except TimeoutError:
                if client.ws is not None:
                    client.ws._abort()
                    client.ws = None
                return f"no welcome within {plan.timeout:g} s"
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            finally:
                done += 1
                if plan.progress_every and done % plan.progress_every == 0:
                    conn.send(("progress", {"done": done, "seconds": time.time() - started}))
            return None

    failures = [f for f in await asyncio.gather(*(connect(c) for c in clients)) if f]
    for client in clients:
        if client.ws is not None:
            client.start_reading()
    conn.send(
        (
            "ready",
            {
                "connected": len(clients) - len(failures),
                "failures": failures[:5],
                "failed": len(failures),
                "seconds": time.time() - started,
                "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            },
        )
    )


async def _idle(conn: Connection, specs: list[Spec], plan: ConnectPlan) -> None:
    clients = [Client(spec) for spec in specs]
    await _connect_all(conn, clients, plan)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    open_now = sum(1 for c in clients if c.ws is not None and c.closed is None)
    await asyncio.gather(*(c.close() for c in clients if c.ws is not None))
    conn.send(("stopped", {"open_until_stop": open_now}))


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    """Split `items` round-robin into `n` lists."""
    return [items[i::n] for i in range(n)] if n > 0 else [items]
