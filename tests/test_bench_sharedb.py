"""The bench's ShareDB driver: what its Node load processes answer becomes the same step
figures as ours, and the comparison of the two counts only the loads each sustained."""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np
import pytest

from bench import report, sharedb_peer
from bench.narrative import _peer
from bench.runner import Options, run_step


def _floats(values: list[float]) -> str:
    """As bench/sharedb/load.js encodes them: float32, little-endian, base64."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _node_step(deliveries: list[float]) -> dict[str, Any]:
    return {
        "expected": 6,
        "received": len(deliveries),
        "duplicates": 0,
        "reordered": 0,
        "stale": 0,
        "composed": 2,
        "op_messages": 4,
        "acks_expected": 3,
        "deliveries": _floats(deliveries),
        "acks": _floats([1.0, 2.0, 3.0]),
        "errors": {},
        "first_send": 1000.0,
        "last_send": 1001.0,
        "last_receive": 1002.0,
        "sent": 3,
        "closed": 0,
        "sent_by": {"0": 1, "1": 1, "2": 1},
        "cpu_seconds": 0.01,
    }


def test_an_answer_of_the_node_load_process_is_decoded() -> None:
    part = sharedb_peer.decode_part("step", _node_step([1.5, 2.25]))
    assert np.frombuffer(part["deliveries"], dtype=np.float32).tolist() == [1.5, 2.25]
    assert part["sent_by"] == {0: 1, 1: 1, 2: 1}


def test_a_torn_float_array_is_refused() -> None:
    body = {**_node_step([1.0]), "deliveries": base64.b64encode(b"\x00\x00\x80").decode()}
    with pytest.raises(ValueError, match="deliveries is not an array of float32"):
        sharedb_peer.decode_part("step", body)


class _Servers:
    def cpu_seconds(self) -> list[float]:
        return [0.0]


class _Pool:
    def __init__(self, parts: list[dict[str, Any]]) -> None:
        self.ready: list[dict[str, Any]] = []
        self.parts = parts

    def ask(self, command: str, timeout: float, **params: Any) -> list[dict[str, Any]]:
        return [sharedb_peer.decode_part(command, p) for p in self.parts]

    def stop(self) -> None:
        pass


def test_node_answers_make_the_step_figures_of_every_system() -> None:
    opts = Options(2, 2, 1, 1, 1.0, 0.0, 3.0, 1.0, 1, 1000.0)
    parts = [_node_step([5.0] * 6), _node_step([10.0] * 6)]
    step = run_step(_Servers(), _Pool(parts), 3.0, 2, 2, opts)  # type: ignore[arg-type]
    assert step["received_deliveries"] == 12
    assert step["undelivered_at_deadline"] == 0
    assert step["ops_per_s"] == 3.0  # 12 deliveries, each op reaching 2 others, in 2 s
    assert step["delivered_per_receiver_per_s"] == 1.5  # 12 deliveries to 4 receivers in 2 s
    assert step["composed"] == 4
    assert step["op_messages"] == 8
    assert step["latency_ms"]["p50"] == 7.5
    assert step["latency_ms"]["p999"] == 10.0


def _step(offered: float, delivered: float, p99: float, missing: int = 0) -> dict[str, Any]:
    return {
        "offered_ops_per_s": offered,
        "ops_per_s": delivered,
        "latency_ms": {"p50": p99 / 4, "p95": p99 / 2, "p99": p99, "p999": p99 * 2, "max": p99},
        "undelivered_at_deadline": missing,
        "closed": 0,
    }


def _doc() -> dict[str, Any]:
    return {
        "date": "2026-12-06T18:00:00+00:00",
        "machine": {"cpu": "AMD EPYC", "cores": 2, "packages": {"sharedb": "7.0.0"}},
        "options": {"peer_start_load": 88.9},
        "systems": {
            "ours": {
                "steps": [
                    _step(200, 200, 10),
                    _step(300, 300, 20),
                    _step(450, 449, 150),
                ]
            },
            "sharedb": {
                "steps": [
                    _step(88.9, 88.9, 30),
                    _step(133.3, 133.3, 40),
                    _step(200.1, 199, 50),  # the same step, computed in another order
                    _step(300, 290, 80, missing=3),
                    _step(450, 300, 900),
                ]
            },
        },
    }


def test_the_comparison_counts_only_sustained_loads() -> None:
    comparison = report.peer_comparison(_doc())
    assert comparison is not None
    assert comparison["ours_ops_per_s"] == 300  # 450 had p99 150 ms
    assert comparison["sharedb_ops_per_s"] == 199  # 300 left 3 deliveries missing
    assert comparison["ratio"] == pytest.approx(300 / 199)
    assert comparison["ours_is_floor"] is False
    assert [b["offered_ops_per_s"] for b in comparison["both_sustained"]] == [200]


def test_the_performance_page_states_the_ratio_and_the_p99_side_by_side() -> None:
    text = _peer(_doc())
    assert "**Ours / ShareDB: 1.51x**" in text
    assert "ours 300 ops/s, ShareDB 199 ops/s (AMD EPYC, 2 cores, 2026-12-06 18:00 UTC" in text
    assert "| 200 | 2.5 / **10** / 20 | 12.5 / **50** / 100 |" in text
    assert "Every step of both (ShareDB's from 89 ops/s):" in text


def test_without_sharedb_the_page_says_how_to_measure_it() -> None:
    doc = _doc()
    del doc["systems"]["sharedb"]
    assert report.peer_comparison(doc) is None
    assert "--systems ours,sharedb" in _peer(doc)


def test_a_figure_whose_last_step_still_kept_up_is_a_floor() -> None:
    doc = _doc()
    doc["systems"]["ours"]["steps"][-1] = _step(450, 449, 60)
    comparison = report.peer_comparison(doc)
    assert comparison is not None
    assert comparison["ours_is_floor"] is True
    assert comparison["sharedb_is_floor"] is False
    assert "**Ours / ShareDB: at least 2.26x**" in _peer(doc)
    assert "ours at least 449 ops/s, ShareDB 199 ops/s" in _peer(doc)


def test_the_targets_hold_ours_to_the_issues_bar_against_sharedb() -> None:
    doc = _doc()
    for system in doc["systems"].values():
        system["saturation_ops_per_s"] = max(s["ops_per_s"] for s in system["steps"])
        system["integrity"] = {"lost": 0, "duplicates": 0, "reordered": 0, "seq_gaps": 0}
    by_name = {t["target"]: t for t in report.targets(doc)}
    ratio = by_name["sustained throughput (p99 <= 100 ms) vs ShareDB"]
    assert (ratio["value"], ratio["met"]) == ("1.51x", True)
    lower = by_name["p99 below ShareDB's at every load both sustain"]
    assert (lower["value"], lower["met"]) == ("lower at 1 of 1", True)
    doc["systems"]["ours"]["steps"][0] = _step(200, 200, 60)
    lower = {t["target"]: t for t in report.targets(doc)}[
        "p99 below ShareDB's at every load both sustain"
    ]
    assert (lower["value"], lower["met"]) == ("lower at 0 of 1", False)
