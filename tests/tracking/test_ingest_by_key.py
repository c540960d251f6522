"""POST /api/cart-tracking/track with a store key, as a web request runs it (autocommit): the key
is checked by the insert itself, and every refusal is the answer the usual path gives."""

import json

import pytest
from rest_framework.test import APIClient

from carts.services import store_key_revoke
from tracking.models import CartTrackingEvent

pytestmark = pytest.mark.django_db(transaction=True)

TRACK = "/api/cart-tracking/track"


def post(key, body):
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=key)
    return client.post(TRACK, data=json.dumps(body), content_type="application/json")


def test_the_event_is_stored_for_the_keys_store(store_keys):
    response = post(store_keys.secret_key, {"storeName": "MyShop", "productId": "p1"})

    assert response.status_code == 200
    row = CartTrackingEvent.objects.get(pk=response.json()["data"]["id"])
    assert row.store_id == store_keys.store.pk


def test_a_revoked_key_stores_nothing_and_is_401(store_keys):
    store_key_revoke(raw_key=store_keys.publishable_key)

    response = post(store_keys.publishable_key, {"storeName": "myshop", "productId": "p1"})

    assert response.status_code == 401
    assert not CartTrackingEvent.objects.exists()


def test_an_unknown_key_with_an_invalid_body_is_401_not_400(store_keys):
    assert post("pk_unknown", {"productId": "p1"}).status_code == 401


def test_a_valid_key_with_an_invalid_body_is_400(store_keys):
    response = post(store_keys.publishable_key, {"productId": "p1"})

    assert response.status_code == 400
    assert response.json()["message"] == "storeName is required"


def test_another_stores_name_is_403_and_stores_nothing(store_keys, other_store_keys):
    response = post(store_keys.publishable_key, {"storeName": other_store_keys.store.name, "productId": "p1"})

    assert response.status_code == 403
    assert not CartTrackingEvent.objects.exists()


def test_a_taken_id_falls_back_to_the_usual_path_with_a_new_id(store_keys, monkeypatch):
    first = post(store_keys.publishable_key, {"storeName": "myshop", "productId": "p1"}).json()["data"]["id"]
    ids = iter([first, "cart-event-1700000000000-abcdefg"])
    monkeypatch.setattr("tracking.services.event_id_new", lambda at_ms=None: next(ids))

    response = post(store_keys.publishable_key, {"storeName": "myshop", "productId": "p2"})

    assert response.status_code == 200
    assert response.json()["data"]["id"] == "cart-event-1700000000000-abcdefg"
    assert CartTrackingEvent.objects.count() == 2
