"""The demo sites' forms, validated server-side as a real shop or bank would.

Every field carries the attributes the co-browsing widget reads: `data-cobrowse-mask` on what the
operator must never see (card number, expiry, CVC, IBAN, account number, national ID, date of
birth), `data-cobrowse-unmask` on what the operator may see to help (names, address, e-mail,
amounts, references, quantities), and the standard `autocomplete` token. Ids are Django's
`id_<name>`, so they stay stable across releases.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from .cart import MAX_QUANTITY
from .validators import card_brand, compact, iban_problem, luhn_valid

MASK: dict[str, Any] = {"data-cobrowse-mask": True}
UNMASK: dict[str, Any] = {"data-cobrowse-unmask": True}


def _masked(autocomplete: str, **attrs: Any) -> dict[str, Any]:
    return {**MASK, "autocomplete": autocomplete, "spellcheck": "false", **attrs}


def _unmasked(autocomplete: str, **attrs: Any) -> dict[str, Any]:
    return {**UNMASK, "autocomplete": autocomplete, **attrs}


class SecretInput(forms.TextInput):
    """A text input that never writes its value back into the page. After a failed submit the
    customer types card data again, so it is in no HTML response and no page snapshot."""

    def format_value(self, value: Any) -> str | None:
        return None


class DemoForm(forms.Form):
    """Labels without Django's trailing colon, as the sites' design has them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# --- Shop ------------------------------------------------------------------------------------


def _quantity_field(*, min_value: int) -> forms.IntegerField:
    return forms.IntegerField(
        min_value=min_value,
        max_value=MAX_QUANTITY,
        initial=1,
        widget=forms.NumberInput(attrs=_unmasked("off", inputmode="numeric")),
    )


class AddToCartForm(DemoForm):
    quantity = _quantity_field(min_value=1)


class CartLineForm(DemoForm):
    """A cart line's quantity; 0 removes the line. Rendered once per line with
    `auto_id="id_%s_<slug>"`, so each input keeps a unique, stable id and the name `quantity`."""

    quantity = _quantity_field(min_value=0)


class CheckoutForm(DemoForm):
    name = forms.CharField(
        label="Full name", max_length=100, widget=forms.TextInput(attrs=_unmasked("name"))
    )
    email = forms.EmailField(label="E-mail", widget=forms.EmailInput(attrs=_unmasked("email")))
    address = forms.CharField(
        label="Street and number",
        max_length=200,
        widget=forms.TextInput(attrs=_unmasked("street-address")),
    )
    postal_code = forms.CharField(
        label="Postal code",
        max_length=12,
        widget=forms.TextInput(attrs=_unmasked("postal-code", size=8)),
    )
    city = forms.CharField(max_length=80, widget=forms.TextInput(attrs=_unmasked("address-level2")))
    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=SecretInput(
            attrs=_masked("cc-number", inputmode="numeric", placeholder="1234 5678 9012 3456")
        ),
    )
    card_expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        widget=SecretInput(
            attrs=_masked("cc-exp", inputmode="numeric", placeholder="MM/YY", size=7)
        ),
    )
    card_cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        widget=SecretInput(attrs=_masked("cc-csc", inputmode="numeric", placeholder="123", size=4)),
    )

    def clean_postal_code(self) -> str:
        value: str = self.cleaned_data["postal_code"].strip().upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9 -]{2,10}", value):
            raise forms.ValidationError("Enter a postal code such as 10115.")
        return value

    def clean_card_number(self) -> str:
        digits = compact(self.cleaned_data["card_number"])
        if not digits.isdigit() or not 13 <= len(digits) <= 19:
            raise forms.ValidationError("A card number has 13 to 19 digits.")
        if not luhn_valid(digits):
            raise forms.ValidationError("This card number is not valid. Please check for typos.")
        return digits

    def clean_card_expiry(self) -> tuple[int, int]:
        match = re.fullmatch(
            r"(\d{1,2})\s*/\s*(\d{2}|\d{4})", self.cleaned_data["card_expiry"].strip()
        )
        if not match:
            raise forms.ValidationError("Enter the expiry date as MM/YY.")
        month, year = int(match[1]), int(match[2])
        year = year + 2000 if year < 100 else year
        if not 1 <= month <= 12:
            raise forms.ValidationError("The month must be between 01 and 12.")
        today = timezone.localdate()
        if (year, month) < (today.year, today.month):
            raise forms.ValidationError("This card has expired.")
        if year > today.year + 20:
            raise forms.ValidationError("Enter the expiry date printed on the card.")
        return year, month

    def clean_card_cvc(self) -> str:
        value: str = self.cleaned_data["card_cvc"].strip()
        if not re.fullmatch(r"\d{3,4}", value):
            raise forms.ValidationError("The security code has 3 or 4 digits.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        number, cvc = cleaned.get("card_number"), cleaned.get("card_cvc")
        if number and cvc:
            expected = 4 if card_brand(number) == "American Express" else 3
            if len(cvc) != expected:
                self.add_error("card_cvc", f"The security code of this card has {expected} digits.")
        return cleaned


# --- Bank ------------------------------------------------------------------------------------


class IbanField(forms.CharField):
    """An IBAN, cleaned to its compact upper-case form and checked (country, length, mod-97)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 42)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        iban = compact(str(super().clean(value))).upper()
        if iban and (problem := iban_problem(iban)):
            raise forms.ValidationError(problem, code="invalid_iban")
        return iban


class EuroAmountField(forms.DecimalField):
    """A euro amount; accepts a decimal comma ("12,50") as customers in most of Europe type it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 10)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0.01"))
        kwargs.setdefault(
            "error_messages",
            {
                "min_value": "Enter an amount of at least €0.01.",
                "invalid": "Enter an amount such as 25.00.",
            },
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if isinstance(value, str):
            value = value.strip().replace(" ", "").replace("€", "")
            if "," in value and "." not in value:
                value = value.replace(",", ".")
        return super().to_python(value)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        # Rendered as a text input: a number input refuses the decimal comma in some browsers.
        return {**super().widget_attrs(widget), "inputmode": "decimal"}


class TransferForm(DemoForm):
    recipient_name = forms.CharField(
        label="Recipient name", max_length=70, widget=forms.TextInput(attrs=_unmasked("off"))
    )
    iban = IbanField(
        label="Recipient IBAN",
        widget=forms.TextInput(
            attrs=_masked(
                "off", placeholder="DE89 3704 0044 0532 0130 00", autocapitalize="characters"
            )
        ),
    )
    amount = EuroAmountField(
        label="Amount (EUR)",
        widget=forms.TextInput(attrs=_unmasked("transaction-amount", placeholder="0.00", size=12)),
    )
    reference = forms.CharField(
        label="Reference",
        max_length=140,
        required=False,
        help_text="Optional, up to 140 characters. The recipient sees it on their statement.",
        widget=forms.TextInput(attrs=_unmasked("off")),
    )

    def __init__(self, *args: Any, available: Decimal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.available = available

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if amount > self.available:
            raise forms.ValidationError(
                f"The amount is more than your available balance of €{self.available:,.2f}."
            )
        return amount


class AccountOpeningForm(DemoForm):
    full_name = forms.CharField(
        label="Full name", max_length=100, widget=forms.TextInput(attrs=_unmasked("name"))
    )
    national_id = forms.CharField(
        label="National ID number",
        max_length=24,
        help_text="As printed on your ID card or passport.",
        widget=forms.TextInput(attrs=_masked("off", autocapitalize="characters")),
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        widget=forms.DateInput(attrs=_masked("bday", type="date"), format="%Y-%m-%d"),
    )
    account_number = IbanField(
        label="Account to link (IBAN)",
        help_text="An account in your name at another bank, for your first deposit.",
        widget=forms.TextInput(attrs=_masked("off", autocapitalize="characters")),
    )
    accept_terms = forms.BooleanField(
        label="I accept the account terms and the privacy notice",
        widget=forms.CheckboxInput(attrs=UNMASK),
    )

    def clean_national_id(self) -> str:
        value = compact(self.cleaned_data["national_id"]).upper()
        if not re.fullmatch(r"[A-Z0-9]{6,20}", value) or sum(c.isdigit() for c in value) < 4:
            raise forms.ValidationError("Enter the 6 to 20 letters and digits of your ID number.")
        return value

    def clean_date_of_birth(self) -> dt.date:
        born: dt.date = self.cleaned_data["date_of_birth"]
        today = timezone.localdate()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if born > today or age > 120:
            raise forms.ValidationError("Enter your date of birth.")
        if age < 18:
            raise forms.ValidationError("You must be 18 or older to open an account.")
        return born
