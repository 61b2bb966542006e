"""Single sign-on against a real OpenID provider (tests/oidc/server.js, the certified npm
`oidc-provider`), started on a free port for each test; the desk runs in Django's live server
and an HTTP client follows the redirects and posts the provider's sign-in form, as a browser
would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from cobrowse.models import Site, Team
from cobrowse.policy import is_operator_user, sites_served
from config.oidc import discover

from .live import ROOT, free_port

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "help-desk"
CLIENT_SECRET = "tests-only-client-secret"

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Provider:
    url: str

    def move(self, login: str, groups: list[str]) -> None:
        """The provider's administrator puts `login` into other groups."""
        httpx.post(f"{self.url}/test/groups/{login}", content=json.dumps(groups)).raise_for_status()


@pytest.fixture
def provider(live_server: Any, settings: Any, tmp_path: Path) -> Iterator[Provider]:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("no test provider: npm ci --prefix tests/oidc (make bootstrap installs it)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "provider.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [shutil.which("node") or "node", "server.js"],
            cwd=PROVIDER_DIR,
            env={
                "PATH": "/usr/bin:/bin",
                "PORT": str(port),
                "CLIENT_ID": CLIENT_ID,
                "CLIENT_SECRET": CLIENT_SECRET,
                "REDIRECT_URI": f"{live_server.url}/oidc/callback/",
                "POST_LOGOUT_REDIRECT_URI": f"{live_server.url}/helpdesk/login/",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/.well-known/openid-configuration").raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"provider did not start: {log.read_text()}") from None
                time.sleep(0.1)
        settings.OIDC_ENABLED = True
        settings.OIDC_PROVIDER_NAME = "Test ID"
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        for name, endpoint in discover(url).items():
            setattr(settings, name, endpoint)
        settings.OIDC_TEAM_MAP = {"desk-bank": "Bank desk"}
        settings.AUTHENTICATION_BACKENDS = [
            "helpdesk.sso.TeamClaimsBackend",
            "django.contrib.auth.backends.ModelBackend",
        ]
        shop = Site.objects.create(name="Shop", allowed_origins=["https://shop.example"])
        bank = Site.objects.create(name="Bank", allowed_origins=["https://bank.example"])
        Team.objects.create(name="Shop desk").sites.add(shop)
        Team.objects.create(name="Bank desk").sites.add(bank)
        yield Provider(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sign_in(desk: str, login: str, client: httpx.Client | None = None) -> httpx.Response:
    """Press "Sign in with Test ID" on the desk's login page, then sign in at the provider."""
    client = client or httpx.Client(follow_redirects=True, timeout=20)
    page = client.get(f"{desk}/helpdesk/login/")
    button = re.search(r'id="sign-in-sso" href="([^"]+)"', page.text)
    assert button, page.text
    form = client.get(desk + button.group(1).replace("&amp;", "&"))
    assert form.status_code == 200 and 'name="login"' in form.text, form.text
    action = re.search(r'action="([^"]+)"', form.text)
    assert action
    return client.post(str(form.url.join(action.group(1))), data={"login": login})


def test_first_sign_in_creates_an_operator_in_the_team_of_the_claim(provider, live_server):
    response = sign_in(live_server.url, "ada")

    assert response.status_code == 200
    assert response.url.path == "/helpdesk/"
    ada = User.objects.get(username="ada")
    assert ada.email == "ada@example.com" and ada.get_full_name() == "Ada Operator"
    assert not ada.has_usable_password()
    assert is_operator_user(ada) and not ada.is_superuser
    assert [team.name for team in ada.cobrowse_teams.all()] == ["Shop desk"]
    assert [site.name for site in sites_served(ada) or []] == ["Shop"]


def test_a_later_sign_in_follows_the_claim_to_other_teams(provider, live_server):
    sign_in(live_server.url, "ada")
    provider.move("ada", ["desk-operators", "desk-bank"])

    response = sign_in(live_server.url, "ada")

    assert response.url.path == "/helpdesk/"
    ada = User.objects.get(username="ada")
    assert [team.name for team in ada.cobrowse_teams.all()] == ["Bank desk"]
    assert User.objects.filter(username="ada").count() == 1


def test_the_admin_group_makes_an_admin(provider, live_server):
    client = httpx.Client(follow_redirects=True, timeout=20)
    sign_in(live_server.url, "grace", client)

    grace = User.objects.get(username="grace")
    assert grace.is_superuser and grace.is_staff and is_operator_user(grace)
    admin = client.get(f"{live_server.url}/admin/")
    assert admin.status_code == 200 and admin.url.path == "/admin/"
    # The admin's "Log out" ends the provider's session too, as the desk's does.
    out = client.post(
        f"{live_server.url}/admin/logout/",
        data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{live_server.url}/admin/"},
    )
    assert out.url.host == "127.0.0.1" and out.url.path.startswith("/session/end")
    assert client.get(f"{live_server.url}/admin/").url.path == "/admin/login/"


def test_someone_outside_the_operator_group_is_refused(provider, live_server):
    client = httpx.Client(follow_redirects=True, timeout=20)
    response = sign_in(live_server.url, "mallory", client)

    assert response.status_code == 403
    assert "mallory is not in the group desk-operators of Test ID" in response.text
    # Not signed in: the desk sends them to the sign-in page.
    desk = client.get(f"{live_server.url}/helpdesk/")
    assert desk.url.path == "/helpdesk/login/"


def test_an_operator_removed_from_the_group_loses_the_desk(provider, live_server):
    sign_in(live_server.url, "ada")
    provider.move("ada", ["team:Shop desk"])

    response = sign_in(live_server.url, "ada")

    assert response.status_code == 403
    ada = User.objects.get(username="ada")
    assert not is_operator_user(ada) and not ada.is_staff


def test_signing_out_ends_the_provider_session_too(provider, live_server):
    client = httpx.Client(follow_redirects=True, timeout=20)
    sign_in(live_server.url, "ada", client)
    csrf = client.cookies["csrftoken"]

    confirm = client.post(
        f"{live_server.url}/helpdesk/logout/",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/helpdesk/"},
    )
    # The provider asks to confirm (its own page), then comes back to the desk's sign-in page.
    assert confirm.url.host == "127.0.0.1" and confirm.url.path.startswith("/session/end")
    action = re.search(r'action="([^"]+)"', confirm.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text)
    assert action and xsrf, confirm.text
    back = client.post(
        str(confirm.url.join(action.group(1))), data={"xsrf": xsrf.group(1), "logout": "yes"}
    )
    assert back.url.path == "/helpdesk/login/" and back.url.host == "localhost"
    assert client.get(f"{live_server.url}/helpdesk/").url.path == "/helpdesk/login/"
    # The provider's session ended too: signing in again asks for the login again.
    again = client.get(f"{live_server.url}/oidc/authenticate/")
    assert 'name="login"' in again.text


def test_without_password_sign_in_only_the_provider_button_is_offered(
    provider, live_server, settings, client
):
    settings.PASSWORD_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = ["helpdesk.sso.TeamClaimsBackend"]
    User.objects.create_user("olga", password="pw", is_staff=True, is_superuser=True)

    for path in ("/helpdesk/login/", "/admin/login/"):
        page = client.get(path).content.decode()
        assert "Sign in with Test ID" in page
        assert 'name="password"' not in page
        refused = client.post(path, {"username": "olga", "password": "pw", "next": "/admin/"})
        assert refused.status_code == 403, path
        assert "Password sign-in is switched off: sign in with Test ID." in refused.content.decode()
        assert "_auth_user_id" not in client.session
    # Single sign-on still works.
    assert sign_in(live_server.url, "ada").url.path == "/helpdesk/"


def test_the_login_page_offers_single_sign_on_only_when_configured(client, settings):
    settings.OIDC_ENABLED = False
    assert "Sign in with" not in client.get("/helpdesk/login/").content.decode()
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Acme ID"
    page = client.get("/helpdesk/login/").content.decode()
    assert "Sign in with Acme ID" in page and 'name="password"' in page


def settings_of(env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    """Load config/settings.py in a process of its own with `env`; print the `names`."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {list(names)!r}}}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_settings_read_the_endpoints_from_the_issuer(provider):
    loaded = settings_of(
        {
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ISSUER": provider.url,
            "OIDC_TEAM_MAP": "desk-bank=Bank desk,support=Shop desk",
            "PASSWORD_LOGIN": "0",
        },
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_END_SESSION_ENDPOINT",
        "OIDC_TEAM_MAP",
        "AUTHENTICATION_BACKENDS",
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {
        "OIDC_OP_TOKEN_ENDPOINT": f"{provider.url}/token",
        "OIDC_OP_END_SESSION_ENDPOINT": f"{provider.url}/session/end",
        "OIDC_TEAM_MAP": {"desk-bank": "Bank desk", "support": "Shop desk"},
        # No password sign-in anywhere (the login throttle's backend only refuses).
        "AUTHENTICATION_BACKENDS": [
            "axes.backends.AxesStandaloneBackend",
            "helpdesk.sso.TeamClaimsBackend",
        ],
    }


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"PASSWORD_LOGIN": "0"}, "PASSWORD_LOGIN=0 needs single sign-on"),
        ({"OIDC_CLIENT_ID": "desk", "OIDC_CLIENT_SECRET": "s"}, "OIDC_ISSUER or OIDC_AUTH"),
        (
            {
                "OIDC_CLIENT_ID": "desk",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_ISSUER": "http://127.0.0.1:9",
            },
            "OIDC_ISSUER: cannot read http://127.0.0.1:9/.well-known/openid-configuration",
        ),
        ({"OIDC_TEAM_MAP": "desk-bank"}, "OIDC_TEAM_MAP is a list of group=Team name"),
    ],
)
def test_incomplete_settings_are_a_clear_error(env: dict[str, str], error: str) -> None:
    loaded = settings_of(env, "OIDC_ENABLED")
    assert loaded.returncode != 0 and error in loaded.stderr, loaded.stderr


def test_a_provider_that_is_not_there_is_a_clear_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="OIDC_ISSUER: cannot read"):
        discover(f"http://127.0.0.1:{free_port()}", timeout=2)
