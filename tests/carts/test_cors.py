"""CORS for storefront origins: the answer for an allowed origin comes from the shared cache, and
every change to an origin reaches the next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from carts.models import Store, StoreOrigin
from tests.fakes.redis_down import DEAD_REDIS

pytestmark = pytest.mark.django_db(transaction=True)

TRACK = "/api/cart-tracking/track"
SHOP = "https://myshop.example"  # configured on the `store` fixture


def track_from(client, origin):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(TRACK, {"storeName": "myshop"}, format="json", HTTP_ORIGIN=origin)
    assert response.status_code == 200, response.content
    origin_queries = [q["sql"] for q in queries.captured_queries if "carts_storeorigin" in q["sql"]]
    return response.get("Access-Control-Allow-Origin"), origin_queries


def test_an_allowed_origin_is_read_from_the_database_once_then_from_the_cache(storefront_client):
    first = track_from(storefront_client, SHOP)
    second = track_from(storefront_client, SHOP)
    third = track_from(storefront_client, SHOP.upper() + "/")

    assert first[0] == SHOP and len(first[1]) == 1
    assert second == (SHOP, [])
    # The header echoes what the browser sent; the check is on the normalised origin.
    assert third == (SHOP.upper() + "/", [])


def test_an_origin_that_is_not_configured_is_refused_and_an_added_one_works_at_once(storefront_client, store):
    refused = track_from(storefront_client, "https://new.example")
    StoreOrigin.objects.create(store=store, origin="https://new.example")
    allowed = track_from(storefront_client, "https://new.example")

    assert refused[0] is None
    assert allowed[0] == "https://new.example"


def test_removing_an_origin_in_the_admin_refuses_it_on_the_next_request(storefront_client, store, client, superuser):
    assert track_from(storefront_client, SHOP)[0] == SHOP  # now cached
    row = StoreOrigin.objects.get(store=store)
    client.force_login(superuser)

    response = client.post(
        f"/admin/carts/store/{store.pk}/change/",
        {
            "name": store.name,
            "currency": store.currency,
            "recovery_url": "",
            "origins-TOTAL_FORMS": "1",
            "origins-INITIAL_FORMS": "1",
            "origins-0-id": str(row.pk),
            "origins-0-store": str(store.pk),
            "origins-0-origin": SHOP,
            "origins-0-DELETE": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not StoreOrigin.objects.exists()
    assert track_from(storefront_client, SHOP)[0] is None


def test_editing_an_origin_refuses_the_old_value_and_allows_the_new_one(storefront_client, store):
    assert track_from(storefront_client, SHOP)[0] == SHOP
    row = StoreOrigin.objects.get(store=store)
    row.origin = "https://renamed.example"
    row.save()

    assert track_from(storefront_client, SHOP)[0] is None
    assert track_from(storefront_client, "https://renamed.example")[0] == "https://renamed.example"


def test_deleting_the_store_refuses_its_origins(store, other_store_keys, anonymous_client):
    preflight = {
        "HTTP_ORIGIN": SHOP,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type, x-store-key",
    }
    before = anonymous_client.options(TRACK, **preflight)
    Store.objects.filter(pk=store.pk).delete()
    after = anonymous_client.options(TRACK, **preflight)

    assert before["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Origin" not in after


def test_with_the_cache_unreachable_the_database_answers(storefront_client, caplog):
    with override_settings(CACHES=DEAD_REDIS):
        allowed = track_from(storefront_client, SHOP)
        refused = track_from(storefront_client, "https://elsewhere.example")

    assert allowed[0] == SHOP and len(allowed[1]) == 1
    assert refused[0] is None
    # One failed cache call per request, not one per cache operation.
    warnings = [record.getMessage() for record in caplog.records if record.name == "carts.cors"]
    assert warnings == ["origin cache unavailable"] * 2
