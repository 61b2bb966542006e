"""The benchmark behind docs/performance.md: `python -m bench` (or `make bench`).

It starts its own stack (a Redis on port 6390, the `cobrowse_bench` database on the running
PostgreSQL, server processes), drives co-browsing sessions over real WebSockets from separate
client processes at stepped offered loads, and compares the product's journaled delivery with
tutorial-style baselines (`bench/baselines.py`) measured in the same run.
"""
