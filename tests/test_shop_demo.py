"""The demo shop and bank (the merchant's origin, config/urls_merchant.py): catalogue, session
cart, checkout that keeps no card data, bank forms with server-side IBAN and amount checks, and
what every page offers the co-browsing widget (its script tag from the desk, the bank's signed
identity, mask/unmask attributes); the desk's old addresses of the demo lead there."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from html import escape
from html.parser import HTMLParser
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from shop_demo import cart
from shop_demo.identity import BANK_SITE_KEY, SHOP_SITE_KEY
from shop_demo.models import Product
from shop_demo.security import merchant_policy
from shop_demo.validators import iban_problem, luhn_valid

VALID_CARD = "4539 1488 0343 6467"  # Luhn-valid Visa test number
VALID_CARD_DIGITS = VALID_CARD.replace(" ", "")
VALID_IBAN = "GB29 NWBK 6016 1331 9268 19"

pytestmark = pytest.mark.urls("config.urls_merchant")


# --- Helpers ---------------------------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def element_by_id(html: str, element_id: str) -> tuple[str, dict[str, str | None]]:
    matches = [(tag, attrs) for tag, attrs in elements(html) if attrs.get("id") == element_id]
    assert len(matches) == 1, f"expected one element with id {element_id!r}, found {len(matches)}"
    return matches[0]


def form_fields(html: str) -> list[dict[str, str | None]]:
    """Every visible form field on a page (not the CSRF token, not buttons)."""
    return [
        attrs
        for tag, attrs in elements(html)
        if tag in {"input", "select", "textarea"} and attrs.get("type") != "hidden"
    ]


def stored_text() -> str:
    """Everything the database holds, every table, plus every session decoded."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    chunks.extend(json.dumps(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(chunks)


def future_expiry() -> str:
    return f"12/{(timezone.localdate().year + 3) % 100:02d}"


def checkout_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Jane Doe",
        "email": "jane@example.com",
        "address": "Lindenstraße 12",
        "postal_code": "10115",
        "city": "Berlin",
        "card_number": VALID_CARD,
        "card_expiry": future_expiry(),
        "card_cvc": "737",
    }
    return {**data, **overrides}


def transfer_data(**overrides: str) -> dict[str, str]:
    data = {
        "recipient_name": "Anna Keller",
        "iban": VALID_IBAN,
        "amount": "45.00",
        "reference": "Concert tickets",
    }
    return {**data, **overrides}


def opening_data(**overrides: str) -> dict[str, str]:
    data = {
        "full_name": "Alex Morgan",
        "national_id": "T22000129",
        "date_of_birth": "1990-04-17",
        "account_number": VALID_IBAN,
        "accept_terms": "on",
    }
    return {**data, **overrides}


def add_to_cart(client: Client, slug: str, quantity: int = 1) -> None:
    response = client.post(f"/shop/cart/add/{slug}/", {"quantity": str(quantity)})
    assert response.status_code == 302


def cart_count_in_nav(html: str) -> str:
    start = html.index('<span id="cart-count">') + len('<span id="cart-count">')
    return html[start : html.index("</span>", start)]


def embed_tag(html: str) -> dict[str, str | None]:
    """The attributes of the page's one script tag that loads the widget from the desk."""
    src = f"{settings.COBROWSE_DESK_URL.rstrip('/')}/static/cobrowse/embed.js"
    tags = [attrs for tag, attrs in elements(html) if tag == "script" and attrs.get("src") == src]
    assert len(tags) == 1, f"one script tag for {src}"
    return tags[0]


def assert_demo_page(response: Any, site: str) -> None:
    """The widget is installed only through its script tag (no button, root or module of it in
    the page); the bank signs its customer, the shop does not."""
    html = response.content.decode()
    tag = embed_tag(html)
    assert "async" in tag
    assert 'id="cobrowse-help"' not in html and "cobrowse-root" not in html
    assert "cobrowse/widget.js" not in html
    if site == "bank":
        assert tag["data-site"] == BANK_SITE_KEY
        claims = jwt.decode(
            str(tag["data-identity"]),
            settings.DEMO_BANK_SECRET,
            algorithms=["HS256"],
            audience=BANK_SITE_KEY,
        )
        assert (claims["sub"], claims["name"]) == ("nb-10482", "Alex Morgan")
        assert claims["exp"] > claims["iat"]
    else:
        assert tag["data-site"] == SHOP_SITE_KEY
        assert "data-identity" not in tag
    assert "csrftoken" in response.cookies


@pytest.fixture
def mug() -> Product:
    return Product.objects.get(slug="harbour-mug")


@pytest.fixture
def filled_cart(client: Client) -> Client:
    add_to_cart(client, "arc-desk-lamp", 2)
    add_to_cart(client, "harbour-mug")
    return client


# --- Catalogue -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_root_redirects_to_shop(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/shop/"


@pytest.mark.django_db
def test_migration_seeds_between_8_and_12_products_with_euro_prices() -> None:
    products = list(Product.objects.all())
    assert 8 <= len(products) <= 12
    for product in products:
        assert isinstance(product.price, Decimal)
        assert product.price > 0 and product.price == product.price.quantize(Decimal("0.01"))
        assert product.name and product.description


@pytest.mark.django_db
def test_product_list_shows_every_seeded_product_with_its_price(client: Client) -> None:
    html = client.get("/shop/").content.decode()
    for product in Product.objects.all():
        assert escape(product.name) in html
        assert f"/shop/products/{product.slug}/" in html
        assert f"€{product.price:,.2f}" in html


@pytest.mark.django_db
def test_product_page_shows_product_and_add_to_cart_form(client: Client, mug: Product) -> None:
    html = client.get(f"/shop/products/{mug.slug}/").content.decode()
    assert f"<h1>{mug.name}</h1>" in html
    assert "€18.00" in html
    assert element_by_id(html, "id_quantity")[1]["name"] == "quantity"


@pytest.mark.django_db
def test_unknown_product_is_404(client: Client) -> None:
    assert client.get("/shop/products/no-such-thing/").status_code == 404


# --- Cart ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_add_to_cart_updates_cart_count_in_nav(client: Client) -> None:
    assert cart_count_in_nav(client.get("/shop/").content.decode()) == "0"
    add_to_cart(client, "harbour-mug", 2)
    assert cart_count_in_nav(client.get("/shop/").content.decode()) == "2"
    add_to_cart(client, "linen-tote")
    assert cart_count_in_nav(client.get("/shop/cart/").content.decode()) == "3"


@pytest.mark.django_db
def test_add_to_cart_twice_adds_up_the_line(client: Client, mug: Product) -> None:
    add_to_cart(client, mug.slug, 2)
    add_to_cart(client, mug.slug, 3)
    assert cart.cart_items(client.session) == {mug.pk: 5}


@pytest.mark.django_db
def test_add_to_cart_rejects_quantity_above_99(client: Client, mug: Product) -> None:
    response = client.post(f"/shop/cart/add/{mug.slug}/", {"quantity": "100"})
    assert response.status_code == 200
    assert "less than or equal to 99" in response.content.decode()
    assert cart.cart_items(client.session) == {}


@pytest.mark.django_db
def test_add_to_cart_needs_post(client: Client, mug: Product) -> None:
    assert client.get(f"/shop/cart/add/{mug.slug}/").status_code == 405


@pytest.mark.django_db
def test_cart_page_lists_lines_with_totals(filled_cart: Client) -> None:
    html = filled_cart.get("/shop/cart/").content.decode()
    assert "Arc desk lamp" in html and "Harbour stoneware mug" in html
    assert "€158.00" in html  # 2 x €79.00
    assert "€176.00" in html  # subtotal, shipping free from €50
    assert element_by_id(html, "id_quantity_arc-desk-lamp")[1]["value"] == "2"


@pytest.mark.django_db
def test_cart_update_changes_quantity(filled_cart: Client, mug: Product) -> None:
    response = filled_cart.post(f"/shop/cart/update/{mug.slug}/", {"quantity": "4"})
    assert response.status_code == 302
    assert cart.cart_items(filled_cart.session)[mug.pk] == 4


@pytest.mark.django_db
def test_cart_update_to_zero_removes_the_line(filled_cart: Client, mug: Product) -> None:
    filled_cart.post(f"/shop/cart/update/{mug.slug}/", {"quantity": "0"})
    assert mug.pk not in cart.cart_items(filled_cart.session)


@pytest.mark.django_db
def test_cart_update_with_invalid_quantity_keeps_the_line(
    filled_cart: Client, mug: Product
) -> None:
    response = filled_cart.post(f"/shop/cart/update/{mug.slug}/", {"quantity": "-3"}, follow=True)
    assert "Enter a quantity from 0 to 99" in response.content.decode()
    assert cart.cart_items(filled_cart.session)[mug.pk] == 1


@pytest.mark.django_db
def test_cart_remove_drops_the_line(filled_cart: Client, mug: Product) -> None:
    filled_cart.post(f"/shop/cart/remove/{mug.slug}/")
    lamp = Product.objects.get(slug="arc-desk-lamp")
    assert cart.cart_items(filled_cart.session) == {lamp.pk: 2}


@pytest.mark.django_db
def test_cart_session_holds_only_product_ids_and_quantities(filled_cart: Client) -> None:
    stored = filled_cart.session[cart.CART_KEY]
    assert all(key.isdigit() and isinstance(value, int) for key, value in stored.items())


def test_cart_functions_work_on_a_plain_dict() -> None:
    session: dict[str, Any] = {}
    cart.cart_add(session, product_id=7, quantity=2)
    cart.cart_add(session, product_id=9)
    cart.cart_set_quantity(session, product_id=7, quantity=5)
    assert cart.cart_items(session) == {7: 5, 9: 1}
    assert cart.cart_count(session) == 6
    cart.cart_remove(session, product_id=9)
    assert cart.cart_items(session) == {7: 5}
    cart.cart_clear(session)
    assert session == {}


def test_cart_add_caps_a_line_at_99() -> None:
    session: dict[str, Any] = {}
    cart.cart_add(session, product_id=1, quantity=60)
    assert cart.cart_add(session, product_id=1, quantity=60) == cart.MAX_QUANTITY


def test_cart_items_ignores_malformed_session_data() -> None:
    session = {cart.CART_KEY: {"3": 2, "x": 1, "4": "2", "5": -1}}
    assert cart.cart_items(session) == {3: 2}


def test_shipping_is_free_from_50_euros() -> None:
    assert cart.shipping_for(Decimal("49.99")) == Decimal("4.90")
    assert cart.shipping_for(Decimal("50.00")) == Decimal("0.00")
    assert cart.shipping_for(Decimal("0")) == Decimal("0.00")


# --- Checkout --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_checkout_with_empty_cart_redirects_to_cart(client: Client) -> None:
    response = client.get("/shop/checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/shop/cart/"


@pytest.mark.django_db
def test_checkout_page_shows_order_summary_and_pay_button(filled_cart: Client) -> None:
    html = filled_cart.get("/shop/checkout/").content.decode()
    assert "Pay €176.00" in html
    assert "Arc desk lamp" in html


@pytest.mark.django_db
def test_checkout_with_luhn_valid_card_confirms_order_with_last_four_digits_only(
    filled_cart: Client,
) -> None:
    response = filled_cart.post("/shop/checkout/", checkout_data())
    assert response.status_code == 302
    assert response["Location"] == "/shop/checkout/done/"

    confirmation = filled_cart.get("/shop/checkout/done/")
    html = confirmation.content.decode()
    assert "Thank you, Jane Doe!" in html
    assert "Visa ending in 6467" in html
    assert "€176.00" in html
    assert VALID_CARD_DIGITS not in html and VALID_CARD not in html
    assert_demo_page(confirmation, "shop")


@pytest.mark.django_db
def test_checkout_card_data_is_in_no_database_table_and_not_in_the_session(
    filled_cart: Client,
) -> None:
    filled_cart.post("/shop/checkout/", checkout_data())
    filled_cart.get("/shop/checkout/done/")

    stored = stored_text()
    assert "Jane Doe" in stored  # the dump does see the session's receipt
    assert VALID_CARD_DIGITS not in stored
    assert VALID_CARD not in stored
    assert VALID_CARD_DIGITS[:12] not in stored
    assert future_expiry() not in stored

    session = dict(filled_cart.session)
    receipt = session["shop_last_order"]
    assert receipt["card_last4"] == "6467"
    assert not {"card_number", "card_expiry", "card_cvc"} & set(receipt)
    assert VALID_CARD_DIGITS not in json.dumps(session)


@pytest.mark.django_db
def test_checkout_empties_the_cart(filled_cart: Client) -> None:
    filled_cart.post("/shop/checkout/", checkout_data())
    assert cart.cart_count(filled_cart.session) == 0


@pytest.mark.django_db
def test_checkout_rejects_luhn_invalid_card_and_does_not_echo_it(filled_cart: Client) -> None:
    response = filled_cart.post("/shop/checkout/", checkout_data(card_number="4539 1488 0343 6468"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "This card number is not valid" in html
    assert "4539" not in html
    assert element_by_id(html, "id_card_number")[1].get("value") is None
    assert element_by_id(html, "id_card_number")[1]["aria-invalid"] == "true"
    assert "shop_last_order" not in filled_cart.session


@pytest.mark.django_db
def test_checkout_rejects_expired_card(filled_cart: Client) -> None:
    last_year = (timezone.localdate().year - 1) % 100
    response = filled_cart.post("/shop/checkout/", checkout_data(card_expiry=f"01/{last_year:02d}"))
    assert "This card has expired." in response.content.decode()


@pytest.mark.django_db
def test_checkout_requires_four_digit_cvc_for_american_express(filled_cart: Client) -> None:
    response = filled_cart.post(
        "/shop/checkout/", checkout_data(card_number="3782 822463 10005", card_cvc="123")
    )
    assert "The security code of this card has 4 digits." in response.content.decode()


@pytest.mark.django_db
def test_checkout_keeps_visible_fields_after_an_error(filled_cart: Client) -> None:
    response = filled_cart.post("/shop/checkout/", checkout_data(card_cvc=""))
    html = response.content.decode()
    assert element_by_id(html, "id_name")[1]["value"] == "Jane Doe"
    assert element_by_id(html, "id_email")[1]["value"] == "jane@example.com"


@pytest.mark.django_db
def test_confirmation_without_an_order_redirects_to_products(client: Client) -> None:
    assert client.get("/shop/checkout/done/")["Location"] == "/shop/"


# --- Bank ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_accounts_page_shows_balances_and_recent_transactions(client: Client) -> None:
    html = client.get("/bank/").content.decode()
    assert "Everyday account" in html and "€2,481.37" in html
    assert "€16,065.55" in html  # total of the three accounts
    assert "Hausverwaltung Meyer" in html and "\u2212€980.00" in html


@pytest.mark.django_db
def test_accounts_page_marks_own_ibans_for_masking(client: Client) -> None:
    html = client.get("/bank/").content.decode()
    assert "<span data-cobrowse-mask>DE89 3704 0044 0532 0130 00</span>" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("DE89 3704 0044 0532 0130 01", "its check digits do not match"),
        ("DE89 3704 0044 0532 0130", "An IBAN from DE has 22 characters"),
        ("1234 5678", "An IBAN starts with a country code"),
        ("US64 SVBK US6S 3300 9673 8637", "IBANs from US are not supported"),
    ],
)
def test_transfer_with_invalid_iban_is_rejected_with_a_message(
    client: Client, iban: str, message: str
) -> None:
    response = client.post("/bank/transfer/", transfer_data(iban=iban))
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert element_by_id(html, "id_iban")[1]["aria-invalid"] == "true"
    assert "bank_last_transfer" not in client.session


@pytest.mark.django_db
def test_transfer_with_valid_iban_succeeds_and_keeps_only_the_iban_tail(client: Client) -> None:
    response = client.post("/bank/transfer/", transfer_data())
    assert response["Location"] == "/bank/transfer/done/"

    done = client.get("/bank/transfer/done/")
    html = done.content.decode()
    assert "Transfer sent" in html and "€45.00" in html and "Anna Keller" in html
    assert "•••• 6819" in html
    assert_demo_page(done, "bank")
    compact = VALID_IBAN.replace(" ", "")
    assert compact not in stored_text() and VALID_IBAN not in stored_text()


@pytest.mark.django_db
def test_transfer_rejects_amount_above_available_balance(client: Client) -> None:
    response = client.post("/bank/transfer/", transfer_data(amount="2481.38"))
    assert "more than your available balance of €2,481.37" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "at least €0.01"), ("-5", "at least €0.01"), ("ten", "Enter an amount such as")],
)
def test_transfer_rejects_invalid_amounts(client: Client, amount: str, message: str) -> None:
    response = client.post("/bank/transfer/", transfer_data(amount=amount))
    assert message in response.content.decode()


@pytest.mark.django_db
def test_transfer_posted_empty_shows_required_fields(client: Client) -> None:
    response = client.post("/bank/transfer/", {})
    assert response.content.decode().count("This field is required.") >= 3
    assert "bank_last_transfer" not in client.session


@pytest.mark.django_db
def test_transfer_accepts_a_decimal_comma(client: Client) -> None:
    client.post("/bank/transfer/", transfer_data(amount="12,50"))
    assert client.session["bank_last_transfer"]["amount"] == "12.50"


@pytest.mark.django_db
def test_account_opening_succeeds_and_stores_no_id_number(client: Client) -> None:
    response = client.post("/bank/open-account/", opening_data())
    assert response["Location"] == "/bank/open-account/done/"
    done = client.get("/bank/open-account/done/")
    assert "Application received" in done.content.decode()
    assert_demo_page(done, "bank")
    stored = stored_text()
    assert "Alex Morgan" in stored
    assert "T22000129" not in stored
    assert "1990-04-17" not in stored
    assert VALID_IBAN.replace(" ", "") not in stored


@pytest.mark.django_db
def test_account_opening_rejects_applicants_under_18(client: Client) -> None:
    today = timezone.localdate()
    born = today - dt.timedelta(days=17 * 365)
    response = client.post("/bank/open-account/", opening_data(date_of_birth=born.isoformat()))
    assert "You must be 18 or older" in response.content.decode()


@pytest.mark.django_db
def test_account_opening_rejects_an_invalid_account_to_link(client: Client) -> None:
    response = client.post(
        "/bank/open-account/", opening_data(account_number="GB29 NWBK 6016 1331 9268 18")
    )
    assert "its check digits do not match" in response.content.decode()


@pytest.mark.django_db
def test_account_opening_requires_accepting_the_terms(client: Client) -> None:
    data = opening_data()
    del data["accept_terms"]
    response = client.post("/bank/open-account/", data)
    assert response.status_code == 200
    assert "bank_last_application" not in client.session


# --- What every page offers the co-browsing widget -------------------------------------------

PAGES = [
    ("/shop/", "shop"),
    ("/shop/products/harbour-mug/", "shop"),
    ("/shop/cart/", "shop"),
    ("/shop/checkout/", "shop"),
    ("/bank/", "bank"),
    ("/bank/transfer/", "bank"),
    ("/bank/open-account/", "bank"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "site"), PAGES)
def test_every_page_installs_the_widget_with_its_script_tag(
    filled_cart: Client, url: str, site: str
) -> None:
    filled_cart.cookies.pop("csrftoken", None)  # the page itself must set the cookie
    response = filled_cart.get(url)
    assert response.status_code == 200
    assert_demo_page(response, site)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "site"), PAGES)
def test_every_page_links_both_sites_and_has_one_h1(
    filled_cart: Client, url: str, site: str
) -> None:
    html = filled_cart.get(url).content.decode()
    assert 'href="/shop/"' in html and 'href="/bank/"' in html
    assert html.count("<h1") == 1


MASKED = [
    ("/shop/checkout/", "id_card_number", "card_number", "cc-number"),
    ("/shop/checkout/", "id_card_expiry", "card_expiry", "cc-exp"),
    ("/shop/checkout/", "id_card_cvc", "card_cvc", "cc-csc"),
    ("/bank/transfer/", "id_iban", "iban", "off"),
    ("/bank/open-account/", "id_national_id", "national_id", "off"),
    ("/bank/open-account/", "id_date_of_birth", "date_of_birth", "bday"),
    ("/bank/open-account/", "id_account_number", "account_number", "off"),
]

UNMASKED = [
    ("/shop/products/harbour-mug/", "id_quantity", "quantity", "off"),
    ("/shop/cart/", "id_quantity_harbour-mug", "quantity", "off"),
    ("/shop/checkout/", "id_name", "name", "name"),
    ("/shop/checkout/", "id_email", "email", "email"),
    ("/shop/checkout/", "id_address", "address", "street-address"),
    ("/shop/checkout/", "id_postal_code", "postal_code", "postal-code"),
    ("/shop/checkout/", "id_city", "city", "address-level2"),
    ("/bank/transfer/", "id_recipient_name", "recipient_name", "off"),
    ("/bank/transfer/", "id_amount", "amount", "transaction-amount"),
    ("/bank/transfer/", "id_reference", "reference", "off"),
    ("/bank/open-account/", "id_full_name", "full_name", "name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "element_id", "name", "autocomplete"), MASKED)
def test_sensitive_fields_carry_mask_attribute_and_autocomplete(
    filled_cart: Client, url: str, element_id: str, name: str, autocomplete: str
) -> None:
    _, attrs = element_by_id(filled_cart.get(url).content.decode(), element_id)
    assert "data-cobrowse-mask" in attrs
    assert "data-cobrowse-unmask" not in attrs
    assert attrs["name"] == name
    assert attrs["autocomplete"] == autocomplete


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "element_id", "name", "autocomplete"), UNMASKED)
def test_visible_fields_carry_unmask_attribute_and_autocomplete(
    filled_cart: Client, url: str, element_id: str, name: str, autocomplete: str
) -> None:
    _, attrs = element_by_id(filled_cart.get(url).content.decode(), element_id)
    assert "data-cobrowse-unmask" in attrs
    assert "data-cobrowse-mask" not in attrs
    assert attrs["name"] == name
    assert attrs["autocomplete"] == autocomplete


@pytest.mark.django_db
@pytest.mark.parametrize("url", sorted({url for url, *_ in MASKED + UNMASKED}))
def test_every_form_field_has_id_name_label_and_a_masking_decision(
    filled_cart: Client, url: str
) -> None:
    html = filled_cart.get(url).content.decode()
    labelled = {attrs.get("for") for tag, attrs in elements(html) if tag == "label"}
    fields = form_fields(html)
    assert fields
    for attrs in fields:
        assert attrs.get("id") and attrs.get("name")
        assert attrs["id"] in labelled, f"{attrs['id']} has no label"
        assert ("data-cobrowse-mask" in attrs) != ("data-cobrowse-unmask" in attrs)


# --- Validators ------------------------------------------------------------------------------


def test_luhn_accepts_card_numbers_and_rejects_typos() -> None:
    assert luhn_valid(VALID_CARD_DIGITS)
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4539148803436468")
    assert not luhn_valid("4539 1488")


@pytest.mark.parametrize(
    "iban", ["DE89370400440532013000", "GB29NWBK60161331926819", "NL91ABNA0417164300"]
)
def test_iban_check_accepts_valid_ibans(iban: str) -> None:
    assert iban_problem(iban) is None


@pytest.mark.parametrize(
    "iban", ["DE89370400440532013001", "GB29NWBK6016133192681", "XX00123", "NL91ABNA041716430O"]
)
def test_iban_check_rejects_invalid_ibans(iban: str) -> None:
    assert iban_problem(iban) is not None


# --- Two origins: the desk and the merchant --------------------------------------------------


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize("path", ["/shop/", "/shop/cart/?x=1", "/bank/transfer/"])
def test_the_desk_sends_the_demo_pages_to_the_merchants_origin(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == settings.DEMO_MERCHANT_URL.rstrip("/") + path


@pytest.mark.urls("config.urls")
def test_the_desks_root_leads_to_the_help_desk(client: Client) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/helpdesk/")


def test_the_merchants_policy_lets_the_widget_load_and_connect_to_the_desk_only() -> None:
    directives = merchant_policy("https://desk.example/").split("; ")
    policy = dict(directive.split(" ", 1) for directive in directives)
    assert policy["script-src"] == "'self' https://desk.example"
    assert policy["style-src"] == "'self' https://desk.example"
    assert policy["connect-src"] == "'self' https://desk.example wss://desk.example"
    assert "'unsafe-inline'" not in "; ".join(policy.values())
    assert merchant_policy("http://127.0.0.1:8000/").count("ws://127.0.0.1:8000") == 1


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize(
    ("path", "cors"),
    [
        ("/static/cobrowse/embed.js", True),
        ("/static/cobrowse/embed.mjs", True),
        ("/static/cobrowse/widget.css", True),
        ("/static/vendor/rrweb/rrweb.js", True),
        ("/static/shop_demo/base.css", False),
    ],
)
def test_the_widgets_static_files_may_be_imported_from_any_origin(
    client: Client, path: str, cors: bool
) -> None:
    """Cross-origin ES module imports need Access-Control-Allow-Origin on the module's response;
    the widget's modules and rrweb have it, other static files do not."""
    response = client.get(path, HTTP_ORIGIN="https://shop.example")
    assert response.status_code == 200
    assert response.get("Access-Control-Allow-Origin") == ("*" if cors else None)
    if path.endswith((".js", ".mjs")):
        assert response["Content-Type"].startswith("text/javascript")


@pytest.mark.django_db
def test_every_page_of_the_merchant_refuses_a_post_without_the_csrf_token(settings: Any) -> None:
    """The merchant's origin has its own URLconf, so the desk's CSRF sweep (test_security.py)
    does not see it: the same sweep here."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from tests.test_security import _sample_path

    settings.CSRF_FAILURE_VIEW = "tests.test_security.csrf_failed"
    client = Client(enforce_csrf_checks=True)
    checked = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                path = _sample_path(prefix + str(entry.pattern))
                response = client.post(path, {"quantity": "1"})
                assert response.status_code == 403 and response.get("X-CSRF-Failed"), path
                checked.append(path)

    walk(get_resolver("config.urls_merchant").url_patterns, "")
    assert "/shop/checkout/" in checked and "/bank/transfer/" in checked and len(checked) >= 12
