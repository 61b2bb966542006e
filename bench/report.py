"""What the bench writes: bench/results/latest.json, bench/results/latency.png and
docs/performance.md, and the table it prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .stack import LOG_DIR, ROOT

JSON_PATH = LOG_DIR / "latest.json"
PNG_PATH = LOG_DIR / "latency.png"
PEER_PNG_PATH = LOG_DIR / "sharedb.png"
DOC_PATH = ROOT / "docs" / "performance.md"
# A step sustains its load when every op reached every receiver within the drain time and the
# p99 end-to-end latency stayed within this (the comparison with ShareDB).
SUSTAINED_P99_MS = 100.0
# The idle sessions' bar: the RSS of the one server process, per 1,000 sessions it holds.
IDLE_MB_PER_1000 = 300.0


def _sat(doc: dict[str, Any], key: str) -> float | None:
    system = doc["systems"].get(key)
    return None if system is None else float(system["saturation_ops_per_s"])


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the performance issue, with the measured value and whether it is met."""
    out: list[dict[str, Any]] = []
    ours = _sat(doc, "ours")

    def ratio(key: str, need: float, what: str) -> None:
        theirs = _sat(doc, key)
        if ours is None or theirs is None:
            return
        value = ours / theirs if theirs else float("inf")
        out.append(
            {
                "target": what,
                "need": f">= {need:g}x",
                "value": f"{value:.2f}x",
                "met": value >= need,
                "by": f"{value / need:.2f} of the target",
            }
        )

    ratio("tutorial_relay", 1.0, "saturation vs tutorial relay (a)")
    ratio("production_relay", 0.8, "saturation vs relay on our layer and server (c)")
    ratio("save_per_message", 10.0, "saturation vs save-per-message consumer (b)")
    comparison = peer_comparison(doc)
    if comparison is not None:
        value = comparison["ratio"]
        out.append(
            {
                "target": f"sustained throughput (p99 <= {SUSTAINED_P99_MS:g} ms) vs ShareDB",
                "need": ">= 1.5x",
                "value": "no ratio" if value is None else f"{value:.2f}x",
                "met": value is not None and value >= 1.5,
                "by": "not measured" if value is None else f"{value / 1.5:.2f} of the target",
            }
        )
        both = comparison["both_sustained"]
        lower = [
            b
            for b in both
            if (b["ours"]["latency_ms"]["p99"] or 0) < (b["sharedb"]["latency_ms"]["p99"] or 0)
        ]
        out.append(
            {
                "target": "p99 below ShareDB's at every load both sustain",
                "need": "every load",
                "value": f"lower at {len(lower)} of {len(both)}",
                "met": bool(both) and len(lower) == len(both),
                "by": f"{len(both) - len(lower)} load(s) not lower",
            }
        )
    half = doc["systems"].get("ours", {}).get("at_half_saturation")
    if half:
        lat = half["latency_ms"]
        # Half of a floor is no half saturation: such a step cannot meet the target.
        saturated = doc["systems"]["ours"].get("saturated", True)
        for name, need in (("p99", 25.0), ("p50", 5.0)):
            value = lat[name]
            out.append(
                {
                    "target": f"{name} end-to-end at half saturation",
                    "need": f"<= {need:g} ms",
                    "value": f"{value} ms" + ("" if saturated else " (ours did not saturate)"),
                    "met": saturated and value is not None and value <= need,
                    "by": "not measured" if value is None else f"{value / need:.1f}x the target",
                }
            )
    if doc.get("idle"):
        idle = doc["idle"]
        # 300 MB for 1,000 sessions, the first target, kept per 1,000 sessions at any count.
        per_1000 = idle["rss_mb"] * 1000 / max(idle["sessions"], 1)
        ok = idle["sockets_open"] == idle["sockets_requested"] and per_1000 < IDLE_MB_PER_1000
        out.append(
            {
                "target": f"{idle['sessions']:,} idle sessions ({idle['sockets_requested']:,} "
                "sockets) in one process, every socket open",
                "need": f"< {IDLE_MB_PER_1000:g} MB RSS per 1,000 sessions",
                "value": f"{idle['rss_mb']:,} MB ({per_1000:.0f} MB per 1,000)",
                "met": ok,
                "by": f"{idle['sockets_open']:,} of {idle['sockets_requested']:,} sockets open",
            }
        )
    if doc.get("late_join"):
        late = doc["late_join"]
        ok = late["seconds_max"] < 1.0 and all(j["complete_and_in_order"] for j in late["joins"])
        out.append(
            {
                "target": f"late join, {late['journal_ops']} journaled ops",
                "need": "< 1 s",
                "value": f"{late['seconds_median']} s (max {late['seconds_max']} s)",
                "met": ok,
                "by": f"{late['seconds_max'] / 1.0:.2f}x the target (slowest of "
                f"{len(late['joins'])} joins)",
            }
        )
    integrity_ok = all(
        not any(s["integrity"][k] for k in ("lost", "duplicates", "reordered", "seq_gaps"))
        for key, s in doc["systems"].items()
        if key == "ours"
    )
    out.append(
        {
            "target": "ours: lost, duplicated, reordered ops",
            "need": "0",
            "value": _integrity_text(doc["systems"].get("ours")),
            "met": integrity_ok,
            "by": "see the integrity of every system in latest.json",
        }
    )
    return out


def _integrity_text(system: dict[str, Any] | None) -> str:
    if not system:
        return "-"
    i = system["integrity"]
    return (
        f"lost {i['lost']}, duplicated {i['duplicates']}, reordered {i['reordered']}, "
        f"seq gaps {i['seq_gaps']}"
    )


def sustains(step: dict[str, Any], max_p99_ms: float = SUSTAINED_P99_MS) -> bool:
    """Whether a step's load was sustained: nothing missing, no socket closed, p99 within."""
    p99 = step["latency_ms"]["p99"]
    return (
        step["undelivered_at_deadline"] == 0
        and step["closed"] == 0
        and p99 is not None
        and p99 <= max_p99_ms
    )


def peer_comparison(doc: dict[str, Any], peer: str = "sharedb") -> dict[str, Any] | None:
    """Ours against ShareDB: each one's best delivered ops/s over the steps it sustained
    (`sustains`), their ratio, and the p99 of both at every offered load both sustained."""
    ours, theirs = doc["systems"].get("ours"), doc["systems"].get(peer)
    if not ours or not theirs:
        return None

    def same_load(step: dict[str, Any]) -> dict[str, Any] | None:
        """ShareDB's step at the offered load of one of ours (the same steps, computed on
        their own: equal within rounding)."""
        load = step["offered_ops_per_s"]
        for other in theirs["steps"]:
            if abs(other["offered_ops_per_s"] - load) <= 0.001 * load + 0.1:
                return dict(other)
        return None

    ours_best, theirs_best = best_sustained(ours["steps"]), best_sustained(theirs["steps"])
    both = [
        {"offered_ops_per_s": s["offered_ops_per_s"], "ours": s, peer: other}
        for s in ours["steps"]
        if (other := same_load(s)) is not None and sustains(s) and sustains(other)
    ]
    return {
        "max_p99_ms": SUSTAINED_P99_MS,
        "ours_ops_per_s": ours_best,
        f"{peer}_ops_per_s": theirs_best,
        "ratio": ours_best / theirs_best if ours_best and theirs_best else None,
        # The last step still sustained its load: the figure is a floor (more steps go higher).
        "ours_is_floor": bool(ours["steps"]) and sustains(ours["steps"][-1]),
        f"{peer}_is_floor": bool(theirs["steps"]) and sustains(theirs["steps"][-1]),
        "both_sustained": both,
    }


def best_sustained(steps: list[dict[str, Any]]) -> float | None:
    """The best delivered ops/s of the steps that sustained their load (`sustains`)."""
    rates = [s["ops_per_s"] for s in steps if sustains(s)]
    return max(rates) if rates else None


def scale_summary(scale: dict[str, Any]) -> dict[str, Any]:
    """One row per run of the scale section: its sustained and saturation ops/s, and its p50,
    p99 and server CPU per op at one offered load common to every run (the highest that every
    run sustained, else the first step, which every run made)."""
    runs = scale["runs"]

    def load_key(step: dict[str, Any]) -> float:
        return round(float(step["offered_ops_per_s"]), 1)

    sustained = [{load_key(s) for s in run["steps"] if sustains(s)} for run in runs]
    common = set.intersection(*sustained) if sustained else set()
    if common:
        load: float | None = max(common)
    else:
        firsts = [load_key(run["steps"][0]) for run in runs if run["steps"]]
        load = min(firsts) if firsts else None
    rows = []
    for run in runs:
        at = next((s for s in run["steps"] if load_key(s) == load), None)
        rows.append(
            {
                "processes": run["workers"],
                "sustained_ops_per_s": best_sustained(run["steps"]),
                # The last step still sustained its load: the figure is a floor.
                "sustained_is_floor": bool(run["steps"]) and sustains(run["steps"][-1]),
                "saturation_ops_per_s": run["saturation_ops_per_s"],
                "saturated": run.get("saturated", True),
                "at_common_load": None
                if at is None
                else {
                    "ops_per_s": at["ops_per_s"],
                    "p50_ms": at["latency_ms"]["p50"],
                    "p99_ms": at["latency_ms"]["p99"],
                    "server_cpu_us_per_op": at.get("server_cpu_us_per_op"),
                    "sustained": sustains(at),
                },
                "lost": run["integrity"]["lost"],
            }
        )
    return {
        "max_p99_ms": SUSTAINED_P99_MS,
        "common_load_ops_per_s": load,
        "common_load_sustained_by_all": bool(common),
        "rows": rows,
    }


def scale_table(scale: dict[str, Any]) -> str:
    """The scale section's summary as a markdown table."""
    summary = scale.get("summary") or scale_summary(scale)
    load = summary["common_load_ops_per_s"]
    at = "-" if load is None else f"{load:,.0f} ops/s"
    lines = [
        f"| server processes | sustained ops/s (p99 <= {summary['max_p99_ms']:g} ms) | "
        f"saturation ops/s | p50 / p99 ms at {at} | server CPU us/op at {at} | lost |",
        "| ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for row in summary["rows"]:
        sustained = row["sustained_ops_per_s"]
        sustained_text = (
            "none"
            if sustained is None
            else f"{'at least ' if row['sustained_is_floor'] else ''}{sustained:,.0f}"
        )
        saturation = (
            f"{'' if row['saturated'] else 'not reached, over '}{row['saturation_ops_per_s']:,.0f}"
        )
        common = row["at_common_load"]
        if common is None:
            latency, cpu = "-", "-"
        else:
            latency = f"{common['p50_ms']} / {common['p99_ms']}"
            cpu = f"{common['server_cpu_us_per_op']}"
        lines.append(
            f"| {row['processes']} | {sustained_text} | {saturation} | {latency} | {cpu} | "
            f"{row['lost']} |"
        )
    return "\n".join(lines)


def scale_steps_table(scale: dict[str, Any]) -> str:
    """Every step of every run of the scale section."""
    lines = [
        "| server processes | offered ops/s | delivered ops/s | p50 | p99 | p999 | undelivered | "
        "server CPU us/op |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in scale["runs"]:
        for st in run["steps"]:
            lat = st["latency_ms"]
            lines.append(
                f"| {run['workers']} | {st['offered_ops_per_s']:,.0f} | {st['ops_per_s']:,.0f} | "
                f"{lat['p50']} | {lat['p99']} | {lat.get('p999', '-')} | "
                f"{st['undelivered_at_deadline']} | {st.get('server_cpu_us_per_op', '-')} |"
            )
    return "\n".join(lines)


def write_all(doc: dict[str, Any], *, docs: bool = True) -> None:
    JSON_PATH.write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    if any(system["steps"] for system in doc["systems"].values()):
        plot(doc, PNG_PATH)
    if peer_comparison(doc) is not None:
        plot_peer(doc, PEER_PNG_PATH)
    if docs:
        DOC_PATH.write_text(markdown(doc))


# --- The plot --------------------------------------------------------------------------------

STYLE = {
    "ours": ("#1b7837", "o"),
    "production_relay": ("#2166ac", "s"),
    "tutorial_relay": ("#b2182b", "^"),
    "save_per_message": ("#8c510a", "v"),
    "ours_other_server": ("#7fbc41", "D"),
    "relay_other_server": ("#92c5de", "P"),
    "sharedb": ("#762a83", "X"),
}


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, grid = plt.subplots(2, 2, figsize=(14, 9.5))
    axes = [grid[0][0], grid[0][1], grid[1][0], grid[1][1]]
    for key, system in doc["systems"].items():
        color, marker = STYLE.get(key, ("#555555", "x"))
        steps = system["steps"]
        x = [s["offered_ops_per_s"] for s in steps]
        for ax, name in zip(axes[:3], ("p50", "p95", "p99"), strict=True):
            y = [s["latency_ms"][name] for s in steps]
            ax.plot(x, y, color=color, marker=marker, label=system["label"])
        axes[3].plot(
            x, [s["ops_per_s"] for s in steps], color=color, marker=marker, label=system["label"]
        )
    half = doc["systems"].get("ours", {}).get("at_half_saturation")
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    all_x = [s["offered_ops_per_s"] for sys_ in doc["systems"].values() for s in sys_["steps"]]
    ticks = [t for t in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
             if min(all_x) / 1.5 <= t <= max(all_x) * 1.5]  # fmt: skip
    for ax, name, limit in zip(axes[:3], ("p50", "p95", "p99"), (5, None, 25), strict=True):
        ax.set_title(f"{name} latency, send to receipt at every other participant")
        ax.set_ylabel("ms")
        if limit:
            _target_line(ax, limit, f"target {limit} ms at half of our saturation")
        if half:
            ax.plot(
                [half["offered_ops_per_s"]],
                [half["latency_ms"][name]],
                marker="*",
                markersize=16,
                color=STYLE["ours"][0],
                linestyle="none",
                label="ours, at half of its saturation",
            )
    axes[3].set_title("delivered against offered")
    axes[3].set_ylabel("delivered ops/s")
    axes[3].plot(all_x and [min(all_x), max(all_x)], all_x and [min(all_x), max(all_x)],
                 color="grey", linestyle=":", linewidth=1, label="delivered = offered")  # fmt: skip
    for ax in axes:
        _log_axes(ax, ticks, plain)
    axes[3].set_yticks(ticks)
    axes[3].yaxis.set_major_formatter(plain)
    handles, labels = axes[0].get_legend_handles_labels()
    extra_h, extra_l = axes[3].get_legend_handles_labels()
    for h, lab in zip(extra_h, extra_l, strict=True):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    machine = doc["machine"]
    fig.suptitle(
        f"Co-browsing delivery: {doc['options']['sessions']} sessions x "
        f"(1 customer + {doc['options']['operators']} operators), {machine['cores']} cores, "
        f"{doc['date'][:10]}, `{doc['command']}`",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_peer(doc: dict[str, Any], path: Path, peer: str = "sharedb") -> None:
    """Ours and ShareDB, step by step: p50, p99 and p999 end to end, and delivered ops/s,
    against the offered load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    names = {"ours": "ours", peer: "ShareDB"}
    fig, (latency, delivered) = plt.subplots(1, 2, figsize=(14, 6))
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    all_x: list[float] = []
    for key in ("ours", peer):
        system = doc["systems"][key]
        color, _ = STYLE.get(key, ("#555555", "x"))
        steps = system["steps"]
        x = [s["offered_ops_per_s"] for s in steps]
        all_x += x
        for name, marker, style in (("p50", "o", ":"), ("p99", "s", "-"), ("p999", "^", "--")):
            y = [s["latency_ms"].get(name) for s in steps]
            latency.plot(
                x,
                y,
                color=color,
                marker=marker,
                linestyle=style,
                label=f"{names[key]}, {name}",
            )
        delivered.plot(
            x, [s["ops_per_s"] for s in steps], color=color, marker="o", label=system["label"]
        )
    _target_line(latency, SUSTAINED_P99_MS, f"{SUSTAINED_P99_MS:g} ms: p99 of a sustained load")
    latency.set_title("end-to-end latency, send to receipt at every other participant")
    latency.set_ylabel("ms")
    delivered.set_title("delivered against offered")
    delivered.set_ylabel("delivered ops/s")
    if all_x:
        delivered.plot([min(all_x), max(all_x)], [min(all_x), max(all_x)], color="grey",
                       linestyle=":", linewidth=1, label="delivered = offered")  # fmt: skip
    ticks = [t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
             if all_x and min(all_x) / 1.5 <= t <= max(all_x) * 1.5]  # fmt: skip
    if len(ticks) < 2 and all_x:
        ticks = sorted({round(min(all_x)), round(max(all_x))})
    for ax in (latency, delivered):
        _log_axes(ax, ticks, plain)
        ax.legend(fontsize=8)
    delivered.set_yticks(ticks)
    machine = doc["machine"]
    fig.suptitle(
        f"Ours and ShareDB: {doc['options']['sessions']} sessions (documents) x "
        f"(1 + {doc['options']['operators']} participants), {machine['cpu']}, "
        f"{machine['cores']} cores, {doc['date'][:10]}\n`{doc['command']}`",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- The table -------------------------------------------------------------------------------


def table(doc: dict[str, Any]) -> str:
    ours = _sat(doc, "ours")
    lines = [
        "| system | saturation ops/s | ours / it | p50 / p99 ms at its saturation step | "
        "ack p99 ms | lost | dup | reordered | server RSS MB |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, s in doc["systems"].items():
        sat = s["saturation_ops_per_s"]
        clean = [st for st in s["steps"] if st["undelivered_at_deadline"] == 0] or s["steps"][:1]
        top = max(clean, key=lambda st: st["ops_per_s"])
        lat = top["latency_ms"]
        ratio = "-" if key == "ours" or not ours else f"{ours / sat:.2f}x"
        i = s["integrity"]
        lines.append(
            f"| {s['label']} | {'' if s.get('saturated', True) else 'not reached, over '}"
            f"{sat:,.0f} | {ratio} | {lat['p50']} / {lat['p99']} "
            f"(at {top['offered_ops_per_s']:,.0f}) | {top['ack_latency_ms']['p99']} | "
            f"{i['lost']} | {i['duplicates']} | {i['reordered']} | {max(s['rss_mb_peak']):.0f} |"
        )
    lines.append("")
    lines.append("| target | need | measured | |")
    lines.append("| --- | --- | --- | --- |")
    for t in doc["targets"]:
        lines.append(
            f"| {t['target']} | {t['need']} | {t['value']} | "
            f"{'met' if t['met'] else '**missed**'} |"
        )
    return "\n".join(lines)


def steps_table(doc: dict[str, Any]) -> str:
    lines = [
        "| system | offered ops/s | delivered ops/s | p50 | p95 | p99 | p999 | max | "
        "ack p50 / p99 | undelivered | errors | server CPU us/op | clients CPU us/op |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |",
    ]
    for s in doc["systems"].values():
        rows = list(s["steps"])
        if s.get("at_half_saturation"):
            rows.append({**s["at_half_saturation"], "half": True})
        for st in rows:
            lat, ack = st["latency_ms"], st["ack_latency_ms"]
            label = s["label"] + (" (half saturation)" if st.get("half") else "")
            lines.append(
                f"| {label} | {st['offered_ops_per_s']:,.0f} | {st['ops_per_s']:,.0f} | "
                f"{lat['p50']} | {lat['p95']} | {lat['p99']} | {lat.get('p999', '-')} | "
                f"{lat['max']} | "
                f"{ack['p50']} / {ack['p99']} | {st['undelivered_at_deadline']} | "
                f"{st['errors'] or ''} | {st.get('server_cpu_us_per_op', '-')} | "
                f"{st.get('client_cpu_us_per_op', '-')} |"
            )
    return "\n".join(lines)


def markdown(doc: dict[str, Any]) -> str:
    from .narrative import render

    return render(doc, table(doc), steps_table(doc))


def _target_line(ax: Any, y: float, label: str) -> None:
    """A dashed grey line across `ax` at `y`, labelled at its right end."""
    ax.axhline(y, color="grey", linestyle="--", linewidth=1)
    ax.annotate(
        label,
        (0.99, y),
        fontsize=8,
        xycoords=("axes fraction", "data"),
        ha="right",
        va="bottom",
        color="grey",
    )


def _log_axes(ax: Any, ticks: Sequence[float], plain: Any) -> None:
    """Log scales on both axes of `ax`, offered load along x, plain numbers at `ticks`."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (ops/s, all participants)")
    ax.grid(True, which="major", alpha=0.35)
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(NullFormatter())
