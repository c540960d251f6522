"""POST /api/payments/create-checkout and GET|POST|PATCH /api/payments/checkout-session (API.md)."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from carts.models import Cart
from payments.models import CheckoutSession

pytestmark = pytest.mark.django_db

CREATE = "/api/payments/create-checkout"
SESSION = "/api/payments/checkout-session"
URLS = {"successUrl": "https://myshop.example/thanks", "cancelUrl": "https://myshop.example/cart"}


def test_cart_checkout_sends_stripe_the_cart_as_line_items_with_metadata(merchant_client, make_cart, fake_stripe):
    # given a cart with two lines
    cart = make_cart(
        items=[
            {"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks"},
            {"productId": "sku-2", "variantId": "v-9", "quantity": 1, "price": 5, "title": "Hat"},
        ],
        user_id="cust-7",
        email="ada@example.com",
    )

    # when the merchant's backend creates the checkout by session token
    response = merchant_client.post(CREATE, {"session_token": cart.session_token, **URLS}, format="json")

    # then Stripe received one Checkout Session request matching the cart
    assert response.status_code == 200, response.content
    session = CheckoutSession.objects.get()
    [sent] = fake_stripe.created_sessions
    assert sent["metadata"] == {"checkoutSessionId": str(session.id), "cart_id": str(cart.id)}
    assert sent["client_reference_id"] == str(session.id)
    assert sent["mode"] == "payment"
    assert sent["customer_email"] == "ada@example.com"
    assert sent["success_url"] == URLS["successUrl"]
    assert sent["cancel_url"] == URLS["cancelUrl"]
    assert sent["line_items"] == [
        {
            "quantity": "2",
            "price_data": {
                "currency": "eur",
                "unit_amount": "1225",
                "product_data": {"name": "Socks", "metadata": {"productId": "sku-1"}},
            },
        },
        {
            "quantity": "1",
            "price_data": {
                "currency": "eur",
                "unit_amount": "500",
                "product_data": {"name": "Hat", "metadata": {"productId": "sku-2", "variantId": "v-9"}},
            },
        },
    ]
    assert sent["payment_intent_data"] == {"metadata": sent["metadata"]}
    now = int(time.time())
    assert now + 30 * 60 < int(sent["expires_at"]) <= now + 24 * 3600
    # and the answer and the row agree with Stripe
    stripe_session = fake_stripe.session(session.stripe_session_id)
    assert response.json() == {
        "checkoutSessionId": str(session.id),
        "stripeSessionId": stripe_session["id"],
        "url": stripe_session["url"],
        "expiresAt": datetime.fromtimestamp(stripe_session["expires_at"], tz=UTC).isoformat().replace("+00:00", "Z"),
    }
    assert stripe_session["amount_total"] == 2950
    assert (session.status, session.attempts, session.amount, session.cart_id, session.user_id) == (
        "pending",
        1,
        Decimal("29.50"),
        cart.id,
        "cust-7",
    )


def test_plan_checkout_sends_the_plan_price_and_metadata(merchant_client, plan, fake_stripe):
    response = merchant_client.post(
        CREATE, {"userId": "user-1", "email": "bob@example.com", "plan": "pro"}, format="json"
    )

    assert response.status_code == 200, response.content
    session = CheckoutSession.objects.get()
    [sent] = fake_stripe.created_sessions
    assert sent["metadata"] == {"checkoutSessionId": str(session.id), "userId": "user-1", "plan": "pro"}
    assert sent["client_reference_id"] == str(session.id)
    assert sent["mode"] == "payment"
    assert sent["line_items"] == [
        {"price_data": {"currency": "eur", "unit_amount": "999", "product_data": {"name": "Pro plan"}}, "quantity": "1"}
    ]
    assert (session.subscription_plan, session.plan_price, session.attempts) == ("pro", Decimal("9.99"), 1)


def test_recurring_plan_uses_subscription_mode_and_the_stripe_price(merchant_client, monthly_plan, fake_stripe):
    monthly_plan.stripe_price_id = "price_123"
    monthly_plan.save()
    fake_stripe.add_price("price_123", 1900)

    response = merchant_client.post(
        CREATE, {"userId": "user-1", "email": "bob@example.com", "plan": "pro-monthly"}, format="json"
    )

    assert response.status_code == 200, response.content
    [sent] = fake_stripe.created_sessions
    assert sent["mode"] == "subscription"
    assert sent["line_items"] == [{"price": "price_123", "quantity": "1"}]
    assert sent["subscription_data"] == {"metadata": sent["metadata"]}


def test_recurring_plan_without_stripe_price_sends_a_recurring_price(merchant_client, monthly_plan, fake_stripe):
    response = merchant_client.post(
        CREATE, {"userId": "user-1", "email": "bob@example.com", "plan": "pro-monthly"}, format="json"
    )

    assert response.status_code == 200, response.content
    [sent] = fake_stripe.created_sessions
    assert sent["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert sent["line_items"][0]["price_data"]["unit_amount"] == "1900"


def test_second_call_while_the_stripe_session_is_open_returns_it_and_counts_the_attempt(
    merchant_client, plan, fake_stripe
):
    body = {"userId": "user-1", "email": "bob@example.com", "plan": "pro"}
    first = merchant_client.post(CREATE, body, format="json").json()

    second = merchant_client.post(CREATE, body, format="json")

    assert second.status_code == 200
    assert second.json() == first
    assert len(fake_stripe.created_sessions) == 1
    assert CheckoutSession.objects.get().attempts == 2


def test_reuse_after_the_stripe_session_expired_creates_a_new_stripe_session(merchant_client, plan, fake_stripe):
    body = {"userId": "user-1", "email": "bob@example.com", "plan": "pro"}
    first = merchant_client.post(CREATE, body, format="json").json()
    fake_stripe.expire_session(first["stripeSessionId"])

    second = merchant_client.post(CREATE, body, format="json").json()

    assert second["checkoutSessionId"] == first["checkoutSessionId"]
    assert second["stripeSessionId"] != first["stripeSessionId"]
    session = CheckoutSession.objects.get()
    assert (session.attempts, session.stripe_session_id) == (2, second["stripeSessionId"])
    assert [r.headers["Idempotency-Key"] for r in fake_stripe.requests_to("POST", "/v1/checkout/sessions")] == [
        f"cartsite-checkout-{session.id}-1",
        f"cartsite-checkout-{session.id}-2",
    ]


def test_a_changed_cart_gets_a_new_stripe_session_and_the_stale_one_is_expired(merchant_client, make_cart, fake_stripe):
    cart = make_cart()
    first = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()
    Cart.objects.filter(pk=cart.pk).update(
        items=[{"productId": "sku-1", "quantity": 3, "price": 12.25, "title": "Socks"}],
        total=Decimal("36.75"),
        item_count=3,
    )

    second = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()

    assert second["checkoutSessionId"] == first["checkoutSessionId"]
    assert second["stripeSessionId"] != first["stripeSessionId"]
    assert fake_stripe.session(first["stripeSessionId"])["status"] == "expired"
    assert fake_stripe.session(second["stripeSessionId"])["amount_total"] == 3675
    assert CheckoutSession.objects.get().amount == Decimal("36.75")


@pytest.mark.parametrize("status", [402, 500])
def test_stripe_failure_is_502_and_keeps_the_pending_session_with_its_attempt(
    merchant_client, make_cart, fake_stripe, status
):
    cart = make_cart()
    fake_stripe.fail_next(status, error_type="card_error" if status == 402 else "api_error")

    response = merchant_client.post(CREATE, {"session_token": cart.session_token, **URLS}, format="json")

    assert response.status_code == 502
    assert response.json() == {
        "status": "error",
        "error": "Bad Gateway",
        "message": "Payment provider error while trying to create the checkout",
        "code": "STRIPE_ERROR",
    }
    session = CheckoutSession.objects.get()
    assert (session.status, session.attempts, session.stripe_session_id) == ("pending", 1, None)

    # and the next try reuses that session, counted as attempt 2
    retry = merchant_client.post(CREATE, {"session_token": cart.session_token, **URLS}, format="json")
    assert retry.status_code == 200
    assert retry.json()["checkoutSessionId"] == str(session.id)
    session.refresh_from_db()
    assert session.attempts == 2
    assert session.stripe_session_id == retry.json()["stripeSessionId"]


def test_publishable_key_may_not_create_a_checkout(storefront_client, make_cart, fake_stripe):
    cart = make_cart()

    response = storefront_client.post(CREATE, {"session_token": cart.session_token, **URLS}, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert CheckoutSession.objects.count() == 0
    assert fake_stripe.requests == []


def test_staff_may_not_create_a_checkout_either(staff_client, plan, fake_stripe):
    response = staff_client.post(CREATE, {"userId": "u", "email": "a@example.com", "plan": "pro"}, format="json")

    assert response.status_code == 403


def test_no_credential_is_401(anonymous_client):
    response = anonymous_client.post(CREATE, {"userId": "u", "email": "a@example.com", "plan": "pro"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_another_stores_cart_is_not_found(merchant_client, other_store, make_cart, fake_stripe):
    foreign = make_cart(store=other_store, currency="USD")

    response = merchant_client.post(CREATE, {"cart_id": str(foreign.id), **URLS}, format="json")

    assert response.status_code == 404
    assert fake_stripe.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "plan": "pro"}, "userId"),
        ({"userId": "u", "plan": "pro"}, "email"),
        ({"userId": "u", "email": "a@example.com", "plan": "nope"}, "plan"),
        ({"successUrl": URLS["successUrl"], "cancelUrl": URLS["cancelUrl"]}, "session_token"),
        ({"session_token": "abc", "cancelUrl": URLS["cancelUrl"]}, "successUrl"),
    ],
)
def test_invalid_bodies_are_400(merchant_client, plan, body, field):
    response = merchant_client.post(CREATE, body, format="json")

    assert response.status_code == 400
    assert response.json()["details"]["field"] == field


def test_converted_cart_is_409(merchant_client, make_cart, fake_stripe):
    cart = make_cart(converted_at=timezone.now(), order_reference="cs_old")

    response = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json")

    assert response.status_code == 409


# --- GET | POST | PATCH /api/payments/checkout-session ----------------------------------


def test_post_creates_201_then_answers_the_same_session_200(merchant_client, plan):
    body = {"userId": "user-1", "email": "bob@example.com", "plan": "pro"}

    created = merchant_client.post(SESSION, body, format="json")
    again = merchant_client.post(SESSION, body, format="json")

    assert created.status_code == 201
    assert again.status_code == 200
    session = CheckoutSession.objects.get()
    iso = lambda value: value.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert created.json() == {
        "id": str(session.id),
        "userId": "user-1",
        "email": "bob@example.com",
        "plan": "pro",
        "planPrice": 9.99,
        "paymentProvider": "stripe",
        "stripeSessionId": None,
        "cartId": None,
        "status": "pending",
        "createdAt": iso(session.created_at),
        "expiresAt": iso(session.expires_at),
        "completedAt": None,
        "attempts": 0,
        "metadata": {},
        "amount": 9.99,
        "currency": "EUR",
    }
    assert again.json() == created.json()
    assert session.expires_at - session.created_at == timedelta(hours=24)


def test_get_answers_the_latest_session_and_404_without_one(merchant_client, plan):
    assert merchant_client.get(SESSION, {"userId": "user-1"}).status_code == 404
    first = merchant_client.post(SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json")
    merchant_client.patch(SESSION, {"id": first.json()["id"], "status": "cancelled"}, format="json")
    second = merchant_client.post(SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json")

    response = merchant_client.get(SESSION, {"userId": "user-1"})

    assert second.status_code == 201
    assert response.status_code == 200
    assert response.json() == second.json()


def test_get_does_not_reveal_another_stores_sessions(merchant_client, other_store_keys, plan):
    merchant_client.post(SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_store_keys.secret_key}")

    assert other.get(SESSION, {"userId": "user-1"}).status_code == 404


@pytest.mark.parametrize("target", ["completed", "expired", "failed", "cancelled"])
def test_patch_moves_pending_to_each_terminal_state_once(merchant_client, plan, target):
    session_id = merchant_client.post(
        SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json"
    ).json()["id"]

    moved = merchant_client.patch(SESSION, {"id": session_id, "status": target}, format="json")

    assert moved.status_code == 200
    assert moved.json()["status"] == target
    assert (moved.json()["completedAt"] is not None) == (target == "completed")
    for other in ["pending", "completed", "expired", "failed", "cancelled"]:
        again = merchant_client.patch(SESSION, {"id": session_id, "status": other}, format="json")
        assert again.status_code == 409, other
        assert again.json()["error"] == "Conflict"
    assert CheckoutSession.objects.get().status == target


def test_patch_to_pending_is_409(merchant_client, plan):
    session_id = merchant_client.post(
        SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json"
    ).json()["id"]

    response = merchant_client.patch(SESSION, {"id": session_id, "status": "pending"}, format="json")

    assert response.status_code == 409


def test_patch_unknown_id_is_404_and_unknown_status_400(merchant_client, plan):
    assert (
        merchant_client.patch(SESSION, {"id": str(uuid.uuid4()), "status": "cancelled"}, format="json").status_code
        == 404
    )
    session_id = merchant_client.post(
        SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json"
    ).json()["id"]
    response = merchant_client.patch(SESSION, {"id": session_id, "status": "refunded"}, format="json")
    assert response.status_code == 400
    assert response.json()["details"]["field"] == "status"


def test_checkout_session_api_refuses_the_publishable_key(storefront_client, plan):
    assert storefront_client.get(SESSION, {"userId": "user-1"}).status_code == 403
    assert (
        storefront_client.post(
            SESSION, {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json"
        ).status_code
        == 403
    )
    assert (
        storefront_client.patch(SESSION, {"id": str(uuid.uuid4()), "status": "cancelled"}, format="json").status_code
        == 403
    )


def test_checkout_paid_while_its_webhook_is_on_the_way_is_409_and_completes(merchant_client, make_cart, fake_stripe):
    cart = make_cart()
    first = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()
    fake_stripe.complete_session(first["stripeSessionId"])  # paid at Stripe, webhook not yet here

    again = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json")

    assert again.status_code == 409
    assert again.json()["message"] == "This checkout has been paid already"
    assert len(fake_stripe.created_sessions) == 1
    assert CheckoutSession.objects.get().status == "completed"
    cart.refresh_from_db()
    assert cart.order_reference == first["stripeSessionId"]


@pytest.mark.django_db(transaction=True)
def test_racing_create_checkouts_for_one_cart_share_one_payable_stripe_session(store_keys, make_cart, fake_stripe):
    import threading

    from django.db import connection

    cart = make_cart()
    answers = []
    barrier = threading.Barrier(4)

    def create():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
            barrier.wait()
            answers.append(client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [a.status_code for a in answers] == [200] * 4
    session = CheckoutSession.objects.get()
    assert {a.json()["stripeSessionId"] for a in answers} == {session.stripe_session_id}
    assert session.attempts == 4
    open_sessions = [s for s in fake_stripe.state.sessions.values() if s["status"] == "open"]
    assert [s["id"] for s in open_sessions] == [session.stripe_session_id]


def test_resume_link_redirects_to_a_payable_stripe_session(merchant_client, plan, fake_stripe, client):
    created = merchant_client.post(SESSION, {"userId": "u1", "email": "u1@example.com", "plan": "pro"}, format="json")
    session_id = created.json()["id"]

    response = client.get(f"/payments/resume/{session_id}")

    session = CheckoutSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == fake_stripe.session(session.stripe_session_id)["url"]
    assert session.attempts == 1


def test_resume_link_of_a_closed_checkout_is_an_html_page(merchant_client, plan, client):
    session_id = merchant_client.post(
        SESSION, {"userId": "u1", "email": "u1@example.com", "plan": "pro"}, format="json"
    ).json()["id"]
    merchant_client.patch(SESSION, {"id": session_id, "status": "cancelled"}, format="json")

    response = client.get(f"/payments/resume/{session_id}")

    assert response.status_code == 410
    assert response["Content-Type"].startswith("text/html")
    assert "This checkout is closed" in response.content.decode()
    assert client.get(f"/payments/resume/{uuid.uuid4()}").status_code == 404


def test_unchanged_cart_with_sub_cent_prices_reuses_its_stripe_session(merchant_client, make_cart, fake_stripe):
    cart = make_cart(items=[{"productId": "sku-1", "quantity": 3, "price": 3.333, "title": "Bolt"}])
    first = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()

    second = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()

    assert second["stripeSessionId"] == first["stripeSessionId"]
    assert fake_stripe.session(first["stripeSessionId"])["amount_total"] == 999
    assert len(fake_stripe.created_sessions) == 1


def test_patch_completed_converts_the_cart_like_a_payment(merchant_client, make_cart, fake_stripe):
    cart = make_cart()
    created = merchant_client.post(CREATE, {"cart_id": str(cart.id), **URLS}, format="json").json()

    response = merchant_client.patch(
        SESSION, {"id": created["checkoutSessionId"], "status": "completed"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["cartId"] == str(cart.id)
    cart.refresh_from_db()
    assert (cart.order_reference, cart.order_amount) == (created["stripeSessionId"], Decimal("24.50"))


@pytest.mark.parametrize(("user_id", "reason"), [("", "Field is required"), ("a\x00b", None), ("x" * 256, None)])
def test_get_with_an_unusable_user_id_is_400(merchant_client, user_id, reason):
    response = merchant_client.get(SESSION, {"userId": user_id} if user_id else {})

    assert response.status_code == 400
    assert response.json()["details"]["field"] == "userId"
    if reason:
        assert response.json()["details"]["reason"] == reason
