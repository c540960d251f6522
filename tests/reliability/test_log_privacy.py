"""One e-mail address and one phone number carried through every endpoint and job, failures
included, leave neither in any log line (as the production handler writes them)."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from carts.models import Cart
from notifications import links
from notifications.models import ReminderMessage, Suppression
from notifications.services import sweep_run
from tests.fakes.stripe_server import sign_webhook
from tests.fakes.whatsapp_server import FakeWhatsApp
from tests.reliability.conftest import log_lines

EMAIL = "jane.doe@example.com"
PHONE = "+4915112345678"
# Every way the two could appear: as typed, URL-encoded, without the plus, local part alone.
FORBIDDEN = [EMAIL, "jane.doe%40example.com", "jane.doe", PHONE, "%2B4915112345678", "4915112345678", "15112345678"]


@pytest.fixture
def whatsapp(settings):
    server = FakeWhatsApp().start()
    settings.WHATSAPP_API_BASE = server.base_url
    settings.WHATSAPP_PHONE_NUMBER_ID = "1234567890"
    settings.WHATSAPP_ACCESS_TOKEN = "EAATESTTOKEN"
    yield server
    server.stop()


def test_contact_data_through_every_door_and_job_never_reaches_a_log_line(
    store_keys, staff_client, fake_stripe, whatsapp, json_log_text
):
    storefront = APIClient()
    storefront.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
    merchant = APIClient()
    merchant.credentials(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
    customer = {
        "email": EMAIL,
        "phone": PHONE,
        "first_name": "Jane",
        "last_name": "Doe",
        "marketing_consent": {"email": True, "whatsapp": True},
    }
    item = {"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks"}
    event = {"storeName": "MyShop", "productId": "sku-1", "sessionId": "s-jane", "customerEmail": EMAIL}
    statuses = {}

    # storefront: sync (and a refused one that names the contact), track, bulk with a bad e-mail
    statuses["sync"] = storefront.post(
        "/cart/sync", {"session_token": "s-jane", "items": [item], "customer": customer}, format="json"
    ).status_code
    statuses["sync refused"] = storefront.post(
        "/cart/sync",
        {"session_token": "s-jane", "items": [item], "customer": {**customer, "phone": PHONE + "99999"}},
        format="json",
    ).status_code
    statuses["track"] = storefront.post(
        "/api/cart-tracking/track", {**event, "customerFirstName": "Jane"}, format="json"
    ).status_code
    statuses["bulk"] = storefront.post(
        "/api/cart-tracking/track/bulk",
        {"events": [event, {**event, "customerEmail": "jane.doe@example"}]},
        format="json",
    ).status_code
    # a contact in a URL path and a query string
    statuses["lookup"] = storefront.get(f"/api/carts/{EMAIL}").status_code
    statuses["events"] = merchant.get("/api/cart-tracking/events", {"customerEmail": EMAIL}).status_code

    # merchant: checkout for the cart, Stripe's completion webhook carrying the customer's details
    statuses["checkout"] = merchant.post(
        "/api/payments/create-checkout",
        {
            "session_token": "s-jane",
            "email": EMAIL,
            "successUrl": "https://myshop.example/ok",
            "cancelUrl": "https://myshop.example/no",
        },
        format="json",
    ).status_code
    statuses["plan session"] = merchant.post(
        "/api/payments/checkout-session", {"userId": PHONE, "email": EMAIL, "plan": "none"}, format="json"
    ).status_code
    [stripe_session_id] = fake_stripe.state.sessions
    fake_stripe.complete_session(stripe_session_id)
    completed = fake_stripe.event_for("checkout.session.completed", stripe_session_id)
    completed["data"]["object"]["customer_details"] = {"email": EMAIL, "phone": PHONE, "name": "Jane Doe"}
    body = json.dumps(completed)
    statuses["webhook"] = (
        APIClient()
        .post(
            "/api/payments/webhook",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign_webhook(body, settings.STRIPE_WEBHOOK_SECRET),
        )
        .status_code
    )

    # the sweep, on a second cart of hers that did not convert: WhatsApp fails once, e-mail goes out
    statuses["sync 2"] = storefront.post(
        "/cart/sync", {"session_token": "s-jane-2", "items": [item], "customer": customer}, format="json"
    ).status_code
    Cart.objects.filter(session_token="s-jane-2").update(last_activity_at=timezone.now() - timedelta(hours=30))
    whatsapp.fail_next(131026)
    summary = sweep_run(now=timezone.now())
    statuses["sweep endpoint"] = staff_client.post(
        "/admin/cart-abandonment/process", {"store": "MyShop"}, format="json"
    ).status_code
    message = ReminderMessage.objects.get(channel="email")
    statuses["recovery click"] = APIClient().get(f"/r/{links.recovery_token(message_id=message.id)}").status_code

    # the customer unsubscribes, then the merchant erases her
    cart_id = Cart.objects.get(session_token="s-jane-2").id
    statuses["unsubscribe"] = APIClient().post(f"/u/{links.unsubscribe_token(cart_id=cart_id)}").status_code
    statuses["erasure"] = merchant.post("/api/privacy/erasure", {"email": EMAIL}, format="json").status_code

    # Every step did what it does (so the logs below cover real work, failures included).
    assert statuses == {
        "sync": 201,
        "sync refused": 400,
        "track": 200,
        "bulk": 200,
        "lookup": 404,
        "events": 200,
        "checkout": 200,
        "plan session": 400,
        "webhook": 200,
        "sync 2": 201,
        "sweep endpoint": 200,
        "recovery click": 302,
        "unsubscribe": 200,
        "erasure": 200,
    }
    assert summary.by_channel == {"whatsapp": {"sent": 0, "failed": 1}, "email": {"sent": 1, "failed": 0}}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL]
    assert Suppression.objects.count() == 2

    text = json_log_text()
    lines = log_lines(text)
    assert len(lines) >= 20
    assert {"cartsite.access", "notifications.sweep", "cartsite.privacy"} <= {line["logger"] for line in lines}
    leaks = [(needle, line) for line in lines for needle in FORBIDDEN if needle in json.dumps(line)]
    at_production_level = [(needle, line) for needle, line in leaks if line["level"] != "DEBUG"]
    assert at_production_level == [], "\n".join(f"{n}: {json.dumps(line)[:600]}" for n, line in leaks)
    # Known, and only at DEBUG (LOG_LEVEL defaults to INFO): the stripe library logs the form body
    # it posts ("Post details"), where the address is URL-encoded and escapes mask_text. Fix in
    # cartsite/settings.py LOGGING: "stripe": {"level": "WARNING"} (docs/reliability.md).
    assert {line["logger"] for _needle, line in leaks} <= {"stripe"}
