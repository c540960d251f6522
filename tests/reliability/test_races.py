"""Races with real threads against PostgreSQL: erasure against syncs and against itself, and two
bulk tracking calls at once. (20 racing first syncs: tests/carts; two racing webhooks: tests/payments.)"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from carts.models import Cart
from notifications.models import Suppression
from tracking.models import EVENT_ID_PATTERN, CartTrackingEvent

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "jane.doe@example.com"
PHONE = "+4915112345678"


def run_together(*targets) -> list:
    """Runs each target in its own thread, all released at once by a barrier; returns results."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list = []

    def runner(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results


def client_with(**credentials) -> APIClient:
    client = APIClient()
    client.credentials(**credentials)
    return client


def test_erasures_racing_syncs_and_each_other_leave_no_contact_data(store_keys, store):
    customer = {"email": EMAIL, "phone": PHONE, "first_name": "Jane", "marketing_consent": {"email": True}}
    tokens = [f"s-jane-{i}" for i in range(6)]
    storefront = client_with(HTTP_X_STORE_KEY=store_keys.publishable_key)
    for token in tokens:
        item = {"productId": "sku-0", "quantity": 1, "price": 5}
        first = storefront.post(
            "/cart/sync", {"session_token": token, "items": [item], "customer": customer}, format="json"
        )
        assert first.status_code == 201

    def syncs(token):
        def run():
            client = client_with(HTTP_X_STORE_KEY=store_keys.publishable_key)
            return [
                client.post(
                    "/cart/sync",
                    {"session_token": token, "items": [{"productId": f"sku-{n}", "quantity": n, "price": 5}]},
                    format="json",
                ).status_code
                for n in range(1, 6)
            ]

        return run

    def erasure():
        merchant = client_with(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
        response = merchant.post("/api/privacy/erasure", {"email": EMAIL}, format="json")
        return response.status_code, response.json()["data"]["carts"]

    results = run_together(erasure, erasure, *(syncs(token) for token in tokens))

    (status_one, carts_one), (status_two, carts_two) = results[:2]
    assert (status_one, status_two) == (200, 200)
    # Each cart was erased by exactly one of the two (they lock the same rows in the same order).
    assert carts_one + carts_two == len(tokens)
    assert all(statuses == [200] * 5 for statuses in results[2:])
    carts = Cart.objects.filter(store=store)
    assert carts.count() == len(tokens)
    assert list(carts.exclude(email="", phone="", first_name="", email_consent=False)) == []
    # Every sync landed: each cart holds the last items its session sent.
    assert sorted(carts.values_list("item_count", flat=True)) == [5] * len(tokens)
    assert Suppression.objects.filter(store=store).count() == 2


def test_two_bulk_calls_at_once_store_every_event_with_unique_ids(store_keys):
    events = [{"storeName": "MyShop", "productId": f"sku-{i}", "sessionId": f"s-{i % 7}"} for i in range(500)]

    def bulk():
        client = client_with(HTTP_X_STORE_KEY=store_keys.publishable_key)
        response = client.post("/api/cart-tracking/track/bulk", {"events": events}, format="json")
        return response.status_code, response.json()["data"]

    (status_one, one), (status_two, two) = run_together(bulk, bulk)

    assert (status_one, status_two) == (200, 200)
    assert (one["accepted"], two["accepted"], one["rejected"], two["rejected"]) == (500, 500, [], [])
    ids = one["ids"] + two["ids"]
    assert len(set(ids)) == 1000
    assert all(EVENT_ID_PATTERN.match(event_id) for event_id in ids)
    assert set(CartTrackingEvent.objects.values_list("id", flat=True)) == set(ids)
