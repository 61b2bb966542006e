"""Server-side masking: the second line of defence behind the browser's own masking.

Before an op is journaled, `redact_payload` removes what must never be stored, whatever the
client sent:
- the value of sensitive form fields (password, card, CVC, expiry, IBAN, account number,
  national id, anything marked `data-cobrowse-mask`) in rrweb snapshots and mutations: their
  `value` attribute and their text;
- in every string of every payload, digit runs that are Luhn-valid payment card numbers and
  strings that are valid IBANs (mod-97), replaced by asterisks of the same length.
"""

from __future__ import annotations

import re
from typing import Any

MASK_CHAR = "*"

# Attribute values that mark a form field as sensitive (matched against name, id, autocomplete,
# and similar attributes, case-insensitively).
_SENSITIVE_WORDS = re.compile(
    r"pass(word)?|pwd|card|cc-|ccnum|cc_?number|cvc|cvv|csc|security.?code|expir|exp-|"
    r"iban|account|acct|bic|swift|routing|sort.?code|national|ssn|social|tax.?id|pin\b|otp",
    re.IGNORECASE,
)
_NAMING_ATTRIBUTES = ("name", "id", "autocomplete", "aria-label", "placeholder")
_FIELD_TAGS = frozenset({"input", "select", "textarea"})

_CARD_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _mask(match_text: str) -> str:
    return "".join(MASK_CHAR if ch.isalnum() else ch for ch in match_text)


def scrub_text(text: str) -> str:
    """Replace card numbers and IBANs in free text by asterisks."""
    if len(text) < 13:
        return text

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return (
            _mask(match.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits)
            else match.group(0)
        )

    def iban(match: re.Match[str]) -> str:
        return _mask(match.group(0)) if iban_valid(match.group(0)) else match.group(0)

    if any(ch.isdigit() for ch in text):
        text = _CARD_RUN.sub(card, text)
        text = _IBAN.sub(iban, text)
    return text


def is_sensitive_element(attributes: dict[str, Any], tag: str | None = "input") -> bool:
    """Whether an element's attributes mark it as one whose value never leaves the page: any
    element marked `data-cobrowse-mask` (with everything inside it), or a form field whose
    type, name, id or autocomplete names a secret."""
    if "data-cobrowse-mask" in attributes:
        return True
    if tag is not None and tag.lower() not in _FIELD_TAGS:
        return False
    if str(attributes.get("type", "")).lower() == "password":
        return True
    return any(
        isinstance(attributes.get(name), str) and _SENSITIVE_WORDS.search(attributes[name])
        for name in _NAMING_ATTRIBUTES
    )


def _redact_node(node: dict[str, Any], masked_ancestor: bool = False) -> None:
    """Redact an rrweb serialized node tree in place (iteratively: trees can be deep)."""
    stack: list[tuple[dict[str, Any], bool]] = [(node, masked_ancestor)]
    while stack:
        current, masked = stack.pop()
        attributes = current.get("attributes")
        if isinstance(attributes, dict):
            tag = current.get("tagName")
            if is_sensitive_element(attributes, tag if isinstance(tag, str) else ""):
                masked = True
            if masked:
                for key in ("value", "checked", "selected"):
                    if key in attributes:
                        attributes[key] = MASK_CHAR * 8 if key == "value" else False
        if masked and isinstance(current.get("textContent"), str):
            current["textContent"] = MASK_CHAR * len(current["textContent"])
        children = current.get("childNodes")
        if isinstance(children, list):
            stack.extend((child, masked) for child in children if isinstance(child, dict))


def _redact_rrweb_event(event: dict[str, Any]) -> None:
    data = event.get("data")
    if not isinstance(data, dict):
        return
    if isinstance(data.get("node"), dict):  # full snapshot (type 2)
        _redact_node(data["node"])
    for added in data.get("adds") or []:  # incremental mutation (type 3, source 0)
        if isinstance(added, dict) and isinstance(added.get("node"), dict):
            _redact_node(added["node"])
    for change in data.get("attributes") or []:
        attrs = change.get("attributes") if isinstance(change, dict) else None
        # A value set through an attribute mutation is masked unless it is empty.
        if isinstance(attrs, dict) and attrs.get("value"):
            attrs["value"] = MASK_CHAR * 8


def _scrub_strings(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [_scrub_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_strings(item) for key, item in value.items()}
    return value


def redact_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload as it may be journaled."""
    if kind == "dom":
        for event in payload.get("events", []):
            if isinstance(event, dict):
                _redact_rrweb_event(event)
    result: dict[str, Any] = _scrub_strings(payload)
    return result
