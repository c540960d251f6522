"""Per-store caps: new carts per hour and reminders per day, counted in the real Redis."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from carts.caps import store_cart_creation_allow, store_cart_creation_check
from carts.models import Cart
from cartsite.errors import RateLimited
from notifications.caps import (
    store_message_budget_left,
    store_message_budget_return_batch,
    store_message_budget_take,
    store_message_budget_take_batch,
)
from tests.fakes.redis_down import DEAD_REDIS

HOUR_START = 1_800_000_000.0 - (1_800_000_000 % 3600)  # the start of a clock hour
# The counters on a cache other than Redis (local runserver without REDIS_URL).
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "caps-tests"}}


@pytest.mark.parametrize("caches", [None, LOCAL_CACHE], ids=["redis", "another cache"])
def test_cart_creation_is_allowed_up_to_the_hourly_cap(store, other_store, settings, caches):
    if caches is not None:
        settings.CACHES = caches
    settings.CARTS_PER_STORE_PER_HOUR = 3

    answers = [store_cart_creation_allow(store=store, now=HOUR_START + i) for i in range(5)]

    assert answers == [True, True, True, False, False]
    assert store_cart_creation_allow(store=other_store, now=HOUR_START) is True
    # The next clock hour starts a new count.
    assert store_cart_creation_allow(store=store, now=HOUR_START + 3600) is True


def test_cart_creation_check_answers_429_until_the_hour_ends(store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 1
    store_cart_creation_check(store=store, now=HOUR_START + 100)

    with pytest.raises(RateLimited) as refused:
        store_cart_creation_check(store=store, now=HOUR_START + 600)

    assert refused.value.status == 429
    assert refused.value.code == "RATE_LIMITED"
    assert refused.value.headers == {"Retry-After": "3000"}


def test_a_zero_cart_cap_means_no_cap(store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 0

    assert all(store_cart_creation_allow(store=store, now=HOUR_START) for _ in range(50))


def test_cart_creation_cap_fails_open_when_redis_is_down(store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 1

    with override_settings(CACHES=DEAD_REDIS):
        answers = [store_cart_creation_allow(store=store, now=HOUR_START) for _ in range(3)]

    assert answers == [True, True, True]


def test_a_new_cart_is_counted_in_one_redis_round_trip_and_an_update_in_none(
    storefront_client, store, settings, redis_round_trips
):
    settings.CARTS_PER_STORE_PER_HOUR = 100
    item = [{"productId": "sku-1", "quantity": 1, "price": 5}]
    storefront_client.post("/cart/sync", {"session_token": "s-warm", "items": item}, format="json")  # loads the script
    redis_round_trips.clear()

    created = storefront_client.post("/cart/sync", {"session_token": "s-new", "items": item}, format="json")
    sent_for_creation = list(redis_round_trips)
    redis_round_trips.clear()
    updated = storefront_client.post("/cart/sync", {"session_token": "s-new", "items": item * 2}, format="json")

    assert (created.status_code, updated.status_code) == (201, 200)
    assert len(sent_for_creation) == 1
    assert b"EVALSHA" in sent_for_creation[0][0]
    assert redis_round_trips == []


def test_the_hooked_sync_refuses_new_carts_over_the_cap_but_keeps_updating(storefront_client, store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 2
    item = [{"productId": "sku-1", "quantity": 1, "price": 5}]

    created = [
        storefront_client.post("/cart/sync", {"session_token": f"s-{i}", "items": item}, format="json")
        for i in range(3)
    ]
    update = storefront_client.post("/cart/sync", {"session_token": "s-0", "items": item * 2}, format="json")

    assert [r.status_code for r in created] == [201, 201, 429]
    assert created[2].json()["code"] == "RATE_LIMITED"
    assert int(created[2]["Retry-After"]) >= 1
    assert update.status_code == 200
    assert sorted(Cart.objects.filter(store=store).values_list("session_token", flat=True)) == ["s-0", "s-1"]


def test_message_budget_is_per_store_channel_and_day(store, other_store, settings):
    settings.MESSAGES_PER_STORE_PER_DAY = 2
    today = datetime(2026, 11, 21, 23, 59, tzinfo=UTC)

    email = [store_message_budget_take(store=store, channel="email", now=today) for _ in range(3)]
    whatsapp = store_message_budget_take(store=store, channel="whatsapp", now=today)
    other = store_message_budget_take(store=other_store, channel="email", now=today)
    tomorrow = store_message_budget_take(store=store, channel="email", now=today + timedelta(minutes=2))

    assert email == [True, True, False]
    assert (whatsapp, other, tomorrow) == (True, True, True)
    assert store_message_budget_left(store=store, channel="email", now=today) == 0
    assert store_message_budget_left(store=store, channel="whatsapp", now=today) == 1


@pytest.mark.parametrize("caches", [None, LOCAL_CACHE], ids=["redis", "another cache"])
def test_message_budget_given_back_in_one_batch_goes_to_the_counters_that_exist(store, other_store, settings, caches):
    # given a budget of 5, of which the store took 3 e-mails and 2 WhatsApp messages today and the
    # other store 1 e-mail (its WhatsApp counter was never started), on Redis or another cache
    if caches is not None:
        settings.CACHES = caches
    settings.MESSAGES_PER_STORE_PER_DAY = 5
    today = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    wanted = {(store.pk, "email"): 3, (store.pk, "whatsapp"): 2, (other_store.pk, "email"): 1}
    assert store_message_budget_take_batch(wanted=wanted, now=today) == wanted

    # when some are given back, one for a counter that does not exist (first), nothing for one
    store_message_budget_return_batch(
        returned={
            (other_store.pk, "whatsapp"): 1,
            (store.pk, "email"): 2,
            (store.pk, "whatsapp"): 0,
            (other_store.pk, "email"): 1,
        },
        now=today,
    )

    # then each existing counter got its own back, and the missing one was not started below zero
    left = {
        (s.pk, channel): store_message_budget_left(store=s, channel=channel, now=today)
        for s in (store, other_store)
        for channel in ("email", "whatsapp")
    }
    assert left == {
        (store.pk, "email"): 4,
        (store.pk, "whatsapp"): 3,
        (other_store.pk, "email"): 5,
        (other_store.pk, "whatsapp"): 5,
    }


def test_a_zero_message_budget_means_no_budget(store, settings):
    settings.MESSAGES_PER_STORE_PER_DAY = 0

    assert all(store_message_budget_take(store=store, channel="email") for _ in range(20))
    assert store_message_budget_left(store=store, channel="email") is None


def test_message_budget_fails_closed_when_redis_is_down(store, settings):
    settings.MESSAGES_PER_STORE_PER_DAY = 100

    with override_settings(CACHES=DEAD_REDIS):
        taken = store_message_budget_take(store=store, channel="whatsapp")

    assert taken is False
