"""jiedao settings: one module, every deployment choice read from the environment.

SQLite (``var/jiedao.sqlite3``, WAL) by default; ``DATABASE_URL=postgres://…`` switches to
PostgreSQL through psycopg 3. Everything an operator may want to change is an env var listed
in the README.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


VAR_DIR = Path(env_str("JIEDAO_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from env, else generated once into var/ (never committed)."""
    if key := env_str("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "jiedao.core",  # first: its flush command guards the append-only audit table
    "jiedao.accounts",
    "jiedao.audit",
    "jiedao.front",
    "jiedao.ledgers",
    "jiedao.cases",
    "jiedao.records",
    "jiedao.checker",
    "jiedao.demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "jiedao.accounts.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "jiedao.urls"
WSGI_APPLICATION = "jiedao.wsgi.application"
ASGI_APPLICATION = "jiedao.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "jiedao" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jiedao.front.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = Path(env_str("JIEDAO_SQLITE_PATH", str(VAR_DIR / "jiedao.sqlite3")))
DATABASE_URL = env_str("DATABASE_URL")
# Each server thread keeps its connection this many seconds instead of opening one per request
# (on SQLite that means running the PRAGMAs and registering Django's SQL functions anew).
CONN_MAX_AGE = env_int("JIEDAO_CONN_MAX_AGE", 60)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
        if env_bool("JIEDAO_PG_PREPARED", True):
            # Parameters bound by the server, and a statement this connection has run before
            # executed from its prepared plan: an inbox page's queries are the same few
            # statements again and again, and planning them was a third of their time. Off
            # (JIEDAO_PG_PREPARED=0) behind a pooler that cannot keep prepared statements
            # (PgBouncer in transaction mode before 1.21).
            _pg_options.update(server_side_binding=True,
                              prepare_threshold=env_int("JIEDAO_PG_PREPARE_THRESHOLD", 2))
        # No parallel workers for a page's queries: on a small server starting them cost
        # 20-25 ms, more than the lookup they served, and a first page walked in parallel
        # read ten times the cases it needed.
        _pg_options["options"] = " ".join(filter(None, [
            _pg_options.get("options", ""),
            f"-c max_parallel_workers_per_gather={env_int('JIEDAO_PG_PARALLEL_WORKERS', 0)}"]))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "OPTIONS": {
                # Writers take the lock when the transaction starts, so two writers queue
                # behind the busy timeout instead of failing on a read-to-write upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("JIEDAO_SQLITE_BUSY_TIMEOUT", 20),
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    # Reads straight from the operating system's page cache, shared by every
                    # connection, instead of a read() into each connection's own 2 MB cache:
                    # lists and searches at a million cases read a quarter to a half less time
                    # (bench/README.md). SQLite caps it at its build's maximum (2 GB here).
                    f"PRAGMA mmap_size={env_int('JIEDAO_SQLITE_MMAP_MB', 2048) * 2**20};"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and security (等保 assessor practice; all overridable) ------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["jiedao.accounts.backends.LockoutModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "front:home"
LOGOUT_REDIRECT_URL = "accounts:login"

PASSWORD_MIN_LENGTH = env_int("JIEDAO_PASSWORD_MIN_LENGTH", 8)
PASSWORD_MIN_CLASSES = env_int("JIEDAO_PASSWORD_MIN_CLASSES", 3)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {
        "NAME": "jiedao.accounts.validators.CharacterClassValidator",
        "OPTIONS": {"min_classes": PASSWORD_MIN_CLASSES},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_MAX_FAILURES = env_int("JIEDAO_LOGIN_MAX_FAILURES", 5)
LOGIN_LOCK_MINUTES = env_int("JIEDAO_LOGIN_LOCK_MINUTES", 30)
IDLE_TIMEOUT_MINUTES = env_int("JIEDAO_IDLE_TIMEOUT_MINUTES", 30)
SESSION_COOKIE_AGE = 12 * 3600  # absolute cap; the idle timeout is the middleware's
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("JIEDAO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a TLS-terminating proxy on the office's own server.
if env_bool("JIEDAO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Which header carries the client address (audit rows record it); empty = REMOTE_ADDR.
CLIENT_IP_HEADER = env_str("JIEDAO_CLIENT_IP_HEADER", "")
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "jiedao.front.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# The audit table is append-only; only the test suite may wipe it (flush between tests).
JIEDAO_ALLOW_AUDIT_PURGE = env_bool("JIEDAO_ALLOW_AUDIT_PURGE", False)

# --- Language and time --------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文"))]
LOCALE_PATHS = [BASE_DIR / "jiedao" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: served by the app itself, never from a CDN -------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("JIEDAO_STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("JIEDAO_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- Cases ----------------------------------------------------------------------------
# An open case whose deadline falls within this many hours is "due soon".
JIEDAO_CASE_DUE_SOON_HOURS = env_int("JIEDAO_CASE_DUE_SOON_HOURS", 24)
# Intake duplicate suggestions look back this many days.
JIEDAO_CASE_DUPLICATE_DAYS = env_int("JIEDAO_CASE_DUPLICATE_DAYS", 30)
# Attachments: at most this many bytes each; images and PDF only (type sniffed from content).
JIEDAO_ATTACHMENT_MAX_BYTES = env_int("JIEDAO_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# SMS / 企业微信 sender: a dotted path to a backend class; the default only logs.
JIEDAO_MESSAGE_BACKEND = env_str("JIEDAO_MESSAGE_BACKEND", "jiedao.cases.messaging.LogBackend")
# A message that fails this many times is marked failed (and stays listed for a retry by hand).
JIEDAO_MESSAGE_MAX_ATTEMPTS = env_int("JIEDAO_MESSAGE_MAX_ATTEMPTS", 5)
# The resident page: at most this many submissions/lookups per client address per hour.
JIEDAO_PUBLIC_RATE_PER_HOUR = env_int("JIEDAO_PUBLIC_RATE_PER_HOUR", 30)

# One cache shared by every server process on the machine (rate limits of the resident page).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env_str("JIEDAO_CACHE_DIR", str(VAR_DIR / "cache")),
    }
}

# --- Web workers ----------------------------------------------------------------------
# A web worker hides what start-up loaded from the cycle collector (jiedao/core/gctune.py).
JIEDAO_GC_FREEZE = env_bool("JIEDAO_GC_FREEZE", True)

# --- Background work ------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("JIEDAO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
