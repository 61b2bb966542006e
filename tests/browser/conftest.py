"""Browser tests: real Chromium (Debian's) driven by Playwright for Python, against the real
servers (`manage.py runserver`, which is daphne) running on the test database: the desk on one
port and the demo merchant (the shop and the bank, which install the widget with its script
tag) on another, two origins as in `make run`. Pages open on the desk's origin (`live_url`,
the contexts' base URL); the desk sends /shop/ and /bank/ on to the merchant's origin
(`merchant_url`). Screenshots are saved under artifacts/screenshots/<test>/.

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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
SERVER_LOG = ROOT / "artifacts" / "browser-server.log"
MERCHANT_LOG = ROOT / "artifacts" / "browser-merchant.log"
# Static files come through WhiteNoise, with their CORS headers, as in `make run`.
RUNSERVER = [sys.executable, "manage.py", "runserver", "--noreload", "--nostatic"]
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


@dataclass(frozen=True)
class LiveOrigins:
    desk: str  # the help desk: API, WebSockets, operator pages, the widget's static files
    merchant: str  # the demo shop and bank, which install the widget with its script tag


@pytest.fixture(scope="session")
def live_origins(django_db_setup: None) -> Iterator[LiveOrigins]:
    """Two server processes of the project on the test database, on two ports (two origins),
    as `make run` serves them: the desk, and the demo merchant (ORIGIN_ROLE=merchant)."""
    desk_port, merchant_port = free_port(), free_port()
    origins = LiveOrigins(f"http://127.0.0.1:{desk_port}", f"http://127.0.0.1:{merchant_port}")
    env = {
        **server_env(),
        "COBROWSE_DESK_URL": f"{origins.desk}/",
        "DEMO_MERCHANT_URL": f"{origins.merchant}/",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for port, role, log_path in [
            (desk_port, "desk", SERVER_LOG),
            (merchant_port, "merchant", MERCHANT_LOG),
        ]:
            log = stack.enter_context(open(log_path, "wb"))
            proc = subprocess.Popen(
                [*RUNSERVER, f"127.0.0.1:{port}"],
                cwd=ROOT,
                env={**env, "ORIGIN_ROLE": role},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            _wait_for_port(proc, port, log_path)
        yield origins


@pytest.fixture(scope="session")
def live_url(live_origins: LiveOrigins) -> str:
    """Base URL of the desk's server process (the merchant's: `merchant_url`)."""
    return live_origins.desk


@pytest.fixture(scope="session")
def merchant_url(live_origins: LiveOrigins) -> str:
    """Base URL of the demo merchant's origin (the shop and the bank)."""
    return live_origins.merchant


@pytest.fixture(autouse=True)
def _demo_sites(request: pytest.FixtureRequest) -> None:
    """The demo sites of `demo_setup` (public keys pk_demo_shop, pk_demo_bank): every session
    belongs to a site. For a test that opens pages on the live servers they allow the live
    merchant's origin. (The database is emptied after every browser test.)"""
    if "new_context" not in request.fixturenames:
        request.getfixturevalue("demo_sites")
        return
    merchant = request.getfixturevalue("merchant_url")
    with override_settings(DEMO_MERCHANT_ORIGINS=[merchant]):
        call_command("demo_setup", verbosity=0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start: {log}") from exc
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
        options = {"base_url": live_url, "viewport": {"width": 1280, "height": 800}, **kwargs}
        context = browser.new_context(**options)
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


@pytest.fixture
def console(new_context: Any, request: pytest.FixtureRequest) -> list[str]:
    """What the pages of this test's contexts print to their consoles ("[n] type: text"), as
    Playwright delivers it (during its own calls)."""
    return request.node.stash[CONSOLE]


SERVER_LOG_AT = pytest.StashKey[int]()


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


def ask_for_help(customer: Any) -> Any:
    """The customer clicks "Get help" on the page they are on; their session, once its code
    shows in the panel."""
    from playwright.sync_api import expect

    from cobrowse.models import Session

    customer.click("#cobrowse-help")
    expect(customer.locator("#cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
    return Session.objects.get(code=customer.text_content("#cobrowse-code"))


def desk_for(new_context: Any, live_url: str, session: Any) -> Any:
    """A new operator, logged in in a browser context of their own, on `session`'s desk page."""
    from tests.conftest import make_operator

    context = new_context()
    login_context(context, make_operator(), live_url)
    desk = context.new_page()
    desk.goto(f"/helpdesk/sessions/{session.pk}/")
    return desk


# The widget's shadow root on a merchant's page (the widget's host is appended to the body).
WIDGET = "document.querySelector('[data-cobrowse-widget]')?.shadowRoot"
# The demo sites' public keys (`manage.py demo_setup`) by their short names.
SITE_KEYS = {"shop": "pk_demo_shop", "bank": "pk_demo_bank"}


def widget_text(page: Any, html_id: str) -> str:
    """The text of an element of the widget (in its shadow root) by its id."""
    return str(page.evaluate(f"{WIDGET}?.getElementById({html_id!r})?.textContent ?? ''"))


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


def occurs(secret: str, text: str) -> bool:
    """Whether `secret` occurs in `text` as itself, not inside a longer run of letters, digits,
    dots or dashes.

    Timestamps and coordinates are digit runs, and a short secret such as a four-digit CVC turns
    up by chance inside the journal's hex hashes and UUIDs; a leaked value sits between quotes,
    spaces or markup, where this still finds it.
    """
    return re.search(rf"(?<![0-9A-Za-z.-]){re.escape(secret)}(?![0-9A-Za-z.-])", text) is not None
