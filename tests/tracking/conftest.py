"""Fixtures of the tracking tests: an address with a fresh rate-limit window, and JSON log capture."""

import io
import logging
import time

import pytest
from django_ratelimit.core import _get_window

from cartsite.client_ip import rate_limit_subject
from cartsite.logging import JsonFormatter, RequestContextFilter


def address_with_fresh_window(prefix: str = "198.51.100.", min_left: float = 25.0, ipv6: bool = False) -> str:
    """An IPv4 address whose minute and hour windows (django-ratelimit's fixed windows, offset
    per counted value) both have at least `min_left` seconds to run, so a test that sends 101
    requests cannot straddle a window edge and see its counter reset."""
    for last in range(1, 255):
        address = f"2001:db8:{last:x}::1" if ipv6 else f"{prefix}{last}"
        subject = rate_limit_subject(address)
        now = time.time()
        if _get_window(subject, 60) - now > min_left and _get_window(subject, 3600) - now > min_left:
            return address
    raise AssertionError("no address with a fresh window")


@pytest.fixture
def fresh_address():
    return address_with_fresh_window()


@pytest.fixture
def json_logs():
    """Everything logged during the test, as the production JSON lines (masking included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)


@pytest.fixture
def make_event(store):
    """Creates an event row directly (the ingestion path is tested in test_api)."""
    from django.utils import timezone

    from tracking.models import CartTrackingEvent, event_id_new

    def factory(**fields):
        at = fields.pop("created_at", None) or timezone.now()
        row_store = fields.pop("store", store)
        values = {
            "id": event_id_new(int(at.timestamp() * 1000)),
            "store": row_store,
            "store_name": row_store.name,
            "created_at": at,
            "updated_at": at,
        }
        values.update(fields)
        return CartTrackingEvent.objects.create(**values)

    return factory
