"""The server's hot path in one process, old code against new, in alternating rounds.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/hotpath_ab.py /tmp/before [.]

Loads the `cobrowse` package of the first tree as `cobrowse_a` beside this tree's `cobrowse`
(models shared) and feeds both, in turn, the bench's load shape: 40 sessions, `ops` frames of
OPS (20) pointer ops from one sender, two receivers each (`?batch=1`). Per round it times, in
thread CPU, the frame's way in (decode, parse, submit), the writer's decision and statement
parameters (sequence, element heads, masking, hash chain) and the hand-over to the receivers,
without the database or the sockets, and prints the medians over ROUNDS (400) rounds, A then B.
It reaches into internals (the consumer without a socket, the writer's plan), so it compares
versions close to each other; a measurement tool, not part of the product or its tests.
"""
# ruff: noqa
# mypy: ignore-errors

import os, sys, time, uuid, importlib, importlib.util, shutil, statistics, tempfile, types

tree_a = sys.argv[1]
tree_b = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".")
sys.path.insert(0, tree_b)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.chdir(tree_b)
import django

django.setup()
import orjson

pk = os.path.join(tempfile.mkdtemp(), "pkgs")
shutil.rmtree(pk, ignore_errors=True)
os.makedirs(pk)
shutil.copytree(os.path.join(tree_a, "cobrowse"), os.path.join(pk, "cobrowse_a"))
sys.path.insert(0, pk)
import cobrowse.models

sys.modules["cobrowse_a.models"] = cobrowse.models


def load(name):
    mods = {}
    for m in (
        "protocol",
        "sequencer",
        "journal_sql",
        "consumers",
        "delivery",
        "ratelimit",
        "writer",
    ):
        mods[m] = importlib.import_module(f"{name}.{m}")
    return mods


A = load("cobrowse_a")
B = load("cobrowse")

N_SESS = 40
OPS = int(os.environ.get("OPS", "20"))
sids = [str(uuid.uuid4()) for _ in range(N_SESS)]


class P:
    def __init__(self, pk, role):
        self.pk = pk
        self.role = role


class Harness:
    def __init__(self, M):
        self.M = M
        W = M["writer"]
        answer_cls = getattr(W, "CallAnswer", None) or W.Answer

        class FakeWriter:
            def __init__(s):
                s.q = []

            def submit_answered(s, sid, sub, answer):
                s.q.append((sid, sub, answer_cls(answer)))

            def submit_all(s, sid, items):
                s.q.extend((sid, a, b) for a, b in items)

        self.writer = FakeWriter()
        D = M["delivery"].Delivery
        C = M["consumers"].CobrowseConsumer
        self.consumers = []
        for i in range(N_SESS):
            c = C.__new__(C)
            c.session_id = sids[i]
            c.participant = P(1000 + i, "customer")
            c._bucket = M["ratelimit"].TokenBucket(1e9, 1e9)
            c._errors = M["ratelimit"].ErrorsInARow()
            c._writer = self.writer
            c._liveness = types.SimpleNamespace(heard=False)  # heartbeats, where the code has them
            d = D(
                session_id=sids[i],
                participant_id=1000 + i,
                batch=True,
                send=None,
                close=None,
                send_asgi=None,
                write_now=lambda t: True,
            )
            d.closing = False
            c._delivery = d
            self.consumers.append(c)
        self.receivers = {}
        for i in range(N_SESS):
            rs = [
                D(
                    session_id=sids[i],
                    participant_id=2000 + 2 * i + k,
                    batch=True,
                    send=None,
                    close=None,
                    send_asgi=None,
                    write_now=lambda t: True,
                )
                for k in range(2)
            ]
            for r in rs:
                r.closing = False
            self.receivers[sids[i]] = [self.consumers[i]._delivery] + rs
        self.heads = {
            uuid.UUID(s): {
                "status": "active",
                "head_seq": 0,
                "head_hash": "0" * 64,
                "snapshot_seq": 0,
                "control_participant_id": None,
                "sensitive_nodes": [],
            }
            for s in sids
        }
        self.r = 0

    def round(self, texts):
        M = self.M
        seq = M["sequencer"]
        js = M["journal_sql"]
        self.writer.q.clear()
        t0 = time.thread_time()
        for c, t in zip(self.consumers, texts):
            c.on_frame(t)
        t1 = time.thread_time()
        batch = self.writer.q[:]
        groups = {}
        for sid, sub, ans in batch:
            groups.setdefault(sid, []).append((sub, ans))
        plan = seq._Plan([(sid, [s for s, _ in it]) for sid, it in groups.items()])
        heads = js.Heads({k: dict(v) for k, v in self.heads.items()}, {}, {}, {})
        plan.decide(heads)
        js._pg_write_params(plan.rows, heads.sessions, plan.received_at, self.heads)
        self.heads = {
            k: {kk: vv for kk, vv in v.items() if kk != "ends"} for k, v in heads.sessions.items()
        }
        t2 = time.thread_time()
        for (sid, items), result in zip(groups.items(), plan.results):
            entries = result.entries
            for l in self.receivers[sid]:
                l.deliver_entries(entries)
            for (_, fut), outcome in zip(items, result.outcomes):
                fut.set_result(outcome)
        t3 = time.thread_time()
        return (t1 - t0, t2 - t1, t3 - t2), len(batch)


def texts_for(r):
    now = time.time()
    return [
        orjson.dumps(
            {
                "type": "ops",
                "ops": [
                    {
                        "client_op_id": f"b{s}-{r * OPS + i}",
                        "kind": "pointer",
                        "payload": {"x": now + i * 0.001, "y": r * OPS + i, "id": s},
                    }
                    for i in range(OPS)
                ],
            }
        ).decode()
        for s in range(N_SESS)
    ]


ha, hb = Harness(A), Harness(B)
ROUNDS = int(os.environ.get("ROUNDS", "400"))
ra = []
rb = []
for r in range(ROUNDS):
    texts = texts_for(r)
    if r % 2 == 0:
        a, na = ha.round(texts)
        b, nb = hb.round(texts)
    else:
        b, nb = hb.round(texts)
        a, na = ha.round(texts)
    if r >= 20:
        ra.append([x / na * 1e6 for x in a] + [sum(a) / na * 1e6])
        rb.append([x / nb * 1e6 for x in b] + [sum(b) / nb * 1e6])
names = ("receive+parse+submit", "decide+params", "hand-over", "total")
for k in range(4):
    ma = statistics.median(x[k] for x in ra)
    mb = statistics.median(x[k] for x in rb)
    rr = statistics.median(y[k] / x[k] for x, y in zip(ra, rb))
    print(f"{names[k]:22s} A {ma:6.2f}  B {mb:6.2f} us/op (medians of rounds)  median B/A {rr:.3f}")
