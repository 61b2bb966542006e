"""Pages of the two demo sites: the shop under /shop/ and the bank under /bank/.

Every view sets the CSRF cookie (`ensure_csrf_cookie`), because the co-browsing widget on each
page calls a CSRF-protected JSON API before any form has been shown. Card data, IBANs and ID
numbers typed into these pages are validated and dropped: what a confirmation page shows comes
from a small receipt in the session that holds at most the last four characters.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import bank_data, cart
from .forms import AccountOpeningForm, AddToCartForm, CartLineForm, CheckoutForm, TransferForm
from .models import Product
from .validators import card_brand, iban_tail

ORDER_KEY = "shop_last_order"
TRANSFER_KEY = "bank_last_transfer"
APPLICATION_KEY = "bank_last_application"


def _posted(request: HttpRequest) -> QueryDict | None:
    """Form data for a POST (even an empty one, so it is validated), None for a GET."""
    return request.POST if request.method == "POST" else None


def _reference(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3).upper()}"


@require_GET
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    return redirect("shop_demo:product_list")


# --- Shop ------------------------------------------------------------------------------------


def _render_shop(
    request: HttpRequest, template: str, context: dict[str, Any], *, nav: str = ""
) -> HttpResponse:
    """Render a shop page with what its base template needs: the cart count and the active
    nav item."""
    context = {"cart_count": cart.cart_count(request.session), "nav": nav, **context}
    return render(request, f"shop_demo/shop/{template}", context)


def _cart_summary(request: HttpRequest) -> dict[str, Any]:
    products = Product.objects.in_bulk(list(cart.cart_items(request.session)))
    lines = cart.cart_lines(request.session, products=products)
    subtotal = cart.cart_total(lines)
    shipping = cart.shipping_for(subtotal)
    return {
        "lines": lines,
        "subtotal": subtotal,
        "shipping": shipping,
        "total": subtotal + shipping,
    }


@require_GET
@ensure_csrf_cookie
def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.all()
    return _render_shop(request, "product_list.html", {"products": products}, nav="products")


@require_GET
@ensure_csrf_cookie
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    context = {"product": product, "form": AddToCartForm()}
    return _render_shop(request, "product_detail.html", context, nav="products")


@require_POST
@ensure_csrf_cookie
def cart_add(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        context = {"product": product, "form": form}
        return _render_shop(request, "product_detail.html", context, nav="products")
    quantity = form.cleaned_data["quantity"]
    cart.cart_add(request.session, product_id=product.pk, quantity=quantity)
    messages.success(request, f"Added {quantity} \u00d7 {product.name} to your cart.")
    return redirect("shop_demo:cart")


@require_GET
@ensure_csrf_cookie
def cart_detail(request: HttpRequest) -> HttpResponse:
    summary = _cart_summary(request)
    rows = [
        (
            line,
            CartLineForm(initial={"quantity": line.quantity}, auto_id=f"id_%s_{line.product.slug}"),
        )
        for line in summary["lines"]
    ]
    return _render_shop(request, "cart.html", {**summary, "rows": rows}, nav="cart")


@require_POST
@ensure_csrf_cookie
def cart_update(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    form = CartLineForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Enter a quantity from 0 to 99 for {product.name}.")
        return redirect("shop_demo:cart")
    quantity = form.cleaned_data["quantity"]
    cart.cart_set_quantity(request.session, product_id=product.pk, quantity=quantity)
    if quantity:
        messages.success(request, f"{product.name}: quantity changed to {quantity}.")
    else:
        messages.success(request, f"Removed {product.name} from your cart.")
    return redirect("shop_demo:cart")


@require_POST
@ensure_csrf_cookie
def cart_remove(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug)
    cart.cart_remove(request.session, product_id=product.pk)
    messages.success(request, f"Removed {product.name} from your cart.")
    return redirect("shop_demo:cart")


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
def checkout(request: HttpRequest) -> HttpResponse:
    summary = _cart_summary(request)
    if not summary["lines"]:
        messages.info(request, "Your cart is empty. Add something before checking out.")
        return redirect("shop_demo:cart")
    form = CheckoutForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        request.session[ORDER_KEY] = _order_receipt(form.cleaned_data, summary)
        cart.cart_clear(request.session)
        return redirect("shop_demo:checkout_done")
    return _render_shop(request, "checkout.html", {**summary, "form": form}, nav="cart")


def _order_receipt(data: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """What the confirmation page shows. The card number, expiry and CVC go no further than
    this function: only the brand and the last four digits are kept."""
    return {
        "reference": _reference("FG"),
        "name": data["name"],
        "email": data["email"],
        "address": [data["address"], f"{data['postal_code']} {data['city']}"],
        "lines": [
            {"name": line.product.name, "quantity": line.quantity, "total": str(line.total)}
            for line in summary["lines"]
        ],
        "subtotal": str(summary["subtotal"]),
        "shipping": str(summary["shipping"]),
        "total": str(summary["total"]),
        "card_brand": card_brand(data["card_number"]),
        "card_last4": data["card_number"][-4:],
    }


@require_GET
@ensure_csrf_cookie
def checkout_done(request: HttpRequest) -> HttpResponse:
    order = request.session.get(ORDER_KEY)
    if not order:
        return redirect("shop_demo:product_list")
    totals = {key: Decimal(order[key]) for key in ("subtotal", "shipping", "total")}
    return _render_shop(request, "checkout_done.html", {"order": order, **totals})


# --- Bank ------------------------------------------------------------------------------------


def _render_bank(
    request: HttpRequest, template: str, context: dict[str, Any], *, nav: str = ""
) -> HttpResponse:
    return render(request, f"shop_demo/bank/{template}", {"nav": nav, **context})


@require_GET
@ensure_csrf_cookie
def bank_accounts(request: HttpRequest) -> HttpResponse:
    context = {
        "accounts": bank_data.ACCOUNTS,
        "total": bank_data.total_balance(),
        "main": bank_data.TRANSFER_ACCOUNT,
        "transactions": bank_data.recent_transactions(today=timezone.localdate()),
    }
    return _render_bank(request, "accounts.html", context, nav="accounts")


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
def bank_transfer(request: HttpRequest) -> HttpResponse:
    source = bank_data.TRANSFER_ACCOUNT
    form = TransferForm(_posted(request), available=source.balance)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        request.session[TRANSFER_KEY] = {
            "reference_no": _reference("TR"),
            "recipient_name": data["recipient_name"],
            "iban_tail": iban_tail(data["iban"]),
            "amount": str(data["amount"]),
            "reference": data["reference"],
        }
        return redirect("shop_demo:bank_transfer_done")
    context = {"form": form, "source": source}
    return _render_bank(request, "transfer.html", context, nav="transfer")


@require_GET
@ensure_csrf_cookie
def bank_transfer_done(request: HttpRequest) -> HttpResponse:
    transfer = request.session.get(TRANSFER_KEY)
    if not transfer:
        return redirect("shop_demo:bank_transfer")
    context = {"transfer": transfer, "source": bank_data.TRANSFER_ACCOUNT}
    return _render_bank(request, "transfer_done.html", context, nav="transfer")


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
def bank_open_account(request: HttpRequest) -> HttpResponse:
    form = AccountOpeningForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        # The national ID and date of birth are checked and dropped; a real bank would hand
        # them to its identity check here.
        request.session[APPLICATION_KEY] = {
            "reference_no": _reference("AO"),
            "full_name": form.cleaned_data["full_name"],
            "account_tail": iban_tail(form.cleaned_data["account_number"]),
        }
        return redirect("shop_demo:bank_open_account_done")
    return _render_bank(request, "open_account.html", {"form": form}, nav="open")


@require_GET
@ensure_csrf_cookie
def bank_open_account_done(request: HttpRequest) -> HttpResponse:
    application = request.session.get(APPLICATION_KEY)
    if not application:
        return redirect("shop_demo:bank_open_account")
    context = {"application": application}
    return _render_bank(request, "open_account_done.html", context, nav="open")
