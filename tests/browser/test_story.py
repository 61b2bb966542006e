"""The whole story, in real Chromium: a customer on the shop asks for help, an operator helps
through the desk, a second operator looks in, the bank masks what it must, and an admin plays
the session back.

Two people, two browser contexts (plus a late observer and an admin): the customer uses the real
widget on the demo merchant's origin, installed with its script tag (static/cobrowse/embed.js,
selectors from docs/browser.md and its panel, in the widget's shadow root), the operators the
real desk (static/helpdesk/) on the desk's origin. Secrets are checked in three places: the
operator's DOM (the mirror iframe, values included), every journal row, and every table of the
database.
"""

from __future__ import annotations

import json
import re
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Frame, Page, expect

from cobrowse.models import Operation, Session
from tests.browser.conftest import login_context, occurs, wait_until
from tests.conftest import make_operator


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded by a data migration: the flush after an earlier browser test
    removed them and the serialized copy of the database is not restored under Playwright's sync
    API (see test_widget.py), so they are seeded again."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


# A valid Visa debit test number, and what goes with it.
CARD = "4000 0566 5566 5556"
CARD_SECRETS = [CARD, CARD.replace(" ", ""), "5566 5556", "09/31", "7291"]
# What a bank customer types: a national ID and an IBAN to link.
NATIONAL_ID = "X4K7Q9Z2"
LINKED_IBAN = "NL91ABNA0417164300"
BANK_SECRETS = [NATIONAL_ID, LINKED_IBAN, "0417164300", "ABNA0417"]
ADDRESS = "Main street 1"


# --- helpers -------------------------------------------------------------------------------


def get_help(page: Page) -> str:
    page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    return str(page.text_content("#cobrowse-code"))


def panel_state(page: Page, state: str) -> None:
    expect(page.locator("#cobrowse-panel")).to_have_attribute("data-state", state)


def hide_panel(page: Page) -> None:
    if page.locator("#cobrowse-panel").is_visible():
        page.click("#cobrowse-panel .cb-panel__hide")
    expect(page.locator("#cobrowse-panel")).to_be_hidden()


def show_panel(page: Page) -> None:
    if not page.locator("#cobrowse-panel").is_visible():
        page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-panel")).to_be_visible()


def mirror_frame(desk: Page) -> Frame:
    """The mirror's iframe (rrweb's Replayer) as a Playwright frame."""
    handle = desk.locator("#mirror iframe").element_handle()
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


MIRROR_TEXT = """() => [
  document.documentElement.outerHTML,
  ...[...document.querySelectorAll("input, textarea, select")].map((field) => field.value),
].join("\\n")"""


def operator_dom_text(desk: Page) -> str:
    """Everything the operator's browser holds of the customer's page: the desk's own DOM and
    the mirror's DOM with the values of its fields (which outerHTML leaves out)."""
    return desk.content() + "\n" + mirror_frame(desk).evaluate(MIRROR_TEXT)


def journal_text(session_id: str | None = None) -> str:
    rows = (
        Operation.objects.all()
        if session_id is None
        else Operation.objects.filter(session_id=session_id)
    )
    return "\n".join(
        json.dumps(row, ensure_ascii=False, default=str)
        for row in rows.values(
            "seq", "kind", "element", "element_seq", "client_op_id", "payload", "hash"
        )
    )


def database_text() -> str:
    """Every row of every table, as text."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def assert_nowhere(secrets: list[str], **places: str) -> None:
    for place, text in places.items():
        for secret in secrets:
            assert not occurs(secret, text), f"{secret!r} is in the {place}"


def desk_context(new_context: Any, live_url: str, user: User) -> Page:
    context = new_context()
    login_context(context, user, live_url)
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    return page


def click_in_mirror(desk: Page, selector: str) -> None:
    """Click where a mirrored element shows on the operator's screen (the mirror is scaled)."""
    box = desk.frame_locator("#mirror iframe").locator(selector).bounding_box()
    assert box is not None
    desk.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def mirror_node_id(desk: Page, html_id: str) -> int:
    """The rrweb node id of a mirrored element (the id the customer's page knows it by)."""
    return int(
        desk.evaluate(
            """(id) => window.cobrowseDesk.mirror.idOf(
                 document.querySelector("#mirror iframe").contentDocument.getElementById(id))""",
            html_id,
        )
    )


def wait_in_mirror_view(desk: Page, html_id: str) -> None:
    """Until the mirrored element is inside the mirror's viewport (the customer's)."""
    wait_until(
        desk,
        """(id) => {
          const doc = document.querySelector("#mirror iframe")?.contentDocument;
          const element = doc?.getElementById(id);
          if (!element) return false;
          const rect = element.getBoundingClientRect();
          return rect.top >= 0 && rect.bottom <= doc.defaultView.innerHeight;
        }""",
        arg=html_id,
    )


def desk_caught_up(desk: Page, session_id: str) -> int:
    """Wait until the desk has seen the session's head of now; returns that head."""
    head = Session.objects.get(pk=session_id).head_seq
    wait_until(desk, f"() => window.cobrowseDesk.lastSeen >= {head}")
    return head


def expected_seqs(session_id: str, *, after: int, upto: int, me: int) -> list[int]:
    """The seqs a desk applies as op frames, from its position to `upto`: everything except its
    own ops of delivery "others", which come back as acks only."""
    rows = Operation.objects.filter(session_id=session_id, seq__gt=after, seq__lte=upto)
    rows = rows.order_by("seq")
    return [row.seq for row in rows if not (row.sender_id == me and row.delivery == "others")]


# --- the story -----------------------------------------------------------------------------


def test_the_whole_story(new_context: Any, live_url: str, merchant_url: str, shot: Any) -> None:
    operator = make_operator("olga")
    customer = new_context(base_url=merchant_url).new_page()
    desk = desk_context(new_context, live_url, operator)

    # 1. The customer browses and clicks "Get help".
    customer.goto("/shop/")
    assert customer.url.startswith(f"{merchant_url}/")
    customer.locator("a[href*='/shop/products/']").first.click()
    customer.wait_for_url("**/shop/products/**")
    product = str(customer.text_content("h1"))
    code = get_help(customer)
    panel_state(customer, "waiting")
    session = Session.objects.get(code=code)
    session_id = str(session.pk)
    shot(customer, "01-customer-asks-for-help")

    # 2. The session appears in the operator's queue, without a reload.
    desk.goto("/helpdesk/")
    expect(desk.locator("#queue-status")).to_have_text("Live")
    entry = desk.locator(f'#queue [data-session="{session_id}"]')
    expect(entry).to_contain_text(code)
    shot(desk, "02-queue")

    # 3. The operator joins and sees the customer's page at once.
    entry.locator("a").click()
    expect(desk.locator("#connection")).to_have_text("Connected")
    mirror = desk.frame_locator("#mirror iframe")
    expect(mirror.locator("h1")).to_have_text(product)
    expect(desk.locator("#customer-url")).to_contain_text("/shop/products/")
    panel_state(customer, "joined")
    expect(customer.locator("#cobrowse-status")).to_contain_text("Olga")
    shot(desk, "03-operator-joined")
    shot(customer, "03-customer-sees-operator")

    # 4. The customer adds to cart and types an address; the mirror shows both.
    hide_panel(customer)
    customer.click("#add-to-cart")
    customer.wait_for_url("**/shop/cart/")
    expect(mirror.locator("h1")).to_have_text("Your cart")
    expect(mirror.locator("#cart-count")).to_have_text("1")
    customer.goto("/shop/checkout/")
    expect(mirror.locator("h1")).to_have_text("Checkout")
    hide_panel(customer)
    customer.locator("#id_address").press_sequentially(ADDRESS, delay=20)
    customer.click("h1")  # blur: the field's last value goes at once
    expect(mirror.locator("#id_address")).to_have_value(ADDRESS)
    shot(desk, "04-mirror-shows-address")

    # 5. The card number appears nowhere: not in the operator's DOM, the journal, the database.
    customer.locator("#id_card_number").press_sequentially(CARD, delay=20)
    customer.locator("#id_card_expiry").press_sequentially("09/31", delay=20)
    customer.locator("#id_card_cvc").press_sequentially("7291", delay=20)
    customer.click("h1")
    card_node = mirror_node_id(desk, "id_card_number")
    assert card_node > 0
    expect(mirror.locator("#id_card_number")).not_to_have_value("")
    expect(mirror.locator("#id_card_cvc")).not_to_have_value("")
    assert Operation.objects.filter(session_id=session_id, element=f"node:{card_node}").exists()
    shot(desk, "05-card-masked-in-mirror")
    shot(customer, "05-customer-typed-card")
    assert_nowhere(
        CARD_SECRETS,
        operator_dom=operator_dom_text(desk),
        journal=journal_text(),
        database=database_text(),
    )
    assert ADDRESS in journal_text(session_id)

    # 6. The operator highlights a button; the customer sees the outline around it.
    customer.locator("#place-order").scroll_into_view_if_needed()
    wait_in_mirror_view(desk, "place-order")  # the mirror follows the customer's scrolling
    desk.click("#tool-highlight")
    click_in_mirror(desk, "#place-order")
    highlight = customer.locator("#cobrowse-highlight")
    expect(highlight).to_be_visible()
    outline = highlight.bounding_box()
    button = customer.locator("#place-order").bounding_box()
    assert outline is not None and button is not None
    assert outline["x"] <= button["x"] + 1 and outline["y"] <= button["y"] + 1
    assert outline["x"] + outline["width"] >= button["x"] + button["width"] - 1
    shot(customer, "06-customer-sees-highlight")
    shot(desk, "06-operator-highlighted")

    # The operator's pointer follows on the customer's page.
    click_box = desk.locator("#mirror iframe").bounding_box()
    assert click_box is not None
    desk.mouse.move(click_box["x"] + 200, click_box["y"] + 150)
    expect(customer.locator("#cobrowse-operator-cursor")).to_be_visible()

    # 7. Control is refused until the customer grants it; then the operator types for them.
    expect(desk.locator("#tool-control")).to_be_disabled()
    name_node = mirror_node_id(desk, "id_name")
    desk.evaluate(
        "(id) => window.cobrowseDesk.send('input', {id, value: 'Not yet'}, `node:${id}`)",
        name_node,
    )
    wait_until(desk, "() => window.cobrowseDesk.errors.some((e) => e.code === 'control_required')")
    expect(desk.locator(".toast")).to_contain_text("not granted you control")
    expect(customer.locator("#id_name")).to_have_value("")
    desk.click("#request-control")
    expect(desk.locator("#control-state")).to_have_text("Requested, waiting for the customer")
    panel_state(customer, "request")
    expect(customer.locator("#cobrowse-panel")).to_be_visible()  # a request opens the panel
    shot(customer, "07-customer-asked-for-control")
    customer.click("#cobrowse-allow")
    panel_state(customer, "control")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    expect(desk.locator("#tool-control")).to_have_attribute("aria-pressed", "true")
    hide_panel(customer)
    mirror.locator("#id_name").click()
    desk.keyboard.type("Robin Example", delay=20)
    mirror.locator("#id_city").click()  # leaving the field sends its value at once
    expect(customer.locator("#id_name")).to_have_value("Robin Example")
    # A field the operator cannot read is not theirs to fill either.
    mirror.locator("#id_card_number").click()
    expect(desk.locator(".toast").last).to_contain_text("private to the customer")
    shot(desk, "07-operator-typed-with-control")
    shot(customer, "07-customer-sees-typed-name")

    # 8. The customer navigates and the operator follows.
    customer.click("#nav-cart")
    customer.wait_for_url("**/shop/cart/")
    expect(mirror.locator("h1")).to_have_text("Your cart")
    expect(desk.locator("#customer-url")).to_have_text("/shop/cart/")
    shot(desk, "08-operator-follows-to-cart")

    # 9. The customer reloads and the same session continues.
    before_reload = Session.objects.get(pk=session_id).head_seq
    customer.reload()
    expect(customer.locator("#cobrowse-code")).to_have_text(code)
    # The reloaded page announces itself in the same session and the desk rebuilds from it.
    wait_until(
        desk, "(seq) => window.cobrowseDesk.pages.some((page) => page.seq > seq)", arg=before_reload
    )
    expect(mirror.locator("h1")).to_have_text("Your cart")
    assert Session.objects.count() == 1
    shot(customer, "09-customer-reloaded")

    # 10. The operator's connection drops and comes back with no missing op.
    # Close the socket first (a close handshake cannot finish offline), then cut the network so
    # that reconnecting fails until it is back.
    desk.evaluate("() => window.cobrowseDesk.dropConnection()")
    desk.context.set_offline(True)
    expect(desk.locator("#connection")).to_have_text("Reconnecting…")
    show_panel(customer)
    customer.fill("#cobrowse-chat-input", "Are you still there?")
    customer.press("#cobrowse-chat-input", "Enter")
    customer.mouse.move(300, 300)
    customer.mouse.move(420, 360)
    shot(desk, "10-operator-offline")
    desk.context.set_offline(False)
    expect(desk.locator("#connection")).to_have_text("Connected", timeout=20_000)
    expect(desk.locator("#chat-log")).to_contain_text("Are you still there?")
    head = desk_caught_up(desk, session_id)
    applied = desk.evaluate("() => window.cobrowseDesk.applied")
    first = desk.evaluate("() => window.cobrowseDesk.firstPosition")
    me = desk.evaluate("() => window.cobrowseDesk.state.me")
    # Up to the head the desk caught up with, exactly every op once and in order (the customer's
    # page may journal more meanwhile: those are not counted yet, either way).
    assert [seq for seq in applied if seq <= head] == expected_seqs(
        session_id, after=first, upto=head, me=me
    )
    desk.fill("#chat-input", "Yes, still here.")
    desk.click("#chat-send")
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("Yes, still here.")
    shot(desk, "10-operator-back-nothing-missing")

    # 11. A second operator joins late and sees the current page at once, as an observer.
    observer = desk_context(new_context, live_url, make_operator("pia"))
    observer.goto("/helpdesk/")
    in_progress = observer.locator(f'#active [data-session="{session_id}"]')
    expect(in_progress).to_contain_text("Observe")
    in_progress.locator("a").click()
    expect(observer.locator("#connection")).to_have_text("Connected")
    expect(observer.frame_locator("#mirror iframe").locator("h1")).to_have_text("Your cart")
    expect(observer.locator("#observer-banner")).to_be_visible()
    expect(observer.locator("#tools")).to_be_hidden()
    expect(observer.locator("#request-control")).to_be_hidden()
    position = observer.evaluate("() => window.cobrowseDesk.firstPosition")
    snapshot_seq = Session.objects.get(pk=session_id).snapshot_seq
    assert 0 < position < snapshot_seq  # from the newest snapshot, not the whole journal
    expect(observer.locator("#chat-log")).to_contain_text("Are you still there?")  # history
    observer.fill("#chat-input", "Pia here, listening in.")
    observer.click("#chat-send")
    expect(customer.locator("#cobrowse-chat-log")).to_contain_text("Pia here")
    expect(desk.locator("#participants [data-role='observer']")).to_be_visible()
    shot(observer, "11-late-observer-sees-current-page")

    # The operator ends the session; everyone sees it.
    desk.click("#end-session")
    expect(desk.locator("#ended-banner")).to_be_visible()
    expect(observer.locator("#ended-banner")).to_be_visible()
    panel_state(customer, "ended")
    expect(customer.locator("#cobrowse-panel")).to_be_visible()  # the end opens the panel
    shot(desk, "11-session-ended")

    # 12. The bank form masks the same way.
    customer.goto("/bank/")
    bank_code = get_help(customer)
    desk.goto("/helpdesk/")
    desk.fill("#join-code", bank_code)
    desk.click("#join-submit")
    expect(desk.locator("#session-code")).to_have_text(bank_code)
    panel_state(customer, "joined")
    hide_panel(customer)
    customer.click("nav.site-nav a[href='/bank/open-account/']")
    customer.wait_for_url("**/bank/open-account/")
    expect(mirror.locator("h1")).to_have_text("Open an account")
    hide_panel(customer)
    customer.fill("#id_full_name", "Jamie Lee")
    customer.locator("#id_national_id").press_sequentially(NATIONAL_ID, delay=15)
    customer.locator("#id_account_number").press_sequentially(LINKED_IBAN, delay=15)
    customer.click("h1")
    expect(mirror.locator("#id_full_name")).to_have_value("Jamie Lee")
    expect(mirror.locator("#id_account_number")).not_to_have_value("")
    expect(mirror.locator("#id_national_id")).not_to_have_value("")
    shot(desk, "12-bank-form-masked-in-mirror")
    assert_nowhere(
        BANK_SECRETS + CARD_SECRETS,
        operator_dom=operator_dom_text(desk),
        journal=journal_text(),
        database=database_text(),
    )

    # 13. The admin replay page plays the shop session back, chat alongside.
    admin = new_context()
    login_context(admin, User.objects.create_superuser("root", "root@example.com", "pw"), live_url)
    review = admin.new_page()
    review.goto(f"/admin/cobrowse/session/{session_id}/change/")
    review.click("#replay-link")
    expect(review.locator("#replay")).to_have_attribute("data-state", "ready")
    expect(review.locator("#replay-timeline")).to_contain_text("Are you still there?")
    expect(review.locator("#replay-timeline")).to_contain_text("highlighted “Pay")
    replay = review.frame_locator("#replay-root iframe")
    expect(replay.locator("h1")).to_have_text(product)  # the first page, before playing
    review.select_option("#replay-speed", "8")
    review.click("#replay-play")
    expect(replay.locator("h1")).to_have_text("Checkout", timeout=20_000)  # it plays on
    chat_line = review.locator("#replay-timeline li.kind-chat", has_text="Are you still there?")
    expect(chat_line).to_have_class(re.compile(r"\bis-past\b"), timeout=20_000)
    shot(review, "13-admin-replay")
    replay_frame = review.locator("#replay-root iframe").element_handle()
    assert replay_frame is not None and replay_frame.content_frame() is not None
    assert_nowhere(
        CARD_SECRETS,
        replay_page=review.content() + replay_frame.content_frame().evaluate(MIRROR_TEXT),
    )
