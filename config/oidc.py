"""The endpoints of an OpenID provider, read from its discovery document when the settings name
only its issuer (`OIDC_ISSUER`, config/settings.py). Read once, when the settings load."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from django.core.exceptions import ImproperlyConfigured

WELL_KNOWN = "/.well-known/openid-configuration"
# Setting name -> the discovery document's field.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
}


def discover(issuer: str, *, timeout: float = 10) -> dict[str, str]:
    """Setting name -> URL, from `<issuer>/.well-known/openid-configuration`; the end-session
    endpoint is "" when the provider has none (no RP-initiated logout)."""
    issuer = issuer.removesuffix(WELL_KNOWN).rstrip("/")
    url = issuer + WELL_KNOWN
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document = json.load(response)
    except (OSError, ValueError) as error:
        raise ImproperlyConfigured(f"OIDC_ISSUER: cannot read {url}: {error}") from error
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ImproperlyConfigured(f"OIDC_ISSUER: {url} is not the discovery document of {issuer}")
    found = {name: str(document.get(field) or "") for name, field in ENDPOINTS.items()}
    missing = [ENDPOINTS[name] for name, value in found.items() if not value]
    if missing and missing != ["end_session_endpoint"]:
        raise ImproperlyConfigured(f"OIDC_ISSUER: {url} has no {', '.join(missing)}")
    return found
