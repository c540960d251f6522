"""The tracking rate limiter itself: one Redis round trip for both windows, fixed windows with a
Retry-After, and the same counting through Django's cache API when Redis is not configured."""

import json
import time

import pytest
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from cartsite.client_ip import rate_limit_subject
from tests.fakes.redis_down import DEAD_REDIS
from tests.tracking.conftest import address_with_fresh_window
from tracking import ratelimit
from tracking.ratelimit import rate_parse, tracking_rate_check, window_end

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit-tests"}}


def request_from(address):
    return RequestFactory().post("/api/cart-tracking/track", REMOTE_ADDR=address)


def test_both_windows_are_counted_in_one_redis_round_trip(redis_round_trips):
    request = request_from(address_with_fresh_window())
    tracking_rate_check(request)  # loads the script (once per Redis server)
    redis_round_trips.clear()

    decision = tracking_rate_check(request)

    assert decision.limited is False and decision.available is True
    assert len(redis_round_trips) == 1


def test_counters_expire_after_their_window_and_are_shared_through_redis():
    address = address_with_fresh_window()
    subject = rate_limit_subject(address)
    tracking_rate_check(request_from(address))
    tracking_rate_check(request_from(address))

    cache = caches["default"]
    client = cache.client.get_client(write=True)
    now = int(time.time())
    for rate in ratelimit.RATES:
        limit, period = rate_parse(rate)
        key = cache.make_key(f"rl:{ratelimit.GROUP}:{limit}/{period}s:{subject}:{window_end(subject, period, now)}")
        assert int(client.get(key)) == 2
        assert 0 < client.ttl(key) <= period + ratelimit.EXPIRATION_FUDGE


def test_the_first_rate_over_its_limit_is_reported_with_the_time_left_in_its_window(monkeypatch):
    monkeypatch.setattr(ratelimit, "RATES", ("3/m", "100/h"))
    address = address_with_fresh_window()
    request = request_from(address)

    decisions = [tracking_rate_check(request) for _ in range(4)]

    assert [d.limited for d in decisions] == [False, False, False, True]
    last = decisions[-1]
    assert last.rate == "3/m"
    expected = window_end(rate_limit_subject(address), 60, int(time.time())) - int(time.time())
    assert abs(last.retry_after - max(1, expected)) <= 1
    assert 1 <= last.retry_after <= 60


def test_the_window_edges_are_django_ratelimits():
    # the fixture address_with_fresh_window reasons with django-ratelimit's windows
    from django_ratelimit.core import _get_window

    for subject in ("198.51.100.7", "2001:db8:1::/64", "unknown"):
        for period in (60, 3600):
            assert window_end(subject, period, int(time.time())) == _get_window(subject, period)


@pytest.mark.parametrize(("rate", "parsed"), [("100/m", (100, 60)), ("1000/h", (1000, 3600)), ("5/10s", (5, 10))])
def test_rates_are_parsed(rate, parsed):
    assert rate_parse(rate) == parsed


@override_settings(CACHES=LOCMEM)
def test_without_redis_the_limit_is_counted_in_djangos_cache(storefront_client, fresh_address):
    caches["default"].clear()

    statuses = [
        storefront_client.post(
            "/api/cart-tracking/track",
            data=json.dumps({"storeName": "myshop"}),
            content_type="application/json",
            REMOTE_ADDR=fresh_address,
        )
        for _ in range(101)
    ]

    assert [r.status_code for r in statuses] == [200] * 100 + [429]
    assert 1 <= int(statuses[-1]["Retry-After"]) <= 60


@override_settings(RATELIMIT_ENABLE=False)
def test_limits_switched_off_count_nothing(redis_round_trips):
    decision = tracking_rate_check(request_from("198.51.100.9"))

    assert decision.limited is False and decision.available is True
    assert redis_round_trips == []


@override_settings(CACHES=DEAD_REDIS)
def test_redis_down_fails_open_unless_told_otherwise(settings):
    assert tracking_rate_check(request_from("198.51.100.9")).available is False

    settings.RATELIMIT_FAIL_OPEN = False
    with pytest.raises(Exception):  # noqa: B017 (whatever the Redis client raises)
        tracking_rate_check(request_from("198.51.100.9"))
