"""Admin: checkout sessions with links, Stripe events with "reprocess", plans, and the report page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import CheckoutSession, Plan, StripeEvent
from tests.fakes.stripe_server import webhook_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(db):
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def _session(store, plan, **fields):
    now = timezone.now()
    defaults = {
        "store": store,
        "plan": plan,
        "subscription_plan": plan.code,
        "plan_price": plan.price,
        "amount": plan.price,
        "currency": plan.currency,
        "user_id": "user-1",
        "email": "user-1@example.com",
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
    }
    defaults.update(fields)
    return CheckoutSession.objects.create(**defaults)


def test_checkout_session_pages_link_the_cart_and_the_stripe_session(superuser, admin_client_for, store, make_cart):
    cart = make_cart()
    session = CheckoutSession.objects.create(
        store=store,
        cart=cart,
        amount=Decimal("24.50"),
        currency="EUR",
        expires_at=timezone.now() + timedelta(hours=24),
        stripe_session_id="cs_test_abc",
        attempts=2,
    )
    client = admin_client_for(superuser)

    listing = client.get(reverse("admin:payments_checkoutsession_changelist"))
    detail = client.get(reverse("admin:payments_checkoutsession_change", args=[session.pk]))

    cart_url = reverse("admin:carts_cart_change", args=[cart.pk])
    assert listing.status_code == 200
    assert cart_url in listing.content.decode()
    assert reverse("payments-admin-report") in listing.content.decode()
    assert "https://dashboard.stripe.com/test/checkout/sessions/cs_test_abc" in listing.content.decode()
    assert detail.status_code == 200
    assert cart_url in detail.content.decode()
    assert "https://dashboard.stripe.com/test/checkout/sessions/cs_test_abc" in detail.content.decode()


def test_staff_see_only_their_stores_sessions(staff_user, admin_client_for, store, other_store, plan):
    other_plan = Plan.objects.create(store=other_store, code="pro", name="Pro", price=1, currency="USD")
    mine = _session(store, plan, user_id="mine")
    theirs = _session(other_store, other_plan, user_id="theirs")
    staff_user.is_superuser = False
    staff_user.save()
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="payments"))
    client = admin_client_for(staff_user)

    listing = client.get(reverse("admin:payments_checkoutsession_changelist"))

    assert listing.status_code == 200
    assert str(mine.pk) in listing.content.decode()
    assert str(theirs.pk) not in listing.content.decode()
    assert client.get(reverse("admin:payments_checkoutsession_change", args=[theirs.pk])).status_code == 302


def test_reprocess_action_processes_a_failed_event(superuser, admin_client_for, store, plan):
    session = _session(store, plan, stripe_session_id="cs_test_1")
    event = webhook_event(
        "checkout.session.completed",
        {
            "id": "cs_test_1",
            "object": "checkout.session",
            "payment_status": "paid",
            "status": "complete",
            "amount_total": 999,
            "currency": "eur",
            "metadata": {"checkoutSessionId": str(session.pk)},
        },
    )
    row = StripeEvent.objects.create(
        stripe_id=event["id"], type=event["type"], payload=event, status="failed", error="RuntimeError: boom"
    )
    client = admin_client_for(superuser)

    response = client.post(
        reverse("admin:payments_stripeevent_changelist"),
        {"action": "reprocess", "_selected_action": [row.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Reprocessed: 1 processed." in response.content.decode()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == ("processed", 2, "")
    session.refresh_from_db()
    assert session.status == "completed"


def test_stripe_events_are_read_only(superuser, admin_client_for):
    row = StripeEvent.objects.create(stripe_id="evt_1", type="customer.created", payload={}, status="ignored")
    client = admin_client_for(superuser)

    assert client.get(reverse("admin:payments_stripeevent_changelist")).status_code == 200
    detail = client.get(reverse("admin:payments_stripeevent_change", args=[row.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:payments_stripeevent_add")).status_code == 403


def test_plans_can_be_added_in_the_admin(superuser, admin_client_for, store):
    client = admin_client_for(superuser)

    response = client.post(
        reverse("admin:payments_plan_add"),
        {
            "store": store.pk,
            "code": "pro",
            "name": "Pro",
            "price": "9.99",
            "currency": "EUR",
            "interval": "month",
            "stripe_price_id": "",
            "active": "on",
        },
    )

    assert response.status_code == 302
    assert Plan.objects.get().interval == "month"


def test_report_page_shows_seed_004_analytics(superuser, admin_client_for, store, plan):
    now = timezone.now()
    _session(
        store,
        plan,
        user_id="a",
        status="completed",
        created_at=now - timedelta(hours=2),
        completed_at=now - timedelta(hours=2) + timedelta(minutes=10),
        attempts=2,
    )
    _session(
        store,
        plan,
        user_id="b",
        status="completed",
        created_at=now - timedelta(days=2),
        completed_at=now - timedelta(days=2) + timedelta(minutes=20),
    )
    _session(store, plan, user_id="c", status="expired", created_at=now - timedelta(days=3), attempts=3)
    _session(store, plan, user_id="d", created_at=now - timedelta(hours=1))
    _session(
        store,
        plan,
        user_id="e",
        status="completed",
        created_at=now - timedelta(days=40),
        completed_at=now - timedelta(days=40),
    )
    client = admin_client_for(superuser)

    response = client.get("/admin/payments/report/")

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.total_30d, report.completed_30d, report.conversion_rate_30d) == (4, 2, 0.5)
    assert report.average_minutes_to_complete == 15.0
    assert (report.retried_sessions, report.retry_completed) == (2, 1)
    assert [(p.plan, p.total, p.abandoned, p.completed) for p in report.by_plan] == [("pro", 4, 2, 2)]
    assert report.by_day[0].day == now.date()
    assert sum(row.total for row in report.by_day) == 4
    assert report.revenue_30d == {"EUR": Decimal("19.98")}
    html = response.content.decode()
    assert "<svg" in html
    assert '<td id="conversion-30d">50 %</td>' in html
    assert "cdn" not in html.lower()


def test_report_page_needs_staff(client):
    response = client.get("/admin/payments/report/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
