"""Settings, read from the environment.

With nothing set, the project runs on embedded defaults (SQLite in WAL mode, the in-memory
channel layer) so that `make run` works on a fresh machine. Production sets `DATABASE_URL`
(PostgreSQL) and `REDIS_URL` (channels-redis). Every variable is listed in `.env.example`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from cobrowse import protocol
from config import oidc, static_headers

# Lets classes such as ModelAdmin[Model] be subscripted at run time, as the type stubs say.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate limit, `COUNT/SECONDS` (e.g. `30/600`); `0` or empty: no limit."""
    value = os.environ.get(name, default).strip()
    if value in ("", "0"):
        return None
    try:
        count, seconds = (int(part) for part in value.split("/"))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be COUNT/SECONDS, e.g. 30/600") from None
    if count < 1 or seconds < 1:
        raise ImproperlyConfigured(f"{name} must be COUNT/SECONDS with both above 0")
    return count, seconds


def env_gc_thresholds(name: str, default: str) -> tuple[int, int, int]:
    """The garbage collector's three thresholds, `YOUNG,MIDDLE,OLD` (e.g. `50000,20,100`)."""
    value = os.environ.get(name) or default
    try:
        young, middle, old = (int(part) for part in value.split(","))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be three numbers, e.g. 50000,20,100") from None
    if min(young, middle, old) < 1:
        raise ImproperlyConfigured(f"{name} must be three numbers above 0")
    return young, middle, old


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-development-key-change-me-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # First: its `runserver` (daphne's, with clean WebSocket closes) is the one Django runs.
    "cobrowse",
    "daphne",
    # Django's admin, signing in and out as the desk does (helpdesk/login.py).
    "helpdesk.admin_apps.DeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "axes",
    "ninja",  # the REST API's Swagger UI, served from its own static files
    "helpdesk",
    "shop_demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files, with CORS for the widget's modules (STATIC_CORS_PREFIXES below).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cobrowse.security.SecurityHeadersMiddleware",
    # django-cors-headers, before CommonMiddleware as it asks; only /api/embed/ (see below).
    "cobrowse.middleware.SyncCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login refused for too many failures into the 429 page (last, as axes asks).
    "axes.middleware.AxesMiddleware",
]

# One project, two origins (docs/install.md, "The demo on two origins"): the help desk (the
# default), or, with ORIGIN_ROLE=merchant, the demo shop and bank of a merchant that installs the
# widget with its script tag (config/urls_merchant.py).
ORIGIN_ROLE = os.environ.get("ORIGIN_ROLE", "desk")
if ORIGIN_ROLE not in {"desk", "merchant"}:
    raise ImproperlyConfigured(f"ORIGIN_ROLE must be desk or merchant, not {ORIGIN_ROLE!r}")
ROOT_URLCONF = "config.urls_merchant" if ORIGIN_ROLE == "merchant" else "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# Persistent connections (CONN_MAX_AGE) with health checks, for the threads that live on: the
# WebSockets' database thread and the journal writer's. An HTTP request under ASGI runs on a
# thread of its own and closes its connection when it ends (config/asgi.py).
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 600)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # One writer at a time: IMMEDIATE takes the write lock at BEGIN, so a
                # read-then-write transaction never fails with SQLITE_BUSY half way.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(BASE_DIR / ".test-db.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ---------------------------------------------------------------------------
# The journal is the truth; the channel layer only rings the doorbell, once per batch and
# session, and each process hears it once (cobrowse/writer.py). The pub/sub layer is the
# default: one PUBLISH per doorbell, and nothing dropped at a channel's capacity as the core
# layer does (docs/performance.md measures both).
REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_LAYER_KIND = os.environ.get("CHANNEL_LAYER", "pubsub")
if REDIS_URL:
    _layer_config: dict[str, object] = {"hosts": [REDIS_URL]}
    if CHANNEL_LAYER_KIND != "pubsub":
        _layer_config["capacity"] = env_int("CHANNEL_CAPACITY", 1000)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                # channels-redis's pub/sub layer, plus reconnection after a Redis restart.
                "cobrowse.channel_layer.ResilientPubSubChannelLayer"
                if CHANNEL_LAYER_KIND == "pubsub"
                else "channels_redis.core.RedisChannelLayer"
            ),
            "CONFIG": _layer_config,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {}}}

# --- Cache: the counters of the rate limits (cobrowse/throttle.py, cobrowse/api_tokens.py) ---
# Shared by every process on Redis; with nothing set, each process counts for itself.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cobrowse",
        }
    }

# --- Auth, sessions, security ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Failed logins are counted per account and per client address by django-axes (its database
# handler, so every process sees them). At AXES_FAILURE_LIMIT failures, each within
# LOGIN_LOCKOUT_MINUTES of the one before, that account, or that address, is refused for
# LOGIN_LOCKOUT_MINUTES with 429 (helpdesk/views.py, `locked_out`); each failure during the
# lock-out starts it again.
# AxesStandaloneBackend goes first in AUTHENTICATION_BACKENDS (below, with single sign-on).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "helpdesk.views.locked_out"
# Not reset by a successful login: axes would clear every failure from that address too, so an
# attacker with an account of their own could sign in now and then to guess on without end.
AXES_RESET_ON_SUCCESS = False
AXES_ENABLE_ADMIN = True
LOGIN_URL = "/helpdesk/login/"
LOGIN_REDIRECT_URL = "/helpdesk/"
LOGOUT_REDIRECT_URL = "/helpdesk/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages that replay sessions with rrweb get the Content-Security-Policy that allows the replayed
# page's inline styles (cobrowse/security.py); every other page gets the strict one.
COBROWSE_CSP_REPLAY_PATHS = env_list("COBROWSE_CSP_REPLAY_PATHS", "/helpdesk/,/admin/")
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Single sign-on (OpenID Connect, mozilla-django-oidc; docs/integrations.md) ---------------
# On when a client id is set. Users are created or updated at each sign-in: their teams and
# operator/admin flags follow the team claim (helpdesk/sso.py).
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
# The provider's endpoints; those not set are read from the discovery document of OIDC_ISSUER
# (once, at start).
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "")
_discovered = oidc.discover(OIDC_ISSUER) if OIDC_ENABLED and OIDC_ISSUER else {}


def _endpoint(variable: str, setting: str) -> str:
    return os.environ.get(variable) or _discovered.get(setting, "")


OIDC_OP_AUTHORIZATION_ENDPOINT = _endpoint(
    "OIDC_AUTHORIZATION_ENDPOINT", "OIDC_OP_AUTHORIZATION_ENDPOINT"
)
OIDC_OP_TOKEN_ENDPOINT = _endpoint("OIDC_TOKEN_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = _endpoint("OIDC_USERINFO_ENDPOINT", "OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = _endpoint("OIDC_JWKS_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT")
# RP-initiated logout: empty when the provider has none; signing out is then local only.
OIDC_OP_END_SESSION_ENDPOINT = _endpoint(
    "OIDC_END_SESSION_ENDPOINT", "OIDC_OP_END_SESSION_ENDPOINT"
)
if OIDC_ENABLED:
    _missing = [
        name
        for name, value in {
            "OIDC_CLIENT_SECRET": OIDC_RP_CLIENT_SECRET,
            "OIDC_ISSUER or OIDC_AUTHORIZATION_ENDPOINT": OIDC_OP_AUTHORIZATION_ENDPOINT,
            "OIDC_TOKEN_ENDPOINT": OIDC_OP_TOKEN_ENDPOINT,
            "OIDC_USERINFO_ENDPOINT": OIDC_OP_USER_ENDPOINT,
            "OIDC_JWKS_ENDPOINT": OIDC_OP_JWKS_ENDPOINT,
        }.items()
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(f"OIDC_CLIENT_ID is set but not {', '.join(_missing)}")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_RP_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile groups")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_SIGN_ALGO", "RS256")
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of RP-initiated logout
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_CALLBACK_CLASS = "helpdesk.sso.CallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "helpdesk.sso.provider_logout_url"
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
# The claim (a list of group names) that decides teams and roles: a group `<prefix><Team name>`
# puts the user in that team, and so does a group of OIDC_TEAM_MAP (`group=Team name,...`).
OIDC_TEAM_CLAIM = os.environ.get("OIDC_TEAM_CLAIM", "groups")
OIDC_TEAM_PREFIX = os.environ.get("OIDC_TEAM_PREFIX", "team:")
OIDC_TEAM_MAP = dict(item.split("=", 1) for item in env_list("OIDC_TEAM_MAP", "") if "=" in item)
if len(OIDC_TEAM_MAP) != len(env_list("OIDC_TEAM_MAP", "")):
    raise ImproperlyConfigured("OIDC_TEAM_MAP is a list of group=Team name")
OIDC_OPERATOR_GROUP = os.environ.get("OIDC_OPERATOR_GROUP", "desk-operators")
OIDC_ADMIN_GROUP = os.environ.get("OIDC_ADMIN_GROUP", "desk-admins")
# 0: only single sign-on; the sign-in pages offer no password form and refuse password posts.
PASSWORD_LOGIN = env_bool("PASSWORD_LOGIN", True)
if not PASSWORD_LOGIN and not OIDC_ENABLED:
    raise ImproperlyConfigured("PASSWORD_LOGIN=0 needs single sign-on (OIDC_CLIENT_ID)")
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while its account or address is locked out (login throttling).
    "axes.backends.AxesStandaloneBackend",
    # Subclasses ModelBackend, so permissions are checked as before.
    *(["helpdesk.sso.TeamClaimsBackend"] if OIDC_ENABLED else []),
    *(["django.contrib.auth.backends.ModelBackend"] if PASSWORD_LOGIN else []),
]

# --- The widget on merchants' own sites (cobrowse/embed.py, docs/install.md) -------------------
# CORS only on the embed API, and only to the origins of the site a request names: the origin
# lists live on each Site and are checked per request (cobrowse.embed_views.cors_allowed), so
# no origin is listed here. No cookies cross origins.
CORS_URLS_REGEX = r"^/api/embed/"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = ("authorization", "content-type")
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 600)
# How long a session token the embed API issues stays valid, at most (it also dies with its
# session).
COBROWSE_EMBED_TOKEN_HOURS = env_int("COBROWSE_EMBED_TOKEN_HOURS", 12)
# Webhooks (cobrowse/webhooks.py, docs/integrations.md; links in events are on COBROWSE_DESK_URL):
# the worker's retries: attempt N waits about
# BASE * 2**(N-1) seconds (at most MAX, with jitter); after MAX_ATTEMPTS the delivery failed.
COBROWSE_WEBHOOK_MAX_ATTEMPTS = env_int("COBROWSE_WEBHOOK_MAX_ATTEMPTS", 10)
COBROWSE_WEBHOOK_RETRY_BASE_SECONDS = float(
    os.environ.get("COBROWSE_WEBHOOK_RETRY_BASE_SECONDS", "10")
)
COBROWSE_WEBHOOK_RETRY_MAX_SECONDS = float(
    os.environ.get("COBROWSE_WEBHOOK_RETRY_MAX_SECONDS", "3600")
)
COBROWSE_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("COBROWSE_WEBHOOK_TIMEOUT_SECONDS", "10"))
# `manage.py demo_setup`: the demo shop's and bank's signing secrets and the merchant origin of
# the demo pages (docs/install.md). Never used outside the demo.
DEMO_SHOP_SECRET = os.environ.get("DEMO_SHOP_SECRET", "demo-shop-secret-change-me")
DEMO_BANK_SECRET = os.environ.get("DEMO_BANK_SECRET", "demo-bank-secret-change-me")
DEMO_MERCHANT_ORIGINS = env_list(
    "DEMO_MERCHANT_ORIGINS", "http://127.0.0.1:8001,http://localhost:8001"
)

# --- The REST API for ticket systems and CRMs (cobrowse/api.py, docs/integrations.md) ---------
# Requests per API token in each window, counted in Django's cache (CACHES).
COBROWSE_API_RATE_LIMIT = env_int("COBROWSE_API_RATE_LIMIT", 120)
COBROWSE_API_RATE_WINDOW_SECONDS = env_int("COBROWSE_API_RATE_WINDOW_SECONDS", 60)

# --- Internationalisation and static files ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# WhiteNoise serves them (`runserver --nostatic`, `make serve` alike); from the finders while
# DEBUG, from STATIC_ROOT after `collectstatic` otherwise. The widget's modules and rrweb are
# imported as ES modules by pages of other origins, which needs Access-Control-Allow-Origin: *
# on them (config/static_headers.py); nothing else gets it.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_ALLOW_ALL_ORIGINS = False
WHITENOISE_ADD_HEADERS_FUNCTION = static_headers.add_headers
STATIC_CORS_PREFIXES = ("cobrowse/", "vendor/")
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # rrweb from the npm registry (package.json), served as it was installed.
    ("vendor/rrweb", BASE_DIR / "node_modules" / "rrweb" / "dist"),
]

# --- Co-browsing limits ----------------------------------------------------------------------
COBROWSE_MAX_FRAME_BYTES = env_int("COBROWSE_MAX_FRAME_BYTES", protocol.MAX_FRAME_BYTES)
# dom ops carry rrweb full snapshots, which real pages make larger than any other frame.
COBROWSE_MAX_DOM_FRAME_BYTES = env_int("COBROWSE_MAX_DOM_FRAME_BYTES", protocol.MAX_DOM_FRAME_BYTES)
COBROWSE_RATE_PER_SECOND = env_int("COBROWSE_RATE_PER_SECOND", 200)
COBROWSE_RATE_BURST = env_int("COBROWSE_RATE_BURST", 400)
# Connections that opted in with ?heartbeat=1 (the widget's): one quiet for COBROWSE_HEARTBEAT_MS
# is sent a `heartbeat` frame, which its client answers; one silent for
# COBROWSE_SILENCE_TIMEOUT_MS is taken for a network gone without a close, noted as left and
# closed (4409). Tuned so that the desk shows a silently lost customer within 10 s
# (docs/reliability.md).
COBROWSE_HEARTBEAT_MS = env_int("COBROWSE_HEARTBEAT_MS", 2000)
COBROWSE_SILENCE_TIMEOUT_MS = env_int("COBROWSE_SILENCE_TIMEOUT_MS", 6000)
# Frames (and their bytes) waiting to be written to one socket before the server gives up on that
# reader (close 4408; it resumes from the journal). The byte bound holds a full dom snapshot.
COBROWSE_SEND_QUEUE_LIMIT = env_int("COBROWSE_SEND_QUEUE_LIMIT", 2000)
COBROWSE_SEND_QUEUE_BYTES = env_int(
    "COBROWSE_SEND_QUEUE_BYTES", 2 * max(COBROWSE_MAX_DOM_FRAME_BYTES, COBROWSE_MAX_FRAME_BYTES)
)
# A client that connects with ?batch=1 gets ops that are ready together (a resume, a late join)
# in `batch` frames of about this size (docs/protocol.md).
COBROWSE_BATCH_FRAME_BYTES = env_int("COBROWSE_BATCH_FRAME_BYTES", 256 * 1024)
# The WebSocket layer's own cap on one message, above the largest dom op: `make run`'s server
# (daphne) reads these two settings, `make serve` passes the same 5 MiB to uvicorn
# (config/websocket.py). A frame above COBROWSE_MAX_DOM_FRAME_BYTES but below this gets a
# too_large error frame; above it, the connection is closed with 1009.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = COBROWSE_MAX_DOM_FRAME_BYTES + 1024 * 1024
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE

# Rate limits (cobrowse/throttle.py), COUNT/SECONDS in the environment, 0 for none. New help
# requests per client address and per browser: each one lands in every operator's queue.
COBROWSE_SESSION_CREATE_PER_ADDRESS = env_rate("COBROWSE_SESSION_CREATE_PER_ADDRESS", "30/600")
COBROWSE_SESSION_CREATE_PER_BROWSER = env_rate("COBROWSE_SESSION_CREATE_PER_BROWSER", "10/600")
# WebSocket connections of one participant: opened per window (every process together), and
# open at once in one process; over either, the new one is closed with 4429.
COBROWSE_CONNECTIONS_PER_PARTICIPANT = env_rate("COBROWSE_CONNECTIONS_PER_PARTICIPANT", "60/60")
COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT = env_int("COBROWSE_OPEN_CONNECTIONS_PER_PARTICIPANT", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"timed": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "timed"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # Django's own handlers for its loggers would print every record a second time beside the
    # root's (each request line of `runserver`, each "Not Found"): they all go to the root.
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        # The journal writer's statistics, when asked for (COBROWSE_WRITER_STATS_SECONDS).
        "cobrowse.writer.stats": {"level": "INFO"},
    },
}
# Every N seconds the journal writer logs how many batches it wrote, how large, and where their
# time went (docs/performance.md, "Where the time goes"); 0: never.
COBROWSE_WRITER_STATS_SECONDS = env_int("COBROWSE_WRITER_STATS_SECONDS", 0)
# The garbage collector's thresholds in a server process (config/asgi.py): Python's default is
# 700,10,10; see docs/performance.md, change 22.
COBROWSE_GC_THRESHOLDS = env_gc_thresholds("COBROWSE_GC_THRESHOLDS", "50000,20,100")
# A session whose customer has had no connection for this long is ended as abandoned by the
# server itself (cobrowse/lifecycle.py sweep_abandoned_forever); 0: never (then only
# `manage.py end_idle_sessions` ends forgotten sessions).
COBROWSE_ABANDON_AFTER_SECONDS = env_int("COBROWSE_ABANDON_AFTER_SECONDS", 300)
# Hand journaled ops straight to this process's own connections (off: everything goes through
# the channel layer, which the test run on Redis uses to exercise that path).
COBROWSE_LOCAL_HANDOVER = env_bool("COBROWSE_LOCAL_HANDOVER", True)
# The journal writer's own PostgreSQL connection prepares its statements (off behind a
# connection pooler that cannot keep prepared statements, e.g. PgBouncer before 1.21).
COBROWSE_PREPARED_STATEMENTS = env_bool("COBROWSE_PREPARED_STATEMENTS", True)

# --- The demo merchant (shop_demo) -------------------------------------------------------------
# Where the merchant's pages load the widget from (the desk's base URL), and where the desk
# sends a visitor of its old /shop/ and /bank/ addresses (the merchant's base URL).
COBROWSE_DESK_URL = os.environ.get("COBROWSE_DESK_URL", "http://127.0.0.1:8000/")
DEMO_MERCHANT_URL = os.environ.get("DEMO_MERCHANT_URL", "http://127.0.0.1:8001/")
# The demo bank signs its customer's identity with DEMO_BANK_SECRET (above), the secret
# `demo_setup` gives the site "Demo bank" (shop_demo/identity.py).
if ORIGIN_ROLE == "merchant":
    # Cookies do not tell ports apart: the merchant's must not be taken for the desk's.
    SESSION_COOKIE_NAME = "shop_sessionid"
    CSRF_COOKIE_NAME = "shop_csrftoken"
    # The merchant's pages load scripts, styles and a WebSocket from the desk: its policy.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("cobrowse.security.SecurityHeadersMiddleware") + 1,
        "shop_demo.security.MerchantPolicyMiddleware",
    )
