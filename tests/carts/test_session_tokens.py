"""A session token may hold any character a storefront puts in it, "/" included: the cart of such
a token is read and removed through /api/carts/<sessionId> with the token URL-encoded."""

from urllib.parse import quote

import pytest

ITEMS = [{"productId": "p1", "quantity": 2, "price": 10}]


@pytest.mark.parametrize("token", ["shop/2026/abc", "a b+c", "trailing/"])
def test_a_token_with_reserved_characters_round_trips(storefront_client, store, token):
    created = storefront_client.post("/cart/sync", {"session_token": token, "items": ITEMS}, format="json")
    assert created.status_code == 201

    url = f"/api/carts/{quote(token, safe='')}"
    read = storefront_client.get(url)
    assert read.status_code == 200
    assert read.json()["sessionId"] == token
    assert read.json()["itemCount"] == 2

    assert storefront_client.delete(url).status_code == 200
    assert storefront_client.get(url).status_code == 404


def test_the_named_routes_still_win(storefront_client, store):
    response = storefront_client.get("/api/carts/active")

    assert response.status_code == 403  # staff only: not taken for a session named "active"
