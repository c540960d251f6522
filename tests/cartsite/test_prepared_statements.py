"""The hot paths' statements are prepared once per connection (cartsite.db.prepared_cursor), and
not at all with DATABASE_PREPARED_STATEMENTS off."""

import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from carts.models import Cart
from tracking.models import CartTrackingEvent

pytestmark = pytest.mark.django_db(transaction=True)

TRACK = "/api/cart-tracking/track"
SYNC = "/cart/sync"


def post(key, path, body):
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=key)
    return client.post(path, data=json.dumps(body), content_type="application/json")


def prepared_on_this_connection(table: str) -> list[str]:
    """The prepared statements of the test's connection (the one the in-process requests use)
    that write `table`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f'%INTO "{table}"%'])
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def fresh_connection():
    connection.close()
    yield
    connection.close()


def test_a_tracking_event_is_prepared_once_and_reused(store_keys, fresh_connection):
    first = post(store_keys.publishable_key, TRACK, {"storeName": "MyShop", "productId": "p1"})
    second = post(store_keys.publishable_key, TRACK, {"storeName": "MyShop", "productId": "p2"})

    assert (first.status_code, second.status_code) == (200, 200)
    assert CartTrackingEvent.objects.filter(store=store_keys.store).count() == 2
    [statement] = prepared_on_this_connection(CartTrackingEvent._meta.db_table)
    assert statement.startswith("WITH keyed AS (")
    assert "$1" in statement  # bound by the server, not quoted into the text


def test_a_cart_sync_is_prepared_once_per_shape(store_keys, fresh_connection):
    created = post(store_keys.publishable_key, SYNC, {"session_token": "s1", "items": []})
    updated = post(store_keys.publishable_key, SYNC, {"session_token": "s1", "items": []})
    other = post(store_keys.publishable_key, SYNC, {"session_token": "s2", "items": []})

    assert (created.status_code, updated.status_code, other.status_code) == (201, 200, 201)
    assert Cart.objects.filter(store=store_keys.store).count() == 2
    assert len(prepared_on_this_connection(Cart._meta.db_table)) == 1


def test_nothing_is_prepared_when_turned_off(store_keys, fresh_connection, monkeypatch):
    options = {k: v for k, v in connection.settings_dict["OPTIONS"].items() if k != "prepare_threshold"}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)

    track = post(store_keys.publishable_key, TRACK, {"storeName": "MyShop", "productId": "p1"})
    sync = post(store_keys.publishable_key, SYNC, {"session_token": "s1", "items": []})

    assert (track.status_code, sync.status_code) == (200, 201)
    assert CartTrackingEvent.objects.count() == 1
    assert Cart.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
