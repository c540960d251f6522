"""Settings, read from the environment (twelve-factor, as cookiecutter-django does).

Embedded defaults make `manage.py runserver` work with no services: SQLite when `DATABASE_URL`
is unset, an in-process cache and eager Celery when `REDIS_URL` is unset. Every variable is
listed with its default in `.env.example`.
"""

import math
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _number(name: str, default, *, read=float, at_least=None, above=None, at_most=None, above_name=""):
    """A number setting, refused at startup outside its range. For a product rule a wrong value
    would not fail anywhere, it would quietly change what the product does (every cart held out,
    no cart ever abandoned, every recovery link expired, every event deleted); for a timeout or a
    retry count it would hang a worker or turn a check off.

    Read as Python reads a number (`read`: float or int), not as django-environ does: its float
    drops every character but digits, dots, commas and minus signs, so `1e3` would be 13 and
    `inf` an error that names no setting."""
    raw = env.str(name, default=None)
    if raw is None:
        value = default
    else:
        try:
            value = read(raw.strip())
        except ValueError:
            kind = "a whole number" if read is int else "a number"
            raise ImproperlyConfigured(f"{name} must be {kind}, not {raw!r}.") from None
        if not math.isfinite(value):
            raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}.")
    if at_least is not None and at_most is not None:
        valid, expected = at_least <= value <= at_most, f"between {at_least} and {at_most}"
    elif above is not None:
        valid, expected = (
            value > above,
            f"greater than {above_name} ({above})" if above_name else f"greater than {above}",
        )
    else:
        valid, expected = value >= at_least, f"at least {at_least}"
    if not valid:
        raise ImproperlyConfigured(f"{name} must be {expected}, not {value}.")
    return value


DEBUG = env.bool("DEBUG", default=False)

# Production refuses to start without a secret key; only DEBUG gets a throwaway one.
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for local use).")
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://localhost:8000").rstrip("/")
DEMO_MODE = env.bool("DEMO_MODE", default=DEBUG)

INSTALLED_APPS = [
    "cartsite.apps.CartsiteAdminConfig",  # django.contrib.admin with the project's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "corsheaders",
    "django_celery_beat",
    "cartsite.apps.CartsiteConfig",
    "carts",
    "tracking",
    "payments",
    "notifications",
]

MIDDLEWARE = [
    "cartsite.middleware.RequestContextMiddleware",
    "cartsite.middleware.ApiErrorEnvelopeMiddleware",
    "cartsite.middleware.BodySizeLimitMiddleware",
    "cartsite.middleware.NulInUrlMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cartsite.urls"
WSGI_APPLICATION = "cartsite.wsgi.application"

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

# --- Database -----------------------------------------------------------------------------
# An empty DATABASE_URL counts as unset (the embedded SQLite default), as for REDIS_URL.
DATABASE_URL = env("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a web worker reuses its connection across requests.
    DATABASES["default"]["CONN_MAX_AGE"] = _number("CONN_MAX_AGE", 60, read=int, at_least=0)
    # A health check before the first query of each request that reuses a connection. Off, a
    # connection broken while idle (database restart, failover) fails that one request with
    # 503 and is then replaced; on, the request reconnects instead (docs/performance.md).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    # Django's backend with a cheaper health check (cartsite/db/postgresql/base.py): a connection
    # last used less than DATABASE_HEALTH_CHECK_IDLE_SECONDS ago, that the driver knows nothing
    # wrong with and whose socket has nothing to read, skips Django's `SELECT 1` round trip.
    # 0: the `SELECT 1` on every request, as Django does.
    DATABASES["default"]["ENGINE"] = "cartsite.db.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "connect_timeout", _number("DATABASE_CONNECT_TIMEOUT", 3, read=int, at_least=1)
    )
    # The statements of the storefront's hot paths (cartsite.db.prepared_cursor) are prepared
    # on their connection's first use: PostgreSQL then skips parsing and planning them on every
    # request. The ORM's own queries are never prepared (Django binds their parameters in the
    # client). Turn off behind a pooler in transaction mode that cannot keep prepared statements
    # (PgBouncer before 1.21, or without max_prepared_statements).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 0)
DATABASE_HEALTH_CHECK_IDLE_SECONDS = _number("DATABASE_HEALTH_CHECK_IDLE_SECONDS", 1.0, at_least=0)
if env("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, rate limits, Celery broker ---------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="cartsite"),
            "OPTIONS": {
                # A dead Redis must cost milliseconds, not a hung worker.
                "SOCKET_CONNECT_TIMEOUT": _number("REDIS_CONNECT_TIMEOUT", 0.5, above=0),
                "SOCKET_TIMEOUT": _number("REDIS_SOCKET_TIMEOUT", 0.5, above=0),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A per-process cache is fine for one local process; django-ratelimit would flag it.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

RATELIMIT_USE_CACHE = "default"
# Redis down: the rate limiter lets requests through (see README "Redis is down").
RATELIMIT_FAIL_OPEN = True

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "tracking.tasks.*": {"queue": "tracking"},
    "payments.tasks.*": {"queue": "payments"},
    "notifications.tasks.*": {"queue": "notifications"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- Sessions, auth, security -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and SITE_URL.startswith("https"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# CIDRs of the load balancers / reverse proxies whose X-Forwarded-For may be believed.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- I18N ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- E-mail -------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="cartsite <noreply@localhost>")
EMAIL_TIMEOUT = _number("EMAIL_TIMEOUT", 10, read=int, at_least=1)

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "carts.auth.StoreKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["carts.auth.IsStoreStaff"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["cartsite.parsers.BoundedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "cartsite.negotiation.ApiContentNegotiation",
    "EXCEPTION_HANDLER": "cartsite.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cartsite API",
    "DESCRIPTION": "Server-side carts, tracking events, Stripe checkout and abandoned-cart recovery.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
}

# Paths that answer the JSON error envelope instead of HTML pages.
API_PATH_PREFIXES = ("/api/", "/cart/", "/admin/cart-abandonment")
# Largest request body per path prefix (first match wins); chunked bodies are held to it too.
REQUEST_BODY_LIMITS = [
    ("/api/cart-tracking/track/bulk", 1024 * 1024),
    ("/api/cart-tracking/track", 64 * 1024),
    ("/api/payments/webhook", 512 * 1024),
    ("/", 256 * 1024),
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024 + 1
# Deepest JSON nesting an API body may have (cart items with tags need 4).
API_MAX_JSON_DEPTH = _number("API_MAX_JSON_DEPTH", 16, read=int, at_least=1, at_most=100)

CORS_URLS_REGEX = r"^/(api|cart)/.*$"
CORS_ALLOW_HEADERS = ["accept", "content-type", "x-store-key", "x-request-id"]
CORS_EXPOSE_HEADERS = ["x-request-id", "retry-after"]
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Product rules (named settings, documented in .env.example) ---------------------------
# Retention runs keep data at least a day (0 would delete everything up to now), a century at most.
RETENTION_DAYS_MAX = 36_500


ABANDONED_AFTER_HOURS = _number("ABANDONED_AFTER_HOURS", 24, above=0)
CART_LIVE_WINDOW_MINUTES = _number("CART_LIVE_WINDOW_MINUTES", 30, above=0)
TRACKING_RETENTION_DAYS = _number("TRACKING_RETENTION_DAYS", 365, read=int, at_least=1, at_most=RETENTION_DAYS_MAX)
TRACKING_ARCHIVE_DIR = env("TRACKING_ARCHIVE_DIR", default=str(BASE_DIR / "var" / "archive"))
ATTRIBUTION_WINDOW_DAYS = _number("ATTRIBUTION_WINDOW_DAYS", 7, above=0)
HOLDOUT_PERCENT = _number("HOLDOUT_PERCENT", 0, at_least=0, at_most=100)

# --- Stripe -------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")

# --- WhatsApp Cloud API -------------------------------------------------------------------
WHATSAPP_API_BASE = env("WHATSAPP_API_BASE", default="https://graph.facebook.com/v21.0").rstrip("/")
WHATSAPP_PHONE_NUMBER_ID = env("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_ACCESS_TOKEN = env("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_TEMPLATE_LANGUAGE = env("WHATSAPP_TEMPLATE_LANGUAGE", default="en")

# --- Logging: one JSON object a line, e-mail addresses and phone numbers masked -----------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "cartsite.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "cartsite.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # The access line of RequestContextMiddleware replaces Django's own request lines.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # stripe's DEBUG lines carry URL-encoded request bodies (customer e-mails).
        "stripe": {"level": "WARNING"},
    },
}

# Prometheus: under gunicorn, set PROMETHEUS_MULTIPROC_DIR so /metrics sums every worker.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")

# Serve static files from the finders without a collectstatic run (local use and tests).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- carts ---
# Limits on what a storefront may put in one cart (each breach is a 400 naming the field).
CART_MAX_ITEMS = _number("CART_MAX_ITEMS", 100, read=int, at_least=1)  # distinct lines per cart
CART_MAX_ITEM_QUANTITY = _number("CART_MAX_ITEM_QUANTITY", 999, read=int, at_least=1)
CART_MAX_ITEM_PRICE = _number("CART_MAX_ITEM_PRICE", 1_000_000, read=int, at_least=1)  # in the currency's units
CART_MAX_TAGS_PER_ITEM = _number("CART_MAX_TAGS_PER_ITEM", 20, read=int, at_least=1)
CART_MAX_ID_LENGTH = _number("CART_MAX_ID_LENGTH", 128, read=int, at_least=1)  # productId, variantId, tags, category
CART_MAX_TITLE_LENGTH = _number("CART_MAX_TITLE_LENGTH", 255, read=int, at_least=1)
CART_MAX_URL_LENGTH = _number("CART_MAX_URL_LENGTH", 2048, read=int, at_least=1)
# Live carts page and GET /api/carts/active: at most this many carts per answer.
CART_LIVE_MAX_ROWS = _number("CART_LIVE_MAX_ROWS", 500, read=int, at_least=1)

# --- payments -----------------------------------------------------------------------------
# A pending checkout session lives this long (seed 004: 24 h); its Stripe session never longer.
CHECKOUT_SESSION_TTL_HOURS = _number("CHECKOUT_SESSION_TTL_HOURS", 24, above=0)
# Payment reminders: pending sessions created between these ages, with fewer attempts than this.
CHECKOUT_REMINDER_AFTER_HOURS = _number("CHECKOUT_REMINDER_AFTER_HOURS", 6, at_least=0)
CHECKOUT_REMINDER_UNTIL_HOURS = _number(
    "CHECKOUT_REMINDER_UNTIL_HOURS", 24, above=CHECKOUT_REMINDER_AFTER_HOURS, above_name="CHECKOUT_REMINDER_AFTER_HOURS"
)
CHECKOUT_REMINDER_MAX_ATTEMPTS = _number("CHECKOUT_REMINDER_MAX_ATTEMPTS", 3, read=int, at_least=0)
# Completed sessions are deleted after this many days.
CHECKOUT_RETENTION_DAYS = _number("CHECKOUT_RETENTION_DAYS", 90, read=int, at_least=1, at_most=RETENTION_DAYS_MAX)
# Reconciliation looks this far back (Stripe retries a webhook for up to three days).
STRIPE_RECONCILE_LOOKBACK_HOURS = _number("STRIPE_RECONCILE_LOOKBACK_HOURS", 72, above=0)
STRIPE_MAX_NETWORK_RETRIES = _number("STRIPE_MAX_NETWORK_RETRIES", 2, read=int, at_least=0, at_most=10)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = _number("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, read=int, at_least=1)
STRIPE_DASHBOARD_URL = env("STRIPE_DASHBOARD_URL", default="https://dashboard.stripe.com").rstrip("/")
# Where plan purchases return to when the caller gives no successUrl / cancelUrl.
CHECKOUT_SUCCESS_URL = env("CHECKOUT_SUCCESS_URL", default=f"{SITE_URL}/payments/return?status=success")
CHECKOUT_CANCEL_URL = env("CHECKOUT_CANCEL_URL", default=f"{SITE_URL}/payments/return?status=cancelled")

# --- notifications ------------------------------------------------------------------------
# Abandonment reminders (API.md "Abandonment notifications"); documented in docs/notifications.md.
NOTIFICATIONS_MAX_ATTEMPTS = _number("NOTIFICATIONS_MAX_ATTEMPTS", 3, read=int, at_least=1)
NOTIFICATIONS_FREQUENCY_CAP_HOURS = _number("NOTIFICATIONS_FREQUENCY_CAP_HOURS", 24, at_least=0)
# Carts idle for longer than this are no longer scanned by the sweep.
NOTIFICATIONS_MAX_IDLE_DAYS = _number("NOTIFICATIONS_MAX_IDLE_DAYS", 30, above=0)
NOTIFICATIONS_SWEEP_LOCK_SECONDS = _number("NOTIFICATIONS_SWEEP_LOCK_SECONDS", 3600, read=int, at_least=1)
# The sweep reads its next pages of carts on a second connection while it claims the current one.
NOTIFICATIONS_SWEEP_READ_AHEAD = env.bool("NOTIFICATIONS_SWEEP_READ_AHEAD", default=True)
RECOVERY_LINK_MAX_AGE_DAYS = _number("RECOVERY_LINK_MAX_AGE_DAYS", 30, above=0)
WHATSAPP_TIMEOUT_SECONDS = _number("WHATSAPP_TIMEOUT_SECONDS", 10, above=0)

# --- reliability --------------------------------------------------------------------------
# Per-store abuse caps (docs/reliability.md); 0 turns a cap off.
# New carts per store per clock hour (carts/caps.py; Redis down: fail open).
CARTS_PER_STORE_PER_HOUR = _number("CARTS_PER_STORE_PER_HOUR", 10_000, read=int, at_least=0)
# Reminders per store, per channel, per UTC day (notifications/caps.py; Redis down: none sent).
MESSAGES_PER_STORE_PER_DAY = _number("MESSAGES_PER_STORE_PER_DAY", 5_000, read=int, at_least=0)
