"""The files written from `cobrowse/protocol.py`, so that the wire format is described once.

- `static/cobrowse/protocol.js`: the browser's constants (kinds and their delivery, close codes
  and which of them are final, error codes, size limits, the server's op prefix);
- the tables of kinds, error codes and close codes in `docs/protocol.md`, each between a pair of
  `<!-- protocol:NAME -->` / `<!-- /protocol:NAME -->` markers.

`python manage.py protocol_files` writes them; `--check` (and `tests/test_protocol_files.py`)
fails when the committed files differ from what this module renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from . import policy, protocol
from .models import Role

ROOT = Path(__file__).resolve().parent.parent
JS_PATH = ROOT / "static" / "cobrowse" / "protocol.js"
DOCS_PATH = ROOT / "docs" / "protocol.md"
COMMAND = "python manage.py protocol_files"

# The limits the browser needs, by their names in protocol.py.
JS_LIMITS = (
    "MAX_CLIENT_OP_ID",
    "MAX_OPS_PER_FRAME",
    "MAX_ELEMENT",
    "MAX_DOM_EVENTS",
    "MAX_TEXT",
    "MAX_VALUE",
    "MAX_URL",
    "MAX_TITLE",
    "MAX_FRAME_BYTES",
    "MAX_DOM_FRAME_BYTES",
)


def final_status(code: protocol.CloseCode) -> str:
    """What a client reports when closed with a final code: "forbidden", "ended"."""
    return code.name.lower()


# --- static/cobrowse/protocol.js -------------------------------------------------------------


def render_js() -> str:
    def value(v: object) -> str:
        return json.dumps(v)

    def frozen(entries: Iterable[tuple[str, object]]) -> str:
        lines = "".join(f"  {key}: {value(v)},\n" for key, v in entries)
        return "Object.freeze({\n" + lines + "})"

    final = sorted(protocol.FINAL_CLOSE_CODES)
    parts = [
        "// The wire format for the browser, generated from cobrowse/protocol.py by\n"
        f"// `{COMMAND}`: do not edit; change protocol.py and run the command.\n",
        '/** How the server delivers an op of each kind: "all" (the sender gets it too, after\n'
        ' * its ack) or "others" (everyone but the sender). Every kind of the protocol, nothing\n'
        " * else. */\n"
        "export const DELIVERY = "
        + frozen((name, kind.delivery.value) for name, kind in protocol.KIND_TABLE.items())
        + ";\n",
        "export const KINDS = Object.freeze(Object.keys(DELIVERY));\n",
        "export const Delivery = " + frozen((d.name, d.value) for d in protocol.Delivery) + ";\n",
        "/** Every WebSocket close code the server sends (docs/protocol.md says when). */\n"
        "export const CloseCode = " + frozen((c.name, c.value) for c in protocol.CloseCode) + ";\n",
        "/** Close codes after which a client does not reconnect, each with the status it\n"
        " * reports. */\n"
        "export const FINAL_CLOSE_CODES = "
        + frozen((str(c.value), final_status(c)) for c in final)
        + ";\n",
        "/** The `code` of an `error` frame is one of these. */\n"
        "export const ERROR_CODES = Object.freeze([\n"
        + "".join(f"  {value(code)},\n" for code in protocol.ERROR_CODES)
        + "]);\n",
        "// Limits the server holds frames to (MAX_FRAME_BYTES and MAX_DOM_FRAME_BYTES are the\n"
        "// defaults of COBROWSE_MAX_FRAME_BYTES and COBROWSE_MAX_DOM_FRAME_BYTES).\n"
        + "".join(f"export const {n} = {value(getattr(protocol, n))};\n" for n in JS_LIMITS),
        "/** client_op_ids of the ops the server journals itself start with this. */\n"
        f"export const SERVER_OP_PREFIX = {value(protocol.SERVER_OP_PREFIX)};\n",
    ]
    return "\n".join(parts)


# --- docs/protocol.md ------------------------------------------------------------------------


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _may_send(role: str, kind: str) -> str:
    rules = policy.SEND_RULES.get(role, {})
    if kind not in rules:
        return "no"
    actions = rules[kind]
    if actions is not None:
        return ", ".join(sorted(actions))
    return "with control" if policy.needs_control(role=role, kind=kind) else "yes"


def kinds_table() -> str:
    roles = [role.value for role in Role]
    return _table(
        ["kind", "delivery", *roles, "payload"],
        (
            [f"`{name}`", kind.delivery.value, *(_may_send(r, name) for r in roles), kind.shape]
            for name, kind in protocol.KIND_TABLE.items()
        ),
    )


def error_codes_table() -> str:
    return _table(["code", "when"], ([f"`{c}`", when] for c, when in protocol.ERROR_CODES.items()))


def close_codes_table() -> str:
    def meaning(code: protocol.CloseCode) -> str:
        text = protocol.CLOSE_CODES[code]
        if code in protocol.FINAL_CLOSE_CODES:
            text += " (final: do not reconnect)"
        return text

    return _table(
        ["code", "name", "meaning"],
        ([str(c.value), f"`{c.name}`", meaning(c)] for c in protocol.CLOSE_CODES),
    )


DOC_TABLES: dict[str, Callable[[], str]] = {
    "kinds": kinds_table,
    "error-codes": error_codes_table,
    "close-codes": close_codes_table,
}


def render_docs(text: str) -> str:
    """`text` (docs/protocol.md) with every generated table rewritten between its markers."""
    for name, render in DOC_TABLES.items():
        start, end = f"<!-- protocol:{name} -->", f"<!-- /protocol:{name} -->"
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
        found = list(pattern.finditer(text))
        if len(found) != 1:
            raise ValueError(f"docs/protocol.md needs exactly one {start} ... {end} pair")
        at = found[0]
        text = f"{text[: at.start()]}{start}\n{render()}\n{end}{text[at.end() :]}"
    return text


def stale_files() -> list[Path]:
    """The generated files whose committed text differs from what protocol.py renders."""
    stale = []
    if not JS_PATH.exists() or JS_PATH.read_text() != render_js():
        stale.append(JS_PATH)
    docs = DOCS_PATH.read_text()
    if render_docs(docs) != docs:
        stale.append(DOCS_PATH)
    return stale


def write_files() -> list[Path]:
    """Write the stale files; returns them."""
    stale = stale_files()
    for path in stale:
        if path == JS_PATH:
            path.write_text(render_js())
        else:
            path.write_text(render_docs(path.read_text()))
    return stale
