"""The delivery cursor of one connection on its own, with a recording socket and a journal in a
list: what arrives early is held and released in seq order, a gap no doorbell fills is read
from the journal, catch-up reads page by page, and a reader that falls too far behind is
closed rather than queued for without bound."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from cobrowse import delivery, selectors
from cobrowse.delivery import Delivery
from cobrowse.protocol import CloseCode
from cobrowse.sequencer import Entry

ME, OTHER = 1, 2


def entry(seq: int, *, sender: int = OTHER) -> Entry:
    return Entry(
        seq=seq,
        element_seq=None,
        delivery="others",
        sender_id=sender,
        client_op_id=f"c{seq}",
        text=orjson.dumps({"type": "op", "seq": seq}).decode(),
        ends_session=False,
    )


class Socket:
    """What the cursor wrote: the seq of each op frame, the other frames, the close code."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.direct: list[int] = []  # seqs written through the direct write

    async def send(self, text: str) -> None:
        self.frames.append(orjson.loads(text))

    async def send_asgi(self, message: dict[str, Any]) -> None:
        self.seqs.append(orjson.loads(message["text"])["seq"])

    async def close(self, code: int) -> None:
        self.closed = code

    def write_now(self, texts: list[str]) -> bool:
        self.direct += [orjson.loads(text)["seq"] for text in texts]
        return True


class Journal:
    """`selectors.operations_after` over a list of entries, counting the reads."""

    def __init__(self, head: int) -> None:
        self.entries = [entry(seq) for seq in range(1, head + 1)]
        self.reads: list[tuple[int, int | None]] = []

    def operations_after(
        self, *, session_id: str, seq: int, upto: int | None = None, limit: int = 500
    ) -> list[Entry]:
        self.reads.append((seq, upto))
        last = upto if upto is not None else len(self.entries)
        return [e for e in self.entries if seq < e["seq"] <= last][:limit]


def cursor(socket: Socket, *, direct: bool = False) -> Delivery:
    return Delivery(
        session_id="s",
        participant_id=ME,
        batch=False,
        send=socket.send,
        close=socket.close,
        send_asgi=socket.send_asgi,
        write_now=socket.write_now if direct else None,
    )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Journal:
    journal = Journal(head=0)
    monkeypatch.setattr(selectors, "operations_after", journal.operations_after)
    return journal


async def test_entries_that_arrive_early_are_held_and_released_in_order(journal, monkeypatch):
    monkeypatch.setattr(delivery, "GAP_GRACE_SECONDS", 30.0)
    socket = Socket()
    d = cursor(socket)
    d.place(0, catch_up=False)
    d.start()
    d.deliver_entries([entry(3)])
    d.deliver_entries([entry(2)])
    await settle()
    assert socket.seqs == []  # seq 1 is still on its way
    d.deliver_entries([entry(1)])
    d.deliver_entries([entry(2), entry(3)])  # again, from another doorbell
    d.deliver_entries([entry(4)])
    await settle()
    assert socket.seqs == [1, 2, 3, 4]
    assert journal.reads == []  # the doorbell filled the gap before the grace ran out
    await d.stop()


async def test_a_gap_no_doorbell_fills_is_read_from_the_journal_once(journal, monkeypatch):
    monkeypatch.setattr(delivery, "GAP_GRACE_SECONDS", 0.02)
    journal.entries = [entry(seq) for seq in range(1, 6)]
    socket = Socket()
    d = cursor(socket)
    d.place(1, catch_up=False)
    d.start()
    d.deliver_entries([entry(5)])
    await asyncio.sleep(0.2)
    assert socket.seqs == [2, 3, 4, 5]
    assert journal.reads == [(1, 5)]  # after the position, through the entry it held
    await d.stop()


async def test_catch_up_reads_the_journal_page_by_page_after_the_position(journal, monkeypatch):
    monkeypatch.setattr(delivery, "JOURNAL_PAGE", 2)
    journal.entries = [entry(seq) for seq in range(1, 6)]
    socket = Socket()
    d = cursor(socket)
    d.place(0, catch_up=True)
    d.start()
    await asyncio.sleep(0.1)
    assert socket.seqs == [1, 2, 3, 4, 5]
    assert socket.frames == [{"type": "synced", "head_seq": 5}]
    assert [seq for seq, _ in journal.reads] == [0, 2, 4]
    d.catch_up()  # nothing new: nothing sent twice
    await asyncio.sleep(0.05)
    assert socket.seqs == [1, 2, 3, 4, 5]
    await d.stop()


async def test_the_direct_write_takes_only_what_follows_the_position(journal, monkeypatch):
    monkeypatch.setattr(delivery, "GAP_GRACE_SECONDS", 30.0)
    socket = Socket()
    d = cursor(socket, direct=True)
    d.place(0, catch_up=False)
    d.start()
    await settle()
    d.deliver_entries([entry(1), entry(2)])
    assert socket.direct == [1, 2]  # written at once, no pass through the pump
    d.deliver_entries([entry(4)])  # a gap before it: the pump holds it
    d.deliver_entries([entry(3)])
    await settle()
    assert socket.direct == [1, 2] and socket.seqs == [3, 4]
    await d.stop()


async def test_a_reader_too_far_behind_is_closed_not_queued_for(journal, settings):
    settings.COBROWSE_SEND_QUEUE_LIMIT = 3
    socket = Socket()
    d = cursor(socket)
    d.place(0, catch_up=False)  # not started: nothing drains the queue
    for seq in range(1, 5):
        d.deliver_entries([entry(seq)])
    await settle()
    assert socket.closed == CloseCode.TOO_SLOW
    assert d.closing and socket.seqs == []
