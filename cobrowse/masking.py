"""Server-side masking: the second line of defence behind the browser's own masking.

Before an op is journaled, `SessionMasker.redact` removes what must never be stored, whatever
the client sent:
- the value of sensitive form fields (password, hidden, card, CVC, expiry, IBAN, account number,
  national id, anything marked `data-cobrowse-mask` and everything inside it) in rrweb
  snapshots and mutations: their `value`/`checked`/`selected` attributes and their text;
- what is later typed into those fields: rrweb input events (type 3, source 5, `{id, text}`),
  text mutations of their nodes, and `input` ops that name such a node (`"id"`, or an element
  `"node:<id>"`) or whose element key names a secret (`"field:password"`);
- in every string of every payload, digit runs that are Luhn-valid payment card numbers and
  strings that are valid IBANs (mod-97), replaced by asterisks of the same length.

To recognise a later input event the masker must remember which rrweb node ids the session's
snapshots and mutations marked as sensitive: the sequencer keeps them on the session row
(`Session.sensitive_nodes`), read and written under the row lock it already holds. A full
snapshot describes the whole page, so it replaces the remembered set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
_SECRET_TYPES = frozenset({"password", "hidden"})
# The value of a secret field, whatever its length: the same mask the browser's recorder
# writes (static/cobrowse/masking.js SECRET_MASK), so both layers agree on what the operator sees.
MASKED_VALUE = "\u2022" * 6
# rrweb: EventType.FullSnapshot, EventType.IncrementalSnapshot; IncrementalSource.Mutation, Input
_FULL_SNAPSHOT, _INCREMENTAL = 2, 3
_MUTATION, _INPUT = 0, 5

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
    if str(attributes.get("type", "")).lower() in _SECRET_TYPES:
        return True
    return any(
        isinstance(attributes.get(name), str) and _SENSITIVE_WORDS.search(attributes[name])
        for name in _NAMING_ATTRIBUTES
    )


def _redact_node(
    node: dict[str, Any], masked_ancestor: bool = False, sensitive: set[int] | None = None
) -> None:
    """Redact an rrweb serialized node tree in place (iteratively: trees can be deep), adding
    the ids of sensitive nodes and of everything inside them to `sensitive`."""
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
                        attributes[key] = MASKED_VALUE if key == "value" else False
        if masked:
            if isinstance(current.get("textContent"), str):
                current["textContent"] = MASK_CHAR * len(current["textContent"])
            if sensitive is not None and _is_node_id(current.get("id")):
                sensitive.add(current["id"])
        children = current.get("childNodes")
        if isinstance(children, list):
            stack.extend((child, masked) for child in children if isinstance(child, dict))


def _is_node_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Attributes that hold drawing geometry, never text a person typed: their long digit runs (SVG
# path data) would look like card numbers and be damaged by scrubbing.
_GEOMETRY_KEYS = frozenset(
    {"d", "points", "viewBox", "transform", "path", "gradientTransform", "patternTransform"}
)


def _scrub_strings(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [_scrub_strings(item) for item in value]
    if isinstance(value, dict):
        return {
            key: item if key in _GEOMETRY_KEYS and isinstance(item, str) else _scrub_strings(item)
            for key, item in value.items()
        }
    if isinstance(value, float):
        # Stored as PostgreSQL jsonb reads them back: -0.0 as 0.0, integral floats from 1e16 on
        # as integers. Otherwise the row would no longer match its hash.
        if value == 0:
            return 0.0
        if 1e16 <= abs(value) < 2**63 and value.is_integer():
            return int(value)
    return value


class SessionMasker:
    """Redacts the ops of one session, in journal order, remembering its sensitive nodes.

    `sensitive_nodes` is what the session remembered so far; after redacting, `changed` says
    whether `stored()` must be saved back."""

    def __init__(self, sensitive_nodes: Iterable[int] = ()) -> None:
        self.sensitive: set[int] = set(sensitive_nodes)
        self.changed = False

    def stored(self) -> list[int]:
        return sorted(self.sensitive)

    def redact(self, kind: str, element: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the payload as it may be journaled."""
        before = len(self.sensitive)
        if kind == "dom":
            for event in payload.get("events", []):
                if isinstance(event, dict):
                    self._redact_rrweb_event(event)
        elif kind == "input" and self._names_secret(element, payload.get("id")):
            payload = {**payload, "value": MASKED_VALUE}
            if "checked" in payload:
                payload["checked"] = False
        self.changed = self.changed or len(self.sensitive) != before
        result: dict[str, Any] = _scrub_strings(payload)
        return result

    def _names_secret(self, element: str | None, node_id: Any) -> bool:
        if _is_node_id(node_id) and node_id in self.sensitive:
            return True
        if element is None:
            return False
        prefix, _, rest = element.partition(":")
        if prefix == "node" and rest.isdigit() and int(rest) in self.sensitive:
            return True
        return bool(_SENSITIVE_WORDS.search(rest or element))

    def _redact_rrweb_event(self, event: dict[str, Any]) -> None:
        data = event.get("data")
        if not isinstance(data, dict):
            return
        if event.get("type") == _FULL_SNAPSHOT and isinstance(data.get("node"), dict):
            # The whole page: its sensitive nodes replace what was remembered.
            fresh: set[int] = set()
            _redact_node(data["node"], sensitive=fresh)
            if fresh != self.sensitive:
                self.sensitive = fresh
                self.changed = True
            return
        if isinstance(data.get("node"), dict):  # anything else that carries a node tree
            _redact_node(data["node"], sensitive=self.sensitive)
        if event.get("type") != _INCREMENTAL:
            return
        source = data.get("source")
        if source == _MUTATION:
            self._redact_mutation(data)
        elif source == _INPUT and _is_node_id(data.get("id")) and data["id"] in self.sensitive:
            if "text" in data:
                data["text"] = MASKED_VALUE
            if "isChecked" in data:
                data["isChecked"] = False

    def _redact_mutation(self, data: dict[str, Any]) -> None:
        for added in data.get("adds") or []:
            if isinstance(added, dict) and isinstance(added.get("node"), dict):
                parent = added.get("parentId")
                inside = _is_node_id(parent) and parent in self.sensitive
                _redact_node(added["node"], masked_ancestor=inside, sensitive=self.sensitive)
        for change in data.get("attributes") or []:
            attrs = change.get("attributes") if isinstance(change, dict) else None
            if not isinstance(attrs, dict):
                continue
            node_id = change.get("id")
            if _is_node_id(node_id) and is_sensitive_element(attrs, tag=None):
                self.sensitive.add(node_id)  # e.g. a field that became type=password
            # A value set through an attribute mutation is masked unless it is empty.
            if attrs.get("value"):
                attrs["value"] = MASKED_VALUE
        for text in data.get("texts") or []:
            if (
                isinstance(text, dict)
                and _is_node_id(text.get("id"))
                and text["id"] in self.sensitive
                and isinstance(text.get("value"), str)
            ):
                text["value"] = MASK_CHAR * len(text["value"])


def redact_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Redact one op without memory of the session's earlier ops."""
    return SessionMasker().redact(kind, None, payload)
