"""docs/performance.md: the prose around the numbers of the last `python -m bench` run.

The bench rewrites the page on every run, so the prose lives here, next to the code that
measures, and every number in it comes from the run's document (bench/results/latest.json).
"""

from __future__ import annotations

from typing import Any


def _sat(doc: dict[str, Any], key: str) -> float | None:
    system = doc["systems"].get(key)
    return None if system is None else float(system["saturation_ops_per_s"])


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    pg_settings = ", ".join(
        f"{k} {v or 'none'}" for k, v in m.get("postgresql_settings", {}).items()
    )
    return (
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}\n"
        f"- Python {m['python']}, PostgreSQL {m['postgresql'].split(' ')[0]}"
        f"{f' ({pg_settings})' if pg_settings else ''}, "
        f"Redis {_redis_version(m['redis'])}\n"
        f"- Packages: {packages}\n"
        f"- Date: {doc['date']} (commit {m['commit']}), {doc['seconds']:.0f} s\n"
        f"- Command: `{doc['command']}`"
    )


def _route(opts: dict[str, Any]) -> str:
    if opts["workers"] < 2:
        return ""
    if opts.get("route") == "session":
        return " (every connection of a session on one of them)"
    return " (connections spread over them regardless of their session)"


def _redis_version(banner: str) -> str:
    for part in banner.split():
        if part.startswith("v="):
            return part[2:]
    return banner


def _misses(doc: dict[str, Any]) -> str:
    missed = [t for t in doc["targets"] if not t["met"]]
    if not missed:
        return "Every target was met in this run."
    lines = ["Missed in this run:", ""]
    for t in missed:
        lines.append(
            f"- {t['target']}: need {t['need']}, measured {t['value']} ({t.get('by', '')})."
        )
    lines += [
        "",
        "See *Where the time goes* below for why, and *Noise* for how much of it is this "
        "machine rather than the code.",
    ]
    return "\n".join(lines)


def _idle_title(doc: dict[str, Any]) -> str:
    idle = doc.get("idle")
    return f"{idle['sessions']:,} idle sessions in one process" if idle else "Idle sessions"


def _idle(doc: dict[str, Any]) -> str:
    idle = doc.get("idle")
    if not idle:
        return "Not measured in this run."
    text = (
        f"One {idle['server']} process held {idle['sockets_open']:,} of "
        f"{idle['sockets_requested']:,} sockets ({idle['sessions']:,} sessions, a customer and "
        f"an operator each, every one welcomed and so subscribed) at **{idle['rss_mb']:,} MB "
        f"RSS** ({idle['rss_mb_before']} MB before the first connection: "
        f"{idle['kb_per_socket']} KB per socket"
    )
    if "mb_per_1000_sessions" not in idle:  # a document of a run before these figures
        return text + f"). Connecting them all took {idle['connect_seconds']} s."
    limits = idle["open_files_limit"]
    clients = ", ".join(f"{n:,}" for n in limits["clients"])
    text += (
        f", **{idle['mb_per_1000_sessions']} MB per 1,000 sessions** over the empty server). "
        f"Connecting them all took {idle['connect_seconds']:,} s, "
        f"{idle['sockets_per_second']} sockets a second.\n\n"
        "How: the sessions and their customers' logins are written in bulk beforehand "
        f"({idle['setup_seconds']} s); {idle['client_processes']} client processes open the "
        f"sockets {idle['connect_concurrency']} at a time, each given "
        f"{idle['connect_timeout_s']:g} s until its welcome (the server admits the handshakes "
        "in flight one after another, each a few round trips to PostgreSQL and Redis on its "
        "database thread, so a socket waits behind the others in flight, and all of them take "
        "as long as their count says); the RSS is read once every socket is welcomed and the "
        f"server is quiet again ({idle['settle_seconds']} s later). The server ran with its "
        f"abandoned-session sweep waiting {idle.get('abandon_after_seconds', 300):,} s instead "
        "of 300: it ends a session whose customer has not connected for that long, and the "
        "last customers connect minutes after their sessions were made. Limit of open files: "
        f"{limits['server']:,} in the server process, {clients} in the client processes (the "
        "bench raises its own soft limit to the hard one, and the hard one too where it may, "
        "before it starts them; they inherit it)."
    )
    text += (
        f" The server process had {limits['server_open']:,} files open with every socket connected."
    )
    if idle["failures"]:
        text += " Sockets that did not connect: " + "; ".join(idle["failures"]) + "."
    asked = idle.get("sessions_asked", idle["sessions"])
    if asked > idle["sessions"]:
        text += (
            f"\n\n**{asked:,} sessions were asked for, {idle['sessions']:,} measured**: "
            f"{asked:,} sessions need {idle['open_files_needed_for_asked']:,} open files in the "
            f"one server process (two sockets a session, and its own files), and the hard limit "
            f"of open files here is {idle['open_files_hard_limit']:,}, which the bench's user "
            "may not raise. Raise it (`ulimit -Hn` as root with CAP_SYS_RESOURCE, "
            "`LimitNOFILE=` under systemd, `nofile` in /etc/security/limits.conf, `--ulimit "
            "nofile=` for a container) to measure them all."
        )
    return text


def _scale(doc: dict[str, Any]) -> str:
    from .report import scale_steps_table, scale_table

    scale = doc.get("scale")
    if not scale:
        return "Not measured in this run (the bench measures it unless run with `--skip-scale`)."
    opts = scale["options"]
    processes = ", ".join(map(str, opts["workers"]))
    steps = (
        f"stepped from {opts['start_load']:,.0f} ops/s x{opts['factor']:g} in steps of "
        f"{opts['step_seconds']:g} s until saturation (the same rule as above); "
        f"{scale.get('seconds', 0):.0f} s in all"
    )
    load = (
        f"{opts['sessions']} sessions x (1 customer sending + {opts['operators']} operators "
        f"receiving), {opts['clients']} client processes"
    )
    return f"""Ours with {processes} server processes, every connection of a session sent to one
process (`--route session`: the clients of session i connect to process i mod N, as the
README's proxy, hashing the session in the WebSocket's path, sends them), all of them on the
one PostgreSQL and the one Redis, as the README deploys them. The same load as above:
{load}; {steps}. *Sustained* is the best delivered rate of a step with p99 <= 100 ms and
nothing missing; the latency and CPU columns are of one offered load that every run made
(the highest that every run sustained, if any).

{scale_table(scale)}

This machine has {doc["machine"]["cores"]} cores, shared by every server process, PostgreSQL,
Redis and the client processes that generate the load: more server processes get
no more CPU here, they divide the same cores and add the doorbells between processes, so this
table shows what routing by session costs, not how far a machine with a core per process
would scale.

{scale_steps_table(scale)}"""


def _late(doc: dict[str, Any]) -> str:
    late = doc.get("late_join")
    if not late:
        return "Not measured in this run."
    rows = [
        "| join | seconds until `synced` | welcome | ops received | server CPU s | client CPU s "
        "| complete, in order |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, j in enumerate(late["joins"], 1):
        rows.append(
            f"| {i} | {j['seconds']} | {j['welcome_seconds']} | {j['ops_received']:,} | "
            f"{j.get('server_cpu_seconds', '-')} | {j['client_cpu_seconds']} | "
            f"{'yes' if j['complete_and_in_order'] else '**no**'} |"
        )
    return (
        f"A session whose journal holds {late['journal_ops']:,} ops (written through the "
        f"sequencer in {late['journal_build_seconds']} s: hash chain, element seqs, masking): "
        "the two `joined` ops, one rrweb full snapshot at seq 3, then an ordinary mix of "
        "pointer, scroll, DOM mutation, input and chat ops. Each joiner is a new operator "
        "(observer) of the session: it connects with `?batch=1` as the product's clients do, "
        "reads `welcome`, sends "
        "`resume` with `snapshot_seq - 1` as docs/protocol.md says, and stops the clock at "
        "`synced`. So it receives the whole journal after the snapshot, about "
        f"{late['joins'][0]['ops_received']:,} ops in "
        f"{late['joins'][0].get('batch_frames', '-')} batch frames, checked complete and in "
        "order. The server was warmed up first by one connection of the customer.\n\n"
        + "\n".join(rows)
    )


PEER = """\
[ShareDB](https://github.com/share/sharedb) does for a document what our server does for a
session: one order of ops per document, each op journaled in PostgreSQL (sharedb-postgres: the
op and the new snapshot in one statement, committed before the op is acknowledged), fanned out
to the other processes through Redis (sharedb-redis-pubsub), JSON over WebSockets. The bench
installs it from npm (`bench/sharedb/package.json` and its lock, `npm ci --prefix
bench/sharedb`), serves it as its own examples do (`bench/sharedb/server.js`: `ws` and
@teamwork/websocket-json-stream, one Node process per worker, the pg pool's default size of 10
connections per process, `SHAREDB_PG_POOL` to change it) on a database of its own (`<bench
database>_sharedb`, the tables of sharedb-postgres's `structure.sql`, emptied before the run)
and the bench's Redis, and drives it with the same load: one document per session, 1 + K
participants each on its own WebSocket, the first of them the one sender (the customer, whose
page moves) and the K others receivers (the desk), each sender at the same rate from its own
phase, the same steps, and a few lower ones before them, as ShareDB saturates far below ours
(up to `--peer-lower-steps`, 4 by default, while every sender still sends 3 ops a step). The
participants are ShareDB's own client (`sharedb/lib/client`: a `Connection` and a `Doc` each)
in Node processes the bench starts and paces (`bench/sharedb/load.js`); each user action is one
`submitOp` replacing the sender's pointer (`{p: ['pointers', id], od: old, oi: {x: send
time, y: index, id}}`); on ours the same action is one `pointer` op. Before its first
step every system gets a few seconds of its first step's load, not counted (the warm-up in
*The run*): ShareDB's first ops after the connections open are many times slower than the
rest (Node's JIT, the statement each pooled PostgreSQL connection prepares on first use), and
the conflicts of the backlog they leave make its first step saturate; ours' first ops run each
code path and open the pooled connections to PostgreSQL and Redis for the first time.

So ShareDB's client behaves as it does for any application: one op in flight per document, and
the actions that pile up meanwhile composed into the next op, of which a receiver sees only the
latest position. Ours is driven as our browser transport sends (static/cobrowse/transport.js):
one frame in flight per connection, the ops that pile up meanwhile sent together as the next
frame (`ops`; more than 200 as several frames at once), each op keeping its own client_op_id,
seq and delivery, none composed away.
An action counts as delivered to a receiver when that receiver gets it or a
later position of the same sender (the *composed* column counts the actions that came only that
way), and its latency runs from its own send time to that receipt; our server delivers every op
on its own. Everything else is counted the same way for both: *missing* is what had not reached
a receiver by the end of the step's drain time, *delivered ops/s* counts each action once
however many receivers it reached, *per receiver* is what one participant received per second.

Where ShareDB's time goes: each op makes at least two PostgreSQL round trips in turn, through
its pg pool (read the snapshot, then commit the op with the new snapshot in one statement, each
commit its own transaction and its own fsync), and an op written against an older version of
the document first reads the ops it missed, to transform against, while a commit that lost the
race to another writer is tried again from the start (snapshot, missed ops, commit). With one
sender a document its client's one op in flight keeps those conflicts away, and composing what
piles up is what carries its load: one journal write and one publish for many actions. So a
stall of PostgreSQL or of the machine makes its ops larger rather than its queue longer; our
server journals the ops of every session that arrived meanwhile in one transaction.\
"""


def _peer_steps(doc: dict[str, Any]) -> str:
    """Where ShareDB's steps started, and each system's warm-up."""
    start = doc["options"].get("peer_start_load")
    parts = [f"ShareDB's from {start:,.0f} ops/s"] if start else []
    for key, name in (("ours", "ours"), ("sharedb", "ShareDB")):
        warm = doc["systems"][key].get("warm_up")
        if warm:
            lat = warm["latency_ms"]
            parts.append(
                f"{name} after {warm['duration_s']:g} s of warm-up not counted, p50 / p99 "
                f"{lat['p50']} / {lat['p99']} ms"
            )
    return f" ({'; '.join(parts)})" if parts else ""


def _peer(doc: dict[str, Any]) -> str:
    from .report import peer_comparison

    comparison = peer_comparison(doc)
    if comparison is None:
        return (
            "Not compared in this run: it did not measure both ours and ShareDB (`python -m "
            "bench --systems ours,sharedb` measures those two alone)."
        )
    m, limit = doc["machine"], comparison["max_p99_ms"]
    packages = m["packages"]
    where = (
        f"{m['cpu']}, {m['cores']} cores, {doc['date'][:16].replace('T', ' ')} UTC, "
        f"ShareDB {packages.get('sharedb', '?')} with sharedb-postgres "
        f"{packages.get('sharedb-postgres', '?')} and sharedb-redis-pubsub "
        f"{packages.get('sharedb-redis-pubsub', '?')} on Node {packages.get('node', '?')}"
    )
    ours, theirs = comparison["ours_ops_per_s"], comparison["sharedb_ops_per_s"]
    ours_floor, theirs_floor = comparison["ours_is_floor"], comparison["sharedb_is_floor"]

    def rate(value: float | None, floor: bool) -> str:
        return "no step" if value is None else f"{'at least ' if floor else ''}{value:,.0f} ops/s"

    figures = f"ours {rate(ours, ours_floor)}, ShareDB {rate(theirs, theirs_floor)}"
    if comparison["ratio"] is not None:
        bound = {(True, False): "at least ", (False, True): "at most "}.get(
            (ours_floor, theirs_floor), ""
        )
        line = (
            f"**Ours / ShareDB: {bound}{comparison['ratio']:.2f}x** the delivered throughput "
            f"sustained with p99 <= {limit:g} ms and nothing missing: {figures} ({where})."
        )
        if ours_floor and theirs_floor:
            line += " Both figures are floors (the last step of each still kept up): more "
            line += "steps (`--max-steps`) would tell the ratio."
    else:
        line = (
            f"**Ours / ShareDB: no ratio in this run**: with p99 <= {limit:g} ms and nothing "
            f"missing, {figures} ({where})."
        )
    line += _peer_caveats(doc, limit)
    rows = [
        "| offered ops/s | ours: p50 / p99 / p999 ms | ShareDB: p50 / p99 / p999 ms |",
        "| ---: | --- | --- |",
    ]
    for both in comparison["both_sustained"]:
        a, b = both["ours"]["latency_ms"], both["sharedb"]["latency_ms"]
        rows.append(
            f"| {both['offered_ops_per_s']:,.0f} | {a['p50']} / **{a['p99']}** / "
            f"{a.get('p999', '-')} | {b['p50']} / **{b['p99']}** / {b.get('p999', '-')} |"
        )
    side_by_side = (
        "\n".join(rows)
        if comparison["both_sustained"]
        else "No offered load of this run was sustained by both."
    )
    steps = [
        "| system | offered ops/s | delivered ops/s | per receiver /s | p50 | p99 | p999 | "
        "missing | composed | server CPU us/op |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, name in (("ours", "ours"), ("sharedb", "ShareDB")):
        for st in doc["systems"][key]["steps"]:
            lat = st["latency_ms"]
            steps.append(
                f"| {name} | {st['offered_ops_per_s']:,.0f} | {st['ops_per_s']:,.0f} | "
                f"{st.get('delivered_per_receiver_per_s', '-')} | {lat['p50']} | {lat['p99']} | "
                f"{lat.get('p999', '-')} | {st['undelivered_at_deadline']} | "
                f"{st.get('composed', '-')} | {st.get('server_cpu_us_per_op', '-')} |"
            )
    return (
        f"{line}\n\nAt the loads both sustained:\n\n{side_by_side}\n\n"
        "![ours and ShareDB against offered load](../bench/results/sharedb.png)\n\n"
        f"Every step of both{_peer_steps(doc)}:\n\n" + "\n".join(steps) + f"\n\n{PEER}"
    )


def _peer_budget(doc: dict[str, Any]) -> str:
    """What the throughput target asks of this machine's CPU, from the run's own figures: the
    CPU time each op may take, everything included, at 1.5 times ShareDB's sustained rate,
    against what ours spent per op at its busiest step in the server and the clients alone."""
    from .report import peer_comparison

    comparison = peer_comparison(doc)
    if comparison is None or not comparison["sharedb_ops_per_s"]:
        return ""
    cores = doc["machine"].get("cores")
    steps = doc["systems"]["ours"]["steps"]
    if not cores or not steps:
        return ""
    need = 1.5 * comparison["sharedb_ops_per_s"]
    busiest = max(steps, key=lambda st: st["ops_per_s"])
    server, clients = busiest.get("server_cpu_us_per_op"), busiest.get("client_cpu_us_per_op")
    if not server or not clients:
        return ""
    return (
        f" What the throughput target asks of this machine: 1.5 times ShareDB's sustained rate "
        f"is {need:,.0f} ops/s, which leaves {cores * 1e6 / need:,.0f} us of CPU per op on its "
        f"{cores} cores for everything (server, clients, PostgreSQL, Redis); at its busiest "
        f"step ({busiest['ops_per_s']:,.0f} ops/s) ours spent {server:g} us per op in the "
        f"server and {clients:g} in the clients alone, each op journaled, acknowledged and "
        "delivered on its own, where ShareDB's client composes what piles up into one op."
    )


def _peer_caveats(doc: dict[str, Any], limit: float) -> str:
    """What the sustained ratio alone does not say: the most each system delivered in a step
    whatever its latency, and the steps whose p99 missed the line by a little, where a few
    milliseconds of this machine's noise decide the ratio."""
    text = ""
    most = {
        key: max((st["ops_per_s"] for st in doc["systems"][key]["steps"]), default=0)
        for key in ("ours", "sharedb")
    }
    if most["ours"] and most["sharedb"]:
        text += (
            f" Whatever the latency, the most delivered in one step: ours {most['ours']:,.0f} "
            f"ops/s, ShareDB {most['sharedb']:,.0f} ops/s (ours / ShareDB "
            f"{most['ours'] / most['sharedb']:.2f}x; most of ShareDB's reached its receivers "
            "composed into a later position, the *composed* column)."
        )
    text += _peer_budget(doc)
    for key, whose in (("ours", "Our"), ("sharedb", "ShareDB's")):
        near = [
            st
            for st in doc["systems"][key]["steps"]
            if limit < st["latency_ms"]["p99"] <= 1.25 * limit and not st["undelivered_at_deadline"]
        ]
        if near:
            loads = ", ".join(f"{st['offered_ops_per_s']:,.0f}" for st in near)
            text += (
                f" {whose} p99 missed the {limit:g} ms line by less than a quarter at {loads} "
                "ops/s: there the sustained figure turns on a few milliseconds, which move from "
                "run to run on this machine (*Noise*); the curves say more than the ratio."
            )
    return text


def _choice(doc: dict[str, Any]) -> str:
    opts = doc["options"]
    s = {k: _sat(doc, k) for k in doc["systems"]}
    lines = [
        f"**Production stack: {opts['server']} + RedisPubSubChannelLayer.** "
        "`config/settings.py` defaults to the pub/sub layer (`CHANNEL_LAYER=pubsub`), and the "
        "README's production command is uvicorn with uvloop, httptools and our WebSocket "
        "implementation, `config/websocket.py` (the bench measures that command); daphne "
        "stays for `runserver` (`make run`). The numbers of this run:",
        "",
    ]
    if s.get("ours_other_server") and s.get("ours"):
        lines.append(
            f"- Our journaled delivery: {s['ours']:,.0f} ops/s on {opts['server']}, "
            f"{s['ours_other_server']:,.0f} ops/s on the other server "
            f"({_ratio(s['ours'], s['ours_other_server'])})."
        )
    if s.get("relay_other_server") and s.get("production_relay"):
        lines.append(
            f"- The non-persisting relay on the pub/sub layer: {s['production_relay']:,.0f} "
            f"ops/s on {opts['server']}, {s['relay_other_server']:,.0f} on the other server."
        )
    if s.get("relay_other_server") and s.get("tutorial_relay"):
        lines.append(
            f"- Layer alone (both on daphne): pub/sub {s['relay_other_server']:,.0f} ops/s, "
            f"core {s['tutorial_relay']:,.0f} ops/s "
            f"({_ratio(s['relay_other_server'], s['tutorial_relay'])}); the core layer also "
            "drops messages past a channel's capacity (see the *undelivered* column)."
        )
    if len(lines) == 2:
        lines.append(
            "- (A quick run measures only the four systems of the targets; `make bench` "
            "also measures ours and the relay on the other ASGI server.)"
        )
    lines += [
        "",
        "Why these and not the others: the pub/sub layer does one PUBLISH per group send "
        "where the core layer does a Lua script and a list push per member, and the core "
        "layer silently drops what does not fit a channel's capacity; the pub/sub layer's "
        "unbounded queue holds here only the small doorbells of one channel per process, as "
        "connections no longer have a channel (below). uvicorn with uvloop spends less CPU "
        "per op than daphne "
        "(Twisted, autobahn; see the server CPU column), which is what decides saturation; at "
        "light load daphne's latency can be as good or better, so `make run` loses nothing "
        "by staying on daphne. The WebSocket implementation is uvicorn's sans-I/O one "
        "(cheaper per frame than its deprecated `websockets` one: no reader task, one pass "
        "less through the event loop for every frame received) with the change that lets "
        "the server drop a reader who stopped reading (`config/websocket.py`, "
        "docs/reliability.md).",
    ]
    return "\n".join(lines)


CHANGES = """\
Each change was made after profiling the server under the bench (py-spy through
`BENCH_PROFILE=/path/to/py-spy`, and cProfile of the append on its own), in this order:

1. **One transaction for every session of a batch** (`sequencer.operations_append_many`). The
   writer already grouped ops, but wrote one transaction per session: with 40 busy sessions a
   batch was 40 transactions of 5 ORM statements each, and latency grew with the number of
   sessions, not with the load. Now a batch is one transaction whatever the number of sessions
   (row locks taken in order of id, so two writers cannot deadlock; if that transaction fails
   for another reason than the connection, each session is retried alone, so one bad session
   does not fail the others).
2. **Set-based statements, no ORM on the hot path** (`cobrowse/journal_sql.py`). Profiling
   one small batch showed most of its time in Django's query compilation and model
   instantiation, not in PostgreSQL. On PostgreSQL the append is now: BEGIN, `SELECT ... FOR
   UPDATE` of every session row, the resend lookup (every (sender, client_op_id) pair, exact,
   never skipped) and, when needed, the element heads, sent together in pipeline mode; then one
   statement that inserts every row and writes every session's new head (the seq range each
   session reserved) together with the COMMIT. Rows travel as one JSON array encoded by orjson
   (the payload spliced in as the JSON it already is), not as Python-dumped arrays, whose
   per-element quoting showed in profiles. SQLite runs the same steps in portable SQL.
3. **The writer appends from the event loop on its own connection** (psycopg's async
   connection; prepared statements, `COBROWSE_PREPARED_STATEMENTS=0` to turn them off behind
   an old pooler). The thread it used before had to win the GIL back after each round trip
   while the event loop was busy, which cost milliseconds per batch under load. Two round
   trips per batch, whatever its size (one since change 11).
4. **No per-message hop to the sync thread.** Channels' `dispatch` runs
   `close_old_connections` in the sync thread before *every* message. Every database call of
   our consumer already goes through `database_sync_to_async`, which does that itself, so the
   consumer's `dispatch` skips it.
5. **One small doorbell per batch, one channel per process.** Every connection used to hold
   a channel and a group membership, so every batch woke every connection of the session
   through the channel layer, only for it to see that the entries came from its own process.
   Now each process's writer holds one channel in one group; a batch rings it once with the
   seq range it journaled for each of its sessions (no ops: carrying the entries made Redis
   writes and our own copies of them about 15% of the server's CPU, and waiting for Redis
   held the writer back); the ringing runs beside the writer, merging what queues up; another
   process with connections of such a session reads that range from the journal once and
   hands it to them. Connections hold no channel: less memory per idle socket, one task fewer
   per connection. This one change more than doubled our saturation (from about 4,000 ops/s)
   and brought the latency at 2,000 ops/s from tens of milliseconds to a few.
6. **WebSocket session read-only** (`cobrowse/middleware.py`). Channels' session middleware
   wraps every frame sent to see whether the session changed; ours puts the session in the
   scope the same way and leaves `send` alone (about 5% of the server's CPU under load).
7. **Catch-up reads splice the stored JSON.** A late joiner's pages are read with the payload
   as the JSON text PostgreSQL stores (`orjson.Fragment`), never decoded and re-encoded; a page
   is taken along the (session, seq) index before the join (joined first, PostgreSQL read and
   sorted every later op to keep 2,000: 60 ms a page instead of 17); pages are 2,000 ops and
   the next page is read while the current one is sent.
8. **Catch-up in batch frames** (`?batch=1`, docs/protocol.md). A late join was bound by
   WebSocket frames: one per op, each costing the server a few microseconds of Python in the
   consumer and uvicorn plus a write system call (1.1 s for 50,000 ops). Clients
   that ask for it (the widget's and the desk's transport do) get the ack and op frames of a
   catch-up spliced, as they were encoded, into `batch` frames of about 256 KiB: about 50
   frames for 50,000 ops, half the time or less. Live delivery is unchanged (ops that are
   ready together go together, which under live load is rarely more than one).
9. **Plans that stay index lookups.** The writer prepares its statements once per
   connection and PostgreSQL keeps the generic plan it made then. Made on the bench's freshly
   emptied journal (or a new install's), the resend lookup hashed the whole journal on every
   batch, and went on doing so as the journal grew until an ANALYZE invalidated the plan: at
   3,000 ops/s the append took longer with every step (latency p50 from 30 to 80 ms over three
   12-second steps; 0.9 ms a lookup against 0.2 ms). The writer's transactions now allow only
   nested loops over index lookups (`SET LOCAL enable_seqscan/hashjoin/mergejoin = off`: every
   statement of an append is a lookup by key driven by the batch), and the journal lost two
   indexes that duplicated the leading column of a unique one (less work per insert).
10. **Fewer passes through the event loop per frame.** Under load the event loop is the
    bottleneck, and every pass an op makes through its queue of ready callbacks waits behind
    everything else that is ready: at 3,000 ops/s an op made about seven such passes between
    its arrival and its delivery, and they were most of its latency. The consumer awaits each
    incoming frame directly (Channels runs each `receive` in a task of its own and waits on the
    set of them, for a channel this consumer does not have), sends delivered frames with the
    ASGI `send` itself, and the server's WebSocket implementation is uvicorn's sans-I/O one
    (no reader task per connection). About 15% less server CPU per op at 3,000 ops/s in
    back-to-back runs, and the latency lower with it.
11. **One round trip per batch.** The writer keeps the heads it read or wrote last
    (`head_cache.HeadCache`) and decides a batch from them; the writes go with the COMMIT in
    one round trip and are made only if every session row of the batch still holds those
    heads (checked by the statement under the row locks it takes first; otherwise it writes
    nothing and says so). A stale copy (another process appended, a resend, a
    session claimed meanwhile) costs a second try from a read, never a wrong seq. One pass
    through the event loop and one PostgreSQL round trip fewer per batch.
12. **Deliveries written from the hand-over; the next batch sent before it.** At half
    saturation the event loop is the bottleneck, and one committed batch of tens of ops made
    a wake-up of a connection's pump (a task) per recipient: a large share of the server's
    work per op at that load. The production server now offers the consumer a direct write (an ASGI
    extension of `config/websocket.py`): when a connection's queue is empty and the socket
    takes the frames without waiting, the hand-over writes them at once; otherwise they go
    through the bounded queue as before (`tests/test_consumer.py` mixes both and checks the
    order). The hand-over of a batch now runs after the next batch's statement has gone out,
    so that batch waits for PostgreSQL, not for these deliveries. And what the server made
    while starting is moved out of the collector's reach (`gc.freeze()` in `config/asgi.py`):
    a full collection no longer walks every module, setting and URL pattern, and each one is
    a stop of the event loop. Measured with the fixed-load command below, in back-to-back runs
    of the code before and after (see *Where the time goes*).
13. **Frames from clients handed over directly.** The same server hands each text frame to a
    welcomed consumer as soon as it is read (the consumer handles a frame without waiting
    anyway): no ASGI queue, no wake-up of the consumer's task, no pause and resume of the
    socket's reading per frame. Frames that arrived before the welcome wait in the queue and
    go first (`tests/test_production_server.py`). 3 to 5% less server CPU per op, and lower
    latency in each of four alternating runs (below).
14. **An append is one statement.** An append decided from the writer's copy of the heads
    was five pipelined statements (BEGIN, the planner settings, the row locks, the writes,
    COMMIT). It is now one, sent alone on the writer's connection in autocommit mode, so it
    is a transaction of its own: the session rows are locked in order of id inside it (the
    first of its scalar subqueries), the planner settings belong to the writer's connection
    (set once when it opens, with prepared statements only), and a statement that fails (a
    unique constraint) raises and leaves the connection ready
    (`tests/test_group_commit.py`). psycopg no longer polls and flushes five times per batch,
    and PostgreSQL no longer handles five messages.
15. **The rows parsed once by PostgreSQL.** `perf` of the writer's backend at 8,500 ops/s put
    22% of its samples in re-reading JSON text: the rows went in as one `json` array, and
    each `->>` of a `json` value reads its text again from the start. They go in as `jsonb`
    now, parsed once (the payload is stored as `jsonb` anyway). PostgreSQL's share of a core
    at that load went from 42% to 34% in one run of each.
16. **Ops answered from the hand-over itself.** Each op of a connection was answered through
    a future, whose callback takes a pass through the event loop: one per op. The consumer
    now gives the writer a function that the hand-over calls, in the batch's order, after it
    has handed over the batch's entries (an answer that fails is logged, not passed on to the
    other ops of its batch).

17. **Sessions spread over processes no longer collapse.** With two server processes and a
    proxy that spreads connections regardless of their session (`--workers 2`, the default
    `--route connection`), every batch of one process left a gap before the entries the other
    process's connections got from their own hand-over, and each such connection read the gap
    from the journal at once: a read per connection per batch, through one thread. And each
    process read the other's doorbells one by one, a query per session. At 2,000 ops/s that
    delivered 823 ops/s with p50 9.3 s (2026-11-21, 22:07-22:09 UTC, steps of 10 s; at 3,000:
    1,397). Now a gap waits up to 100 ms for the doorbell that fills it before it is read
    (`tests/test_consumer.py`), doorbells that arrive during a read are merged and read
    next, every session's range is read in one statement, and a session that another writer
    appends to is decided from a read for a second (`head_cache.HeadCache`), not refused from
    the cache first and then read (three round trips). At 2,000 ops/s: 1,982 and 1,981
    delivered, p50 35 and 52 ms; at 4,000: 3,904 and 3,876, p50 165 and 467 ms (23:01-23:02
    UTC). Then the doorbells' ranges were read on a connection of the writer's event loop
    instead of through the sync thread; this first ran the test database out of connections,
    because the tests' fixture that closes each test's writer had never run (a `usefixtures`
    marker added after collection is ignored); it runs now. Back to back at 4,000 ops/s
    (2026-11-21, 23:27-23:30 UTC, two runs each, `--workers 2 --start-load 4000
    --step-seconds 10`): p50 159-505 ms through the sync thread, 28-305 ms on the writer's
    loop; the step at 2,000 after them p50 251 and 280 ms against 15 and 20 ms. Routed by
    session
    (`--route session`, what the README asks of the proxy), the same two processes gave p50
    4.9 ms at 2,000 ops/s and 12 ms at 4,000 (22:18-22:19 UTC).
18. **Small frames go uncompressed.** Browsers always offer permessage-deflate, and uvicorn
    accepted it and compressed every frame, also the ops of a few dozen bytes that are most of
    the traffic. The production server now sends messages under 1 KiB as they are (RFC 7692
    allows it; Node's `ws` does the same by default) and still compresses snapshots and
    catch-up batches (`config/websocket.py`, `tests/test_production_server.py`). With the
    bench's clients offering the extension as browsers do (`BENCH_DEFLATE=1`, 2026-11-22,
    04:01-04:03 UTC, the fixed-load command at 6,000 ops/s, one step of 15 s, alternating
    runs): 139-144 us of server CPU per op against 156-159 compressing everything, p50 22-23
    ms against 32-36 ms (without the extension at all: 140-145 us, 23-25 ms).
19. **Several ops in one frame, one frame in flight.** The bench's load became the shape of a
    co-browsing session (one sender and two receivers a session, for ours and ShareDB alike),
    and at once the sender's every op was a frame in, a journal row among a few others, an
    ack frame out and an op frame to each receiver, each a write system call. ShareDB's client
    keeps one op in flight per document and composes what piles up meanwhile into the next;
    ours now keeps one frame in flight per connection (static/cobrowse/transport.js) and
    sends what piled up meanwhile as one `ops` frame, each op with its own client_op_id, seq,
    element seq, delivery, masking and hash, nothing composed away. The server takes the
    frame's ops into the writer together (one batch, one transaction, one doorbell), acks a
    run of them in one `acks` frame, and the receivers (`?batch=1`) get the run in one `batch`
    frame: under load one write carries many ops. Each op of such a frame is still checked on
    its own (a bad one gets its error, the others are journaled) and counts against the rate
    limit (`tests/test_ops_frames.py`). Measured in turns with the code before (single op
    frames, the same load shape; 2026-12-06, 19:28-19:32 UTC, `--systems ours --start-load
    3000 --factor 1 --max-steps 1 --step-seconds 8`, three runs each, A B A B A B, on a
    machine whose load average was 8 to 12 from other work): at 3,000 ops/s p50 / p99 79 /
    263, 363 / 1,256, 491 / 2,177 ms before against 60 / 154, 122 / 507, 57 / 654 ms after
    (medians 363 / 1,256 against 60 / 507); at the half step, 1,500 ops/s, 21 / 129, 20 /
    300, 42 / 1,217 against 18 / 88, 66 / 518, 38 / 346 (medians 21 / 300 against 38 / 346).
    Stepped runs the same way (19:22-19:28 UTC, two each): saturation 6,715 and 2,078 ops/s
    before, 3,251 and 1,526 after; the machine's load, not the code, set those (the runs
    before and after at the same offered load differed more between turns than between
    codes). The profiles, before and after, are under *Where the time goes*.
20. **Less Python per op on the way in and in the decision.** A profile at 16,000 ops/s had no
    large piece left but many small ones per op; five changes took them out, each measured on
    its own: masking no longer copies or walks a payload with nothing to scrub (numbers, strings
    shorter than the shortest card number); the sequencer turns the session id and the time of
    receipt into text once per batch, encodes a payload once for the row and the op frame, and
    its per-op records are named tuples, not frozen dataclasses (1.6 us each to make); parsing
    takes a fast path for an op with exactly its fields and checks scalars in place (same
    limits and error codes); the consumer hands a frame's ops to the writer in one call with
    one answer object each; the journal entry is a dict literal. Nothing on the wire, in the
    journal or in the hashes changed. The bench's own CPU per op could not show it on a machine
    busy with other work (the same code moved more between runs than between versions), so it
    was measured in one process, old and new in alternating rounds on the bench's load shape
    (`bench/hotpath_ab.py`, 40 sessions, frames of 20 pointer ops, two receivers each; thread
    CPU, medians of rounds): 2026-12-06 22:28 UTC, the way in 12.1 -> 8.3 us per op, the
    decision 23.3 -> 16.8, the hand-over 3.8 -> 3.5, in all 40.2 -> 29.0 (0.72x); with frames
    of 4 ops, 0.79x; again at 22:36 UTC on the merged code, under load, 61.5 -> 46.2 (0.71x).
    py-spy at 16,000 ops/s (shares of the event loop's samples, before -> after): deciding 33%
    -> 27% (masking in it 11% -> 7%, the hash chain 7.7% -> 3.3%), parsing 21% -> 17%, the
    hand-over 10.5% -> 12.3% (one write system call per connection per batch; receivers
    already get a run of ops as one `batch` frame and the sender its acks in the same write).
    What is left is spread out: policy checks, the hash chain and the row's encoding per op,
    JSON decoding and validation, uvloop itself (about 10%) and uvicorn's frame parsing.
    Tried and not kept: the batch's lookup sets built in one loop (0.995x), masking's scalar
    check written out inline (0.992x).
21. **The journal without foreign keys in the database, and a partial element index.** Past
    12,000 ops/s the writer's batches are 400 to 2,000 rows, and its statistics put most of a
    batch's time in waiting for PostgreSQL (2026-12-07 00:36 UTC, 12,000 ops/s: 395-1,256 ops
    a batch, deciding 7-22 ms, waiting 26-78 ms). `EXPLAIN ANALYZE` of the writer's insert of
    1,000 pointer rows, rolled back (00:37-00:38 UTC): 16-19 ms for the insert, then 20-22 ms
    more at commit for the two deferred foreign keys (a trigger per row and key, each locking
    the referenced session or participant row). On copies of the table: 43-47 us a row with
    the keys, 14-22 without, 11-16 without and with the unique (session, element, element_seq)
    partial, over the rows that name an element (the others, most of the journal, only ever
    put NULLs into it, which never conflict). Both are made (migration 0012); what the keys
    guarded now holds by the order of locks (docs/architecture.md): rows are inserted only under
    the session row's lock while that row still holds the heads decided from, and sessions are
    deleted only by `lifecycle.sessions_delete`, which takes the same locks first
    (`tests/test_group_commit.py`, `tests/test_admin.py`). An earlier try (below) measured
    0.5 ms on a 35-row batch and kept the keys; at the batch sizes near saturation they were
    half of PostgreSQL's time. The code before (7ac8660) and after in turn, three times each
    (00:44-00:48 UTC, `--systems ours --start-load 7000 --factor 2 --max-steps 2
    --step-seconds 6`, each on a database migrated by its own code): at 14,000 ops/s, before
    11,553 / 12,241 / 11,076 delivered with p50 870 / 693 / 1,014 ms, after 13,630 / 13,568 /
    13,388 with p50 170 / 219 / 258 ms; at 7,000 ops/s p50 47-49 ms before, 34-44 after,
    with more server CPU per op after (118-122 us against 107-108: the batches are smaller
    when PostgreSQL answers sooner, and a batch's fixed costs, one write to each of its
    connections, are shared by fewer ops).
22. **Fewer young passes of the garbage collector.** The collector's passes logged through
    `gc.callbacks` in the server (2026-12-07 03:33 UTC, a fixed 11,500 ops/s): 120-140 young
    passes every 2 s, 50-85 ms of them, 10-13 middle ones (13-28 ms), and one full pass of 14-27
    ms every 2 s; at 8,000 ops/s about 35 young passes in 2 s (12-28 ms), no full one. The hot
    path's objects die by their reference counts, but under load thousands are alive at any
    moment (frames, ops, batches, entries), so 700 more allocations than frees came every few
    hundred microseconds and each pass promoted some of them towards the full pass.
    `config/asgi.py` now sets the thresholds to (50,000, 20, 100) (`COBROWSE_GC_THRESHOLDS`,
    which the bench's servers inherit): no pass at all in the logged 2-second windows at
    8,000-14,000 ops/s (cyclic garbage is still collected, after at most 50,000 objects). The
    default and the new thresholds in turn, two steps of 8 s each (03:40-03:52 UTC, `--systems
    ours --start-load N --factor 1 --max-steps 2 --step-seconds 8`, with
    `COBROWSE_GC_THRESHOLDS=700,10,10` for the default): p99 at 11,500 ops/s 188 / 169 / 149 /
    128 ms with the default against 174 / 107 / 85 / 111 after, at 14,000 ops/s 250 / 136 / 261
    / 846 against 204 / 150 / 236 / 141; at 8,000 ops/s no difference (p50 29-43 ms both). An
    earlier try (below) raised only the third threshold, at 7,700 ops/s. The frequent passes
    had hidden a leak, which the browser tests found at once (PostgreSQL's "too many clients"):
    Django serves each HTTP request under ASGI on a thread of its own, and that thread's
    persistent connection (CONN_MAX_AGE) was closed only when a pass found the connection
    object's cycles; it is now closed at the end of the request (`config/asgi.py`,
    `tests/test_production_server.py`: 12 requests left 12 connections open before).
23. **A late joiner's pages read by a window of seqs, their frames written by PostgreSQL.**
    The catch-up read asked for the next 2,000 ops after the position with LIMIT alone; with
    statistics that lag behind a journal growing by thousands of ops a minute, PostgreSQL
    expected a few hundred rows, read every op after the position (30,000 for a page in the
    middle of the bench's 50,000-op journal) and sorted them to keep 2,000: 33-40 ms a page
    (`EXPLAIN ANALYZE`, 2026-12-07 05:54 UTC). The page is now bounded by its last possible
    seq as well (a session's seqs follow one another; a hole, which the sequencer never
    leaves, is read past by a second, unbounded read): 1.5 ms along the index. And the
    database writes each op frame's JSON around the payload's stored text, so the server's one
    thread no longer builds and encodes 50,000 frames. Reading the whole journal into entries
    in one process, page by page: 0.91-1.15 s before, 0.48-0.51 with the window, 0.29 with
    the frames written by the database too. Late joins of the
    50,000-op journal, old and new code in turn, 5 joins a run (05:56-06:00 UTC): server CPU
    per join 0.36-0.56 s (median 0.51) before, 0.27-0.42 (median 0.32) after; time until
    `synced` 0.58-1.02 s before, 0.67-0.97 after (medians 0.80-0.88 against 0.72-0.81): what
    is left of a join is mostly its client parsing 12.6 MB of JSON (0.54 s of orjson a join).

Changes 14 to 16 measured with a fixed load, back to back, the code before (2a18c59) and
after in turn (2026-11-21, 21:39-21:44 UTC, `--start-load 8500`, the command below):
p50 / p99 at 8,500 ops/s, 30-52 / 102-173 ms before against 20-28 / 57-102 ms after, in
three runs each of two steps; at 4,250 ops/s, p50 6.1-14.2 against 4.8-7.8 ms. The
server's CPU per op went up a little there (87-93 against 93-102 us): with less waiting,
batches are smaller, and a batch's fixed costs are shared by fewer ops. And at 11,533 ops/s
(21:47-21:49 UTC, steps of 10 s) the code before delivered 10,140 ops/s with p50 872 ms, the
code after all 11,496 with p50 41 ms: that is why this run's saturation is so much higher
than the last one's.

Measured and not kept: two batches in flight on two connections (the next one queued behind the
previous one's row locks) gave no measurable gain here and made a failed batch's retry harder
to keep in order of receipt (tried again with the next batch decided from the heads the one
ahead leads to: p50 at 5,000 ops/s about 10 ms against 7.7, and 6-8% more server CPU per op);
the statements without BEGIN and COMMIT in pipeline mode (an implicit transaction up to the
pipeline's sync: psycopg 3.3 leaves the connection unusable when that commit fails, which
change 14 avoids by sending one statement outside a pipeline); dropping the journal's deferred
foreign keys (0.5 ms less per 35-row transaction then, kept for the database's own check of
integrity; made in change 21, measured at the batch sizes near saturation); multi-statement
simple-protocol queries instead of the pipeline used less client CPU but more PostgreSQL time
(no prepared statements); the writer in a thread of its own with its own event loop (p50 at
3,000 ops/s 45 to 85 ms against 13 to 23 in back-to-back runs: every wait for PostgreSQL then
ended in a wait for the GIL, held by the busy event loop, even with a switch interval of 1 ms);
redis-py's hiredis parser (2026-11-21, 23:44-23:47 UTC, two alternating runs of two steps at
6,700 ops/s: server CPU 118-130 us per op with it, 119-125 without, p50 no lower); fewer full
passes of the garbage collector (2026-11-22, 00:04-00:07 UTC, 7,700 ops/s, the collector's
pauses logged through `gc.callbacks`: with the default thresholds 4 to 6 full passes in 30 s,
24-41 ms each, and young passes of about 0.5 ms; with the third threshold at 1,000 none, and
p50 / p99 7-20 / 27-63 ms against 11-19 / 44-65, within the spread between runs).

One fix on the way: a connection opened with `?last_seq=N` could send ops handed over while it
was connecting before its catch-up, and the catch-up then sent them again (the protocol says
that resume is exact); the catch-up now goes first. The slower doorbell path of the test run on
Redis exposed it.

What stays exactly as it was: the order (seq assigned under the session row lock, gap-free, in
order of receipt), idempotency (the resend lookup runs for every batch decided from a read,
under the lock; a batch decided from the writer's copy of the heads fails on the unique (sender,
client_op_id) and is decided again from a read), the delivery attribute, server-side masking
before hashing, the hash chain, broadcast only after commit, the protocol (batch frames are only
for clients that ask for them), and every test on both configurations (new ones in
`tests/test_group_commit.py`).
"""

METHOD = """\
- **Load.** S sessions, each with one customer and K operators (the first operator to join
  operates, the others observe), every participant on its own WebSocket from separate client
  processes (`multiprocessing`, uvloop, a minimal WebSocket client of our own,
  `bench/rawws.py`: a general-purpose Python client costs as much CPU per frame as the server,
  and on 2 cores that CPU would be taken from the servers measured; client CPU per op is in
  the JSON). One sender a session, the customer, sends `pointer` ops (delivery `others`)
  stamped with their send time; the K operators receive (the shape of a co-browsing session:
  the customer's page moves, the desk watches; ShareDB gets the same shape). On ours the
  sender sends as our browser transport does: one frame in flight, what comes due meanwhile
  piles up and goes as the next `ops` frame (more than the 200 ops a frame holds: as several
  frames at once, as the transport does; until 2026-12-07 the bench sent only the first 200
  and kept the rest piled, which three alternating runs at 7,000-28,000 ops/s could not tell
  apart from this), each op with its own send time, so its latency
  counts its wait in the pile; every connection asks for `?batch=1`, as the product's clients
  do. The relays get one frame per op. The bench raises the server's rate limit
  (`COBROWSE_RATE_PER_SECOND`, 200 ops a second per connection in production): one sender
  carries its whole session's load. The clients do not offer permessage-deflate unless run
  with `BENCH_DEFLATE=1`; browsers do, and the production server then compresses the frames
  of 1 KiB or more it sends them (change 18). Every sender sends at the same rate,
  each from its own phase, so the offered load (ops sent per second, all senders
  together) has no bursts. Steps multiply the load until a step is not delivered in full
  within the drain time, delivers less than 90% of its offer, or its p99 passes 1 s.
- **Delivered ops/s** is ops delivered to every receiver of their session, per
  second, from the step's first send to its last receipt; each op counts once however many
  participants it reached (deliveries per second = that times K). **Saturation** is the best
  delivered rate of any step.
- **Latency** is end to end: from the sender's `send` (its wall clock, written into the op)
  to the receipt at every receiver (one clock: one machine). **Ack latency** is from
  send to the sender's `ack` (baselines: to the echo of its own message).
- **Integrity.** Every op carries its sender and index: a receiver counts what is missing,
  duplicated or out of order; on the product it also checks that `seq` strictly increases on
  every connection (ack then op of one seq allowed) and has no gap. Errors and closed sockets
  are counted too.
- **Stack.** The bench starts its own Redis (port 6390) and uses the database
  `cobrowse_bench` on the running PostgreSQL (fsync on, synchronous commit on; `VACUUM
  ANALYZE` before each system and before the half-saturation step, so that no autovacuum
  after a burst of inserts runs inside a measurement; the half-saturation step also waits
  until the server processes are idle, below a tenth of a core, as a step past saturation can
  leave them working for a while after the clients stopped waiting, and the step would
  measure that recovery); it starts fresh server processes for
  each system (`DEBUG=0`, persistent database connections), and
  stops everything at the end. Baselines are mounted only in the bench's ASGI application
  (`bench/asgi.py`), never in the product's URLs. The save-per-message baseline runs with the
  product's settings (persistent database connections), which is kinder to it than the
  tutorial's default of a new connection per call.
- **Noise.** This machine has 2 cores shared by PostgreSQL, Redis, the server and the client
  processes, and by whatever else runs on it. *The run* above names PostgreSQL's settings that
  change the numbers (durability, libraries loaded into every backend). Ratios measured in
  one run are more stable than absolute numbers; latency percentiles at low load suffer most
  from other work on the machine (a single descheduling of the server process costs tens of
  milliseconds).
"""


def _warm_up(opts: dict[str, Any]) -> str:
    seconds = opts.get("warm_up_seconds")
    if not seconds:
        return ""
    return f"; each system first runs {seconds:g} s at its first step's load, not counted"


def render(doc: dict[str, Any], table: str, steps: str) -> str:
    opts = doc["options"]
    return f"""# Performance

How fast the co-browsing server delivers journaled, ordered operations, compared with relays
that journal and order nothing and with ShareDB, which journals and orders as we do, measured
by `make bench` (code in `bench/`, raw numbers in
`bench/results/latest.json`, plot in `bench/results/latency.png`). This page is written by the
bench itself at the end of every run; the numbers below are from the last run.

## The run

{_machine(doc)}
- Load: {opts["sessions"]} sessions x (1 customer sending + {opts["operators"]} operators \
receiving), \
{opts["clients"]} client processes, {opts["workers"]} server process(es) per system\
{_route(opts)}, steps of \
{opts["step_seconds"]} s (drain {opts["drain_seconds"]} s), starting at \
{opts["start_load"]:g} ops/s, x{opts["factor"]:g} per step{_warm_up(opts)}

Reproduce: `make bench` (about 20 minutes) or `BENCH_QUICK=1 make bench` (a few minutes, same
outputs). `python -m bench --help` lists the options (ASGI server, workers, sessions,
operators, which systems).

## Results

{table}

{_misses(doc)}

![latency percentiles against offered load](../bench/results/latency.png)

### Every step

{steps}

### ShareDB, the closest real peer

{_peer(doc)}

### Scale: server processes routed by session

{_scale(doc)}

### {_idle_title(doc)}

{_idle(doc)}

### Late join

{_late(doc)}

## What was chosen and why

{_choice(doc)}

### Changes to the product, measured first

{CHANGES}
## Where the time goes

Per op, the journaled path does what the relay does (parse, one frame per recipient, the
WebSocket writes) plus a share of one transaction and its fsync, amortised over every op that
arrived while the previous batch was being written. Under load a batch holds tens to hundreds
of ops from many sessions, so the journal costs a few statements per batch, and one small
doorbell per batch replaces the relay's channel-layer round trip per op: that is why the
journaled path out-delivers a relay several times over.

At low load an op waits for its own transaction (one round trip carrying the writes and the
COMMIT with its fsync, two when the writer has to read first), which with the WebSocket hops
is the floor of its latency: a few milliseconds at the lowest steps, as for the relay. Under
load the writer is busy most of the time, so an op also waits for the batch being written when
it arrives, and one event loop serves the sockets and the writer alike: at half of our
saturation the server process uses most of a core, and every pass an op makes through the
loop's queue (frame in, writer, database answer, frame out) waits behind everything else that
is ready. That queueing, not the database, is what the latency percentiles show at half
saturation; it is also why that load on this 2-core machine, where the clients and PostgreSQL
take the other core, stays above the targets. Our saturation is several times the relay's, so
half of it is a load at which the relays have long fallen over.

What sets how busy the loop is at half saturation is the ratio of the server's CPU per op
there to its CPU per op at saturation, where several ops share each frame, each wake-up and
each transaction (`make bench` of 2026-11-21, 17:56-18:03 UTC: 155 us per op at half
saturation against 81 at saturation, 1.9x; the server CPU column). Below that, per-batch
costs dominate: at a few hundred ops/s each op is its own batch, and a batch costs the server
several hundred microseconds of CPU (the statement, the doorbell's PUBLISH and the reading of
it back, the WebSocket writes), so the server CPU per op is highest at the lowest loads.

Where the CPU goes at 8,500 ops/s (2026-11-21, one fixed-load step of 15 s, the code of
changes 14 to 16, `/proc` sampled for 10 s): the machine was 81% busy; of its 2 cores the
server process took 79%, the two client processes 46% together, PostgreSQL 34%, Redis 1%.
py-spy of the server at that load: the hand-over 28% of its samples (the write system calls
alone 17-20%), the decision of a batch 13% (its hash chain 4%), the append statement 9%,
reading and parsing frames 10%, the doorbell 5-7%. There is no large piece left: the latency
at half saturation is the queueing of a loop that is more than three quarters busy, on a
machine that is too.

py-spy of the server under the one-sender load, before and after change 19 (2026-12-06,
`BENCH_PROFILE=.venv/bin/py-spy python -m bench --systems ours --step-seconds 6 --skip-idle
--skip-late-join --no-docs`, the whole stepped run to saturation, 250 samples a second; shares
of all samples). Before (19:15-19:17 UTC; it saturated at 3,404 ops/s under the profiler, on a
machine busy with other work): the hand-over 18% (of it the WebSocket writes of
`write_texts_now`, 13.5%, almost all the write system call, one per recipient per batch),
the append 18% (deciding a batch 6.5%, the statement 8%), reading and parsing frames 11.5%
(parsing and checking 6%), the event loop itself (uvloop's poll and callbacks) 15%, the
threads of `database_sync_to_async` 16% (mostly waiting). Top functions by own time:
`write_texts_now` 13.5%, `StreamWriter.writelines` 4%, psycopg's send and wait 5.6%,
`protocol.decode` 0.9%, `sequencer._append_session` 0.9%, `op_hash` 1.3%, `_exact_keys`
1.1%. After (19:33-19:35 UTC; saturated at 10,461 ops/s under the profiler): the hand-over
17% (`write_texts_now` 12.5%), the append 22% (deciding 11.5%: the hash chain's `op_hash`
2.1%, masking's `_scrub_strings` 1.5%, the Submission and Entry objects about 1%), reading
and parsing frames 14% (parsing 7.7%), the loop 11%, the threads 13%, and the server's
start (imports) 9%. So per sample the shape is the same; what changed is how many ops one
write, one frame read and one transaction carry. What is left is spread out: the write
system call per recipient per batch (the largest single piece, and one per connection
whatever we do), the per-op decision (hash, masking, element heads), and the per-op Python
objects on the way in (an OpFrame, a Submission, an answer callback each).

Where a batch's time goes, and why one load gives 5 ms one minute and 15 the next (2026-11-22,
03:50-03:52 UTC, this machine, the code of this run plus the writer's statistics:
`COBROWSE_WRITER_STATS_SECONDS=5 python -m bench --systems ours --start-load 8000 --factor 1
--max-steps 1 --step-seconds 20 --skip-idle --skip-late-join --no-docs`, twice; the writer's
lines are in `bench/results/server-ours-0.log`). At 8,000 ops/s the first run wrote 171
batches a second of 47 ops (a batch: deciding 0.7 ms, waiting 5.1 ms, handing over 2.3 ms)
and measured p50 17.5 ms; the second 51-75 batches a second of 106-158 ops (deciding 2.0-3.7
ms, waiting 11-16 ms, handing over 4-5 ms) and p50 38 ms. At 4,000 ops/s (the runs' half
steps): 450-470 batches a second of 9 ops (waiting 1.9 ms) and p50 4.75 ms, against 156-160
of 25 ops (waiting 5.6 ms) and p50 13.75 ms. PostgreSQL itself executed the append statement
in a median 1.4 ms (mean 2.0) at 8,000 ops/s (its log, with `log_min_duration_statement = 0`
set on the bench's database for one such run, 03:37 UTC): most of a batch's waiting is for the
event loop's turn, which the previous batch's hand-over and the frames that arrived meanwhile
hold. So a batch lasts about as long as the loop needs for the work that arrives during it:
with the loop's CPU per op c, the load L and the fixed costs a of one batch, about
a / (1 - L c). At half saturation L c is close to 1: at 8,000 ops/s the server's main thread
was 87% busy (`/proc/<pid>/task/*/stat`) and the clients and PostgreSQL took the core from it
for much of the rest (at 4,000 ops/s: 2,353 involuntary context switches a second, 184
voluntary). Then a few percent more or less CPU per op, less than this machine's own speed
changes within an hour, moves the latency by a factor of two or three, and a burst that makes
batches large keeps them large for a while. L c is near 1 at half saturation because c falls
with load: the server's CPU per op at half saturation is about twice its CPU per op at
saturation (89 against 48 us in the run above), so at half of the load the server is nearly as
busy as at all of it. Each change that lowered c at every load raised the saturation with it
and left that ratio, and with it the latency at half saturation, about where it was.

The largest piece that a single process could drop is the doorbell: a process alone still
rings one per batch and reads its own back, as it cannot know that no other process is about to
serve one of its sessions. With no doorbell at all (an experiment only: wrong as soon as a
second process serves a session) the server used 108-119 us of CPU per op at 6,700 ops/s
against 116-126 with it, p50 7-11 ms against 7-19 (2026-11-21, 23:46-23:49 UTC, two
alternating runs of two steps of 10 s). Dropping it safely needs every process to hear of a
new listener before that listener's first read of the journal; not done.

Change 12 measured with a fixed load, back to back, old code and new in turn (2026-11-21,
18:06-18:10 UTC, this machine; `python -m bench --systems ours --start-load 4500 --factor 1
--max-steps 2 --step-seconds 15 --skip-idle --skip-late-join --no-docs`, which also measures
one step at half the load):

| | 4,500 ops/s: p50 / p99 ms | server CPU us/op | 2,250 ops/s: p50 / p99 ms |
| --- | --- | --- | --- |
| before (db8f531), run 1 | 40.7 / 151, 40.5 / 182 | 202, 191 | 10.4 / 29.4 |
| after, run 1 | 27.0 / 56, 24.6 / 53 | 176, 179 | 6.2 / 18.9 |
| before, run 2 | 33.1 / 179, 33.6 / 185 | 197, 200 | 8.9 / 24.1 |
| after, run 2 | 9.9 / 32, 14.5 / 100 | 175, 170 | 4.3 / 23.0 |

Change 13 the same way (18:53-18:57 UTC, the code with change 12, 58a2129, then with 13):

| | 4,500 ops/s: p50 / p99 ms | server CPU us/op | 2,250 ops/s: p50 / p99 ms |
| --- | --- | --- | --- |
| before, run 1 | 21.5 / 45, 30.1 / 73 | 178, 174 | 7.7 / 23.8 |
| after, run 1 | 17.2 / 38, 18.6 / 42 | 170, 168 | 6.5 / 22.7 |
| before, run 2 | 23.3 / 51, 16.3 / 45 | 179, 173 | 6.7 / 23.9 |
| after, run 2 | 15.7 / 36, 14.0 / 38 | 169, 168 | 4.5 / 24.9 |

The late join reads the journal in pages of 2,000 ops (the next page read while the current
one is sent) and sends them in batch frames; what remains is the database reads, the JSON the
joiner parses, and whatever else the machine was doing (the server and client CPU columns show
the work of each side).

## Method

{METHOD}"""
