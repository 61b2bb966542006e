"""The short fault-injection run (`make chaos` runs the long one): three uvicorn servers on
PostgreSQL and a Redis of the harness's own, clients of two sessions spread across them, while
the harness drops connections, SIGKILLs servers, restarts Redis and terminates the servers'
database connections. Nothing may be lost, duplicated or reordered (chaos/run.py checks it
against the journal and the delivery rule)."""

from __future__ import annotations

import pytest

from chaos.run import FAULTS, Config, run
from tests.conftest import SERVICES

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not SERVICES, reason="needs PostgreSQL (make test runs it)"),
    pytest.mark.timeout(240),
]


def test_nothing_is_lost_duplicated_or_reordered_under_faults(capsys):
    report = run(
        Config(
            duration=15,
            sessions=2,
            observers=1,
            customer_rate=25,
            operator_rate=15,
            observer_rate=3,
            fault_interval=(0.8, 1.6),
            settle_timeout=60,
            seed=7,
        )
    )
    with capsys.disabled():
        print("\n" + report.text())
    assert all(report.faults[name] >= 1 for name in FAULTS), report.faults
    assert report.counts["sent"] > 500
    assert report.ok, report.text()
