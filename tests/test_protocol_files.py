"""The wire format is described once, in cobrowse/protocol.py: the browser's constants
(static/cobrowse/protocol.js) and the tables of docs/protocol.md are generated from it, and these
tests fail when a committed copy disagrees with the Python."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cobrowse import protocol, protocol_files
from cobrowse.protocol import CloseCode

REGENERATE = f"out of date: run `{protocol_files.COMMAND}` and commit the result"


def test_committed_protocol_js_matches_protocol_py():
    assert protocol_files.JS_PATH.read_text() == protocol_files.render_js(), (
        f"static/cobrowse/protocol.js is {REGENERATE}"
    )


def test_docs_tables_match_protocol_py():
    docs = protocol_files.DOCS_PATH.read_text()
    assert protocol_files.render_docs(docs) == docs, (
        f"the tables of docs/protocol.md are {REGENERATE}"
    )


def test_protocol_js_holds_every_kind_close_code_error_code_and_limit():
    js = protocol_files.render_js()
    for kind, delivery in protocol.DELIVERY.items():
        assert f'  {kind}: "{delivery.value}",\n' in js
    for code in CloseCode:
        assert f"  {code.name}: {code.value},\n" in js
    assert '  4403: "forbidden",\n  4410: "ended",\n' in js
    for error in protocol.ERROR_CODES:
        assert f'  "{error}",\n' in js
    assert "export const MAX_DOM_EVENTS = 500;\n" in js
    assert 'export const SERVER_OP_PREFIX = "server-";\n' in js


def test_docs_tables_say_who_may_send_what_and_which_close_codes_are_final():
    kinds = protocol_files.kinds_table()
    assert "| `input` | others | yes | with control | no |" in kinds
    assert "| `control` | all | grant, revoke | release, request | no |" in kinds
    closes = protocol_files.close_codes_table()
    assert "| 4410 | `ENDED` | the session has ended (final: do not reconnect) |" in closes
    assert "| 4408 | `TOO_SLOW` |" in closes and "TOO_SLOW` | the client did not" in closes


def test_docs_without_the_markers_of_a_table_are_refused():
    with pytest.raises(ValueError, match="protocol:error-codes"):
        protocol_files.render_docs("<!-- protocol:kinds -->\n<!-- /protocol:kinds -->\n")


def test_check_fails_on_stale_files_and_the_command_rewrites_them(tmp_path: Path, monkeypatch):
    js, docs = tmp_path / "protocol.js", tmp_path / "protocol.md"
    js.write_text(protocol_files.render_js().replace("4410", "4411"))
    docs.write_text(protocol_files.DOCS_PATH.read_text().replace("`ENDED`", "`OVER`"))
    monkeypatch.setattr(protocol_files, "ROOT", tmp_path)
    monkeypatch.setattr(protocol_files, "JS_PATH", js)
    monkeypatch.setattr(protocol_files, "DOCS_PATH", docs)

    with pytest.raises(CommandError, match=r"protocol\.js, protocol\.md; run `python manage"):
        call_command("protocol_files", "--check")
    call_command("protocol_files")
    call_command("protocol_files", "--check")
    assert js.read_text() == protocol_files.render_js()
    assert "| 4410 | `ENDED` |" in docs.read_text()
