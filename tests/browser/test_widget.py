"""The customer's "Get help" widget in real Chromium against the real server.

The operator's side is a plain WebSocket client here (`OperatorSocket`): it sees exactly what
the widget sent through the server, and sends operator ops by hand. What leaves the customer's
page is checked in three places: the frames the page itself wrote to its socket, the frames the
operator received, and the journal rows in the database.
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.apps import apps as django_apps
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from cobrowse.models import Operation, Participant, Session, Status
from tests.browser.conftest import SITE_KEYS, WIDGET, occurs, wait_until
from tests.conftest import make_operator, operator_cookie

T = TypeVar("T")
STATIC = Path(__file__).resolve().parents[2] / "static" / "cobrowse"
# How long a waiting tab lets another page start recording before it records itself.
_HAND_BACK = re.search(r"HAND_BACK_MS = ([\d_]+)", (STATIC / "customer-session.js").read_text())
HAND_BACK_SECONDS = int(_HAND_BACK[1]) / 1000 if _HAND_BACK else 0.0
SECRET_MASK = "••••••"

# Card, CVC and expiry a customer types at checkout (a valid Visa debit test number).
CARD = "4000 0566 5566 5556"
CARD_SECRETS = [CARD, CARD.replace(" ", ""), "5566 5556", "7291", "09/31"]
# What a bank customer types: a national ID, a birth date and two valid IBANs.
NATIONAL_ID = "X4K7Q9Z2"
BIRTH_DATE = "1985-04-12"
TRANSFER_IBAN = "GB82 WEST 1234 5698 7654 32"
LINKED_IBAN = "NL91ABNA0417164300"
BANK_SECRETS = [
    NATIONAL_ID,
    BIRTH_DATE,
    TRANSFER_IBAN,
    TRANSFER_IBAN.replace(" ", ""),
    "WEST 1234",
    LINKED_IBAN,
    "0417164300",
    # IBANs of the customer's own accounts, shown on the accounts page inside data-cobrowse-mask.
    "DE02 1203 0000 0000 2020 51",
    "DE44 5001 0517 5407 3249 31",
]


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products (a data migration seeds them). The flush after a browser test removes
    them, and the serialized copy of the test database is not restored before the next one
    (under Playwright's sync API the test sees a different connection object, without it)."""
    importlib.import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def eventually(
    check: Callable[[], T | None],
    *,
    timeout: float = 10,
    message: str = "",
    message_of: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns something truthy. On timeout the error says `message`,
    or what `message_of()` says then (the state that was waited on)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            said = message_of() if message_of is not None else message
            raise AssertionError(said or f"timed out waiting for {check}")
        time.sleep(0.05)


def full_snapshots(texts: list[str]) -> list[dict[str, Any]]:
    """The rrweb full snapshots (root nodes) in these frame texts, oldest first."""
    roots = []
    for text in list(texts):
        frame = json.loads(text)
        if frame.get("type") == "op" and frame.get("kind") == "dom":
            roots += [e["data"]["node"] for e in frame["payload"]["events"] if e["type"] == 2]
    return roots


def find_node(root: dict[str, Any], html_id: str) -> dict[str, Any]:
    """The serialized element with this HTML id under `root`."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.get("attributes", {}).get("id") == html_id:
            return node
        stack.extend(node.get("childNodes", []))
    raise AssertionError(f"#{html_id} is not in the snapshot")


def journal_text() -> str:
    return "\n".join(
        json.dumps(payload, ensure_ascii=False)
        for payload in Operation.objects.values_list("payload", flat=True)
    )


class OperatorSocket:
    """An operator's WebSocket: frames are collected by a reader thread."""

    def __init__(self, live_url: str, session_id: str, user: Any, query: str = "from=snapshot"):
        url = f"{live_url.replace('http', 'ws', 1)}/ws/cobrowse/{session_id}/?{query}"
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                url,
                origin=Origin(live_url),
                additional_headers={"Cookie": operator_cookie(user)},
                max_size=None,
                open_timeout=10,
            )
        )
        self.frames: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()
        self.welcome = self.wait_for(lambda f: f["type"] == "welcome")

    def _read(self) -> None:
        try:
            for message in self.ws:
                self.texts.append(str(message))
                self.frames.append(json.loads(message))
        except ConnectionClosed:  # the test looks at the frames that came before
            return

    def send(self, kind: str, payload: dict[str, Any], element: str | None = None) -> str:
        cid = f"op-{next(self._ids)}"
        frame: dict[str, Any] = {
            "type": "op",
            "client_op_id": cid,
            "kind": kind,
            "payload": payload,
        }
        if element is not None:
            frame["element"] = element
        self.ws.send(json.dumps(frame))
        return cid

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        return eventually(
            lambda: next((f for f in list(self.frames) if predicate(f)), None),
            timeout=timeout,
            message="the operator did not receive the expected frame",
        )

    def outcome(self, cid: str) -> dict[str, Any]:
        """The ack or error frame that answered the op `cid`."""
        return self.wait_for(
            lambda f: f["type"] in ("ack", "error") and f.get("client_op_id") == cid
        )

    def snapshots(self) -> list[dict[str, Any]]:
        """The rrweb full snapshots received so far, oldest first."""
        return full_snapshots(self.texts)

    def node(self, html_id: str) -> dict[str, Any]:
        """The serialized element with this HTML id in the newest full snapshot."""
        eventually(self.snapshots, message="the operator received no full snapshot")
        return find_node(self.snapshots()[-1], html_id)

    def close(self) -> None:
        self._stack.close()


# Both fixtures below close what they opened before the test database is flushed (they depend
# on transactional_db), and give the server a moment to journal what closing pages sent: a
# flush that meets a journal transaction can deadlock.


@pytest.fixture
def open_page(new_context: Any, transactional_db: None) -> Iterator[Callable[[], Any]]:
    """open_page() opens a page in a new browser context (one customer)."""
    contexts: list[Any] = []

    def make() -> Any:
        context = new_context()
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    time.sleep(0.5)


@pytest.fixture
def operators(live_url: str, transactional_db: None) -> Iterator[Callable[[str], OperatorSocket]]:
    """operators(session_id) connects a new operator to the session."""
    sockets: list[OperatorSocket] = []

    def join(session_id: str) -> OperatorSocket:
        socket = OperatorSocket(live_url, session_id, make_operator())
        sockets.append(socket)
        return socket

    yield join
    for socket in sockets:
        socket.close()
    time.sleep(0.2)


def watch_sent_frames(page: Any) -> list[str]:
    """Every text frame the page writes to any of its WebSockets, from now on. Playwright's
    sync API delivers these events only during its own calls: read the list after one
    (`settle`)."""
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    return sent


def settle(page: Any, ms: int = 400) -> None:
    """Let the page run for `ms` while Playwright delivers its events."""
    page.wait_for_timeout(ms)


def picture(shot: Any, page: Any, name: str) -> None:
    """A screenshot once the panel's entrance animation is over."""
    settle(page, 300)
    shot(page, name)


def wait_until_recorded(operator: OperatorSocket, path: str) -> None:
    """Wait until the customer's page at `path` is being recorded (its full snapshot came)."""
    operator.wait_for(
        lambda f: (
            f.get("kind") == "dom"
            and any(
                e["type"] == 4 and e["data"]["href"].endswith(path) for e in f["payload"]["events"]
            )
        )
    )


def get_help(page: Any) -> str:
    page.click("#cobrowse-help")
    code = f"{WIDGET}?.getElementById('cobrowse-code')?.textContent ?? ''"
    wait_until(page, f"/^\\d{{6}}$/.test({code})")
    return str(page.text_content("#cobrowse-code"))


def session_id_of(page: Any, site: str = "shop") -> str:
    key = f"cobrowse:site:{SITE_KEYS[site]}"
    return str(page.evaluate(f"JSON.parse(sessionStorage.getItem('{key}')).id"))


def hide_panel(page: Any) -> None:
    page.click("#cobrowse-panel .cb-panel__hide")
    page.wait_for_selector("#cobrowse-panel", state="hidden")


def panel_state(page: Any) -> str:
    return str(page.get_attribute("#cobrowse-panel", "data-state"))


def wait_for_state(page: Any, state: str) -> None:
    page.wait_for_selector(f"#cobrowse-panel[data-state='{state}']", state="attached")


def open_collapsed_panel(page: Any) -> None:
    """Once an operator has joined, the panel collapses to its handle: open it again."""
    wait_for_state(page, "joined")
    page.wait_for_selector("#cobrowse-panel", state="hidden")
    page.click("#cobrowse-help")
    page.wait_for_selector("#cobrowse-panel", state="visible")


def fresh_snapshot(page: Any) -> None:
    """Make rrweb take a new full snapshot now, as its periodic checkout does."""
    page.evaluate(
        """() => {
          // The rrweb the widget runs: imported from the desk, as the widget's own modules.
          const embed = document.querySelector("script[src*='/static/cobrowse/embed.js']").src;
          const rrweb = new URL("../vendor/rrweb/rrweb.js", embed).href;
          return import(rrweb).then((m) => m.record.takeFullSnapshot(true));
        }"""
    )


def open_checkout(page: Any) -> None:
    page.goto("/shop/")
    page.locator("a[href*='/shop/products/']").first.click()
    page.click("#add-to-cart")
    page.goto("/shop/checkout/")


def cobrowse_storage_keys(page: Any) -> list[str]:
    return list(
        page.evaluate("Object.keys(sessionStorage).filter((key) => key.startsWith('cobrowse:'))")
    )


# --- Get help ------------------------------------------------------------------------------


def test_demo_pages_render_within_their_content_security_policy(
    open_page: Callable[[], Any],
) -> None:
    """Nothing on the demo pages is blocked by their own policy (an inline style attribute
    would be, and the product pictures would lose their colours), on the shop's pages with a
    help session recording them."""
    page = open_page()
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) =>"
        " window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));"
    )
    page.goto("/shop/")
    get_help(page)
    tints = set()
    shop = ["/shop/", "/shop/products/harbour-mug/", "/shop/cart/", "/shop/checkout/"]
    for path in [*shop, "/bank/", "/bank/transfer/", "/bank/open-account/"]:
        page.goto(path)
        if path in shop:
            page.wait_for_selector("#cobrowse-panel", state="visible")
        assert page.evaluate("window.__violations") == [], path
        tints.update(
            page.evaluate(
                "[...document.querySelectorAll('.art')]"
                ".map((art) => getComputedStyle(art).getPropertyValue('--hue').trim())"
            )
        )
    assert len(tints) > 1, tints  # each product in its own colour, not all in the default


@pytest.mark.parametrize(("site", "path"), [("shop", "/shop/"), ("bank", "/bank/")])
def test_get_help_shows_a_six_digit_code_and_waiting_state(
    open_page: Callable[[], Any], shot: Any, site: str, path: str
) -> None:
    page = open_page()
    page.goto(path)
    code = get_help(page)

    assert re.fullmatch(r"\d{6}", code)
    assert panel_state(page) == "waiting"
    assert "Waiting for a support agent" in page.text_content("#cobrowse-status")
    assert page.get_attribute("#cobrowse-help", "aria-expanded") == "true"
    session = Session.objects.get(code=code, site__public_key=SITE_KEYS[site])
    assert session.status == Status.WAITING
    picture(shot, page, f"{site}-waiting")


def test_session_continues_across_navigation_and_reload(
    open_page: Callable[[], Any], shot: Any
) -> None:
    page = open_page()
    page.goto("/shop/")
    code = get_help(page)
    session_id = session_id_of(page)

    page.locator("a[href*='/shop/products/']").first.click()
    page.wait_for_url("**/shop/products/**")
    page.wait_for_selector("#cobrowse-panel", state="visible")
    assert page.text_content("#cobrowse-code") == code
    page.reload()
    page.wait_for_selector("#cobrowse-panel", state="visible")
    assert page.text_content("#cobrowse-code") == code
    assert session_id_of(page) == session_id

    # "Get help" now only hides and shows the panel of the same session.
    page.click("#cobrowse-help")
    page.wait_for_selector("#cobrowse-panel", state="hidden")
    page.click("#cobrowse-help")
    page.wait_for_selector("#cobrowse-panel", state="visible")
    assert Session.objects.count() == 1

    # Every page load announced itself and was recorded from a fresh full snapshot.
    def navigations() -> list[str]:
        rows = Operation.objects.filter(session_id=session_id, kind="navigate").order_by("seq")
        return [row.payload["url"] for row in rows]

    def journal() -> list[tuple[int, str, str]]:
        rows = Operation.objects.filter(session_id=session_id).order_by("seq")
        return list(rows.values_list("seq", "kind", "client_op_id"))

    urls = eventually(
        lambda: navigations() if len(navigations()) == 3 else None,
        message_of=lambda: f"navigations {navigations()}; journal {journal()}",
    )
    assert urls[0].endswith("/shop/") and urls[1] == urls[2] and "/shop/products/" in urls[1]
    last_navigate = Operation.objects.filter(session_id=session_id, kind="navigate").last()
    assert last_navigate is not None
    eventually(
        lambda: Session.objects.get(pk=session_id).snapshot_seq > last_navigate.seq,
        message="the reloaded page sent no full snapshot",
    )
    picture(shot, page, "after-reload")


def test_of_two_tabs_in_one_session_the_one_in_use_is_recorded(
    open_page: Callable[[], Any], shot: Any
) -> None:
    """Two tabs of one customer in the same session: the operator sees one page at a time, the
    tab the customer last started or used; the other stops recording until it is used."""
    first = open_page()
    first.goto("/shop/")
    code = get_help(first)
    session_id = session_id_of(first)
    second = first.context.new_page()
    second.goto("/shop/products/harbour-mug/")
    assert get_help(second) == code  # "Get help" in another tab joins the open session

    def ops() -> list[tuple[int, str, str]]:
        rows = Operation.objects.filter(session_id=session_id).order_by("seq")
        return list(rows.values_list("seq", "kind", "client_op_id"))

    def prefix(cid: str) -> str:
        return cid.split("-")[0]  # one per page load (transport.js)

    first.wait_for_selector("#cobrowse-elsewhere", state="visible")
    assert second.is_hidden("#cobrowse-elsewhere")
    navigates = eventually(lambda: [o for o in ops() if o[1] == "navigate"][1:] or None)
    tab_1, tab_2 = prefix(ops()[1][2]), prefix(navigates[0][2])
    assert tab_1 != tab_2
    # Everything the first tab sent, up to what it flushed when it stopped, is acked (journaled).
    outbox = f"cobrowse:{session_id}:outbox"
    wait_until(first, f"JSON.parse(sessionStorage.getItem('{outbox}')).pending.length === 0")
    mark = ops()[-1][0]

    first.evaluate("document.querySelector('h1').textContent = 'Changed in the first tab'")
    second.evaluate("document.querySelector('h1').textContent = 'Changed in the second tab'")
    eventually(
        lambda: [o for o in ops() if o[0] > mark and o[1] == "dom" and prefix(o[2]) == tab_2],
        message_of=lambda: f"the second tab recorded nothing: {ops()}",
    )
    time.sleep(1)  # room for an op the first tab should not have sent
    assert [o for o in ops() if o[0] > mark and prefix(o[2]) == tab_1] == []

    # The customer goes back to the first tab: it records afresh, the second one stops.
    first.click("h1")
    again = eventually(
        lambda: [o for o in ops() if o[0] > mark and o[1] == "navigate" and prefix(o[2]) == tab_1],
        message_of=lambda: f"the first tab did not take over: {ops()}",
    )
    second.wait_for_selector("#cobrowse-elsewhere", state="visible")
    assert first.is_hidden("#cobrowse-elsewhere")
    eventually(
        lambda: Session.objects.get(pk=session_id).snapshot_seq > again[0][0],
        message="the first tab sent no full snapshot when it took over",
    )
    picture(shot, second, "other-tab-in-use")


def test_when_the_recording_tab_closes_the_other_tab_records_and_the_customer_stays(
    open_page: Callable[[], Any],
) -> None:
    """Two tabs of one session, the second one recording. Its next page in the same tab goes
    on recording (the first tab keeps waiting); when the customer closes it, the first tab
    records on its own, and the customer is still present for the server."""
    first = open_page()
    first.goto("/shop/")
    get_help(first)
    session_id = session_id_of(first)
    second = first.context.new_page()
    second.goto("/shop/products/harbour-mug/")
    get_help(second)
    first.wait_for_selector("#cobrowse-elsewhere", state="visible")

    def navigates() -> list[tuple[int, str, str]]:
        rows = Operation.objects.filter(session_id=session_id, kind="navigate").order_by("seq")
        return [
            (seq, payload["url"], cid.split("-")[0])
            for seq, payload, cid in rows.values_list("seq", "payload", "client_op_id")
        ]

    tab_1 = eventually(lambda: len(navigates()) >= 2 and navigates()[0][2])
    # The second tab goes to another page: that page records, the first tab still waits.
    second.goto("/shop/cart/")
    eventually(
        lambda: navigates()[-1][1].endswith("/shop/cart/") or None,
        message_of=lambda: f"the cart page did not record: {navigates()}",
    )
    mark = navigates()[-1][0]
    time.sleep(HAND_BACK_SECONDS + 1)
    assert [n for n in navigates() if n[0] > mark] == [], "the waiting tab took over too early"
    assert first.is_visible("#cobrowse-elsewhere")

    second.close()
    taken = eventually(
        lambda: [n for n in navigates() if n[0] > mark] or None,
        message_of=lambda: f"the first tab did not record after the second closed: {navigates()}",
    )
    assert [(n[1].endswith("/shop/"), n[2]) for n in taken] == [(True, tab_1)]
    first.wait_for_selector("#cobrowse-elsewhere", state="hidden")
    eventually(
        lambda: Session.objects.get(pk=session_id).snapshot_seq > taken[0][0],
        message="no full snapshot of the first tab's page",
    )
    customer = Participant.objects.get(session_id=session_id, role="customer")
    assert customer.left_at is None, "the customer's other tab is still open"


@pytest.mark.parametrize("told_by", ["api", "socket"])
def test_a_session_ended_elsewhere_is_shown_as_ended_on_the_next_page(
    open_page: Callable[[], Any], operators: Callable[[str], OperatorSocket], told_by: str
) -> None:
    page = open_page()
    page.goto("/shop/")
    get_help(page)
    session_id = session_id_of(page)
    hide_panel(page)
    page.goto("about:blank")  # the customer is away when the operator ends the session
    operator = operators(session_id)
    operator.outcome(operator.send("session", {"action": "end"}))
    if told_by == "socket":  # the API cannot be asked: the socket closes with 4410
        page.route("**/api/embed/v1/sessions/*/", lambda route: route.abort())

    page.goto("/shop/cart/")
    wait_for_state(page, "ended")
    assert page.is_visible("#cobrowse-panel")
    eventually(lambda: cobrowse_storage_keys(page) == [])
    last = Operation.objects.filter(session_id=session_id).last()
    assert last is not None and last.kind == "session", "nothing is journaled after the end"


@pytest.mark.parametrize("told_by", ["api", "socket"])
def test_a_token_for_another_session_is_refused_and_forgotten(
    open_page: Callable[[], Any], shot: Any, console: list[str], told_by: str
) -> None:
    """A tab that holds its session with another session's token (a foreign token): the desk
    refuses it (the API with 401, or, when the API cannot be asked, the socket with 4401), the
    console says so, and the tab forgets the session."""
    owner = open_page()
    owner.goto("/shop/")
    get_help(owner)
    foreign = json.loads(owner.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_shop')"))

    page = open_page()
    page.goto("/shop/")
    get_help(page)
    mine = json.loads(page.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_shop')"))
    page.evaluate(
        "(value) => sessionStorage.setItem('cobrowse:site:pk_demo_shop', value)",
        json.dumps({**mine, "token": foreign["token"]}),
    )
    if told_by == "socket":
        page.route("**/api/embed/v1/sessions/*/", lambda route: route.abort())
    page.reload()
    if told_by == "socket":
        wait_for_state(page, "forbidden")
        assert "no longer available" in page.text_content("#cobrowse-status")
        picture(shot, page, "forbidden")
    eventually(lambda: cobrowse_storage_keys(page) == [])
    settle(page)
    said = "4401" if told_by == "socket" else "invalid_token"
    refusals = [line for line in console if "[cobrowse]" in line and "token" in line]
    assert any(said in line for line in refusals), console
    assert page.is_visible("#cobrowse-help"), "the widget is still there, idle"


def test_a_session_whose_token_has_expired_is_forgotten_with_a_word_in_the_console(
    open_page: Callable[[], Any], console: list[str]
) -> None:
    page = open_page()
    page.goto("/shop/")
    get_help(page)
    kept = json.loads(page.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_shop')"))
    page.evaluate(
        "(value) => sessionStorage.setItem('cobrowse:site:pk_demo_shop', value)",
        json.dumps({**kept, "expires_at": "2020-01-01T00:00:00+00:00"}),
    )
    page.reload()
    page.wait_for_selector("#cobrowse-help")
    eventually(lambda: cobrowse_storage_keys(page) == [])
    settle(page)
    assert any("[cobrowse]" in line and "expired" in line for line in console), console
    assert page.is_hidden("#cobrowse-panel")
    assert page.text_content("#cobrowse-help") == "Get help"


# --- Masking -------------------------------------------------------------------------------


def test_typed_address_is_sent_and_card_details_never_leave_the_page(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    open_checkout(page)
    sent = watch_sent_frames(page)
    get_help(page)
    hide_panel(page)
    operator = operators(session_id_of(page))
    address_id = operator.node("id_address")["id"]
    card_id = operator.node("id_card_number")["id"]

    page.fill("#id_name", "Robin Example")
    page.locator("#id_address").press_sequentially("Main street 1", delay=15)
    page.locator("#id_card_number").press_sequentially(CARD, delay=15)
    page.locator("#id_card_expiry").press_sequentially("09/31", delay=15)
    page.locator("#id_card_cvc").press_sequentially("7291", delay=15)
    page.click("h1")  # blur: the last field's typing goes at once

    # The address travels as typed, to the operator and into the journal.
    operator.wait_for(
        lambda f: f.get("kind") == "input" and f["payload"].get("value") == "Main street 1"
    )
    card_inputs = operator.wait_for(
        lambda f: f.get("kind") == "input" and f.get("element") == f"node:{card_id}"
    )
    assert card_inputs["payload"]["value"] == SECRET_MASK

    # A full snapshot taken while the fields hold their values masks them too.
    snapshots_before = len(operator.snapshots())
    fresh_snapshot(page)
    eventually(lambda: len(operator.snapshots()) > snapshots_before)
    settle(page)
    snapshot = full_snapshots(sent)[-1]
    assert find_node(snapshot, "id_address")["attributes"]["value"] == "Main street 1"
    for field in ("id_card_number", "id_card_expiry", "id_card_cvc"):
        assert find_node(snapshot, field)["attributes"]["value"] == SECRET_MASK, field
    assert operator.node("id_address")["attributes"]["value"] == "Main street 1"
    assert address_id == operator.node("id_address")["id"]

    page_text = "\n".join(sent)
    operator_text = "\n".join(operator.texts)
    journal = eventually(lambda: text if "Main street 1" in (text := journal_text()) else None)
    assert "Main street 1" in page_text and "Robin Example" in page_text
    for secret in CARD_SECRETS:
        assert not occurs(secret, page_text), f"{secret} left the page"
        assert not occurs(secret, operator_text), f"{secret} reached the operator"
        assert not occurs(secret, journal), f"{secret} is in the journal"
    picture(shot, page, "checkout-typed")


def test_bank_forms_mask_iban_account_and_national_id(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    sent = watch_sent_frames(page)
    page.goto("/bank/")
    get_help(page)
    hide_panel(page)
    operator = operators(session_id_of(page, "bank"))

    page.click("nav.site-nav a[href='/bank/transfer/']")
    wait_until_recorded(operator, "/bank/transfer/")
    page.fill("#id_recipient_name", "Jamie Lee")
    page.locator("#id_iban").press_sequentially(TRANSFER_IBAN, delay=10)
    page.fill("#id_amount", "25.00")
    page.click("h1")
    operator.wait_for(
        lambda f: f.get("kind") == "input" and f["payload"].get("value") == "Jamie Lee"
    )

    page.click("nav.site-nav a[href='/bank/open-account/']")
    wait_until_recorded(operator, "/bank/open-account/")
    page.fill("#id_full_name", "Jamie Lee")
    page.locator("#id_national_id").press_sequentially(NATIONAL_ID, delay=10)
    page.fill("#id_date_of_birth", BIRTH_DATE)
    page.locator("#id_account_number").press_sequentially(LINKED_IBAN, delay=10)
    page.check("#id_accept_terms")
    page.click("h1")
    snapshots_before = len(operator.snapshots())
    fresh_snapshot(page)
    eventually(lambda: len(operator.snapshots()) > snapshots_before)
    settle(page)
    snapshot = full_snapshots(sent)[-1]
    for field in ("id_national_id", "id_date_of_birth", "id_account_number"):
        assert find_node(snapshot, field)["attributes"]["value"] == SECRET_MASK, field
    assert find_node(snapshot, "id_full_name")["attributes"]["value"] == "Jamie Lee"
    assert find_node(snapshot, "id_accept_terms")["attributes"].get("checked") is True

    page_text = "\n".join(sent)
    operator_text = "\n".join(operator.texts)
    journal = journal_text()
    assert "25.00" in page_text
    for secret in BANK_SECRETS:
        assert not occurs(secret, page_text), f"{secret} left the page"
        assert not occurs(secret, operator_text), f"{secret} reached the operator"
        assert not occurs(secret, journal), f"{secret} is in the journal"
    picture(shot, page, "open-account-typed")


def test_typing_is_flushed_before_navigation(open_page: Callable[[], Any]) -> None:
    page = open_page()
    open_checkout(page)
    get_help(page)
    session_id = session_id_of(page)
    hide_panel(page)

    # Well within the 300 ms typing debounce, the customer leaves the page.
    page.fill("#id_address", "Leaving lane 7")
    page.click("a.summary__back")
    page.wait_for_url("**/shop/cart/")

    eventually(
        lambda: Operation.objects.filter(
            session_id=session_id, kind="input", payload__value="Leaving lane 7"
        ).exists(),
        message="the typing before the navigation was lost",
    )


# Keeps every WebSocket the page opens in window.__sockets; while window.__blackhole is true,
# what the page sends is lost on the way (a connection that died without closing).
LOSSY_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blackhole = false;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
    send(data) {
      if (!window.__blackhole) super.send(data);
    }
  };
})();
"""


def test_ops_lost_with_a_dropped_connection_are_resent_after_reconnect(
    open_page: Callable[[], Any], operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    page.add_init_script(LOSSY_SOCKETS)
    open_checkout(page)
    get_help(page)
    session_id = session_id_of(page)
    hide_panel(page)
    operator = operators(session_id)

    page.evaluate("window.__blackhole = true")
    page.fill("#id_address", "Lost and found 3")
    page.click("h1")  # the input op is written to the dead socket, and lost
    settle(page)
    assert not Operation.objects.filter(session_id=session_id, kind="input").exists()

    page.evaluate("window.__blackhole = false; window.__sockets.at(-1).close()")
    operator.wait_for(
        lambda f: f.get("kind") == "input" and f["payload"].get("value") == "Lost and found 3"
    )
    eventually(lambda: page.evaluate("window.__sockets.length") == 2)
    assert "last_seq=" in page.evaluate("window.__sockets.at(-1).url")
    settle(page)
    rows = Operation.objects.filter(session_id=session_id, kind="input")
    assert [row.payload["value"] for row in rows] == ["Lost and found 3"]
    eventually(
        lambda: (
            page.evaluate(
                "JSON.parse(sessionStorage.getItem(`cobrowse:${JSON.parse(sessionStorage.getItem("
                "'cobrowse:site:pk_demo_shop')).id}:outbox`)).pending.length"
            )
            == 0
        ),
        message="acknowledged ops are still waiting in the outbox",
    )


# --- The operator on the customer's page ---------------------------------------------------


def test_operator_highlight_outlines_the_element(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    page.goto("/shop/")
    page.locator("a[href*='/shop/products/']").first.click()
    page.wait_for_url("**/shop/products/**")
    get_help(page)
    hide_panel(page)
    operator = operators(session_id_of(page))
    button_id = operator.node("add-to-cart")["id"]

    operator.send("pointer", {"x": 420, "y": 360})
    operator.send("highlight", {"id": button_id, "label": "Add it here"})

    page.wait_for_selector("#cobrowse-highlight", state="visible")
    page.wait_for_selector("#cobrowse-operator-cursor", state="visible")
    outline = page.locator("#cobrowse-highlight").bounding_box()
    button = page.locator("#add-to-cart").bounding_box()
    assert outline is not None and button is not None
    assert outline["x"] <= button["x"] and outline["y"] <= button["y"]
    assert outline["x"] + outline["width"] >= button["x"] + button["width"]
    assert outline["y"] + outline["height"] >= button["y"] + button["height"]
    assert outline["width"] - button["width"] < 20 and outline["height"] - button["height"] < 20
    assert page.text_content("#cobrowse-highlight") == "Add it here"
    picture(shot, page, "highlight")


def test_operator_actions_need_granted_control(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    open_checkout(page)
    get_help(page)
    operator = operators(session_id_of(page))
    wait_for_state(page, "joined")
    address = f"node:{operator.node('id_address')['id']}"
    card = f"node:{operator.node('id_card_number')['id']}"
    pay_id = operator.node("place-order")["id"]

    # Without control the server refuses, and nothing happens on the page.
    refused = operator.send("input", {"value": "Operator street 5"}, address)
    assert operator.outcome(refused)["code"] == "control_required"
    clicked = operator.send("click", {"id": pay_id})
    assert operator.outcome(clicked)["code"] == "control_required"
    settle(page, 300)
    assert page.input_value("#id_address") == ""
    assert page.url.endswith("/shop/checkout/")

    # The customer is asked, and allows.
    operator.send("control", {"action": "request"})
    page.wait_for_selector("#cobrowse-allow", state="visible")
    wait_for_state(page, "request")
    picture(shot, page, "control-request")
    page.click("#cobrowse-allow")
    wait_for_state(page, "control")
    page.wait_for_selector("#cobrowse-control-banner", state="visible")

    typed = operator.send("input", {"value": "Operator street 5"}, address)
    assert operator.outcome(typed)["type"] == "ack"
    eventually(lambda: page.input_value("#id_address") == "Operator street 5")
    # Never into a masked field, even with control.
    into_card = operator.send("input", {"value": "4111111111111111"}, card)
    assert operator.outcome(into_card)["type"] == "ack"
    settle(page, 300)
    assert page.input_value("#id_card_number") == ""
    picture(shot, page, "control-granted")

    # The customer takes control back from the banner.
    page.click("#cobrowse-control-banner button")
    wait_for_state(page, "joined")
    again = operator.send("input", {"value": "Too late"}, address)
    assert operator.outcome(again)["code"] == "control_required"
    assert page.input_value("#id_address") == "Operator street 5"


def test_denying_a_control_request_tells_the_operator(
    open_page: Callable[[], Any], operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    page.goto("/shop/")
    get_help(page)
    operator = operators(session_id_of(page))
    operator.send("control", {"action": "request"})
    page.click("#cobrowse-deny")
    wait_for_state(page, "joined")
    answer = operator.wait_for(
        lambda f: f.get("kind") == "control" and f["payload"]["action"] == "revoke"
    )
    assert answer["sender"]["role"] == "customer"


def test_chat_goes_both_ways(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    page.goto("/bank/")
    get_help(page)
    operator = operators(session_id_of(page, "bank"))
    open_collapsed_panel(page)
    operator.send("chat", {"text": "Hello, how can I help?"})
    page.wait_for_selector("#cobrowse-chat-log >> text=Hello, how can I help?")
    page.fill("#cobrowse-chat-input", "Where do I see my IBAN?")
    page.press("#cobrowse-chat-input", "Enter")
    operator.wait_for(
        lambda f: f.get("kind") == "chat" and f["payload"]["text"] == "Where do I see my IBAN?"
    )
    page.wait_for_selector(".cb-chat__line--own:not(.cb-chat__line--sending)")
    picture(shot, page, "chat")


# --- Ending --------------------------------------------------------------------------------


def test_customer_ending_the_session_shows_ended_and_stops_recording(
    open_page: Callable[[], Any], shot: Any, operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    sent = watch_sent_frames(page)
    page.goto("/shop/")
    get_help(page)
    session_id = session_id_of(page)
    operator = operators(session_id)
    open_collapsed_panel(page)

    page.click("#cobrowse-end")
    wait_for_state(page, "ended")
    assert "ended" in page.text_content("#cobrowse-status")
    operator.wait_for(lambda f: f.get("kind") == "session" and f["payload"]["action"] == "end")
    eventually(lambda: Session.objects.get(pk=session_id).status == Status.ENDED)
    eventually(lambda: cobrowse_storage_keys(page) == [])
    picture(shot, page, "ended")

    # Nothing is recorded any more.
    settle(page)
    frames_at_end = len(sent)
    page.mouse.move(300, 300)
    page.mouse.move(500, 400)
    page.click("h1")
    settle(page, 600)
    assert sent[frames_at_end:] == []

    page.click("#cobrowse-close")
    assert page.text_content("#cobrowse-help") == "Get help"


def test_operator_ending_the_session_shows_ended(
    open_page: Callable[[], Any], operators: Callable[[str], OperatorSocket]
) -> None:
    page = open_page()
    page.goto("/shop/")
    first_code = get_help(page)
    operator = operators(session_id_of(page))
    operator.send("session", {"action": "end"})

    wait_for_state(page, "ended")
    eventually(lambda: cobrowse_storage_keys(page) == [])
    page.click("#cobrowse-close")
    # Asking again opens a new session.
    assert get_help(page) != first_code
    assert Session.objects.count() == 2
