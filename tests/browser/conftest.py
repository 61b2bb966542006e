"""Browser tests: real Chromium (Debian's) driven by Playwright for Python, against the real
server (`manage.py runserver`, which is daphne) running on the test database. Screenshots are
saved under artifacts/screenshots/<test>/.

Every test here is marked `browser`; `make test` runs them in its PostgreSQL + Redis step.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env() -> dict[str, str]:
    """The environment of a server process that uses the test database."""
    env = {**os.environ, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    # Every test's browser asks for help from 127.0.0.1, on one server for the whole run.
    env["COBROWSE_SESSION_CREATE_PER_ADDRESS"] = "0"
    d = connection.settings_dict
    if d["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (
            f"postgres://{d['USER']}:{d['PASSWORD']}@{d['HOST']}:{d['PORT']}/{d['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(d["NAME"])
    env.pop("COBROWSE_LOCAL_HANDOVER", None)
    return env


@pytest.fixture(scope="session")
def live_url(django_db_setup: None) -> Iterator[str]:
    """Base URL of a server process running the product on the test database."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "artifacts" / "browser-server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(proc, port)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for_port(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the test server did not start: artifacts/browser-server.log"
                ) from exc
            time.sleep(0.1)


@pytest.fixture(scope="session")
def browser(live_url: str) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # Playwright's assertions wait 5 s by default, its actions 10 s here (`new_context`): on a
    # busy machine a page load, a socket and a snapshot can take longer than 5 s. The same 10 s.
    expect.set_options(timeout=10_000)

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run bash scripts/browser.sh or set CHROMIUM"
        )
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are
    # synchronous and safe, so Django's async-safety check is lifted while it runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_context(browser: Any, live_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Make browser contexts (one per person); all are closed after the test. What their pages
    print to the console, and their uncaught errors, go into the report of a failed test."""
    contexts: list[Any] = []
    console: list[str] = []
    request.node.stash[CONSOLE] = console

    def make(**kwargs: Any) -> Any:
        context = browser.new_context(
            base_url=live_url, viewport={"width": 1280, "height": 800}, **kwargs
        )
        context.set_default_timeout(10_000)
        person = len(contexts) + 1
        context.on("console", lambda m: console.append(f"[{person}] {m.type}: {m.text}"))
        context.on("weberror", lambda e: console.append(f"[{person}] uncaught: {e.error}"))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


CONSOLE = pytest.StashKey[list[str]]()
SERVER_LOG_AT = pytest.StashKey[int]()
SERVER_LOG = ROOT / "artifacts" / "browser-server.log"


@pytest.fixture(autouse=True)
def _demo_sites(demo_sites: dict[str, Any]) -> None:
    """The demo shop and bank (`manage.py demo_setup`): every session belongs to a site."""


@pytest.fixture(autouse=True)
def _server_log_mark(request: pytest.FixtureRequest) -> None:
    """Where the server log stood when the test began (see `pytest_runtest_makereport`)."""
    request.node.stash[SERVER_LOG_AT] = SERVER_LOG.stat().st_size if SERVER_LOG.exists() else 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed browser test reports what the server logged meanwhile and what the pages
    printed: on a CI machine that is all there is to go on afterwards."""
    report = yield
    if report.failed and call.when == "call":
        console = item.stash.get(CONSOLE, [])
        if console:
            report.sections.append(("browser console", "\n".join(console[-80:])))
        start = item.stash.get(SERVER_LOG_AT, None)
        if start is not None and SERVER_LOG.exists():
            with SERVER_LOG.open("rb") as log:
                log.seek(start)
                lines = log.read().decode("utf-8", "replace").splitlines()
            report.sections.append(("server log during the test", "\n".join(lines[-150:])))
    return report


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """shot(page, "name") saves a screenshot under artifacts/screenshots/<test>/name.png."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)

    def take(page: Any, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take


def login_context(context: Any, user: Any, live_url: str) -> None:
    """Log `user` in within a browser context (the Django session cookie of a real login)."""
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_url}]
    )


def wait_until(page: Any, expression: str, arg: Any = None, *, timeout: float = 10.0) -> Any:
    """Poll a JavaScript function in the page until it returns something truthy.

    Playwright's `wait_for_function` evaluates its predicate with `eval` inside the page, which
    the pages' Content-Security-Policy forbids (no 'unsafe-eval'); `page.evaluate` goes through
    the DevTools protocol, which the policy does not govern. The browser tests run under the
    real policy, so they wait this way."""
    deadline = time.monotonic() + timeout
    while True:
        result = page.evaluate(expression, arg)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {expression}")
        page.wait_for_timeout(50)
