"""What a real server answers at the edges, on both servers: `make serve`'s (uvicorn with
config.websocket) and `make run`'s (manage.py runserver, daphne). A page of another origin, a
path no route matches and a malformed session id are refused with a close code a browser can
read, never a 500 with a traceback; a 2 MiB snapshot goes through end to end; frames over the
server's cap are closed with 1009 and invalid UTF-8 with 1007 (tests/test_fuzz.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async

from cobrowse.models import Operation
from tests.conftest import customer_cookie, make_operator, open_session, operator_cookie
from tests.live import SERVERS, Closed, LiveServer, RawSocket, server_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, django_db_setup: None, tmp_path_factory: Any
) -> Iterator[LiveServer]:
    with server_process(request.param, tmp_path_factory.mktemp(request.param)) as live:
        yield live
        assert "Traceback" not in live.log.read_text(), live.log.read_text()


def close_code(port: int, path: str, **kwargs: Any) -> int | None:
    """The close code of a connection that is refused (accepted, then closed at once)."""
    raw = RawSocket(port, path, **kwargs)
    assert raw.status == 101, raw.head
    try:
        frame = raw.recv()
    except Closed as closed:
        return closed.code
    finally:
        raw.close()
    raise AssertionError(f"not refused: {frame!r}")


async def test_a_page_of_the_desks_host_on_another_port_is_closed_with_4403(server):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    path = f"/ws/cobrowse/{session.pk}/"

    def run() -> None:
        assert close_code(server.port, path, cookie=cookie, origin="http://127.0.0.1:1") == 4403
        assert close_code(server.port, "/ws/helpdesk/queue/", origin="http://127.0.0.1:1") == 4403
        welcomed = RawSocket(server.port, path, cookie=cookie)  # the desk's own origin
        assert orjson.loads(welcomed.recv()[1])["type"] == "welcome"
        welcomed.close()

    await sync_to_async(run)()


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws/nowhere/", 4404),
        ("/ws/cobrowse/", 4404),
        ("/ws/cobrowse/a/b/", 4404),
        ("/ws/cobrowse/not-a-uuid/", 4403),
        ("/ws/cobrowse/%00%ff/", 4403),
        ("/", 4404),
    ],
)
async def test_a_path_without_a_websocket_is_refused_cleanly(server, path, code):
    assert await sync_to_async(close_code)(server.port, path) == code


async def test_a_2_mib_snapshot_goes_from_the_customer_to_the_operator(server):
    session = await sync_to_async(open_session)()
    cookie = await sync_to_async(customer_cookie)(session)
    user = await sync_to_async(make_operator)()
    o_cookie = await sync_to_async(operator_cookie)(user)
    path = f"/ws/cobrowse/{session.pk}/"
    paragraphs = [
        {"type": 2, "id": 10 + i, "tagName": "p", "attributes": {}, "childNodes": [
            {"type": 3, "id": 100_000 + i, "textContent": f"{i:05} " + "lorem ipsum " * 85}
        ]}
        for i in range(2048)
    ]  # fmt: skip
    body = {"type": 2, "id": 3, "tagName": "body", "attributes": {}, "childNodes": paragraphs}
    html = {"type": 2, "id": 2, "tagName": "html", "attributes": {}, "childNodes": [body]}
    snapshot = {
        "type": 2,
        "data": {"node": {"type": 0, "id": 1, "childNodes": [html]}, "initialOffset": {}},
        "timestamp": 1,
    }
    frame = orjson.dumps(
        {"type": "op", "client_op_id": "snap-1", "kind": "dom", "payload": {"events": [snapshot]}}
    )
    assert 2 * 1024 * 1024 < len(frame) < 3 * 1024 * 1024

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        customer = RawSocket(server.port, path, cookie=cookie)
        operator = RawSocket(server.port, path, cookie=o_cookie)
        try:
            for raw in (customer, operator):
                assert orjson.loads(raw.recv()[1])["type"] == "welcome"
            customer.send(frame)
            while (answer := orjson.loads(customer.recv()[1]))["type"] != "ack":
                assert answer["type"] == "op", answer  # the operator's arrival
            while (op := orjson.loads(operator.recv()[1]))["kind"] != "dom":
                pass
            return answer, op
        finally:
            customer.close()
            operator.close()

    ack, op = await sync_to_async(run)()
    assert ack["client_op_id"] == "snap-1" and op["seq"] == ack["seq"]
    assert op["payload"]["events"][0]["data"]["node"] == snapshot["data"]["node"]  # type: ignore[index]
    stored = await sync_to_async(
        lambda: Operation.objects.filter(session=session, kind="dom").count()
    )()
    assert stored == 1
