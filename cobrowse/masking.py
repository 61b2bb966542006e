"""Server-side masking: the second line of defence behind the browser's own masking.

Before an op is journaled, `SessionMasker.redact` removes what must never be stored, whatever
the client sent:
- the value of sensitive form fields (password, hidden, card, CVC, expiry, IBAN, account number,
  PIN, national id, anything marked `data-cobrowse-mask` and everything inside it) in rrweb
  snapshots and mutations: their `value`/`checked`/`selected` attributes and their text;
- what is later typed into those fields: rrweb input events (type 3, source 5, `{id, text}`),
  text mutations of their nodes, and `input` ops that name such a node (`"id"`, or an element
  `"node:<id>"`) or whose element key names a secret (`"field:password"`);
- in every string of every payload, dictionary keys included, payment card numbers (Luhn) and
  IBANs (country length and mod-97), whatever separates their digits, in whatever script the
  digits are written, URL-encoded or not: each digit or letter becomes an asterisk
  (`scrub_text`; formats and measured false positives in docs/security.md). JSON numbers are
  not scrubbed: rrweb's timestamps are 13-digit integers.

A masked value, and the text of a masked node, becomes `MASKED_VALUE`, whatever its length:
the length of a card number, an IBAN or a national ID says something too. So does a field's
value (an `input` op, an rrweb input event) in which `scrub_text` found a card number or IBAN:
all of it. Only whitespace between elements stays as it is.

To recognise a later input event the masker must remember which rrweb node ids the session's
snapshots and mutations marked as sensitive: the sequencer keeps them on the session row
(`Session.sensitive_nodes`), read and written under the row lock it already holds. A full
snapshot describes the whole page, so it replaces the remembered set.
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

MASK_CHAR = "*"

# Attribute values that mark a form field as sensitive (matched against name, id, autocomplete,
# and similar attributes, case-insensitively).
_SENSITIVE_WORDS = re.compile(
    r"pass(word)?|pwd|card|cc-|ccnum|cc_?number|cvc|cvv|csc|security.?code|expir|exp-|"
    r"iban|account|acct|bic|swift|routing|sort.?code|national|ssn|social|tax.?id|otp|"
    r"(?<![a-z])pin(?![a-z])|pin(?:code|number)",  # pin, pin_code, PIN, pinCode; not spinner
    re.IGNORECASE,
)
_NAMING_ATTRIBUTES = ("name", "id", "autocomplete", "aria-label", "placeholder")
_FIELD_TAGS = frozenset({"input", "select", "textarea"})
_SECRET_TYPES = frozenset({"password", "hidden"})
# The value of a secret field, whatever its length: the same mask the browser's recorder
# writes (static/cobrowse/masking.js SECRET_MASK), so both layers agree on what the operator sees.
MASKED_VALUE = "\u2022" * 6


def _masked_text(text: str) -> str:
    """The text of a masked node: `MASKED_VALUE`, whatever its length; whitespace, which says
    nothing, stays (it is the layout between elements)."""
    return text if text.isspace() or not text else MASKED_VALUE


# rrweb: EventType.FullSnapshot, EventType.IncrementalSnapshot; IncrementalSource.Mutation, Input
_FULL_SNAPSHOT, _INCREMENTAL = 2, 3
_MUTATION, _INPUT = 0, 5

# --- Card numbers and IBANs in free text ---------------------------------------------------
#
# A candidate is a run of digits (any script: fullwidth, Arabic-Indic... are read as the
# digits they are) joined by up to three separators each: spaces of every width, tabs,
# dashes, `+ . / _` and zero-width characters. A dot followed by twelve digits or more is a
# decimal point, not a separator, and such a fraction (`0.7071067811865476`, frequent in styles)
# is no candidate. URL-encoded text (`%20`, `%EF%BC%94`, also encoded twice) is read decoded.
# The checksum is tried on every window of a run, so a card number followed by its expiry or
# CVC, or glued to other digits, is still found; only the window's own digits and letters are
# masked.
#
# Drawing geometry (SVG `d`, `points`, `transform`... of an rrweb element) is a list of
# coordinates in which spaces, dashes and dots delimit numbers: there a candidate is one
# unbroken run of digits, so that coordinates are not read as one long number.

_SEPARATOR_CHARS = (
    " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"  # spaces of every width, tabs
    "\\-\u2010-\u2015\u2212+/_"  # dashes, minus, plus, slash, underscore
    "\u00ad\u200b-\u200d\u2060\ufeff"  # soft hyphen and zero-width characters
)
_SEPARATOR = rf"(?:[{_SEPARATOR_CHARS}]|\.(?!\d{{12}}))"
_JOIN = f"{_SEPARATOR}{{0,3}}"
_NOT_A_FRACTION = r"(?<!\d)(?<!\d\.)"


class _Runs:
    """Where candidates are, in text or in geometry: runs of digits long enough to hold a card
    number (found by the regex engine), and IBANs: a country code that starts a word (after `_`
    too: `iban_DE89`; not `subtotAL 31`) and two check digits, then as many letters and digits
    as that country's IBANs have, with `join` between them."""

    def __init__(self, digits: str, join: str) -> None:
        self.digits = re.compile(digits)
        self.iban_start = re.compile(rf"(?<![A-Z])([A-Z]{{2}}){join}\d{join}\d", re.IGNORECASE)
        head = rf"[A-Z]{{2}}{join}\d{join}\d"
        self.ibans = {
            length: re.compile(rf"{head}(?:{join}(?:[A-Z]|\d)){{{length - 4}}}", re.IGNORECASE)
            for length in set(IBAN_LENGTHS.values())
        }


_ESCAPES = re.compile(r"(?:%[0-9A-F]{2})+", re.IGNORECASE)
# Cheap prechecks, so that the expensive scan only sees strings that could hold a number: a
# card number has 13 digits at least, an IBAN 12 (NL91ABNA0417164300) in practice.
_THIRTEEN_DIGITS = re.compile(r"\d(?:\D*\d){12}")
_TWELVE_DIGITS = re.compile(r"\d(?:\D*\d){11}")
# Shorter text holds neither: left as it is without a look.
_SHORTEST = 12

CARD_LENGTHS = range(13, 20)
# A run of more digits is masked whole instead of window by window: nobody writes such a
# number, one window in ten passes Luhn so almost every digit of a long run is inside a passing
# window anyway, and the windows of a 4 MiB run of digits would take seconds to check.
LONGEST_RUN = 100
# IBAN length per country (SWIFT IBAN registry, plus the countries that use IBANs outside it).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AO": 25, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BF": 28,
    "BG": 22, "BH": 22, "BI": 27, "BJ": 28, "BR": 29, "BY": 28, "CF": 27, "CG": 27, "CH": 21,
    "CI": 28, "CM": 27, "CR": 22, "CV": 25, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18,
    "DO": 28, "DZ": 26, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GA": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GQ": 27, "GR": 27, "GT": 28, "GW": 25,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IR": 26, "IS": 26, "IT": 27,
    "JO": 30, "KM": 27, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MA": 28, "MC": 27, "MD": 24, "ME": 22, "MG": 27, "MK": 19, "ML": 28,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "MZ": 25, "NE": 28, "NI": 28, "NL": 18, "NO": 15,
    "OM": 23, "PK": 24, "PL": 28, "PS": 29, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SN": 28, "SO": 23, "ST": 25,
    "SV": 28, "TD": 27, "TG": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24,
    "XK": 20, "YE": 30,
}  # fmt: skip

# Runs long enough to hold a card number (13 digits), found by the regex engine.
_TEXT_RUNS = _Runs(rf"{_NOT_A_FRACTION}\d(?:{_JOIN}\d){{12,}}", _JOIN)
_GEOMETRY_RUNS = _Runs(rf"{_NOT_A_FRACTION}\d{{13,}}", "")


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
    """Whether `candidate` (separators allowed) is an IBAN: known country, its length, mod-97."""
    compact = "".join(filter(str.isalnum, candidate)).translate(_DIGITS).upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    return _mod97(compact[4:] + compact[:4]) == 1


class _DigitTable(dict[int, int]):
    """A str.translate table that turns a digit of any script into its ASCII digit (filled as
    characters are met: there are hundreds of digit characters)."""

    def __missing__(self, code: int) -> int:
        value = unicodedata.decimal(chr(code), None)
        self[code] = code if value is None else 48 + value
        return self[code]


_DIGITS = _DigitTable()
# IBAN letters as numbers for the mod-97 check: A = 10 ... Z = 35.
_IBAN_LETTERS = {
    ord(letter): str(10 + index) for index, letter in enumerate(string.ascii_uppercase)
}


def _mod97(text: str) -> int:
    """The IBAN remainder of upper-case ASCII letters and digits; -1 for anything else."""
    number = text.translate(_IBAN_LETTERS)
    return int(number) % 97 if number.isascii() and number.isdigit() else -1


# Luhn value of a digit in a doubled position.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _run_characters(text: str, start: int, end: int) -> tuple[Sequence[int], str]:
    """The positions and normalised (ASCII, upper case) characters of the run text[start:end],
    without its separators."""
    segment = text[start:end]
    if segment.isalnum():  # no separator
        positions: Sequence[int] = range(start, end)
        chars = segment
    else:
        positions = [index for index, char in enumerate(segment, start) if char.isalnum()]
        chars = "".join(filter(str.isalnum, segment))
    if not chars.isascii():
        chars = chars.translate(_DIGITS)
    return positions, chars.upper()


def _percent_decoded(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with its %XX escapes decoded (UTF-8), and for each character of the result the
    span of `text` it comes from. Bytes that are not UTF-8 stay as written."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for escapes in _ESCAPES.finditer(text):
        chars.append(text[position : escapes.start()])
        spans.extend((index, index + 1) for index in range(position, escapes.start()))
        raw = bytes.fromhex(escapes.group().replace("%", ""))
        index = 0
        while index < len(raw):
            lead = raw[index]
            size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            start = escapes.start() + 3 * index
            try:
                char = raw[index : index + size].decode()
            except UnicodeDecodeError:  # an escape that does not decode: as it is written
                size = 1
                chars.append(text[start : start + 3])
                spans.extend((start + offset, start + offset + 1) for offset in range(3))
            else:
                chars.append(char)
                spans.append((start, start + 3 * size))
            index += size
        position = escapes.end()
    chars.append(text[position:])
    spans.extend((index, index + 1) for index in range(position, len(text)))
    return "".join(chars), spans


def _card_windows(digits: str) -> list[tuple[int, int]]:
    """Every window [i, j) of 13-19 digits that passes Luhn, in O(1) each: `sums[p][k]` is the
    Luhn sum of digits[:k] with the positions of parity p doubled (a window ending at j doubles
    the positions of j's parity)."""
    sums = ([0], [0])
    for index, char in enumerate(digits):
        value = ord(char) - 48
        doubled = _DOUBLED[value]
        sums[0].append(sums[0][-1] + (doubled if index % 2 == 0 else value))
        sums[1].append(sums[1][-1] + (doubled if index % 2 == 1 else value))
    found = []
    for end in range(CARD_LENGTHS.start, len(digits) + 1):
        table = sums[end % 2]
        for length in CARD_LENGTHS:
            begin = end - length
            if begin < 0:
                break
            if (table[end] - table[begin]) % 10 == 0:
                found.append((begin, end))
    return found


def _masked_positions(text: str, runs: _Runs) -> set[int]:
    masked: set[int] = set()
    if _THIRTEEN_DIGITS.search(text):
        for run in runs.digits.finditer(text):
            if run.end() - run.start() < CARD_LENGTHS.start:
                continue
            positions, digits = _run_characters(text, run.start(), run.end())
            if len(digits) < CARD_LENGTHS.start:
                continue
            if len(digits) > LONGEST_RUN:
                masked.update(positions)
                continue
            for begin, end in _card_windows(digits):
                masked.update(positions[begin:end])
    # IBANs: a known country's length from each start, mod-97.
    for start in runs.iban_start.finditer(text):
        length = IBAN_LENGTHS.get(start.group(1).upper())
        whole = runs.ibans[length].match(text, start.start()) if length else None
        if whole is not None:
            chars = "".join(filter(str.isalnum, whole.group())).translate(_DIGITS).upper()
            if _mod97(chars[4:] + chars[:4]) == 1:
                masked.update(_run_characters(text, whole.start(), whole.end())[0])
    return masked


def scrub_text(text: str, *, geometry: bool = False) -> str:
    """Replace card numbers (Luhn) and IBANs (mod-97) in free text by asterisks, one per digit
    or letter of the number (per escape, in URL-encoded text); separators stay. `geometry`:
    `text` is drawing geometry (see above)."""
    if len(text) < _SHORTEST:
        return text
    view = text
    spans: list[tuple[int, int]] = []  # where each character of `view` is in `text`
    if "%" in text and _ESCAPES.search(text):
        # Encoded twice at most (a URL in a URL parameter): a third level is not read.
        for _ in range(2):
            decoded, inner = _percent_decoded(view)
            if decoded == view:
                break
            spans = [(spans[a][0], spans[b - 1][1]) for a, b in inner] if spans else inner
            view = decoded
    if not _TWELVE_DIGITS.search(view):
        return text
    masked = _masked_positions(view, _GEOMETRY_RUNS if geometry else _TEXT_RUNS)
    if not masked:
        return text
    if not spans:
        chars = list(text)
        for index in masked:
            chars[index] = MASK_CHAR
        return "".join(chars)
    return "".join(
        MASK_CHAR if index in masked else text[start:end]
        for index, (start, end) in enumerate(spans)
    )


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
                current["textContent"] = _masked_text(current["textContent"])
            if sensitive is not None and _is_node_id(current.get("id")):
                sensitive.add(current["id"])
        children = current.get("childNodes")
        if isinstance(children, list):
            stack.extend((child, masked) for child in children if isinstance(child, dict))


def _is_node_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Attributes of an rrweb element that hold drawing geometry.
_GEOMETRY_KEYS = frozenset(
    {"d", "points", "viewBox", "transform", "path", "gradientTransform", "patternTransform"}
)


def _scrub_strings(value: Any, attributes: bool = False) -> Any:
    """Scrub every string of a payload, dictionary keys included. `attributes`: `value` is the
    attributes of an rrweb element (the value of an "attributes" key). A list or dictionary
    with nothing to change inside comes back as it is, not copied: most payloads (a pointer's
    numbers under short keys) have nothing that could hold a card number or an IBAN, and this
    runs for every op."""
    kind = type(value)
    if kind is dict:
        return _scrub_dict(value, attributes)
    if kind is list:
        return _scrub_list(value)
    if kind is str:
        return value if len(value) < _SHORTEST else scrub_text(value)
    if kind is int or kind is bool or value is None:
        return value
    # Subclasses of the JSON types (payloads the server builds itself), and floats.
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return _scrub_list(value)
    if isinstance(value, dict):
        return _scrub_dict(value, attributes)
    if isinstance(value, float):
        # Stored as PostgreSQL jsonb reads them back: -0.0 as 0.0, integral floats from 1e16 on
        # as integers. Otherwise the row would no longer match its hash.
        if value == 0:
            return 0.0
        if 1e16 <= abs(value) < 2**63 and value.is_integer():
            return int(value)
    return value


def _unchanged(item: Any) -> bool:
    """Whether `_scrub_strings(item)` is `item` itself, as far as a glance tells (the common
    scalars); False means: ask it."""
    kind = type(item)
    return (
        (kind is str and len(item) < _SHORTEST)
        or kind is int
        or kind is bool
        or item is None
        or (kind is float and 0 < abs(item) < 1e16)
    )


def _scrub_list(value: list[Any]) -> list[Any]:
    scrubbed: list[Any] | None = None  # a copy, from the first item that changed on
    for index, item in enumerate(value):
        new = item if _unchanged(item) else _scrub_strings(item)
        if scrubbed is None:
            if new is item:
                continue
            scrubbed = value[:index]
        scrubbed.append(new)
    return value if scrubbed is None else scrubbed


def _scrub_dict(value: dict[Any, Any], attributes: bool) -> dict[Any, Any]:
    scrubbed: dict[Any, Any] | None = None  # a copy, from the first entry that changed on
    for index, (key, item) in enumerate(value.items()):
        new_key = key if len(key) < _SHORTEST else scrub_text(key)
        if attributes and key in _GEOMETRY_KEYS and isinstance(item, str):
            new = scrub_text(item, geometry=True)
        elif _unchanged(item):
            new = item
        else:
            new = _scrub_strings(item, attributes=key == "attributes")
        if scrubbed is None:
            if new_key is key and new is item:
                continue
            scrubbed = dict(itertools.islice(value.items(), index))
        scrubbed[new_key] = new
    return value if scrubbed is None else scrubbed


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
        value = payload.get("value")
        if kind == "input" and isinstance(value, str) and result.get("value") != value:
            result["value"] = MASKED_VALUE  # a card number or IBAN in it: all of it, see above
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
        elif (
            source == _INPUT
            and isinstance(data.get("text"), str)
            and scrub_text(data["text"]) != data["text"]
        ):
            data["text"] = MASKED_VALUE  # a card number or IBAN in it: all of it, see above

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
                text["value"] = _masked_text(text["value"])
