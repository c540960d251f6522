"""Abuse limits (OWASP API4: unrestricted resource consumption): every public body is bounded in
size, items, events, string lengths and nesting depth, and a breach is a 4xx, never a 500."""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from carts.models import Cart
from tracking.models import CartTrackingEvent

ITEM = {"productId": "sku-1", "quantity": 1, "price": 5}


@pytest.fixture
def clients(store_keys, staff_client):
    storefront = APIClient()
    storefront.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
    merchant = APIClient()
    merchant.credentials(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
    return {"storefront": storefront, "merchant": merchant, "staff": staff_client, "stripe": APIClient()}


JSON_DOORS = [
    ("storefront", "/cart/sync"),
    ("storefront", "/api/carts/sync"),
    ("storefront", "/api/carts/update"),
    ("storefront", "/api/cart-tracking/track"),
    ("storefront", "/api/cart-tracking/track/bulk"),
    ("merchant", "/api/payments/create-checkout"),
    ("merchant", "/api/payments/checkout-session"),
    ("merchant", "/api/privacy/erasure"),
    ("staff", "/admin/cart-abandonment/process"),
    ("stripe", "/api/payments/webhook"),
]


def limit_for(path: str) -> int:
    return next(limit for prefix, limit in settings.REQUEST_BODY_LIMITS if path.startswith(prefix))


@pytest.mark.parametrize(("caller", "path"), JSON_DOORS)
def test_a_body_over_the_path_limit_is_413_before_anything_reads_it(clients, caller, path):
    limit = limit_for(path)
    body = json.dumps({"padding": "x" * limit})

    response = clients[caller].post(path, data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "status": "error",
        "error": "Payload Too Large",
        "message": f"Request body is larger than {limit} bytes",
        "code": "PAYLOAD_TOO_LARGE",
    }


def test_the_limits_are_the_documented_ones():
    assert [(prefix, limit_for(prefix)) for prefix, _ in settings.REQUEST_BODY_LIMITS] == [
        ("/api/cart-tracking/track/bulk", 1024 * 1024),
        ("/api/cart-tracking/track", 64 * 1024),
        ("/api/payments/webhook", 512 * 1024),
        ("/", 256 * 1024),
    ]


def test_a_cart_holds_at_most_the_item_limit(storefront_client, store):
    over = storefront_client.post(
        "/cart/sync",
        {"session_token": "s-1", "items": [ITEM] * (settings.CART_MAX_ITEMS + 1)},
        format="json",
    )
    at_limit = storefront_client.post(
        "/cart/sync", {"session_token": "s-1", "items": [ITEM] * settings.CART_MAX_ITEMS}, format="json"
    )

    assert over.status_code == 400
    assert over.json()["details"]["field"] == "items"
    assert at_limit.status_code == 201
    assert Cart.objects.get(store=store).item_count == settings.CART_MAX_ITEMS


def test_a_bulk_call_holds_at_most_1000_events(storefront_client, store):
    event = {"storeName": "MyShop", "productId": "sku-1"}

    over = storefront_client.post("/api/cart-tracking/track/bulk", {"events": [event] * 1001}, format="json")

    assert over.status_code == 400
    assert over.json()["details"] == {"field": "events", "reason": "At most 1000 events"}
    assert CartTrackingEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_token": "s" * 129, "items": [ITEM]}, "session_token"),
        ({"session_token": "s-1", "items": [{**ITEM, "productId": "p" * 129}]}, "items[0].productId"),
        ({"session_token": "s-1", "items": [{**ITEM, "title": "t" * 256}]}, "items[0].title"),
        ({"session_token": "s-1", "items": [{**ITEM, "tags": ["t"] * 21}]}, "items[0].tags"),
        ({"session_token": "s-1", "items": [{**ITEM, "quantity": 1000}]}, "items[0].quantity"),
        ({"session_token": "s-1", "items": [ITEM], "user_id": "u" * 256}, "user_id"),
        ({"session_token": "s-1", "items": [ITEM], "customer": {"first_name": "n" * 101}}, "customer.first_name"),
        ({"session_token": "s-1", "items": [ITEM], "customer": {"phone": "+49" + "1" * 20}}, "customer.phone"),
    ],
)
def test_cart_strings_and_numbers_are_bounded(storefront_client, body, field):
    response = storefront_client.post("/cart/sync", body, format="json")

    assert response.status_code == 400
    assert response.json()["details"]["field"] == field
    assert Cart.objects.count() == 0


def test_tracking_free_text_is_truncated_and_contacts_are_bounded(storefront_client):
    stored = storefront_client.post(
        "/api/cart-tracking/track",
        {"storeName": "MyShop", "productTitle": "t" * 5000, "userAgent": "u" * 5000},
        format="json",
    )
    long_email = storefront_client.post(
        "/api/cart-tracking/track",
        {"storeName": "MyShop", "customerEmail": "a" * 250 + "@example.com"},
        format="json",
    )

    assert stored.status_code == 200
    event = CartTrackingEvent.objects.get()
    assert (len(event.product_title), len(event.user_agent)) == (500, 1024)
    assert long_email.status_code == 400
    assert long_email.json()["details"]["field"] == "customerEmail"


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# Python's json module recurses per level; cartsite's BoundedJSONParser turns that into a 400.


@pytest.mark.parametrize(
    ("caller", "path"),
    [(caller, path) for caller, path in JSON_DOORS if "webhook" not in path],
)
def test_a_deeply_nested_body_is_refused_not_a_server_error(clients, caller, path):
    response = clients[caller].post(path, data=nested(5000), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "Validation Error"
    assert response.json()["message"].startswith("JSON nesting is")


def test_a_deeply_nested_webhook_body_without_a_valid_signature_is_400(clients):
    response = clients["stripe"].post(
        "/api/payments/webhook", data=nested(5000), content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=0"
    )

    assert response.status_code == 400


@pytest.mark.parametrize(("caller", "path"), [d for d in JSON_DOORS if "webhook" not in d[1]])
def test_nesting_just_past_the_limit_is_refused_and_at_the_limit_it_is_parsed(clients, caller, path, settings):
    limit = settings.API_MAX_JSON_DEPTH

    past = clients[caller].post(path, data=nested(limit + 1), content_type="application/json")
    at = clients[caller].post(path, data=nested(limit), content_type="application/json")

    assert past.status_code == 400
    assert past.json()["message"] == f"JSON nesting is deeper than {limit} levels"
    # Parsed: what follows is the door's own answer (unknown keys ignored, or a validation error).
    assert at.status_code < 500
    assert not at.content.decode().count("JSON nesting")
