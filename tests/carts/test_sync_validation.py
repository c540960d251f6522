"""The cart writes' fast body check against their serializers: whatever the fast check accepts,
the serializer accepts with the same validated data; whatever it cannot vouch for goes to the
serializer, so every 400 (field path, message) stays the serializer's."""

import copy
from collections.abc import Mapping
from decimal import Decimal

import pytest

from carts.api import (
    CartSyncRequestSerializer,
    CartUpdateRequestSerializer,
    cart_sync_body_clean,
    cart_update_body_clean,
)
from carts.models import Cart

ITEM = {
    "productId": " sku-1 ",
    "quantity": 2,
    "price": 12.25,
    "title": " Socks ",
    "variantId": 7,
    "category": "apparel",
    "tags": ["sale", " new "],
    "imageUrl": "https://cdn.example/p.png",
}
SYNC = {
    "session_token": " tok-1 ",
    "items": [ITEM, {"id": "p-2", "name": "Hat", "quantity": 1, "price": 5}],
    "user_id": " u-7 ",
    "currency": "usd",
    "customer": {
        "email": " Jane@Example.com ",
        "phone": " +4915112345678 ",
        "first_name": "Jane",
        "last_name": "",
        "marketing_consent": {"email": True},
    },
    "total": 1,
}
UPDATE = {"sessionId": "session-1", "cart": {"items": [ITEM], "total": 29.5, "itemCount": 3}}

ODD_VALUES = [
    None,
    "",
    "  ",
    " x ",
    "x",
    "a" * 129,
    "a" * 256,
    "nul\x00",
    "lone\ud800",
    "Grüße",
    "2",
    "true",
    0,
    1,
    -1,
    2.0,
    1.5,
    999,
    1000,
    10**40,
    1e20,
    0.00001,
    12.34567,
    1_000_001,
    True,
    False,
    [],
    ["x"],
    [""],
    [None],
    ["a"] * 21,
    {},
    {"email": True},
    {"email": "yes"},
    "EUR",
    "eu1",
    "EURO",
    "+4915112345678",
    "0151 123",
    "a@b.co",
    "nope",
    "https://x.example/p.png",
    " https://x.example/p.png",
    "ftp://x.example/p.png",
    "http://",
]


def plain(value):
    """Validated data with the serializers' ordered dicts as plain dicts."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def paths(value, prefix=()):
    """Every key path in a body (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def variants(body):
    """The body, then the body with each path set to each odd value, and with each key removed."""
    yield body
    for path in list(paths(body)):
        for value in [*ODD_VALUES, KeyError]:
            changed = copy.deepcopy(body)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            if value is KeyError:
                if isinstance(parent, dict):
                    del parent[path[-1]]
                    yield changed
            else:
                parent[path[-1]] = value
                yield changed


def same_answers(serializer_class, fast_clean, body) -> bool:
    """True if the fast check vouched for the body (and agreed with the serializer)."""
    clean = fast_clean(body)
    if clean is None:
        return False
    serializer = serializer_class(data=body)
    assert serializer.is_valid(), (body, serializer.errors)
    assert clean == plain(serializer.validated_data), body
    assert repr(clean) == repr(plain(serializer.validated_data)), body  # same types too (int, Decimal, str)
    return True


@pytest.mark.parametrize(
    ("serializer_class", "fast_clean", "body"),
    [
        (CartSyncRequestSerializer, cart_sync_body_clean, SYNC),
        (CartUpdateRequestSerializer, cart_update_body_clean, UPDATE),
    ],
)
def test_the_fast_check_accepts_only_what_the_serializer_accepts_with_the_same_data(serializer_class, fast_clean, body):
    vouched = [same_answers(serializer_class, fast_clean, variant) for variant in variants(body)]

    # the usual bodies do take the fast path; unusual ones the serializer's
    assert vouched[0] is True
    assert 0 < sum(vouched) < len(vouched)


@pytest.mark.parametrize(
    "body",
    [
        {"session_token": "t", "items": [{"productId": "a", "quantity": 2.0, "price": "1"}]},
        {"session_token": 12345, "items": [{"productId": 1.0, "quantity": 1, "price": 1, "title": 7}]},
        {"session_token": "t", "items": [], "customer": {"marketing_consent": {"email": "true", "whatsapp": 0}}},
        {"session_token": "t", "items": [], "currency": " eur "},
        {"session_token": "t", "items": [{"productId": "a", "quantity": 1, "price": 1.00001}]},
    ],
)
def test_bodies_the_fast_check_leaves_to_the_serializer_are_answered_by_it(storefront_client, body):
    assert cart_sync_body_clean(body) is None
    serializer = CartSyncRequestSerializer(data=body)

    response = storefront_client.post("/cart/sync", body, format="json")

    if serializer.is_valid():
        assert response.status_code == 201
        assert Cart.objects.get().items == [
            {
                "productId": item["productId"],
                "quantity": item["quantity"],
                "price": float(item["price"]) if item["price"] % 1 else int(item["price"]),
                **({"title": item["title"]} if "title" in item else {}),
            }
            for item in serializer.validated_data["items"]
        ]
    else:
        assert response.status_code == 400
        assert response.json()["details"]["field"] == "items[0].price"
        assert Cart.objects.count() == 0


def test_a_valid_sync_and_update_take_the_fast_path_with_the_server_totals(storefront_client):
    sync = cart_sync_body_clean(SYNC)

    assert sync["items"][0]["price"] == Decimal("12.2500") and sync["items"][1]["productId"] == "p-2"
    assert storefront_client.post("/cart/sync", SYNC, format="json").status_code == 201
    assert storefront_client.post("/api/carts/update", UPDATE | {"sessionId": " tok-1 "}, format="json").json() == {
        "success": True
    }
    cart = Cart.objects.get()
    assert (cart.total, cart.item_count, cart.email, cart.phone) == (
        Decimal("24.50"),
        2,
        "jane@example.com",
        "+4915112345678",
    )
