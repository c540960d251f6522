"""The demo shop's doors: served only in DEMO_MODE, never showing the secret key, and its demo
merchant backend calling create-checkout over HTTP with the secret key."""

import socket

import pytest
from django.test import Client
from rest_framework.test import APIClient

from carts.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, demo_stores_ensure


@pytest.fixture
def demo_urls(settings):
    settings.ROOT_URLCONF = "tests.storefront.urls"
    return settings


def synced_demo_cart(token: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=DEMO_PUBLISHABLE_KEY)
    response = client.post(
        "/cart/sync",
        {"session_token": token, "items": [{"productId": "sku-mug", "quantity": 2, "price": 12.5, "title": "Mug"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_the_demo_shop_is_not_served_outside_demo_mode(demo_urls, db):
    demo_urls.DEMO_MODE = False

    assert Client().get("/demo/").status_code == 404
    assert Client().post("/demo/checkout", {"session_token": "t"}).status_code == 404


def test_the_demo_shop_page_carries_the_publishable_key_and_never_the_secret_key(demo_urls, db):
    demo_urls.DEMO_MODE = True

    response = Client().get("/demo/")

    assert response.status_code == 200
    html = response.content.decode()
    assert DEMO_PUBLISHABLE_KEY in html
    assert DEMO_SECRET_KEY not in html
    assert "/static/cartsite/cartsite-1.0.0.js" in html
    for product_id in ("sku-tee", "sku-mug", "sku-socks"):
        assert f'data-add="{product_id}"' in html
    assert 'name="consent_email"' in html
    assert 'name="consent_whatsapp"' in html


def test_the_default_urlconf_mounts_the_demo_only_in_demo_mode():
    import importlib

    import cartsite.urls

    routes = [str(pattern.pattern) for pattern in cartsite.urls.urlpatterns]
    from django.conf import settings

    assert ("demo/" in routes) is bool(settings.DEMO_MODE)
    assert importlib.import_module("cartsite.demo_shop").urlpatterns


@pytest.mark.django_db(transaction=True)
def test_checkout_goes_through_create_checkout_with_the_secret_key_and_redirects_to_stripe(
    demo_urls, live_server, fake_stripe
):
    # Given the demo store with a synced cart, and the demo backend pointed at the live server
    demo_urls.DEMO_MODE = True
    demo_urls.SITE_URL = live_server.url
    demo_stores_ensure()
    cart = synced_demo_cart("demo-session-1")

    # When the shop's checkout form posts to the demo merchant backend
    shop = Client(HTTP_HOST="localhost")
    response = shop.post("/demo/checkout", {"session_token": "demo-session-1", "email": "ann@example.com"})

    # Then the customer is sent to the Stripe Checkout URL made from the server's cart
    assert response.status_code == 302
    [created] = fake_stripe.created_sessions
    assert response["Location"] == fake_stripe.session(response["Location"].rsplit("/", 1)[1])["url"]
    assert created["metadata"]["cart_id"] == cart["cart_id"]
    assert created["success_url"] == "http://localhost/demo/?checkout=success"
    assert created["cancel_url"] == "http://localhost/demo/?checkout=cancelled"
    assert [(line["quantity"], line["price_data"]["unit_amount"]) for line in created["line_items"]] == [("2", "1250")]


@pytest.mark.django_db(transaction=True)
def test_checkout_without_stripe_configured_shows_a_readable_message(demo_urls, live_server):
    demo_urls.DEMO_MODE = True
    demo_urls.SITE_URL = live_server.url
    demo_urls.STRIPE_SECRET_KEY = ""
    demo_stores_ensure()
    synced_demo_cart("demo-session-2")

    response = Client(HTTP_HOST="localhost").post("/demo/checkout", {"session_token": "demo-session-2"})

    assert response.status_code == 502
    html = response.content.decode()
    assert "Checkout is not available right now: Stripe is not configured (STRIPE_SECRET_KEY)" in html
    assert DEMO_SECRET_KEY not in html


def test_checkout_with_cartsite_unreachable_says_so(demo_urls, db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo_urls.DEMO_MODE = True
    demo_urls.SITE_URL = f"http://127.0.0.1:{port}"

    response = Client().post("/demo/checkout", {"session_token": "demo-session-3"})

    assert response.status_code == 502
    assert f"cartsite at http://127.0.0.1:{port} is unreachable" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_checkout_of_an_unknown_session_is_refused_with_the_api_message(demo_urls, live_server, fake_stripe):
    demo_urls.DEMO_MODE = True
    demo_urls.SITE_URL = live_server.url
    demo_stores_ensure()

    response = Client(HTTP_HOST="localhost").post("/demo/checkout", {"session_token": "no-such-session"})

    assert response.status_code == 400
    assert "Checkout was refused:" in response.content.decode()
    assert fake_stripe.created_sessions == []


def test_checkout_without_a_session_token_is_a_400(demo_urls, db):
    demo_urls.DEMO_MODE = True

    response = Client().post("/demo/checkout", {})

    assert response.status_code == 400
    assert "add a product first" in response.content.decode()
