"""Fault-injection suite: three servers on PostgreSQL + Redis, real WebSocket clients, faults.

`python -m chaos` (or `make chaos`) runs it; `tests/test_chaos.py` runs a short version inside
`make test`. What it promises and checks: docs/reliability.md.
"""
