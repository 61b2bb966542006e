"""Checks for payment card numbers and IBANs, as a real shop or bank runs them server-side.

Pure functions with no Django dependency; `forms.py` turns their answers into form errors.
"""

from __future__ import annotations

import re

# IBAN lengths of the SEPA countries the demo bank accepts (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15,
    "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip

_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")


def compact(value: str) -> str:
    """Drop the spaces and dashes people type inside card numbers and IBANs."""
    return re.sub(r"[\s-]", "", value)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that every payment card number does."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    """The card network, from the number's first digits (enough for a receipt and the CVC
    length, not a full BIN table)."""
    if digits[:2] in {"34", "37"}:
        return "American Express"
    if digits[:1] == "4":
        return "Visa"
    if 51 <= int(digits[:2] or 0) <= 55 or 2221 <= int(digits[:4] or 0) <= 2720:
        return "Mastercard"
    return "Card"


def iban_problem(iban: str) -> str | None:
    """Why a compacted, upper-cased IBAN is not valid, or None when it is: known country, the
    country's length, and the mod-97 check digits (ISO 7064)."""
    if not _IBAN_SHAPE.fullmatch(iban):
        return "An IBAN starts with a country code and two check digits, like DE89…"
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        return f"IBANs from {iban[:2]} are not supported; we accept SEPA countries only."
    if len(iban) != expected:
        return f"An IBAN from {iban[:2]} has {expected} characters; this one has {len(iban)}."
    if not mod97_valid(iban):
        return "This IBAN is not valid: its check digits do not match. Please check for typos."
    return None


def mod97_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def iban_grouped(iban: str) -> str:
    """The IBAN in groups of four, as printed on bank statements."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def iban_tail(iban: str) -> str:
    """Only the last four characters, for receipts: the full IBAN is not kept."""
    return f"•••• {iban[-4:]}"
