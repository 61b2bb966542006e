"""axe-core (npm, `node_modules/axe-core`) inside the browser tests: a page is checked as it
stands, the widget's shadow root included, and a test fails with a readable list of what is
serious or critical.

The pages run under a strict Content-Security-Policy (no inline script, no eval), so axe's
source cannot come in as a <script>; `page.evaluate` goes through the DevTools protocol, which
the policy does not govern (see `wait_until` in conftest.py), and axe itself needs no eval.

axe looks into open shadow roots on its own (the widget's `#cobrowse-root` is one). It does not
look into iframes here (`iframes: false`): the iframes on our pages show the customer's own site
(the desk's mirror, the admin's replay), which is the merchant's markup, not ours; the iframe
elements themselves are still checked (their title, for one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The impacts axe rates serious or worse; "moderate" and "minor" are reported by `axe_run` too.
BLOCKING = ("serious", "critical")

RUN = """async ({include, exclude}) => {
  // Colours are measured as they end up: entrance animations (the panel rises from opacity 0)
  // are let finish first; endless ones (a pulsing dot) are left running.
  const hosts = [...document.querySelectorAll("*")].filter((e) => e.shadowRoot);
  const roots = [document, ...hosts.map((host) => host.shadowRoot)];
  const finite = roots.flatMap((root) => root.getAnimations())
    .filter((a) => a.effect?.getComputedTiming().endTime !== Infinity);
  await Promise.all(finite.map((a) => a.finished.catch(() => null)));
  const context = include ? {include, exclude} : {exclude};
  const result = await axe.run(context, {iframes: false, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    url: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target, impact: n.impact, summary: n.failureSummary})),
  }));
}"""


def axe_run(
    page: Any, *, include: list[Any] | None = None, exclude: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Every violation axe finds in `page` (optionally only within `include`, a list of
    selectors; a selector into a shadow root is a list: [host, inner]), without `exclude`."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        RUN, {"include": include, "exclude": exclude or []}
    )
    return violations


def serious_violations(page: Any, **context: Any) -> list[dict[str, Any]]:
    """The violations axe rates serious or critical (see `axe_run` for the arguments)."""
    return [v for v in axe_run(page, **context) if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per element: rule, impact, target, what to do."""
    lines = []
    for v in violations:
        for node in v["nodes"]:
            target = " >> ".join(
                " ".join(t) if isinstance(t, list) else str(t) for t in node["target"]
            )
            lines.append(f"{v['id']} ({node['impact'] or v['impact']}) at {target}: {v['help']}")
    return "\n".join(lines)


def assert_accessible(page: Any, where: str, **context: Any) -> None:
    """Fail if axe finds anything serious or critical in `page` (`where` names the state)."""
    violations = serious_violations(page, **context)
    assert not violations, f"axe: serious or critical on {where}:\n{describe(violations)}"
