"""A NUL character (`%00`) in a URL is a 400 with the envelope, never a database error (a 500)."""

import pytest

from tracking.models import CartTrackingEvent


def nul_refusal(field: str) -> dict:
    return {
        "status": "error",
        "error": "Validation Error",
        "message": f"{field} must not contain a NUL character",
        "details": {"field": field, "reason": "Must not contain NUL characters"},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/cart-tracking/events?productId=sku%001", "productId"),
        ("/api/cart-tracking/events?limit=10&sessionId=s%00", "sessionId"),
        ("/api/cart-tracking/events?customerEmail=%00ann@example.com", "customerEmail"),
        ("/api/cart-tracking/analytics?productId=sku%001", "productId"),
    ],
)
def test_a_filter_holding_a_nul_is_refused_with_400(merchant_client, url, field):
    # given a merchant's secret key

    # when a filter of the events or analytics holds a NUL character
    response = merchant_client.get(url)

    # then it is refused as invalid input, naming the parameter
    assert response.status_code == 400
    assert response.json() == nul_refusal(field)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "delete"])
def test_a_session_token_holding_a_nul_in_the_path_is_refused_and_nothing_changes(storefront_client, make_cart, method):
    # given an open cart whose token is the same but for the NUL
    cart = make_cart(session_token="session-ab")

    # when the storefront restores or removes "session-a<NUL>b"
    response = getattr(storefront_client, method)("/api/carts/session-a%00b")

    # then it is a 400 about the path, and the cart is left as it was
    assert response.status_code == 400
    assert response.json() == nul_refusal("path")
    cart.refresh_from_db()
    assert cart.removed_at is None


@pytest.mark.django_db
def test_an_admin_page_given_a_nul_answers_400_in_plain_text(client, superuser):
    # given a logged-in superuser
    client.force_login(superuser)

    # when a back-office page gets a store parameter holding a NUL character
    response = client.get("/admin/notifications/stats/?store=my%00shop")

    # then it is a plain 400 saying which parameter, not a server error
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode() == "Bad request: store must not contain a NUL character (%00)."


@pytest.mark.django_db
def test_an_escaped_percent_zero_zero_is_ordinary_text(merchant_client, store):
    # given an event whose product id is the literal text "sku%001" (no NUL in it)
    CartTrackingEvent.objects.create(
        id="cart-event-1-aaaaaaa", store=store, store_name=store.name, product_id="sku%001"
    )

    # when the merchant filters on that text, its percent sign escaped as %25
    response = merchant_client.get("/api/cart-tracking/events?productId=sku%25001")

    # then the URL is not refused and the event is found
    assert response.status_code == 200
    assert [event["productId"] for event in response.json()["data"]] == ["sku%001"]
