"""POST /api/payments/webhook: real signatures, stored once, forward-only state (API.md, STYLE.md)."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from carts.models import Cart
from payments import events
from payments.events import stripe_event_reprocess
from payments.models import CheckoutSession, StripeEvent, Subscription
from tests.fakes.stripe_server import webhook_event

URLS = {"successUrl": "https://myshop.example/thanks", "cancelUrl": "https://myshop.example/cart"}


@pytest.fixture
def cart_checkout(merchant_client, make_cart, fake_stripe):
    """A cart with a pending checkout session and its open Stripe session."""
    cart = make_cart()
    body = merchant_client.post(
        "/api/payments/create-checkout", {"cart_id": str(cart.id), **URLS}, format="json"
    ).json()
    return cart, CheckoutSession.objects.get(pk=body["checkoutSessionId"]), body["stripeSessionId"]


def _paid_event(fake_stripe, stripe_session_id, event_type="checkout.session.completed", **fields):
    fake_stripe.complete_session(stripe_session_id)
    return fake_stripe.event_for(event_type, stripe_session_id, **fields)


@pytest.mark.django_db
def test_paid_completion_completes_the_session_and_converts_the_cart(cart_checkout, fake_stripe, post_webhook):
    cart, session, stripe_session_id = cart_checkout
    event = _paid_event(fake_stripe, stripe_session_id)

    response = post_webhook(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "processed"}
    session.refresh_from_db()
    cart.refresh_from_db()
    assert (session.status, session.stripe_customer_id) == ("completed", "cus_test_1")
    assert session.completed_at is not None
    assert (cart.order_reference, cart.order_amount, cart.converted_at) == (
        stripe_session_id,
        Decimal("24.50"),
        session.completed_at,
    )
    row = StripeEvent.objects.get()
    assert (row.stripe_id, row.type, row.status, row.attempts, row.error) == (
        event["id"],
        "checkout.session.completed",
        "processed",
        1,
        "",
    )
    assert row.payload == event


@pytest.mark.django_db
def test_plan_completion_activates_the_subscription(merchant_client, plan, fake_stripe, post_webhook):
    body = merchant_client.post(
        "/api/payments/create-checkout", {"userId": "user-1", "email": "b@example.com", "plan": "pro"}, format="json"
    ).json()

    post_webhook(_paid_event(fake_stripe, body["stripeSessionId"]))

    subscription = Subscription.objects.get()
    assert (subscription.user_id, subscription.plan, subscription.status, str(subscription.checkout_session_id)) == (
        "user-1",
        plan,
        "active",
        body["checkoutSessionId"],
    )


@pytest.mark.django_db
def test_tampered_body_is_400_and_stores_nothing(cart_checkout, fake_stripe, post_webhook, settings):
    _, session, stripe_session_id = cart_checkout
    original = json.dumps(_paid_event(fake_stripe, stripe_session_id))
    from tests.fakes.stripe_server import sign_webhook

    signature = sign_webhook(original, settings.STRIPE_WEBHOOK_SECRET)
    tampered = original.replace('"amount_total": 2450', '"amount_total": 1')

    response = post_webhook(tampered, signature=signature)

    assert tampered != original
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "Invalid Stripe signature",
        "details": {"field": "Stripe-Signature", "reason": "Signature verification failed"},
    }
    assert StripeEvent.objects.count() == 0
    session.refresh_from_db()
    assert session.status == "pending"


@pytest.mark.django_db
def test_missing_signature_is_400(cart_checkout, fake_stripe, post_webhook):
    _, _, stripe_session_id = cart_checkout

    response = post_webhook(_paid_event(fake_stripe, stripe_session_id), signature=None)

    assert response.status_code == 400
    assert response.json()["message"] == "Stripe-Signature header is required"
    assert StripeEvent.objects.count() == 0


@pytest.mark.django_db
def test_signature_with_another_secret_is_400(cart_checkout, fake_stripe, post_webhook):
    _, _, stripe_session_id = cart_checkout
    from tests.fakes.stripe_server import sign_webhook

    body = json.dumps(_paid_event(fake_stripe, stripe_session_id))

    response = post_webhook(body, signature=sign_webhook(body, "whsec_someone_else"))

    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(("age", "accepted"), [(290, True), (310, False), (-310, False)])
def test_timestamp_tolerance_is_five_minutes(cart_checkout, fake_stripe, post_webhook, age, accepted):
    _, session, stripe_session_id = cart_checkout

    response = post_webhook(_paid_event(fake_stripe, stripe_session_id), timestamp=int(time.time()) - age)

    assert response.status_code == (200 if accepted else 400)
    session.refresh_from_db()
    assert session.status == ("completed" if accepted else "pending")


@pytest.mark.django_db
def test_same_event_twice_in_a_row_has_one_effect(cart_checkout, fake_stripe, post_webhook):
    cart, _, stripe_session_id = cart_checkout
    event = _paid_event(fake_stripe, stripe_session_id)
    first = post_webhook(event)
    converted_at = Cart.objects.get(pk=cart.pk).converted_at

    second = post_webhook(event)

    assert first.json() == {"received": True, "status": "processed"}
    assert second.status_code == 200
    assert second.json() == {"received": True, "status": "duplicate"}
    assert StripeEvent.objects.get().attempts == 1
    assert Cart.objects.get(pk=cart.pk).converted_at == converted_at


@pytest.mark.django_db(transaction=True)
def test_same_event_twice_at_the_same_moment_has_one_effect(cart_checkout, fake_stripe, post_webhook, monkeypatch):
    cart, session, stripe_session_id = cart_checkout
    event = _paid_event(fake_stripe, stripe_session_id)
    # Hold the first delivery inside its transaction (after its insert) until the second one has
    # reached the database, so both really overlap.
    calls = []
    original = events.checkout_apply_stripe_session
    second_started = threading.Event()

    def slow_apply(**kwargs):
        calls.append(kwargs["stripe_session"]["id"])
        second_started.wait(timeout=5)
        time.sleep(0.3)
        return original(**kwargs)

    monkeypatch.setattr(events, "checkout_apply_stripe_session", slow_apply)
    responses = []
    barrier = threading.Barrier(2)

    def deliver(index):
        try:
            barrier.wait()
            if index == 1:
                time.sleep(0.1)
                second_started.set()
            responses.append(post_webhook(event, client=APIClient()))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(r.json()["status"] for r in responses) == ["duplicate", "processed"]
    assert all(r.status_code == 200 for r in responses)
    assert calls == [stripe_session_id]
    assert StripeEvent.objects.count() == 1
    session.refresh_from_db()
    assert session.status == "completed"
    assert Cart.objects.get(pk=cart.pk).order_reference == stripe_session_id


@pytest.mark.django_db
def test_unpaid_completion_waits_then_async_success_converts_once(cart_checkout, fake_stripe, post_webhook):
    cart, session, stripe_session_id = cart_checkout
    fake_stripe.complete_session(stripe_session_id, payment_status="unpaid")
    unpaid = fake_stripe.event_for("checkout.session.completed", stripe_session_id)

    assert post_webhook(unpaid).status_code == 200
    session.refresh_from_db()
    assert session.status == "pending"
    assert Cart.objects.get(pk=cart.pk).converted_at is None

    succeeded = _paid_event(fake_stripe, stripe_session_id, "checkout.session.async_payment_succeeded")
    assert post_webhook(succeeded).status_code == 200
    session.refresh_from_db()
    converted_at = Cart.objects.get(pk=cart.pk).converted_at
    assert session.status == "completed"
    assert converted_at is not None

    # a late paid `completed` (another event id) changes nothing
    late = fake_stripe.event_for("checkout.session.completed", stripe_session_id)
    assert post_webhook(late).json() == {"received": True, "status": "processed"}
    assert Cart.objects.get(pk=cart.pk).converted_at == converted_at
    assert StripeEvent.objects.count() == 3


@pytest.mark.django_db
def test_async_payment_failure_fails_the_session(cart_checkout, fake_stripe, post_webhook):
    cart, session, stripe_session_id = cart_checkout
    fake_stripe.complete_session(stripe_session_id, payment_status="unpaid")
    post_webhook(fake_stripe.event_for("checkout.session.completed", stripe_session_id))

    post_webhook(fake_stripe.event_for("checkout.session.async_payment_failed", stripe_session_id))

    session.refresh_from_db()
    assert session.status == "failed"
    assert Cart.objects.get(pk=cart.pk).converted_at is None


@pytest.mark.django_db
def test_expired_after_completed_stays_completed(cart_checkout, fake_stripe, post_webhook):
    cart, session, stripe_session_id = cart_checkout
    post_webhook(_paid_event(fake_stripe, stripe_session_id))

    response = post_webhook(fake_stripe.event_for("checkout.session.expired", stripe_session_id))

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "completed"
    assert Cart.objects.get(pk=cart.pk).converted_at is not None


@pytest.mark.django_db
def test_expired_event_expires_a_pending_session(cart_checkout, fake_stripe, post_webhook):
    _, session, stripe_session_id = cart_checkout
    fake_stripe.expire_session(stripe_session_id)

    post_webhook(fake_stripe.event_for("checkout.session.expired", stripe_session_id))

    session.refresh_from_db()
    assert session.status == "expired"


@pytest.mark.django_db
def test_expiry_of_an_earlier_stripe_session_leaves_the_current_attempt_pending(
    merchant_client, cart_checkout, fake_stripe, post_webhook
):
    cart, session, first_stripe_id = cart_checkout
    fake_stripe.expire_session(first_stripe_id)
    second = merchant_client.post(
        "/api/payments/create-checkout", {"cart_id": str(cart.id), **URLS}, format="json"
    ).json()

    post_webhook(fake_stripe.event_for("checkout.session.expired", first_stripe_id))

    session.refresh_from_db()
    assert (session.status, session.stripe_session_id) == ("pending", second["stripeSessionId"])


@pytest.mark.django_db
def test_unknown_event_type_is_stored_as_ignored(post_webhook):
    event = webhook_event("customer.created", {"id": "cus_1", "object": "customer"})

    response = post_webhook(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "ignored"}
    row = StripeEvent.objects.get()
    assert (row.type, row.status) == ("customer.created", "ignored")


@pytest.mark.django_db
def test_completion_for_a_foreign_checkout_naming_our_cart_converts_it(make_cart, post_webhook):
    cart = make_cart()
    foreign = {
        "id": "cs_test_foreign",
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 2450,
        "currency": "eur",
        "metadata": {"cart_id": str(cart.id)},
    }

    post_webhook(webhook_event("checkout.session.completed", foreign))

    cart.refresh_from_db()
    assert (cart.order_reference, cart.order_amount) == ("cs_test_foreign", Decimal("24.50"))


@pytest.mark.django_db
def test_failing_handler_is_500_with_the_error_on_the_row_and_reprocess_succeeds(
    cart_checkout, fake_stripe, post_webhook, monkeypatch
):
    cart, session, stripe_session_id = cart_checkout
    event = _paid_event(fake_stripe, stripe_session_id)

    def broken(**kwargs):
        raise RuntimeError("carts service down")

    monkeypatch.setattr(events, "checkout_apply_stripe_session", broken)

    response = post_webhook(event)

    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "error": "Server Error",
        "message": "Webhook processing failed",
        "code": "WEBHOOK_FAILED",
    }
    row = StripeEvent.objects.get()
    assert (row.status, row.error, row.processed_at) == ("failed", "RuntimeError: carts service down", None)
    session.refresh_from_db()
    assert session.status == "pending"

    # when the admin reprocesses it with the handler healthy again
    monkeypatch.undo()
    outcome = stripe_event_reprocess(event_id=row.pk)

    assert outcome.status == "processed"
    row.refresh_from_db()
    assert (row.status, row.error, row.attempts) == ("processed", "", 2)
    session.refresh_from_db()
    assert session.status == "completed"
    assert Cart.objects.get(pk=cart.pk).order_reference == stripe_session_id


@pytest.mark.django_db
def test_stripes_retry_of_a_failed_event_reprocesses_it(cart_checkout, fake_stripe, post_webhook, monkeypatch):
    _, session, stripe_session_id = cart_checkout
    event = _paid_event(fake_stripe, stripe_session_id)
    monkeypatch.setattr(events, "checkout_apply_stripe_session", lambda **kwargs: 1 / 0)
    assert post_webhook(event).status_code == 500
    monkeypatch.undo()

    retry = post_webhook(event)

    assert retry.status_code == 200
    assert retry.json() == {"received": True, "status": "processed"}
    assert StripeEvent.objects.get().attempts == 2
    session.refresh_from_db()
    assert session.status == "completed"


@pytest.mark.django_db
def test_reprocess_of_a_processed_event_changes_nothing(cart_checkout, fake_stripe, post_webhook):
    _, _, stripe_session_id = cart_checkout
    post_webhook(_paid_event(fake_stripe, stripe_session_id))
    row = StripeEvent.objects.get()

    outcome = stripe_event_reprocess(event_id=row.pk)

    assert outcome.status == "not_failed"
    row.refresh_from_db()
    assert row.attempts == 1


@pytest.mark.django_db
def test_webhook_counts_events_in_metrics(cart_checkout, fake_stripe, post_webhook):
    from cartsite.metrics import STRIPE_EVENTS

    _, _, stripe_session_id = cart_checkout
    before = STRIPE_EVENTS.labels(type="checkout.session.completed", outcome="processed")._value.get()

    post_webhook(_paid_event(fake_stripe, stripe_session_id))

    after = STRIPE_EVENTS.labels(type="checkout.session.completed", outcome="processed")._value.get()
    assert after - before == 1


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"object": "event"}'])
def test_signed_but_malformed_bodies_are_400(post_webhook, body):
    response = post_webhook(body)

    assert response.status_code == 400
    assert response.json()["error"] == "Validation Error"
    assert StripeEvent.objects.count() == 0


@pytest.mark.django_db
def test_no_payment_required_completion_completes(cart_checkout, fake_stripe, post_webhook):
    cart, session, stripe_session_id = cart_checkout
    fake_stripe.complete_session(stripe_session_id, payment_status="no_payment_required")

    post_webhook(fake_stripe.event_for("checkout.session.completed", stripe_session_id))

    session.refresh_from_db()
    assert session.status == "completed"
    assert Cart.objects.get(pk=cart.pk).converted_at is not None


@pytest.mark.django_db
def test_webhook_without_a_configured_secret_is_503(post_webhook, settings):
    event = webhook_event("customer.created", {"id": "cus_1"})
    body = json.dumps(event)
    from tests.fakes.stripe_server import sign_webhook

    signature = sign_webhook(body, settings.STRIPE_WEBHOOK_SECRET)
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = post_webhook(body, signature=signature)

    assert response.status_code == 503
    assert StripeEvent.objects.count() == 0


@pytest.mark.django_db
def test_subscription_follows_stripe_until_cancelled(merchant_client, monthly_plan, fake_stripe, post_webhook):
    body = merchant_client.post(
        "/api/payments/create-checkout",
        {"userId": "user-1", "email": "b@example.com", "plan": "pro-monthly"},
        format="json",
    ).json()
    post_webhook(_paid_event(fake_stripe, body["stripeSessionId"]))
    subscription = Subscription.objects.get()
    stripe_subscription_id = fake_stripe.session(body["stripeSessionId"])["subscription"]
    assert (subscription.status, subscription.stripe_subscription_id) == ("active", stripe_subscription_id)

    def subscription_event(event_type, status):
        return webhook_event(event_type, {"id": stripe_subscription_id, "object": "subscription", "status": status})

    post_webhook(subscription_event("customer.subscription.updated", "past_due"))
    assert Subscription.objects.get().status == "past_due"
    post_webhook(subscription_event("customer.subscription.deleted", "canceled"))
    assert Subscription.objects.get().status == "cancelled"
    late = post_webhook(subscription_event("customer.subscription.updated", "active"))
    assert late.json() == {"received": True, "status": "processed"}
    assert Subscription.objects.get().status == "cancelled"
    other = post_webhook(
        webhook_event("customer.subscription.deleted", {"id": "sub_elsewhere", "object": "subscription"})
    )
    assert other.json() == {"received": True, "status": "ignored"}
