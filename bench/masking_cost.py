"""What server-side masking costs on a large rrweb snapshot (docs/security.md).

    .venv/bin/python -m bench.masking_cost                 # the masking of this checkout
    .venv/bin/python -m bench.masking_cost --rev 96401b2   # and of an earlier commit, to compare

Builds a full snapshot of a shop's product listing close to the 4 MiB frame limit (products
with prices, SVG icons, inline styles with script-made floats, order and tracking numbers, a
large inlined stylesheet) and times `SessionMasker.redact` on it: the best of --repeat runs,
each on a fresh copy, in CPU time of the process (other work on the machine does not count).
Also says how many strings masking changed: on this page, none holds a real card number or
IBAN, so each change is a false positive.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent


def large_snapshot(target_bytes: int = 4_000_000, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = iter(range(10, 10**9))

    def el(tag: str, attributes: dict[str, Any], *children: Any) -> dict[str, Any]:
        return {
            "type": 2,
            "id": next(ids),
            "tagName": tag,
            "attributes": attributes,
            "childNodes": list(children),
        }

    def text(value: str) -> dict[str, Any]:
        return {"type": 3, "id": next(ids), "textContent": value}

    def product(index: int) -> dict[str, Any]:
        sku = f"TSH-{rng.choice(['BLK', 'WHT', 'RED'])}-{rng.randint(1000, 9999)}"
        angle = rng.random() * 360
        return el(
            "article",
            {
                "class": "product-card",
                "data-sku": sku,
                "style": f"transform: rotate({angle}deg) translate({rng.random() * 100}px, 0px)",
            },
            el(
                "a",
                {"href": f"/shop/p/{index}/?utm_source=mail&ref={rng.randint(10**6, 10**9)}"},
                el("img", {"src": f"/media/p/{index}.jpg?v={rng.randint(10**9, 10**10)}"}),
            ),
            el("h3", {}, text(f"Organic cotton T-shirt no. {index}")),
            el("p", {"class": "price"}, text(f"€{rng.randint(5, 199)}.{rng.randint(0, 99):02d}")),
            el(
                "svg",
                {"viewBox": "0 0 120 120", "width": "24", "height": "24"},
                el("path", {"d": "M60 72c20-8 27-28 18-42-13 9-19 26-18 42z"}),
                el("path", {"d": f"M{rng.random() * 10} {rng.random() * 10}L12.5 7.25z"}),
            ),
            el(
                "p",
                {"class": "meta"},
                text(
                    f"Order {rng.randint(100, 999)}-{rng.randint(10**6, 10**7 - 1)}"
                    f" · tracking {rng.randint(10**14, 10**15 - 1)}"
                    f" · EAN {rng.randint(10**12, 10**13 - 1)}"
                ),
            ),
        )

    stylesheet = "".join(
        f".c{i}{{margin:{rng.random() * 10:.4f}px;width:{100 / rng.randint(1, 9)}%;"
        f"transform:matrix({rng.random()},{rng.random()},0,1,0,0)}}"
        for i in range(12_000)
    )
    head = el("head", {}, el("style", {}, {**text(stylesheet), "isStyle": True}))
    grid = el("main", {"class": "grid"})
    body = el("body", {}, grid)
    snapshot = {
        "type": 2,
        "timestamp": 1_733_500_000_000,
        "data": {
            "node": {"type": 0, "id": 1, "childNodes": [el("html", {}, head, body)]},
            "initialOffset": {"left": 0, "top": 0},
        },
    }
    size = len(orjson.dumps(snapshot))
    index = 0
    while size < target_bytes:
        card = product(index)
        grid["childNodes"].append(card)
        size += len(orjson.dumps(card)) + 1
        index += 1
    return {"events": [snapshot]}


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *strings(item)]]
    return []


def load_masking(rev: str | None) -> ModuleType:
    if rev is None:
        from cobrowse import masking

        return masking
    source = subprocess.run(
        ["git", "show", f"{rev}:cobrowse/masking.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "masking_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"masking_{rev}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(module: ModuleType, payload: dict[str, Any], repeat: int) -> tuple[float, int]:
    encoded = orjson.dumps(payload)
    best = float("inf")
    changed = 0
    for _ in range(repeat):
        fresh = orjson.loads(encoded)
        start = time.process_time()
        out = module.SessionMasker().redact("dom", None, fresh)
        best = min(best, time.process_time() - start)
        before, after = strings(orjson.loads(encoded)), strings(out)
        changed = sum(a != b for a, b in zip(before, after, strict=True))
    return best, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", action="append", default=[], help="also time this commit")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bytes", type=int, default=4_000_000)
    args = parser.parse_args()
    payload = large_snapshot(args.bytes)
    print(
        f"snapshot: {len(orjson.dumps(payload)) / 2**20:.2f} MiB, "
        f"{len(strings(payload))} strings (keys included)"
    )
    for rev in [*args.rev, None]:
        seconds, changed = measure(load_masking(rev), payload, args.repeat)
        name = rev or "this checkout"
        print(
            f"{name:>14}: {seconds * 1000:7.1f} ms CPU (best of {args.repeat}), {changed} changed"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
