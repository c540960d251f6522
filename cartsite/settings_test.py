"""Test settings: the machine's real PostgreSQL and Redis, never SQLite or a fake cache.

Defaults point at the local services; CI and developers may override them by environment.
"""

import os
import uuid

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("DEMO_MODE", "false")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
# A logical database of the tests' own: a local server's or a load test's keys on db 0 would
# otherwise sit in every scan of the per-test cleanup (tests/conftest.py). The benchmarks use db 15.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_test_secret")
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_cartsite")
# Tasks run inline unless a test starts a real worker; the broker is still the real Redis.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# One key space per test run, so parallel runs on one Redis never see each other's counters.
os.environ.setdefault("CACHE_KEY_PREFIX", f"test-{uuid.uuid4().hex[:12]}")

from cartsite.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
TRACKING_ARCHIVE_DIR = os.environ.get("TRACKING_ARCHIVE_DIR", "/tmp/cartsite-test-archive")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
