"""The REST API's tokens (`ApiToken`) and how much each may ask.

- A token is `cbt_` and 43 URL-safe characters (32 random bytes). The database keeps its
  sha256 only (`key_hash`), and its first characters (`prefix`) to tell tokens apart: whoever
  reads the database cannot call the API. The full token is shown once, when it is created
  (`api_token_create`, in admin).
- A token is looked up by the hash of what the caller sent; a revoked token, or one of a
  disabled site, is refused like an unknown one.
- Rate limit: at most COBROWSE_API_RATE_LIMIT requests per token in each window of
  COBROWSE_API_RATE_WINDOW_SECONDS, counted in Django's cache (Redis with REDIS_URL, so every
  server process counts together; per process otherwise). A fixed window: cheap, one INCR
  per request, and a burst of at most twice the limit across a window's edge.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from .models import ApiToken, Site

TOKEN_PREFIX = "cbt_"
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is written at most this often per token (not one UPDATE per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, site: Site, name: str) -> tuple[ApiToken, str]:
    """A new token of `site`, saved with its hash only; returns the token row and the full
    token, which nothing keeps: show it to the admin once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        site=site, name=name, prefix=token[:SHOWN_PREFIX_LENGTH], key_hash=key_hash(token)
    )
    return row, token


def api_token_prepare(row: ApiToken) -> str:
    """Give an unsaved token row (admin's add form) a fresh secret; returns the full token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row.prefix = token[:SHOWN_PREFIX_LENGTH]
    row.key_hash = key_hash(token)
    return token


def api_tokens_revoke(*, ids: list[int]) -> int:
    """Revoke the tokens `ids` that are not revoked yet; how many that was."""
    return ApiToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def api_token_check(token: str) -> ApiToken | None:
    """The live token `token` is, with its site; None for an unknown or revoked token, or one
    of a disabled site. Notes when it was used (at most once per LAST_USED_RESOLUTION)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("site")
        .filter(key_hash=key_hash(token), revoked_at__isnull=True, site__enabled=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        row.last_used_at = now
    return row


@dataclass(frozen=True)
class Throttled:
    retry_after: int  # seconds until the window ends
    limit: int
    window: int


def rate_take(token: ApiToken) -> Throttled | None:
    """Count one request of `token`; a Throttled when it is over its limit in this window."""
    limit = settings.COBROWSE_API_RATE_LIMIT
    window = settings.COBROWSE_API_RATE_WINDOW_SECONDS
    now = time.time()
    start = int(now // window) * window
    # By the hash, not the row id: ids come again in a new database, the hash does not.
    key = f"api-rate:{token.key_hash[:24]}:{start}"
    # add() then incr(): atomic in Redis and in the local-memory cache alike.
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=window + 1)
        count = 1
    if count <= limit:
        return None
    return Throttled(
        retry_after=max(1, math.ceil(start + window - now)), limit=limit, window=window
    )
