"""Settings for the realtime gateway.

Everything configurable comes from the environment, read here and only here:
`DJANGO_*` for Django itself, `GATEWAY_*` for the gateway. See README.md.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gateway_project import env

BASE_DIR = Path(__file__).resolve().parent.parent
# Development settings from a file, only when asked (scripts/demo.sh asks): a
# stray .env must never turn DEBUG on where nobody asked for it.
if _env_file := env.get_str("GATEWAY_ENV_FILE"):
    if not (BASE_DIR / _env_file).is_file():
        raise ImproperlyConfigured(f"GATEWAY_ENV_FILE names no file: {_env_file}")
    env.load_dotenv(BASE_DIR / _env_file)

DEBUG = env.get_bool("DJANGO_DEBUG", False)


def _required_secret(name: str, development_fallback: str) -> str:
    value = env.get_str(name)
    if value:
        return value
    if DEBUG:
        return development_fallback
    raise ImproperlyConfigured(
        f"{name} is not set. Set it in the environment (see README.md), or name "
        "the demo's development settings with GATEWAY_ENV_FILE=.env; only a "
        "development server (DJANGO_DEBUG=true) may start without it."
    )


SECRET_KEY = _required_secret(
    "DJANGO_SECRET_KEY", "django-insecure-development-only-do-not-deploy"
)
ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Outside development the admin's cookies travel over HTTPS only, and HTTPS
# responses tell browsers to use nothing else (HSTS; Django sends it only on
# requests it sees as secure). Behind a TLS-terminating proxy, a request is
# secure when a trusted proxy says so in X-Forwarded-Proto (the proxy must set
# that header itself, overwriting a client's).
# Proxies (addresses or CIDRs) whose X-Forwarded-For names the client and whose
# X-Forwarded-Proto says the request came over HTTPS.
try:
    GATEWAY_TRUSTED_PROXIES = tuple(
        ipaddress.ip_network(entry, strict=False)
        for entry in env.get_list("GATEWAY_TRUSTED_PROXIES")
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"GATEWAY_TRUSTED_PROXIES: {exc}") from None
if GATEWAY_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.get_bool(
    "DJANGO_SECURE_COOKIES", not DEBUG
)
SECURE_HSTS_SECONDS = int(
    env.get_number("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "keys",
    "realtime",
    "access",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gateway_project.urls"
ASGI_APPLICATION = "gateway_project.asgi.application"

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


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets several gateway processes share one file; IMMEDIATE avoids
        # "database is locked" on lock upgrades. The test database is a file
        # too, so gateway processes started by end-to-end tests can share it.
        # One per test run (pid), so concurrent runs in one checkout do not clash.
        path = Path(config["NAME"])
        config["TEST"] = {
            "NAME": str(path.with_name(f"test_{os.getpid()}_{path.name}"))
        }
        config["CONN_MAX_AGE"] = 60  # keep it: opening one costs a few ms
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {
    "default": _database(
        env.get_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.get_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub: the gateway only broadcasts announcements (revocations),
            # which may be lost (sessions re-check their key anyway), and its
            # receive() waits on a local queue, so it cancels at once.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Bounded, so a dead Redis is noticed and retried.
                        "socket_timeout": 15,
                        "socket_connect_timeout": 3,
                        "health_check_interval": 30,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Times to the second, with their zone (gateway_project/formats/).
FORMAT_MODULE_PATH = ["gateway_project.formats"]

STATIC_URL = "static/"
# The gateway's own assets (the favicon), beside the installed apps'.
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only for `collectstatic` (e.g. to serve assets from a CDN). The gateway serves
# the admin's assets straight from the installed apps, so a styled admin needs
# no collectstatic step.
STATIC_ROOT = env.get_str("DJANGO_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOG_LEVEL = env.get_str("GATEWAY_LOG_LEVEL", "INFO").upper()
# plain: `time level logger message`; json: one JSON object a line, with the
# session id as a field (realtime/logformat.py). Servers' lines too.
GATEWAY_LOG_FORMAT = env.get_str("GATEWAY_LOG_FORMAT", "plain").strip().lower()
if GATEWAY_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("GATEWAY_LOG_FORMAT must be plain or json.")
if GATEWAY_LOG_FORMAT == "json":
    # Python's warnings (a library's deprecation, say) as log lines too, so
    # that every line of output is a JSON object.
    logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "realtime.logformat.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "realtime.logformat.GatewayJsonFormatter"},
    },
    # Servers' own lines too (Daphne's, uvicorn's under rungateway, websockets'
    # handshake headers at debug) pass this handler: keys are masked in each.
    "filters": {"credentials": {"()": "realtime.redaction.CredentialFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": GATEWAY_LOG_FORMAT,
            "filters": ["credentials"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "keys": {"level": LOG_LEVEL},
        "realtime": {"level": LOG_LEVEL},
        "gateway_project": {"level": LOG_LEVEL},
    },
}

# --- The gateway -------------------------------------------------------------

# MultiFernet keys: the first encrypts, every one decrypts (rotation).
GATEWAY_ENCRYPTION_KEYS = env.get_list("GATEWAY_ENCRYPTION_KEYS")
if not GATEWAY_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "GATEWAY_ENCRYPTION_KEYS is not set. Generate a key with "
        "`python manage.py generate_encryption_key` and set it in the environment; "
        "provider credentials are stored encrypted with it."
    )

# Raw provider keys (not virtual keys) are refused unless this is on and the
# provider accepts them (its allow_passthrough field).
GATEWAY_ALLOW_PASSTHROUGH = env.get_bool("GATEWAY_ALLOW_PASSTHROUGH", False)

# The hosts provider upstreams may be on, since every credential of a provider
# goes to its upstream: the five providers' public endpoints (Azure's per
# resource) and this machine. A leading dot matches subdomains; * any host.
GATEWAY_UPSTREAM_HOSTS = env.get_list(
    "GATEWAY_UPSTREAM_HOSTS",
    "api.openai.com,.openai.azure.com,.cognitiveservices.azure.com,"
    "generativelanguage.googleapis.com,api.cartesia.ai,api.elevenlabs.io,"
    "localhost,127.0.0.1,::1",
)

# /metrics answers clients at these addresses (IPs or CIDRs) and any client that
# sends `Authorization: Bearer <GATEWAY_METRICS_TOKEN>`; nobody else.
GATEWAY_METRICS_TOKEN = env.get_str("GATEWAY_METRICS_TOKEN")
GATEWAY_METRICS_ALLOWED_ADDRESSES = env.get_list(
    "GATEWAY_METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1"
)
for _network in GATEWAY_METRICS_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"GATEWAY_METRICS_ALLOWED_ADDRESSES: {_network!r} is not an address "
            "or a network."
        ) from None

# The admin refuses logins from an address, and for a username, with this many
# failed logins within the window (counted in the database, so across processes).
GATEWAY_ADMIN_LOGIN_FAILURES = int(
    env.get_number("GATEWAY_ADMIN_LOGIN_FAILURES", 5, minimum=1)
)
GATEWAY_ADMIN_LOGIN_WINDOW_SECONDS = env.get_number(
    "GATEWAY_ADMIN_LOGIN_WINDOW_SECONDS", 900.0, minimum=1
)

# One maximum message size for both legs and for the server (OpenAI accepts
# input_audio_buffer.append events of up to 15 MiB).
GATEWAY_MAX_MESSAGE_BYTES = int(
    env.get_number("GATEWAY_MAX_MESSAGE_BYTES", 16 * 1024 * 1024, minimum=1024)
)
# Daphne refuses a handshake whose connect() takes over 5 s: stay under it.
GATEWAY_UPSTREAM_CONNECT_TIMEOUT = env.get_number(
    "GATEWAY_UPSTREAM_CONNECT_TIMEOUT", 4.0, minimum=0.1
)
# How long a client frame may wait for a slow upstream before the session ends;
# meanwhile the server stops reading that client (rungateway: Daphne past 1 MiB
# queued, uvicorn past one message), so it holds a few messages at most.
GATEWAY_UPSTREAM_SEND_TIMEOUT = env.get_number(
    "GATEWAY_UPSTREAM_SEND_TIMEOUT", 10.0, minimum=0.1
)
GATEWAY_UPSTREAM_COMPRESSION = env.get_bool("GATEWAY_UPSTREAM_COMPRESSION", False)
GATEWAY_PING_INTERVAL = env.get_number("GATEWAY_PING_INTERVAL", 20.0, minimum=1)
GATEWAY_PING_TIMEOUT = env.get_number("GATEWAY_PING_TIMEOUT", 20.0, minimum=1)
# Live sessions re-read their key this often, so a revocation reaches them even
# when the channel layer cannot carry it (in-memory layer, lost message).
GATEWAY_KEY_RECHECK_SECONDS = env.get_number(
    "GATEWAY_KEY_RECHECK_SECONDS", 5.0, minimum=0.05
)
# Failed handshakes per client address: a burst, then this many per second;
# beyond that, handshakes from the address are refused at once (4429). 0: off.
GATEWAY_AUTH_FAILURES_PER_SECOND = env.get_number(
    "GATEWAY_AUTH_FAILURES_PER_SECOND", 5.0
)
GATEWAY_AUTH_FAILURE_BURST = env.get_number(
    "GATEWAY_AUTH_FAILURE_BURST", 20.0, minimum=1
)
# New sessions of a key authorized this recently skip the database; revocations
# this process hears of drop the entry at once. 0 turns the cache off.
GATEWAY_KEY_CACHE_SECONDS = env.get_number("GATEWAY_KEY_CACHE_SECONDS", 2.0)
# A process's listener for revocations and terminates (and the groups it joined)
# stays this long after its last session ends (realtime.revocations), so
# back-to-back sessions do not start and stop it. 0: it stops at once.
GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = env.get_number(
    "GATEWAY_ANNOUNCEMENT_LINGER_SECONDS", 60.0
)
# Session ends are priced from price rows a process re-reads this often
# (realtime.pricing); a price change applies within it. 0: read every time.
GATEWAY_PRICE_CACHE_SECONDS = env.get_number("GATEWAY_PRICE_CACHE_SECONDS", 60.0)
# Live sessions write their counters this often; a crash loses at most this much.
GATEWAY_CHECKPOINT_SECONDS = env.get_number(
    "GATEWAY_CHECKPOINT_SECONDS", 30.0, minimum=0.05
)
# A live session of a key (or team) with budgets re-reads what the key's and
# team's other sessions spent this often, and writes its own usage as often
# when it changed, so that sessions on every process see each other's spend.
GATEWAY_BUDGET_REFRESH_SECONDS = env.get_number(
    "GATEWAY_BUDGET_REFRESH_SECONDS", 2.0, minimum=0.05
)
# Names this process on its session rows; a restarted process with the same
# name marks the rows its previous life left active as interrupted.
# Default: host:port under rungateway, host:pid otherwise.
GATEWAY_INSTANCE = env.get_str("GATEWAY_INSTANCE")
# Under rungateway, a send to a client waits while more than this is buffered
# for it (backpressure to the upstream); a client that reads nothing for
# GATEWAY_SLOW_CLIENT_SECONDS is dropped.
GATEWAY_CLIENT_BUFFER_BYTES = int(
    env.get_number("GATEWAY_CLIENT_BUFFER_BYTES", 4 * 1024 * 1024, minimum=65536)
)
GATEWAY_SLOW_CLIENT_SECONDS = env.get_number("GATEWAY_SLOW_CLIENT_SECONDS", 10.0)
# A session that ends while the provider is generating a response (the client
# gone mid-response) asks the provider to stop it and waits this long for its
# final usage before finalising the row. At most 5 s: with the bridge's stop and
# the row's retries, the end stays within Daphne's 10 s application close timeout.
GATEWAY_FINAL_USAGE_SECONDS = min(
    env.get_number("GATEWAY_FINAL_USAGE_SECONDS", 2.0), 5.0
)
# `manage.py prune_sessions` (from cron) deletes rows older than this many days
# by default; unset: the command needs --older-than.
_retention_days = env.get_number("GATEWAY_SESSION_RETENTION_DAYS", 0, minimum=0)
GATEWAY_SESSION_RETENTION_DAYS = int(_retention_days) or None
# On SIGTERM, how long rungateway waits for live sessions to close and finalise.
GATEWAY_DRAIN_SECONDS = env.get_number("GATEWAY_DRAIN_SECONDS", 10.0, minimum=0)
GATEWAY_ALLOWED_ORIGINS = env.get_list("GATEWAY_ALLOWED_ORIGINS", "*")
# Pages on these origins may create WebRTC calls cross-origin (realtime.cors);
# none by default: only pages served from the gateway's own origin.
GATEWAY_CORS_ALLOWED_ORIGINS = env.get_origins("GATEWAY_CORS_ALLOWED_ORIGINS")

# The provider registry: kind -> adapter class. The only place kinds are named.
GATEWAY_PROVIDER_ADAPTERS = {
    "openai": "realtime.providers.openai.OpenAIAdapter",
    "azure": "realtime.providers.azure.AzureOpenAIAdapter",
    "google": "realtime.providers.google.GeminiLiveAdapter",
    "cartesia": "realtime.providers.cartesia.CartesiaAdapter",
    "elevenlabs": "realtime.providers.elevenlabs.ElevenLabsAdapter",
}
