"""/cart/sync and /api/carts/update with a store key, as a web request runs them (autocommit):
the key is checked by the write itself, one statement, and every refusal is the one the usual
path gives (401 before 400, a named store's 403 before 400, the creation cap's 429)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from carts.models import Cart
from carts.services import store_key_revoke

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = [{"productId": "sku-1", "quantity": 2, "price": 12.25}]


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=key)
    return client


def test_a_first_sync_and_an_update_are_one_statement_each(store_keys):
    client = client_with(store_keys.publishable_key)

    with CaptureQueriesContext(connection) as created_queries:
        created = client.post("/cart/sync", {"session_token": "s-1", "items": ITEMS}, format="json")
    with CaptureQueriesContext(connection) as updated_queries:
        updated = client.post("/cart/sync", {"session_token": "s-1", "items": ITEMS * 2}, format="json")

    assert created.status_code == 201
    assert updated.status_code == 200
    assert created.json()["cart_id"] == updated.json()["cart_id"]
    assert len(created_queries) == 1
    assert len(updated_queries) == 1
    cart = Cart.objects.get(pk=created.json()["cart_id"])
    assert (cart.store_id, cart.currency, cart.item_count) == (store_keys.store.pk, "EUR", 4)


def test_a_sent_currency_is_kept_and_the_secret_key_works_too(store_keys):
    response = client_with(store_keys.secret_key).post(
        "/api/carts/sync", {"session_token": "s-2", "items": ITEMS, "currency": "usd"}, format="json"
    )

    assert response.status_code == 201
    assert Cart.objects.get(pk=response.json()["cart_id"]).currency == "USD"


def test_a_revoked_key_writes_nothing_and_is_401(store_keys):
    store_key_revoke(raw_key=store_keys.publishable_key)

    response = client_with(store_keys.publishable_key).post(
        "/cart/sync", {"session_token": "s-3", "items": ITEMS}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or revoked API key"
    assert not Cart.objects.exists()


def test_an_unknown_key_with_an_invalid_body_is_401_not_400(store_keys):
    response = client_with("pk_unknown").post("/cart/sync", {"items": "nope"}, format="json")

    assert response.status_code == 401


def test_a_valid_key_with_an_invalid_body_is_400(store_keys):
    response = client_with(store_keys.publishable_key).post("/cart/sync", {"items": ITEMS}, format="json")

    assert response.status_code == 400
    assert response.json()["details"]["field"] == "session_token"


def test_another_store_named_is_403_before_the_body_is_read(store_keys, other_store_keys):
    response = client_with(store_keys.publishable_key).post(
        f"/cart/sync?store={other_store_keys.store.name}", {"items": "nope"}, format="json"
    )

    assert response.status_code == 403


def test_a_creation_over_the_cap_is_429_and_leaves_no_cart(store_keys, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 1
    client = client_with(store_keys.publishable_key)
    assert client.post("/cart/sync", {"session_token": "cap-1", "items": ITEMS}, format="json").status_code == 201

    refused = client.post("/cart/sync", {"session_token": "cap-2", "items": ITEMS}, format="json")
    updated = client.post("/cart/sync", {"session_token": "cap-1", "items": ITEMS * 2}, format="json")

    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert updated.status_code == 200
    assert list(Cart.objects.values_list("session_token", flat=True)) == ["cap-1"]


def test_the_seed_002_update_writes_the_same_cart(store_keys):
    client = client_with(store_keys.publishable_key)

    response = client.post(
        "/api/carts/update", {"sessionId": "s-4", "cart": {"items": ITEMS, "total": 1, "itemCount": 1}}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert Cart.objects.get(session_token="s-4").item_count == 2


def test_staff_take_the_usual_path(staff_client, store):
    response = staff_client.post(
        f"/cart/sync?store={store.name}", {"session_token": "s-5", "items": ITEMS}, format="json"
    )

    assert response.status_code == 201
    assert Cart.objects.get(session_token="s-5").store == store
