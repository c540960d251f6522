"""Faults made for real: PostgreSQL refusing or dropping connections, Redis gone, the SMTP server
and the WhatsApp API down or hanging. Never a 500, nothing half-written, nothing lost for good."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.models import Cart
from notifications.models import ReminderMessage
from notifications.services import sweep_run
from payments.models import CheckoutSession, StripeEvent
from tests.fakes.redis_down import DEAD_REDIS
from tests.fakes.stripe_server import sign_webhook
from tests.fakes.whatsapp_server import FakeWhatsApp
from tests.reliability.conftest import (
    closed_port,
    database_dies_while_inserting,
    database_refusing_connections,
    log_lines,
)
from tracking.models import CartTrackingEvent

ITEM = {"productId": "sku-1", "quantity": 2, "price": 12.25}
EVENT = {"storeName": "MyShop", "productId": "sku-1", "sessionId": "s-1"}


@pytest.fixture
def callers(store_keys, staff_user):
    """One client per kind of caller, made while the database is still there."""
    storefront = APIClient()
    storefront.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
    merchant = APIClient()
    merchant.credentials(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return {"storefront": storefront, "merchant": merchant, "staff": staff, "stripe": APIClient()}


def signed_webhook_kwargs(settings) -> dict:
    body = json.dumps(
        {
            "id": "evt_db_down",
            "object": "event",
            "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_test_db_down", "object": "checkout.session", "metadata": {}}},
        }
    )
    return {
        "data": body,
        "content_type": "application/json",
        "HTTP_STRIPE_SIGNATURE": sign_webhook(body, settings.STRIPE_WEBHOOK_SECRET),
    }


REAL_DOORS = [
    ("storefront", "post", "/cart/sync", {"session_token": "s-1", "items": [ITEM]}),
    ("storefront", "post", "/api/carts/update", {"sessionId": "s-1", "cart": {"items": [ITEM]}}),
    ("storefront", "post", "/api/cart-tracking/track", EVENT),
    ("storefront", "post", "/api/cart-tracking/track/bulk", {"events": [EVENT, EVENT]}),
    ("storefront", "get", "/api/carts/s-1", None),
    ("staff", "get", "/api/carts/active", None),
    (
        "merchant",
        "post",
        "/api/payments/create-checkout",
        {"session_token": "s-1", "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no"},
    ),
    ("merchant", "post", "/api/payments/checkout-session", {"userId": "u-1", "email": "a@example.com", "plan": "pro"}),
    ("merchant", "get", "/api/payments/checkout-session?userId=u-1", None),
    ("merchant", "post", "/api/privacy/erasure", {"email": "a@example.com"}),
    ("staff", "post", "/admin/cart-abandonment/process", {}),
    ("staff", "get", "/admin/cart-abandonment", None),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("caller", "method", "path", "body"), REAL_DOORS)
def test_database_refusing_connections_is_a_503_and_nothing_is_written(callers, caller, method, path, body):
    client = callers[caller]

    with database_refusing_connections():
        response = getattr(client, method)(path, body, format="json") if body is not None else client.get(path)

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["error"] == "Service Unavailable"
    assert response.json()["code"] == "DATABASE_UNAVAILABLE"
    assert "Traceback" not in response.content.decode() and "psycopg" not in response.content.decode()
    assert (Cart.objects.count(), CartTrackingEvent.objects.count(), CheckoutSession.objects.count()) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_the_stripe_webhook_with_the_database_refusing_is_a_503_that_stripe_retries(callers, settings):
    with database_refusing_connections():
        response = callers["stripe"].post("/api/payments/webhook", **signed_webhook_kwargs(settings))
    retried = callers["stripe"].post("/api/payments/webhook", **signed_webhook_kwargs(settings))

    assert response.status_code == 503
    assert response.json()["code"] == "DATABASE_UNAVAILABLE"
    # Stripe redelivers on any non-2xx; once the database is back the event is stored once.
    assert retried.status_code in (200, 500)
    assert StripeEvent.objects.filter(stripe_id="evt_db_down").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_dropping_the_connection_in_the_middle_of_a_first_sync_writes_nothing(callers, store):
    with database_dies_while_inserting("carts_cart"):
        response = callers["storefront"].post("/cart/sync", {"session_token": "s-1", "items": [ITEM]}, format="json")
    again = callers["storefront"].post("/cart/sync", {"session_token": "s-1", "items": [ITEM]}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "DATABASE_UNAVAILABLE"
    # The client's retry creates the cart: the failed attempt left nothing behind.
    assert again.status_code == 201
    assert Cart.objects.filter(store=store, session_token="s-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_dropping_the_connection_while_a_bulk_call_stores_writes_none_of_it(callers):
    with database_dies_while_inserting("cart_tracking_events", on_row=2):
        response = callers["storefront"].post(
            "/api/cart-tracking/track/bulk", {"events": [EVENT, EVENT, EVENT]}, format="json"
        )
    again = callers["storefront"].post("/api/cart-tracking/track/bulk", {"events": [EVENT, EVENT]}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "error": "Service Unavailable",
        "message": "Database service unavailable",
        "code": "DATABASE_UNAVAILABLE",
    }
    assert again.status_code == 200
    assert sorted(CartTrackingEvent.objects.values_list("id", flat=True)) == sorted(again.json()["data"]["ids"])


# --- Redis down ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_redis_down_tracking_fails_open_and_says_so(callers, json_log_text):
    with override_settings(CACHES=DEAD_REDIS):
        response = callers["storefront"].post("/api/cart-tracking/track", EVENT, format="json")

    assert response.status_code == 200
    assert CartTrackingEvent.objects.count() == 1
    lines = log_lines(json_log_text())
    assert [line["message"] for line in lines if line["logger"] == "tracking.ratelimit"] == ["rate limiter unavailable"]


@pytest.mark.django_db
def test_redis_down_carts_are_synced_read_and_listed(callers, store):
    with override_settings(CACHES=DEAD_REDIS):
        created = callers["storefront"].post("/cart/sync", {"session_token": "s-1", "items": [ITEM]}, format="json")
        updated = callers["storefront"].post(
            "/api/carts/update", {"sessionId": "s-1", "cart": {"items": [ITEM, ITEM]}}, format="json"
        )
        read = callers["storefront"].get("/api/carts/s-1")
        active = callers["staff"].get("/api/carts/active")
        erased = callers["merchant"].post("/api/privacy/erasure", {"email": "a@example.com"}, format="json")

    assert [created.status_code, updated.status_code, read.status_code, active.status_code] == [201, 200, 200, 200]
    assert erased.status_code == 200
    assert [cart["sessionId"] for cart in active.json()] == ["s-1"]
    assert Cart.objects.get(store=store).item_count == 4


@pytest.mark.django_db
def test_redis_down_the_sweep_endpoint_answers_and_sends_nothing(callers, make_cart, settings):
    settings.MESSAGES_PER_STORE_PER_DAY = 100
    cart = make_cart(email="a@example.com", email_consent=True, idle=timedelta(hours=30))

    with override_settings(CACHES=DEAD_REDIS):
        down = callers["staff"].post("/admin/cart-abandonment/process", {"enableWhatsApp": False}, format="json")
    claimed_while_down = ReminderMessage.objects.filter(cart=cart).count()
    back = callers["staff"].post("/admin/cart-abandonment/process", {"enableWhatsApp": False}, format="json")

    # The store's message budget cannot be counted, so nothing goes out (fail closed) ...
    assert down.status_code == 200
    assert (down.json()["firstSent"], down.json()["skippedByReason"]) == (0, {"store_daily_cap": 1})
    assert claimed_while_down == 0
    # ... and the message is still due once Redis is back.
    assert back.json()["firstSent"] == 1


# --- SMTP and WhatsApp down or hanging ------------------------------------------------------


@pytest.fixture
def due_carts(make_cart):
    """Three carts due for stage 1 on both channels."""
    return [
        make_cart(
            email=f"c{i}@example.com",
            phone=f"+49151000000{i}",
            first_name="Anna",
            email_consent=True,
            whatsapp_consent=True,
            idle=timedelta(hours=30),
        )
        for i in range(3)
    ]


class Recorder:
    def __init__(self):
        self.recipients = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 1
    return settings


@pytest.fixture
def whatsapp(settings):
    server = FakeWhatsApp().start()
    settings.WHATSAPP_API_BASE = server.base_url
    settings.WHATSAPP_PHONE_NUMBER_ID = "1234567890"
    settings.WHATSAPP_ACCESS_TOKEN = "EAATESTTOKEN"
    settings.WHATSAPP_TIMEOUT_SECONDS = 0.5
    yield server
    server.stop()


def messages_by_channel(channel: str) -> list[tuple]:
    return list(
        ReminderMessage.objects.filter(channel=channel)
        .order_by("cart_id")
        .values_list("status", "error_kind", "attempts")
    )


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["hangs", "refuses"])
def test_smtp_down_leaves_the_mails_retryable_and_the_sweep_goes_on(
    due_carts, smtp_settings, whatsapp, silent_smtp_port, fault
):
    smtp_settings.EMAIL_PORT = silent_smtp_port if fault == "hangs" else closed_port()

    first = sweep_run(now=timezone.now())

    # Every e-mail failed as retryable; WhatsApp, the other channel, went out for every cart.
    assert first.by_channel == {"whatsapp": {"sent": 3, "failed": 0}, "email": {"sent": 0, "failed": 3}}
    assert messages_by_channel("email") == [("failed", "retry", 1)] * 3
    assert len(whatsapp.requests) == 3
    failed = ReminderMessage.objects.filter(channel="email").first()
    expected = "SMTPServerDisconnected" if fault == "hangs" else "ConnectionRefusedError"  # timed out / refused
    assert failed.last_error == f"SMTP unavailable: {expected}"

    # The SMTP server is back: the next sweep sends exactly the failed mails, as second attempts.
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        smtp_settings.EMAIL_PORT = controller.port
        second = sweep_run(now=timezone.now())
    finally:
        controller.stop()
    assert second.by_channel["email"] == {"sent": 3, "failed": 0}
    assert second.by_channel["whatsapp"] == {"sent": 0, "failed": 0}
    assert messages_by_channel("email") == [("sent", "", 2)] * 3
    assert sorted(recorder.recipients) == sorted(cart.email for cart in due_carts)


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["slow", "down"])
def test_whatsapp_down_or_slow_leaves_the_messages_retryable_and_the_sweep_goes_on(
    due_carts, whatsapp, settings, fault
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    if fault == "slow":
        whatsapp.delay_seconds = 2  # past WHATSAPP_TIMEOUT_SECONDS (0.5)
    else:
        settings.WHATSAPP_API_BASE = f"http://127.0.0.1:{closed_port()}/v21.0"

    first = sweep_run(now=timezone.now())

    assert first.by_channel == {"whatsapp": {"sent": 0, "failed": 3}, "email": {"sent": 3, "failed": 0}}
    assert messages_by_channel("whatsapp") == [("failed", "retry", 1)] * 3
    assert ReminderMessage.objects.filter(channel="whatsapp").first().last_error.startswith("WhatsApp API unreachable")

    whatsapp.delay_seconds = 0
    settings.WHATSAPP_API_BASE = whatsapp.base_url
    whatsapp.reset()
    second = sweep_run(now=timezone.now())

    assert second.by_channel["whatsapp"] == {"sent": 3, "failed": 0}
    assert messages_by_channel("whatsapp") == [("sent", "", 2)] * 3
    assert sorted(r.body["to"] for r in whatsapp.requests) == sorted(cart.phone for cart in due_carts)


@pytest.mark.django_db
def test_a_message_failing_three_times_is_not_tried_a_fourth_time(due_carts, whatsapp, settings):
    settings.WHATSAPP_API_BASE = f"http://127.0.0.1:{closed_port()}/v21.0"

    summaries = [sweep_run(now=timezone.now(), enable_email=False) for _ in range(4)]

    assert [s.by_channel["whatsapp"]["failed"] for s in summaries] == [3, 3, 3, 0]
    assert messages_by_channel("whatsapp") == [("failed", "retry", 3)] * 3


@pytest.mark.django_db
def test_redis_down_the_scheduled_sweep_sends_nothing_rather_than_risk_twice(make_cart, settings):
    from notifications.tasks import abandonment_sweep

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_cart(email="a@example.com", email_consent=True, idle=timedelta(hours=30))

    with override_settings(CACHES=DEAD_REDIS), pytest.raises(Exception) as failed:
        abandonment_sweep()

    # The lock cannot be taken: the task fails (Celery logs it, beat runs it again next hour).
    assert "Connection" in type(failed.value).__name__ or "connect" in str(failed.value).lower()
    assert ReminderMessage.objects.count() == 0


class SlowToAccept:
    """An SMTP server that takes the message and answers only after `delay` seconds."""

    def __init__(self, delay: float):
        self.delay = delay
        self.accepted: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.accepted.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.mark.django_db
def test_an_smtp_server_slower_than_the_timeout_after_data_leaves_the_mail_retryable(
    make_cart, smtp_settings, settings
):
    # given a server that answers the end of DATA only after EMAIL_TIMEOUT (1 s) has passed
    cart = make_cart(email="a@example.com", email_consent=True, idle=timedelta(hours=30))
    slow = SlowToAccept(delay=1.5)
    controller = Controller(slow, hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        smtp_settings.EMAIL_PORT = controller.port
        first = sweep_run(now=timezone.now(), enable_whatsapp=False)
        time.sleep(1)  # the server finishes its (late) acceptance
        slow.delay = 0
        second = sweep_run(now=timezone.now(), enable_whatsapp=False)
    finally:
        controller.stop()

    # then the timed-out send is a retryable failure and the next sweep sends it again:
    assert first.by_channel["email"] == {"sent": 0, "failed": 1}
    assert second.by_channel["email"] == {"sent": 1, "failed": 0}
    assert messages_by_channel("email") == [("sent", "", 2)]
    # This server drops a message whose client left before the final reply, so it went out once.
    # A server that commits before replying would hold it twice (RFC 1047): SMTP has no
    # idempotency key, so e-mail is at-least-once at this one edge (docs/reliability.md).
    assert slow.accepted == [cart.email]
