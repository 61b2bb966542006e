"""The prose of docs/performance.md around the measured numbers."""

from __future__ import annotations

from typing import Any


def render(doc: dict[str, Any], table: str, steps: str) -> str:
    return f"# Performance\n\n{table}\n\n{steps}\n"
