"""POST /api/privacy/erasure: one customer's data removed or anonymised in every app, hashes kept
on the suppression list so that no reminder reaches them again."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.models import Cart
from notifications.models import ReminderMessage, Suppression, contact_hash
from notifications.services import sweep_run
from payments.models import CheckoutSession, StripeEvent
from tracking.models import CartTrackingEvent, event_id_new

EMAIL = "jane.doe@example.com"
PHONE = "+4915112345678"
ERASURE = "/api/privacy/erasure"


def tracking_event(store, **fields):
    defaults = {
        "id": event_id_new(),
        "store": store,
        "store_name": store.name,
        "product_id": "sku-1",
        "product_title": "Socks",
        "clothing_image_url": "https://cdn.example/socks.png",
    }
    defaults.update(fields)
    return CartTrackingEvent.objects.create(**defaults)


def checkout_session(store, **fields):
    defaults = {
        "store": store,
        "amount": Decimal("24.50"),
        "currency": "EUR",
        "expires_at": timezone.now() + timedelta(hours=24),
    }
    defaults.update(fields)
    return CheckoutSession.objects.create(**defaults)


@pytest.fixture
def customer_data(store, other_store, make_cart):
    """Jane's data in every app of `store`, plus another customer and Jane in another store."""
    jane = make_cart(
        email=EMAIL,
        phone=PHONE,
        first_name="Jane",
        last_name="Doe",
        user_id="u-1",
        email_consent=True,
        email_consent_at=timezone.now(),
        email_consent_source="storefront:cart_sync",
        whatsapp_consent=True,
        whatsapp_consent_at=timezone.now(),
        whatsapp_consent_source="storefront:cart_sync",
        idle=timedelta(hours=30),
    )
    # Her second cart, known only by her user id (another device, no e-mail given there).
    jane_second = make_cart(user_id="u-1", phone="+4915199999999", first_name="Jane")
    bob = make_cart(email="bob@example.com", phone="+4917000000000", first_name="Bob", email_consent=True)
    jane_elsewhere = make_cart(store=other_store, email=EMAIL, phone=PHONE, first_name="Jane")

    events = [
        tracking_event(
            store,
            customer_email=EMAIL,
            customer_first_name="Jane",
            customer_last_name="Doe",
            ip_address="203.0.113.7",
            user_agent="Mozilla/5.0",
            person_image_url="https://cdn.example/jane.png",
            generated_image_url="https://cdn.example/jane-socks.png",
            session_id=jane.session_token,
        ),
        # No e-mail on it, but recorded in her cart's session.
        tracking_event(store, session_id=jane.session_token, ip_address="203.0.113.7"),
        tracking_event(store, customer_email="bob@example.com", customer_first_name="Bob", session_id="s-bob"),
        tracking_event(other_store, customer_email=EMAIL, customer_first_name="Jane"),
    ]
    sessions = [
        checkout_session(
            store,
            cart=jane,
            email=EMAIL,
            user_id="u-1",
            stripe_session_id="cs_test_jane",
            metadata={"userId": "u-1", "cart_id": str(jane.id), "checkoutSessionId": "x"},
        ),
        checkout_session(store, email="Jane.Doe@Example.com", user_id="", status="expired"),
        checkout_session(store, cart=bob, email="bob@example.com", user_id="u-2"),
        checkout_session(
            other_store, email=EMAIL, user_id="u-1", amount=Decimal("1"), currency="USD", status="expired"
        ),
    ]
    stripe_event = StripeEvent.objects.create(
        stripe_id="evt_jane",
        type="checkout.session.completed",
        payload={
            "id": "evt_jane",
            "data": {
                "object": {
                    "id": "cs_test_jane",
                    "customer_email": EMAIL,
                    "customer_details": {"email": EMAIL, "name": "Jane Doe", "phone": PHONE},
                    "amount_total": 2450,
                }
            },
        },
    )
    messages = [
        ReminderMessage.objects.create(
            cart=jane,
            store=store,
            stage=1,
            channel="email",
            status="sent",
            attempts=1,
            recipient_hash=contact_hash("email", EMAIL),
            sent_at=timezone.now() - timedelta(hours=2),
        ),
        ReminderMessage.objects.create(
            cart=jane,
            store=store,
            stage=1,
            channel="whatsapp",
            status="failed",
            attempts=1,
            error_kind="final",
            recipient_hash=contact_hash("phone", PHONE),
            last_error=f"[131026] Message undeliverable to {PHONE}",
        ),
        ReminderMessage.objects.create(
            cart=bob,
            store=store,
            stage=1,
            channel="email",
            status="sent",
            recipient_hash=contact_hash("email", "bob@example.com"),
        ),
    ]
    return {
        "jane": jane,
        "jane_second": jane_second,
        "bob": bob,
        "jane_elsewhere": jane_elsewhere,
        "events": events,
        "sessions": sessions,
        "stripe_event": stripe_event,
        "messages": messages,
    }


def test_erasure_by_email_clears_the_customer_in_every_app(merchant_client, store, customer_data):
    response = merchant_client.post(ERASURE, {"email": "  Jane.Doe@Example.com "}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": {"carts": 1, "events": 2, "checkoutSessions": 2, "messages": 2},
    }
    jane = Cart.objects.get(pk=customer_data["jane"].pk)
    assert (jane.email, jane.phone, jane.first_name, jane.last_name, jane.user_id) == ("", "", "", "", "")
    assert (jane.email_consent, jane.email_consent_at, jane.email_consent_source) == (False, None, "")
    assert (jane.whatsapp_consent, jane.whatsapp_consent_at, jane.whatsapp_consent_source) == (False, None, "")
    # Items and totals stay for the shop's reports.
    assert jane.items == customer_data["jane"].items
    assert jane.total == Decimal("24.50") and jane.item_count == 2

    first, second, bob_event, elsewhere = (CartTrackingEvent.objects.get(pk=e.pk) for e in customer_data["events"])
    for event in (first, second):
        assert event.customer_email is None
        assert event.customer_first_name is None and event.customer_last_name is None
        assert event.ip_address is None and event.user_agent is None
        assert event.person_image_url is None and event.generated_image_url is None
    assert (first.product_id, first.product_title, first.clothing_image_url) == (
        "sku-1",
        "Socks",
        "https://cdn.example/socks.png",
    )
    assert bob_event.customer_email == "bob@example.com"
    assert elsewhere.customer_email == EMAIL

    cart_session, plan_session, bob_session, other_store_session = (
        CheckoutSession.objects.get(pk=s.pk) for s in customer_data["sessions"]
    )
    for session in (cart_session, plan_session):
        assert session.email == ""
        assert session.user_id == f"erased:{session.id}"
    assert cart_session.metadata == {"cart_id": str(customer_data["jane"].id), "checkoutSessionId": "x"}
    assert cart_session.amount == Decimal("24.50") and cart_session.stripe_session_id == "cs_test_jane"
    assert (bob_session.email, bob_session.user_id) == ("bob@example.com", "u-2")
    assert (other_store_session.email, other_store_session.user_id) == (EMAIL, "u-1")
    payload = StripeEvent.objects.get(pk=customer_data["stripe_event"].pk).payload
    assert payload["data"]["object"] == {
        "id": "cs_test_jane",
        "customer_email": None,
        "customer_details": None,
        "amount_total": 2450,
    }

    sent, failed, bob_message = (ReminderMessage.objects.get(pk=m.pk) for m in customer_data["messages"])
    assert (sent.recipient_hash, sent.last_error, sent.status, sent.stage) == ("", "", "sent", 1)
    assert (failed.recipient_hash, failed.last_error, failed.status) == ("", "", "failed")
    assert bob_message.recipient_hash == contact_hash("email", "bob@example.com")

    assert set(Suppression.objects.filter(store=store).values_list("kind", "value_hash", "reason")) == {
        ("email", contact_hash("email", EMAIL), "erasure"),
        ("phone", contact_hash("phone", PHONE), "erasure"),
    }
    # Nothing of Jane's in the other store changed, and Bob is untouched.
    assert Cart.objects.get(pk=customer_data["jane_elsewhere"].pk).email == EMAIL
    assert Cart.objects.get(pk=customer_data["bob"].pk).email == "bob@example.com"
    # Her user-id-only cart was not named by this request.
    assert Cart.objects.get(pk=customer_data["jane_second"].pk).user_id == "u-1"


def test_erasure_by_user_id_reaches_every_cart_of_that_user(merchant_client, store, customer_data):
    response = merchant_client.post(ERASURE, {"user_id": "u-1"}, format="json")

    assert response.json() == {
        "status": "success",
        "data": {"carts": 2, "events": 2, "checkoutSessions": 1, "messages": 2},
    }
    assert not Cart.objects.filter(store=store, user_id="u-1").exists()
    assert Cart.objects.get(pk=customer_data["jane_second"].pk).phone == ""
    # Both carts' contacts are suppressed, also the number only the second cart knew.
    assert set(Suppression.objects.filter(store=store).values_list("kind", "value_hash")) == {
        ("email", contact_hash("email", EMAIL)),
        ("phone", contact_hash("phone", PHONE)),
        ("phone", contact_hash("phone", "+4915199999999")),
    }
    # The plan purchase made under her e-mail but without her user id is not named by this request.
    assert CheckoutSession.objects.get(pk=customer_data["sessions"][1].pk).email == "Jane.Doe@Example.com"


def test_a_repeated_erasure_finds_nothing_left(merchant_client, customer_data):
    merchant_client.post(ERASURE, {"email": EMAIL, "user_id": "u-1"}, format="json")

    again = merchant_client.post(ERASURE, {"email": EMAIL, "user_id": "u-1"}, format="json")

    assert again.json() == {
        "status": "success",
        "data": {"carts": 0, "events": 0, "checkoutSessions": 0, "messages": 0},
    }
    assert Suppression.objects.filter(store=customer_data["jane"].store).count() == 3


def test_an_unknown_customer_is_suppressed_all_the_same(merchant_client, store):
    response = merchant_client.post(ERASURE, {"email": "nobody@example.com"}, format="json")

    assert response.json()["data"] == {"carts": 0, "events": 0, "checkoutSessions": 0, "messages": 0}
    assert Suppression.objects.get(store=store).value_hash == contact_hash("email", "nobody@example.com")


def test_no_reminder_reaches_an_erased_customer_on_a_later_cart(merchant_client, store, make_cart, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    merchant_client.post(ERASURE, {"email": EMAIL}, format="json")
    # She comes back and leaves a new cart with the same address and consent.
    later = make_cart(email=EMAIL, email_consent=True, first_name="Jane", idle=timedelta(hours=30))

    summary = sweep_run(enable_whatsapp=False)

    assert summary.first_sent == 0
    assert summary.skipped_by_reason == {"unsubscribed": 1}
    assert mail.outbox == []
    assert not ReminderMessage.objects.filter(cart=later).exists()


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({}, "email or user_id is required", "email"),
        ({"email": "", "user_id": "  "}, "email or user_id is required", "email"),
        ({"email": "not-an-address"}, "email: Enter a valid email address.", "email"),
        ({"user_id": "x" * 256}, "user_id: Ensure this field has no more than 255 characters.", "user_id"),
        ({"user_id": 12}, "user_id: Not a valid string.", "user_id"),
    ],
)
def test_erasure_rejects_a_request_naming_nobody(merchant_client, body, message, field):
    response = merchant_client.post(ERASURE, body, format="json")

    assert response.status_code == 400
    assert response.json()["message"] == message
    assert response.json()["details"]["field"] == field


def test_erasure_rejects_a_body_that_is_not_an_object(merchant_client):
    response = merchant_client.post(ERASURE, json.dumps(["jane@example.com"]), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["status"] == "error"


def test_erasure_needs_the_secret_key(anonymous_client, storefront_client, staff_user, customer_data):
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")

    unauthenticated = anonymous_client.post(ERASURE, {"email": EMAIL}, format="json")
    publishable = storefront_client.post(ERASURE, {"email": EMAIL}, format="json")
    staff_token = staff.post(ERASURE, {"email": EMAIL}, format="json")

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "Unauthorized"
    assert publishable.status_code == 403
    assert staff_token.status_code == 403
    assert Cart.objects.get(pk=customer_data["jane"].pk).email == EMAIL


def test_erasure_acts_on_the_key_store_only(other_store_keys, store, customer_data):
    other_merchant = APIClient()
    other_merchant.credentials(HTTP_AUTHORIZATION=f"Bearer {other_store_keys.secret_key}")

    response = other_merchant.post(ERASURE, {"email": EMAIL}, format="json")
    wrong_store = other_merchant.post(ERASURE + "?store=MyShop", {"email": EMAIL}, format="json")

    assert response.json()["data"] == {"carts": 1, "events": 1, "checkoutSessions": 1, "messages": 0}
    assert wrong_store.status_code == 403
    assert Cart.objects.get(pk=customer_data["jane"].pk).email == EMAIL
    assert Cart.objects.get(pk=customer_data["jane_elsewhere"].pk).email == ""
