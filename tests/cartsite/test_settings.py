"""Settings the process refuses to start with (cartsite/settings.py, `_number`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def settings_load(*names: str, **env) -> subprocess.CompletedProcess:
    """Loads the production settings in a fresh interpreter, as a web worker or a Celery worker
    does, and prints `loaded` then the value of each of `names`."""
    printed = "".join(f"; print(repr(settings.{name}))" for name in names)
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TEST_DATABASE"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django; django.setup(); from django.conf import settings; print('loaded'){printed}",
        ],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "cartsite.settings", "SECRET_KEY": "s" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TRACKING_RETENTION_DAYS", "0", "between 1 and 36500, not 0."),
        ("TRACKING_RETENTION_DAYS", "-7", "between 1 and 36500, not -7."),
        ("CHECKOUT_RETENTION_DAYS", "36501", "between 1 and 36500, not 36501."),
        ("HOLDOUT_PERCENT", "150", "between 0 and 100, not 150.0."),
        ("ABANDONED_AFTER_HOURS", "0", "greater than 0, not 0.0."),
        ("RECOVERY_LINK_MAX_AGE_DAYS", "-1", "greater than 0, not -1.0."),
        ("NOTIFICATIONS_MAX_ATTEMPTS", "0", "at least 1, not 0."),
        ("MESSAGES_PER_STORE_PER_DAY", "-5", "at least 0, not -5."),
        ("CART_MAX_ITEMS", "0", "at least 1, not 0."),
        ("CHECKOUT_REMINDER_UNTIL_HOURS", "3", "greater than CHECKOUT_REMINDER_AFTER_HOURS (6), not 3.0."),
        ("ABANDONED_AFTER_HOURS", "inf", "a finite number, not 'inf'."),
        ("HOLDOUT_PERCENT", "nan", "a finite number, not 'nan'."),
        ("ABANDONED_AFTER_HOURS", "24h", "a number, not '24h'."),
        ("CART_MAX_ITEMS", "1e3", "a whole number, not '1e3'."),
        ("DATABASE_CONNECT_TIMEOUT", "0", "at least 1, not 0."),
        ("REDIS_SOCKET_TIMEOUT", "0", "greater than 0, not 0.0."),
        ("WHATSAPP_TIMEOUT_SECONDS", "-1", "greater than 0, not -1.0."),
        ("STRIPE_WEBHOOK_TOLERANCE_SECONDS", "0", "at least 1, not 0."),
        ("STRIPE_MAX_NETWORK_RETRIES", "50", "between 0 and 10, not 50."),
        ("API_MAX_JSON_DEPTH", "0", "between 1 and 100, not 0."),
        ("CONN_MAX_AGE", "-1", "at least 0, not -1."),
    ],
)
def test_a_number_setting_out_of_its_range_is_refused_at_startup(name, value, expected):
    # when the settings are loaded with a rule that would quietly change what the product does
    # (every event deleted, every cart held out, no cart ever abandoned, no reminder after 6 h)
    loaded = settings_load(**{name: value})

    # then the process stops at once and names the setting and its range
    assert loaded.returncode != 0
    assert f"ImproperlyConfigured: {name} must be {expected}" in loaded.stderr


def test_the_rules_take_the_ends_of_their_ranges():
    # when the settings are loaded at the ends of the ranges (a cap of 0 turns it off)
    loaded = settings_load(
        TRACKING_RETENTION_DAYS="1",
        CHECKOUT_RETENTION_DAYS="36500",
        HOLDOUT_PERCENT="100",
        MESSAGES_PER_STORE_PER_DAY="0",
        CHECKOUT_REMINDER_AFTER_HOURS="0",
    )

    # then they load
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "loaded"


def test_a_rule_is_read_as_python_reads_a_number():
    # when a rule is written with spaces around it or in scientific notation
    loaded = settings_load(
        "ABANDONED_AFTER_HOURS", "CART_MAX_ITEMS", ABANDONED_AFTER_HOURS="1e1", CART_MAX_ITEMS=" 40 "
    )

    # then it is that number (django-environ's own float would have read 1e1 as 11)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ["loaded", "10.0", "40"]
