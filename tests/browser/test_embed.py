"""The widget installed on a merchant's own origin with its script tag, in real Chromium: the
demo shop and bank on one origin (`merchant_url`), the desk on another (`live_url`).

- The whole help flow across the two origins, with the card number kept from the desk.
- A page on an origin the site does not allow: no CORS answer, the WebSocket refused with
  4403, the console says why, no session.
- A hostile merchant stylesheet leaves the widget working, and the widget leaves the page's
  layout and styles as they were.
- The bank's signed identity shows "verified" in the desk's queue, the shop's customer "not
  verified"; a bad identity is refused with the desk's message in the console.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from importlib import import_module
from typing import Any

import jwt
import pytest
from django.apps import apps as django_apps
from django.conf import settings
from playwright.sync_api import Page, expect

from cobrowse.models import Session
from tests.browser.conftest import WIDGET, login_context
from tests.browser.test_story import (
    CARD,
    CARD_SECRETS,
    assert_nowhere,
    click_in_mirror,
    database_text,
    desk_context,
    get_help,
    hide_panel,
    journal_text,
    mirror_node_id,
    operator_dom_text,
    panel_state,
)
from tests.conftest import make_operator


@pytest.fixture(autouse=True)
def _catalogue() -> None:
    """The shop's products, seeded again after an earlier browser test's flush (test_story.py)."""
    import_module("shop_demo.migrations.0002_seed_products").seed(django_apps, None)


def origin_of(url: str) -> str:
    return re.match(r"^https?://[^/]+", url)[0]  # type: ignore[index]


def console_says(console: list[str], *words: str, page: Page | None = None) -> bool:
    if page is not None:
        page.wait_for_timeout(300)  # Playwright delivers console events during its own calls
    return any(all(word in line for word in words) for line in console)


# --- Across two origins ----------------------------------------------------------------------


def test_help_on_the_merchants_origin_from_the_desks_origin(
    new_context: Any, live_url: str, merchant_url: str, shot: Any
) -> None:
    """The shop on origin A, the desk on origin B: the customer asks for help, the operator sees
    the mirror, points, asks for control, gets it after the customer's consent and fills a
    field; the card number the customer typed is neither in B's database nor in the operator's
    DOM."""
    assert origin_of(merchant_url) != origin_of(live_url)
    customer = new_context(base_url=merchant_url).new_page()
    desk = desk_context(new_context, live_url, make_operator("olga"))

    customer.goto("/shop/products/harbour-mug/")
    customer.click("#add-to-cart")
    customer.goto("/shop/checkout/")
    assert origin_of(customer.url) == merchant_url
    code = get_help(customer)
    session = Session.objects.get(code=code, site__public_key="pk_demo_shop")
    # The token is the merchant origin's, in its sessionStorage; no cookie of the desk's.
    kept = json.loads(customer.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_shop')"))
    assert kept["id"] == str(session.pk) and kept["token"]
    assert not [c for c in customer.context.cookies() if c["name"] in {"sessionid", "csrftoken"}]

    desk.goto("/helpdesk/")
    desk.locator(f'#queue [data-session="{session.pk}"] a').click()
    assert origin_of(desk.url) == live_url
    mirror = desk.frame_locator("#mirror iframe")
    expect(mirror.locator("h1")).to_have_text("Checkout")
    panel_state(customer, "joined")
    # The widget is not in the mirror: its host is blocked, its shadow root never recorded.
    assert "Help session" not in mirror_frame_html(desk)
    assert "cobrowse-panel" not in mirror_frame_html(desk)
    shot(desk, "01-desk-sees-the-merchants-page")

    # The customer types their card; the operator points at the pay button.
    hide_panel(customer)
    customer.locator("#id_card_number").press_sequentially(CARD, delay=15)
    customer.locator("#id_card_expiry").press_sequentially("09/31", delay=15)
    customer.locator("#id_card_cvc").press_sequentially("7291", delay=15)
    customer.click("h1")
    expect(mirror.locator("#id_card_number")).not_to_have_value("")
    box = desk.locator("#mirror iframe").bounding_box()
    assert box is not None
    desk.mouse.move(box["x"] + 200, box["y"] + 150)
    expect(customer.locator("#cobrowse-operator-cursor")).to_be_visible()

    # Control after consent, then the operator fills the name.
    desk.click("#request-control")
    panel_state(customer, "request")
    expect(customer.locator("#cobrowse-panel")).to_be_visible()  # a request opens the panel
    shot(customer, "02-customer-asked-for-control")
    customer.click("#cobrowse-allow")
    panel_state(customer, "control")
    expect(desk.locator("#control-state")).to_have_text("Granted to you")
    hide_panel(customer)
    mirror.locator("#id_name").click()
    desk.keyboard.type("Robin Example", delay=15)
    mirror.locator("#id_city").click()
    expect(customer.locator("#id_name")).to_have_value("Robin Example")
    click_in_mirror(desk, "#id_address")  # a plain click lands too
    shot(desk, "03-operator-filled-the-name")
    shot(customer, "03-customer-sees-the-name")

    assert mirror_node_id(desk, "id_card_number") > 0
    assert_nowhere(
        CARD_SECRETS,
        operator_dom=operator_dom_text(desk),
        journal=journal_text(),
        database=database_text(),
    )


def mirror_frame_html(desk: Page) -> str:
    handle = desk.locator("#mirror iframe").element_handle()
    frame = handle.content_frame() if handle is not None else None
    assert frame is not None
    return str(frame.evaluate("document.documentElement.outerHTML"))


# --- An origin the site does not allow -------------------------------------------------------


def create_session(live_url: str, origin: str, site: str = "pk_demo_shop") -> dict[str, Any]:
    """Ask the desk's embed API for a session the way a page of `origin` would."""
    request = urllib.request.Request(
        f"{live_url}/api/embed/v1/sessions/",
        data=json.dumps({"site": site}).encode(),
        headers={"Content-Type": "application/json", "Origin": origin},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
        assert response.headers["Access-Control-Allow-Origin"] == origin
        return body


def test_a_page_on_an_origin_not_on_the_list_gets_nothing(
    new_context: Any, live_url: str, merchant_url: str, console: list[str], shot: Any
) -> None:
    """The same shop served from an origin that is not among the site's allowed origins
    (localhost instead of 127.0.0.1): the desk answers no CORS, so the page cannot ask for help;
    a token carried over is refused on the WebSocket with 4403 origin_not_allowed; the console
    says why each time; no session is made for that page."""
    stranger = merchant_url.replace("127.0.0.1", "localhost")
    page = new_context(base_url=stranger).new_page()
    page.goto("/shop/")
    assert origin_of(page.url) == stranger

    # "Get help": no CORS answer, so nothing is read, nothing is made.
    page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-panel")).to_have_attribute("data-state", "error")
    assert console_says(console, "[cobrowse]", "refused this origin", page=page), console
    assert console_says(console, "CORS"), console  # Chromium's own word on it
    assert Session.objects.count() == 0
    shot(page, "01-help-not-available")

    # The desk itself says why, to anyone who can read it, and without CORS.
    refused = urllib.request.Request(
        f"{live_url}/api/embed/v1/sessions/",
        data=json.dumps({"site": "pk_demo_shop"}).encode(),
        headers={"Content-Type": "application/json", "Origin": stranger},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(refused, timeout=10)
    assert answer.value.code == 403
    assert answer.value.headers.get("Access-Control-Allow-Origin") is None
    assert json.loads(answer.value.read())["error"]["code"] == "origin_not_allowed"
    assert Session.objects.count() == 0

    # A session token of the allowed origin, carried to this one: the socket is refused.
    session = create_session(live_url, merchant_url)
    code_and_reason = page.evaluate(
        """(url) => new Promise((resolve) => {
          const ws = new WebSocket(url);
          ws.onmessage = () => resolve("got a frame");
          ws.onclose = (event) => resolve([event.code, event.reason]);
        })""",
        f"{session['ws_url']}?token={session['token']}",
    )
    # (daphne, the test server, sends no close reasons; uvicorn sends "origin_not_allowed".)
    assert code_and_reason in ([4403, "origin_not_allowed"], [4403, ""]), code_and_reason

    # The widget that resumes with it says so in the console and stops.
    page.evaluate(
        "(value) => sessionStorage.setItem('cobrowse:site:pk_demo_shop', value)",
        json.dumps(session),
    )
    page.reload()
    expect(page.locator("#cobrowse-panel")).to_have_attribute("data-state", "forbidden")
    assert console_says(console, "[cobrowse]", "4403", "origin is not among", page=page), console
    assert Session.objects.count() == 1  # only the allowed origin's
    shot(page, "02-socket-refused")


# --- Hostile merchant CSS --------------------------------------------------------------------

HOSTILE_CSS = """
* { all: unset !important; }
button { display: none !important; }
body, main, header, footer, section, div, form, p, h1, h2, ul, li { display: block !important; }
"""
# Page elements whose boxes and styles must not change with the widget.
LAYOUT = """() => {
  const picks = ["body", "header", "h1", "main", "footer", "nav a", "#add-to-cart", "input",
                 "form", ".site-footer p"];
  const style = (el) => {
    const s = getComputedStyle(el);
    return [s.display, s.position, s.fontFamily, s.fontSize, s.color, s.backgroundColor,
            s.margin, s.padding, s.boxSizing, s.lineHeight].join("|");
  };
  const root = document.documentElement;
  const out = {scroll: [root.scrollWidth, root.scrollHeight]};
  for (const selector of picks) {
    out[selector] = [...document.querySelectorAll(selector)].slice(0, 5).map((el) => {
      const r = el.getBoundingClientRect();
      return [r.x, r.y, r.width, r.height].map(Math.round).concat(style(el));
    });
  }
  return out;
}"""


def merchant_page(new_context: Any, merchant_url: str, *, hostile: bool, widget: bool) -> Page:
    page = new_context(base_url=merchant_url).new_page()
    if hostile:
        # The merchant's own stylesheet turns hostile (the page's policy allows no inline style).
        def serve(route: Any) -> None:
            response = route.fetch()
            route.fulfill(response=response, body=response.text() + HOSTILE_CSS)

        page.route("**/static/shop_demo/shop.css", serve)
    if not widget:
        page.route("**/static/cobrowse/embed.js", lambda route: route.abort())
    page.goto("/shop/products/harbour-mug/")
    if widget:
        expect(page.locator("#cobrowse-help")).to_be_visible()
    return page


@pytest.mark.parametrize("hostile", [True, False], ids=["hostile-css", "plain-css"])
def test_the_merchants_css_and_the_widgets_leave_each_other_alone(
    new_context: Any, merchant_url: str, shot: Any, hostile: bool
) -> None:
    without = merchant_page(new_context, merchant_url, hostile=hostile, widget=False)
    assert without.locator("[data-cobrowse-widget]").count() == 0
    layout_without = without.evaluate(LAYOUT)

    page = merchant_page(new_context, merchant_url, hostile=hostile, widget=True)
    if hostile:
        hidden = "getComputedStyle(document.querySelector('#add-to-cart')).display"
        assert page.evaluate(hidden) == "none"  # the hostile stylesheet applies
    assert page.evaluate(LAYOUT) == layout_without, "the widget changed the page's layout"

    # The widget works: its button is where it belongs, styled, and opens a session.
    button = page.locator("#cobrowse-help")
    box = button.bounding_box()
    assert box is not None and box["width"] > 60 and box["height"] > 30
    assert box["x"] + box["width"] > 1280 - 120 and box["y"] + box["height"] > 800 - 120
    looks = page.evaluate(
        f"""() => {{
          const s = getComputedStyle({WIDGET}.getElementById("cobrowse-help"));
          const dock = getComputedStyle({WIDGET}.getElementById("cobrowse-dock"));
          return [dock.position, s.display, s.cursor, s.borderRadius];
        }}"""
    )
    assert looks == ["fixed", "flex", "pointer", "999px"], looks
    code = get_help(page)
    assert re.fullmatch(r"\d{6}", code)
    panel = page.locator("#cobrowse-panel").bounding_box()
    assert panel is not None and panel["width"] > 250 and panel["height"] > 200
    assert page.evaluate(f"{WIDGET}.getElementById('cobrowse-panel').parentElement.id") == (
        "cobrowse-dock"
    )  # in the fixed dock, with the button
    shot(page, "widget-open")
    # With the panel open and a session recording, the page is still as it was.
    assert page.evaluate(LAYOUT) == layout_without, "the open widget changed the page's layout"


# --- Signed identity -------------------------------------------------------------------------


def queue_identity(desk: Page, session_id: str) -> Any:
    return desk.locator(f'#queue [data-session="{session_id}"] .identity')


def test_the_banks_signed_customer_is_verified_the_shops_is_not(
    new_context: Any, live_url: str, merchant_url: str, shot: Any
) -> None:
    context = new_context()
    login_context(context, make_operator(), live_url)
    desk = context.new_page()
    desk.goto("/helpdesk/")
    expect(desk.locator("#queue-status")).to_have_text("Live")

    bank = new_context(base_url=merchant_url).new_page()
    bank.goto("/bank/")
    bank_code = get_help(bank)
    shop = new_context(base_url=merchant_url).new_page()
    shop.goto("/shop/")
    shop_code = get_help(shop)

    bank_session = Session.objects.get(code=bank_code)
    shop_session = Session.objects.get(code=shop_code)
    verified = queue_identity(desk, str(bank_session.pk))
    expect(verified).to_have_attribute("data-verified", "true")
    expect(verified).to_contain_text("Alex Morgan")
    expect(verified).to_contain_text(re.compile(r"(?<!not )verified"))
    unverified = queue_identity(desk, str(shop_session.pk))
    expect(unverified).to_have_attribute("data-verified", "false")
    expect(unverified).to_have_text(re.compile(r"not verified"))
    shot(desk, "queue-verified-and-not")

    # What the desk answered the widget says the same.
    kept = json.loads(bank.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_bank')"))
    assert kept["identity"]["verified"] is True and kept["identity"]["name"] == "Alex Morgan"
    kept = json.loads(shop.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_shop')"))
    assert kept["identity"] == {"verified": False}


def set_on_script_tag(page: Page, name: str, value: str) -> None:
    """Change an attribute of the page's script tag of the widget before the script runs (as
    if the merchant had written it so). A page served by Playwright's router instead of the
    server would be refused the loopback desk by Chromium's local network access checks."""
    page.add_init_script(
        f"""new MutationObserver((records, observer) => {{
          const tag = document.querySelector("script[src*='/static/cobrowse/embed.js']");
          if (!tag) return;
          tag.setAttribute({json.dumps(name)}, {json.dumps(value)});
          observer.disconnect();
        }}).observe(document, {{childList: true, subtree: true}});"""
    )


def signed(claims: dict[str, Any], secret: str | None = None) -> str:
    return jwt.encode(claims, secret or settings.DEMO_BANK_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("token_of", "says"),
    [
        ("expired", "expired"),
        ("other-site", "another site"),
        ("wrong-secret", "signature"),
    ],
)
def test_a_bad_identity_is_refused_with_the_desks_message(
    new_context: Any, merchant_url: str, console: list[str], token_of: str, says: str
) -> None:
    now = int(time.time())
    claims = {"sub": "nb-1", "name": "Mallory", "email": "m@example.com", "iat": now}
    token = {
        "expired": signed({**claims, "aud": "pk_demo_bank", "exp": now - 60}),
        "other-site": signed({**claims, "aud": "pk_demo_shop", "exp": now + 600}),
        "wrong-secret": signed({**claims, "aud": "pk_demo_bank", "exp": now + 600}, "x" * 32),
    }[token_of]
    page = new_context(base_url=merchant_url).new_page()
    set_on_script_tag(page, "data-identity", token)
    page.goto("/bank/")
    page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-panel")).to_have_attribute("data-state", "error")
    assert console_says(console, "[cobrowse]", "invalid_identity", page=page), console
    line = next(line for line in console if "invalid_identity" in line)
    assert says in line.lower(), line
    assert Session.objects.count() == 0
    # The page goes on: its own buttons and links still work.
    page.click("nav.site-nav a[href='/bank/transfer/']")
    page.wait_for_url("**/bank/transfer/")


def test_an_unknown_site_key_is_said_in_the_console(
    new_context: Any, merchant_url: str, console: list[str]
) -> None:
    page = new_context(base_url=merchant_url).new_page()
    set_on_script_tag(page, "data-site", "pk_nobody")
    page.goto("/shop/")
    page.click("#cobrowse-help")
    expect(page.locator("#cobrowse-panel")).to_have_attribute("data-state", "error")
    assert console_says(console, "[cobrowse]", "pk_nobody", "unknown_site", page=page), console
    assert Session.objects.count() == 0
    assert page.locator("h1").is_visible()


# --- The ES module form ----------------------------------------------------------------------


def test_the_es_module_form_starts_one_widget_with_an_identity_function(
    new_context: Any, live_url: str, merchant_url: str
) -> None:
    """`import {start} from "{DESK}/static/cobrowse/embed.mjs"` on a page without the script
    tag: bad options throw at once, start() twice makes one widget, and the identity function
    is asked when the customer asks for help."""
    now = int(time.time())
    token = signed(
        {"sub": "nb-7", "name": "Kim Module", "email": "kim@example.com", "iat": now}
        | {"aud": "pk_demo_bank", "exp": now + 600}
    )
    page = new_context(base_url=merchant_url).new_page()
    page.route("**/static/cobrowse/embed.js", lambda route: route.abort())  # no script tag
    page.goto("/bank/")
    result = page.evaluate(
        """async ([desk, token]) => {
          const { start } = await import(`${desk}/static/cobrowse/embed.mjs`);
          let refused = "";
          try { start({}); } catch (error) { refused = `${error.name}: ${error.message}`; }
          window.__asked = 0;
          const identity = async () => { window.__asked += 1; return token; };
          const first = await start({ site: "pk_demo_bank", identity });
          const second = await start({ site: "pk_demo_bank" });
          return {
            refused,
            same: first.host === second.host,
            hosts: document.querySelectorAll("[data-cobrowse-widget]").length,
          };
        }""",
        [live_url, token],
    )
    assert result["refused"].startswith("TypeError: cobrowse start(): `site` must be"), result
    assert result["same"] and result["hosts"] == 1, result
    code = get_help(page)
    assert page.evaluate("window.__asked") == 1
    assert Session.objects.filter(code=code, site__public_key="pk_demo_bank").exists()
    kept = json.loads(page.evaluate("sessionStorage.getItem('cobrowse:site:pk_demo_bank')"))
    assert kept["identity"]["verified"] is True and kept["identity"]["name"] == "Kim Module"
