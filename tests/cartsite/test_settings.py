"""Settings the process refuses to start with (cartsite/settings.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def settings_load(**env) -> subprocess.CompletedProcess:
    """Loads the production settings in a fresh interpreter, as a web worker or a Celery worker does."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TEST_DATABASE"))}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('loaded')"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "cartsite.settings", "SECRET_KEY": "s" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("TRACKING_RETENTION_DAYS", "0"), ("TRACKING_RETENTION_DAYS", "-7"), ("CHECKOUT_RETENTION_DAYS", "36501")],
)
def test_a_retention_that_would_delete_everything_is_refused_at_startup(name, value):
    # when the settings are loaded with a retention of no day at all, or past a century
    loaded = settings_load(**{name: value})

    # then the process stops at once and says which setting, instead of the nightly run failing
    assert loaded.returncode != 0
    assert f"ImproperlyConfigured: {name} must be between 1 and 36500 days, not {value}." in loaded.stderr


def test_the_retention_settings_take_a_day_and_a_century():
    # when the settings are loaded at both ends of the range
    loaded = settings_load(TRACKING_RETENTION_DAYS="1", CHECKOUT_RETENTION_DAYS="36500")

    # then they load
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "loaded"
