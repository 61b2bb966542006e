"""What heartbeats cost the production server: CPU time of the server process while N idle
connections held to heartbeats answer every one, at the default interval and at a tenth of it;
the difference over the difference in heartbeats is the cost of one round trip (ask and
answer). Not part of the suite (not named test_*); docs/reliability.md has the figures:

    pytest -s -m "not browser" tests/measure_heartbeat_cost.py   # HB_CONNECTIONS=100 by default
"""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import customer_cookie, open_session

pytestmark = pytest.mark.django_db(transaction=True)
N = int(os.environ.get("HB_CONNECTIONS", "100"))
SECONDS = 20


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("interval", ["200", "2000"])
async def test_measure(tmp_path, interval):
    from tests.live import RawSocket, live_server_process

    def setup():
        out = []
        for _ in range(N):
            s = open_session()
            out.append((s.pk, customer_cookie(s)))
        return out

    pairs = await sync_to_async(setup)()

    def run(port: int, pid: int) -> tuple[float, int]:
        socks = []
        for pk, cookie in pairs:
            raw = RawSocket(port, f"/ws/cobrowse/{pk}/?heartbeat=1", cookie=cookie)
            assert raw.status == 101
            raw.recv()
            socks.append(raw)
        time.sleep(2)
        by_fd = {r.sock.fileno(): r for r in socks}
        start_cpu, start = cpu(pid), time.monotonic()
        answered = 0
        while time.monotonic() - start < SECONDS:
            readable, _, _ = select.select(list(by_fd), [], [], 0.2)
            for fd in readable:
                raw = by_fd[fd]
                raw.recv()
                raw.send_text('{"type":"heartbeat"}')
                answered += 1
        used = cpu(pid) - start_cpu
        for r in socks:
            r.close()
        return used, answered

    with live_server_process(
        tmp_path,
        COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT="1000",
        COBROWSE_CONNECTIONS_PER_PARTICIPANT="0",
        COBROWSE_HEARTBEAT_MS=interval,
        COBROWSE_SILENCE_TIMEOUT_MS="30000",
    ) as server:
        used, answered = await sync_to_async(run)(server.port, server.proc.pid)
    print(
        f"\ninterval={interval} ms, {N} connections: server CPU {used:.2f} s in {SECONDS} s, "
        f"{answered} heartbeats ({answered / SECONDS:.0f}/s)"
    )
