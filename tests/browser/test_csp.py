"""The widget's browser code and rrweb's Replayer work under the Content-Security-Policy the
pages send (cobrowse/security.py), in real Chromium.

- Customer pages (strict policy): rrweb's recorder takes its snapshot, the widget's transport
  module loads, a WebSocket to this host is allowed, an overlay styled through the CSSOM keeps
  its style; a style written in the markup is blocked (so the policy is really enforced).
- Operator pages (replay policy): the Replayer rebuilds a page with an inline <style> element
  and a style attribute in its sandboxed iframe, and both apply; nothing is reported blocked."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.urls("tests.csp_pages"),
    pytest.mark.django_db(transaction=True),
]

COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample}));
"""


def run_page(
    browser: Any, url: str, tmp_path: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(COLLECT_VIOLATIONS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # (The replay page's "load" never comes under the test server, policy or not.)
        response = page.goto(url, wait_until="domcontentloaded")
        assert response is not None
        policy = response.headers["content-security-policy"]
        # Polled from here: page.wait_for_function would need 'unsafe-eval' in the page.
        deadline = time.monotonic() + 15
        while (result := page.evaluate("window.__result")) is None:
            assert time.monotonic() < deadline, "the page script did not finish"
            page.wait_for_timeout(100)
        violations = page.evaluate("window.__violations")
        page.screenshot(path=str(tmp_path / "page.png"))
        assert not errors, errors
        return result, violations, policy
    finally:
        context.close()


def test_customer_side_works_under_the_strict_policy(browser, live_server, tmp_path):
    result, violations, policy = run_page(browser, f"{live_server.url}/csp-test/strict/", tmp_path)
    assert "style-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert result["fullSnapshot"] and result["events"] >= 2
    assert result["transport"] == "function"
    assert result["socketError"] is None
    assert result["overlayLeft"] == "12px"
    assert result["probeColor"] != "rgb(255, 0, 0)"  # the markup style was blocked ...
    # ... and nothing else: not rrweb's diff of a style attribute (patches/rrweb+2.2.2.patch).
    assert [v["directive"] for v in violations] == ["style-src-attr"], violations
    # A style property removed through the CSSOM is removed in what the operator's mirror gets.
    changes = result["toggledStyles"]
    assert len(changes) == 2, changes
    assert applied(changes[:1]) == {"display": "none", "color": "blue"}
    assert applied(changes) == {"color": "blue"}, changes


def applied(changes: list[Any]) -> dict[str, str]:
    """The style properties of an element after rrweb's attribute changes, as the Replayer
    applies them: a string replaces the attribute, an object is a diff (false: removed)."""
    style: dict[str, str] = {}
    for change in changes:
        if isinstance(change, str):
            style = dict(
                (name.strip(), value.strip())
                for name, value in (part.split(":", 1) for part in change.split(";") if ":" in part)
            )
            continue
        for name, value in change.items():
            if value is False:
                style.pop(name, None)
            else:
                style[name] = value if isinstance(value, str) else value[0]
    return style


def test_operator_side_replays_under_the_replay_policy(browser, live_server, tmp_path):
    result, violations, policy = run_page(
        browser, f"{live_server.url}/helpdesk/csp-test/replay/", tmp_path
    )
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy
    assert result["sandbox"] == "allow-same-origin"  # no allow-scripts
    assert result["replayed"] == "replayed"
    assert result["color"] == "rgb(0, 128, 0)"  # the replayed page's <style> element
    assert result["weight"] == "700"  # and its style attribute
    assert violations == []
