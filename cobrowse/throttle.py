"""Rate limits on Django's cache: how often one client address, one browser or one participant
may do something (docs/reliability.md, "Limits"). Frames within one connection are limited by
`cobrowse/ratelimit.py`, in the connection itself.

- `rate_limit`: a view decorator. Over a limit the view is not run and the client gets 429 with
  `{"error": {"code": "rate_limited", "message": ..., "retry_after": seconds}}` and a
  `Retry-After` header.
- `admit_connection` / `release_connection`: WebSockets per participant; one too many raises
  `TooManyConnections` (the consumer closes it with 4429).

Each limit is a rate, (count, seconds), kept as a fixed-window counter in the cache: the first
hit of a window adds the key, each hit increments it (atomic on Redis and in the local-memory
cache), and past `count` everything is refused until the window ends. A burst of up to twice
the count can straddle two windows; the limits are set for floods, far above what a person
does. The counters are shared by every process when the cache is (Redis, with REDIS_URL;
config/settings.py). If the cache cannot be reached the request is let through and logged: a
limit must not take the desk down with Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from .policy import customer_owns

logger = logging.getLogger(__name__)

KEY_PREFIX = "throttle"
Rate = tuple[int, int]  # (count, seconds): at most `count` hits per `seconds`
View = Callable[..., HttpResponse]


def hit(name: str, who: str, rate: Rate | None) -> int | None:
    """Count one hit of `who` on the limit `name`. None while within `rate` (or when `rate` is
    None: no limit), else the seconds until it may try again."""
    if not rate:
        return None
    count, seconds = rate
    now = time.time()
    window = int(now // seconds)
    retry_after = max(1, math.ceil((window + 1) * seconds - now))
    digest = hashlib.sha256(who.encode()).hexdigest()[:32]  # session keys are secrets
    key = f"{KEY_PREFIX}:{name}:{digest}:{window}"
    try:
        cache.add(key, 0, timeout=retry_after + 1)
        try:
            hits = cache.incr(key)
        except ValueError:  # it expired between the two calls
            cache.set(key, 1, timeout=retry_after + 1)
            hits = 1
    except Exception as exc:
        logger.warning("rate limit %s not applied, the cache failed: %r", name, exc)
        return None
    if hits <= count:
        return None
    if hits == count + 1:  # once per window and client, not once per refused request
        logger.warning("rate limit %s reached by %s (%d per %d s)", name, who_for_log(who), *rate)
    return retry_after


def who_for_log(who: str) -> str:
    """Addresses and participants as they are; a browser's session key by its first letters."""
    return who if "." in who or ":" in who else f"#{who[:6]}"


def client_address(request: HttpRequest) -> str:
    """The client's address as the ASGI server reports it (behind a proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips so that it is the client's, not the proxy's)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _browser(request: HttpRequest) -> str | None:
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def too_many(retry_after: int) -> JsonResponse:
    response = JsonResponse(
        {
            "error": {
                "code": "rate_limited",
                "message": f"too many requests; try again in {retry_after} s",
                "retry_after": retry_after,
            }
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(
    name: str, *, per_address: str | None = None, per_browser: str | None = None
) -> Callable[[View], View]:
    """Limit how often the view runs per client address and per browser (its Django session;
    a browser without one yet is limited by its address alone). `per_address` and
    `per_browser` name settings that hold a rate, (count, seconds), or None for no limit; they
    are read at each request. Every request counts, whatever the view answers.

        @rate_limit("session-create", per_address="COBROWSE_SESSION_CREATE_PER_ADDRESS")
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            for kind, setting in (("address", per_address), ("browser", per_browser)):
                if setting is None:
                    continue
                who = client_address(request) if kind == "address" else _browser(request)
                retry_after = (
                    hit(f"{name}:{kind}", who, getattr(settings, setting)) if who else None
                )
                if retry_after is not None:
                    return too_many(retry_after)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class TooManyConnections(Exception):
    """One connection too many for this participant: close it with 4429."""


class _OpenConnections:
    """The open connections of each participant in this process. Held weakly: a connection
    whose `release` never came (its task died) stops counting once it is gone."""

    def __init__(self) -> None:
        self._open: dict[str, weakref.WeakSet[Any]] = {}
        self._keys: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def admit(self, key: str, connection: Any, cap: int) -> bool:
        live = self._open.setdefault(key, weakref.WeakSet())
        if 0 < cap <= len(live):
            return False
        live.add(connection)
        self._keys[connection] = key
        return True

    def release(self, connection: Any) -> None:
        key = self._keys.pop(connection, None)
        if key is None:
            return
        live = self._open.get(key)
        if live is not None:
            live.discard(connection)
            if not live:
                del self._open[key]


OPEN_CONNECTIONS = _OpenConnections()


def participant_key(scope: dict[str, Any], session_id: str) -> str | None:
    """Who a WebSocket will join `session_id` as, known before the join: the session's customer
    (their browser created it) or an operator (their user). None for anyone else, whom the
    join refuses anyway. (Counting before the join keeps a refused connection from touching
    the participant's presence.)"""
    if customer_owns(scope.get("session"), session_id):
        return f"{session_id}:customer"
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return f"{session_id}:user:{user.pk}"
    return None


async def admit_connection(connection: Any, scope: dict[str, Any], session_id: str) -> None:
    """Count a new WebSocket of a participant, or raise TooManyConnections: more than
    COBROWSE_CONNECTIONS_PER_PARTICIPANT opened in its window (every process together), or
    already COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT open in this process. An admitted
    connection calls `release_connection` when it closes."""
    key = participant_key(scope, session_id)
    if key is None:
        return
    if not OPEN_CONNECTIONS.admit(
        key, connection, settings.COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT
    ):
        logger.warning("participant %s already has its connections open here", key)
        raise TooManyConnections
    rate = settings.COBROWSE_CONNECTIONS_PER_PARTICIPANT
    # Not `asyncio.to_thread`: it runs `hit` in a copy of this connection's context, where
    # Django's cache handler (context-local) makes a new cache client, and so a new Redis
    # connection, for every admission. An executor thread keeps its own context, and so one
    # client and its pool of Redis connections, from one call to the next.
    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(None, hit, "ws-connect", key, rate) is not None:
        OPEN_CONNECTIONS.release(connection)
        raise TooManyConnections


def release_connection(connection: Any) -> None:
    OPEN_CONNECTIONS.release(connection)
