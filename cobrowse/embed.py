"""The widget on a merchant's own site: which site a request names, whether its origin may
speak for that site, the customer's signed identity, and the session token.

- A site is named by its public key (`site_for_key`); only enabled sites count.
- Origins are compared exactly on scheme, host and port (`normalize_origin`): the default port
  of the scheme is the same as none, and nothing else is.
- The identity is a compact JWT, HS256, signed by the merchant's server with the site's
  `secret` (or `previous_secret` during a rotation), `aud` = the site's public key, `exp`
  required (`identity_verify`). PyJWT checks the signature before any claim.
- The session token is signed by the desk (django.core.signing, with its own salt), binds one
  session of one site and expires after COBROWSE_EMBED_TOKEN_HOURS; it is accepted only while
  its site is enabled (`token_check`). Whether the session is still open is the caller's
  business: the HTTP API answers "ended", the WebSocket closes with 4410.

Nothing here writes to the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.core import signing

from .models import Session, Site

TOKEN_SALT = "cobrowse.embed.session-token"
# The merchant's server and the desk may disagree on the time by this much (exp, iat, nbf).
IDENTITY_CLOCK_SKEW_SECONDS = 30
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EmbedError(Exception):
    """A request the embed API refuses: `status` and `code` go into the error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --- Sites and origins -----------------------------------------------------------------------


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case, without the scheme's default port; None for
    anything that is not an http(s) origin (a path, credentials, a missing host, "null")."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_allowed(site: Site, origin: str | None) -> bool:
    if not origin:
        return False
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    return normalized in {normalize_origin(o) for o in site.allowed_origins or ()}


def site_for_key(public_key: Any) -> Site:
    """The enabled site with this public key, or EmbedError 404 unknown_site."""
    if not isinstance(public_key, str) or not public_key:
        raise EmbedError(404, "unknown_site", "site must be the public key of a site")
    site = Site.objects.filter(public_key=public_key, enabled=True).first()
    if site is None:
        raise EmbedError(404, "unknown_site", f"no enabled site has the public key {public_key!r}")
    return site


def any_site_allows(origin: str | None) -> bool:
    """Whether some enabled site lists this origin (a CORS preflight that names no site)."""
    normalized = normalize_origin(origin or "")
    if normalized is None:
        return False
    return any(
        origin_allowed(site, normalized)
        for site in Site.objects.filter(enabled=True).only("allowed_origins")
    )


# --- The customer's identity -----------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    verified: bool
    user_id: str = ""
    name: str = ""
    email: str = ""

    def as_json(self) -> dict[str, Any]:
        if not self.verified:
            return {"verified": False}
        return {"verified": True, "user_id": self.user_id, "name": self.name, "email": self.email}


UNVERIFIED = Identity(verified=False)


def identity_verify(*, site: Site, token: Any) -> Identity:
    """The customer the merchant's server signed into `token`, checked with the site's current
    secret, then its previous one. No token: not verified. Raises EmbedError 400
    invalid_identity (the message says why) for anything else that does not check out."""
    if token is None or token == "":
        return UNVERIFIED
    if not isinstance(token, str):
        raise EmbedError(400, "invalid_identity", "identity must be a JWT string")
    secrets = [s for s in (site.secret, site.previous_secret) if s]
    claims: dict[str, Any] | None = None
    for secret in secrets:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=site.public_key,
                options={"require": ["exp", "aud", "sub"]},
                leeway=IDENTITY_CLOCK_SKEW_SECONDS,
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise EmbedError(400, "invalid_identity", "the identity token has expired") from None
        except jwt.InvalidAudienceError:
            raise EmbedError(
                400,
                "invalid_identity",
                f"the identity token is for another site (its aud must be {site.public_key!r})",
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise EmbedError(
                400, "invalid_identity", f"the identity token has no {exc.claim!r} claim"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise EmbedError(
                400, "invalid_identity", f"the identity token is not valid: {exc}"
            ) from None
    if claims is None:
        raise EmbedError(
            400,
            "invalid_identity",
            "the identity token's signature does not match this site's secret",
        )
    return Identity(
        verified=True,
        user_id=str(claims["sub"])[:200],
        name=str(claims.get("name") or "")[:200],
        email=str(claims.get("email") or "")[:254],
    )


# --- The session token -----------------------------------------------------------------------


def token_lifetime() -> timedelta:
    return timedelta(hours=settings.COBROWSE_EMBED_TOKEN_HOURS)


def token_issue(session: Session, site: Site) -> str:
    """An opaque, URL-safe token for this session of this site."""
    return signing.dumps({"s": str(session.pk), "k": site.public_key}, salt=TOKEN_SALT)


def token_expires_at(session: Session) -> datetime:
    return session.created_at + token_lifetime()


class InvalidToken(Exception):
    pass


def token_check(token: Any, session_id: uuid.UUID | str) -> Session:
    """The session `token` was issued for, if it is `session_id`, the token has not expired and
    its site is still enabled. Raises InvalidToken otherwise (the reason in its message)."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("no token")
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=token_lifetime())
    except signing.SignatureExpired:
        raise InvalidToken("the token has expired") from None
    except signing.BadSignature:
        raise InvalidToken("the token is not valid") from None
    if not isinstance(data, dict) or data.get("s") != str(session_id):
        raise InvalidToken("the token is for another session")
    session = (
        Session.objects.select_related("site")
        .filter(pk=session_id, site__public_key=data.get("k"), site__enabled=True)
        .first()
    )
    if session is None:
        raise InvalidToken("the token is for another site, or its site is disabled")
    return session
