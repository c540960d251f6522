"""Services: seed 004's four functions, races, reconciliation, and each job at its boundaries."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from carts.models import Cart
from payments import services
from payments.models import CheckoutSession, Plan, Subscription
from payments.services import (
    checkout_create,
    checkout_reminders_send,
    checkout_session_complete,
    checkout_session_get_or_create,
    checkout_sessions_cleanup,
    checkout_sessions_expire_old,
    checkout_sessions_reconcile,
)

URLS = {"success_url": "https://myshop.example/thanks", "cancel_url": "https://myshop.example/cart"}


def _session(store, plan, *, user_id="user-1", **fields):
    now = timezone.now()
    defaults = {
        "store": store,
        "plan": plan,
        "subscription_plan": plan.code,
        "plan_price": plan.price,
        "amount": plan.price,
        "currency": "EUR",
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
    }
    defaults.update(fields)
    return CheckoutSession.objects.create(**defaults)


def _run_in_threads(count, target):
    results, errors = [], []
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


# --- get or create ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_get_or_create_for_one_user_and_plan_makes_one_session(store, plan):
    results = _run_in_threads(
        6,
        lambda: checkout_session_get_or_create(
            store=store, plan=plan, user_id="user-1", email="a@example.com", count_attempt=True
        ),
    )

    session = CheckoutSession.objects.get()
    assert {r.session.pk for r in results} == {session.pk}
    assert sum(r.created for r in results) == 1
    assert session.attempts == 6


@pytest.mark.django_db(transaction=True)
def test_racing_get_or_create_for_one_cart_makes_one_session(store, make_cart):
    cart = make_cart()

    results = _run_in_threads(6, lambda: checkout_session_get_or_create(store=store, cart=cart))

    assert CheckoutSession.objects.filter(cart=cart).count() == 1
    assert sum(r.created for r in results) == 1


@pytest.mark.django_db
def test_a_pending_session_past_its_expiry_is_expired_and_not_reused(store, plan):
    old = _session(store, plan, expires_at=timezone.now() - timedelta(seconds=1))

    result = checkout_session_get_or_create(store=store, plan=plan, user_id="user-1", count_attempt=True)

    assert result.created is True
    assert result.session.pk != old.pk
    assert result.session.attempts == 1
    old.refresh_from_db()
    assert old.status == "expired"


@pytest.mark.django_db
def test_the_database_refuses_a_second_pending_session_for_the_same_user_and_plan(store, plan):
    from django.db import IntegrityError, transaction

    _session(store, plan)
    with pytest.raises(IntegrityError), transaction.atomic():
        _session(store, plan)
    # a closed one does not count
    CheckoutSession.objects.update(status="cancelled")
    _session(store, plan)
    assert CheckoutSession.objects.filter(status="pending").count() == 1


# --- complete -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_complete_flags_the_cart_once_and_returns_false_afterwards(store, make_cart):
    cart = make_cart()
    session = checkout_session_get_or_create(store=store, cart=cart).session
    CheckoutSession.objects.filter(pk=session.pk).update(stripe_session_id="cs_test_1")

    first = checkout_session_complete(session_id=session.pk, amount=Decimal("24.50"))
    second = checkout_session_complete(session_id=session.pk, stripe_session_id="cs_test_2", amount=Decimal("1"))

    assert (first, second) == (True, False)
    cart.refresh_from_db()
    session.refresh_from_db()
    assert (cart.order_reference, cart.order_amount) == ("cs_test_1", Decimal("24.50"))
    assert (session.status, session.stripe_session_id) == ("completed", "cs_test_1")


@pytest.mark.django_db
def test_complete_of_a_plan_purchase_activates_one_subscription(store, plan):
    first = _session(store, plan)
    checkout_session_complete(session_id=first.pk)
    second = _session(store, plan)

    checkout_session_complete(session_id=second.pk)

    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.checkout_session_id) == ("active", second.pk)


# --- create-checkout against the fake Stripe: expiry bounds -------------------------------


@pytest.mark.django_db
def test_a_session_near_its_end_gets_a_stripe_session_of_at_least_30_minutes(store, plan, fake_stripe):
    session = _session(store, plan, created_at=timezone.now() - timedelta(hours=23, minutes=50))
    session.expires_at = session.created_at + timedelta(hours=24)
    session.save()

    result = checkout_create(store=store, plan_code="pro", user_id="user-1", email="a@example.com")

    [sent] = fake_stripe.created_sessions
    assert int(sent["expires_at"]) - time.time() > 30 * 60
    session.refresh_from_db()
    assert result.session.pk == session.pk
    assert session.expires_at >= session.stripe_session_expires_at


# --- reconciliation -----------------------------------------------------------------------


@pytest.mark.django_db
def test_reconcile_repairs_a_completion_whose_webhook_never_arrived(store, make_cart, fake_stripe):
    cart = make_cart()
    result = checkout_create(store=store, cart_id=cart.pk, **URLS)
    fake_stripe.complete_session(result.stripe_session_id, customer="cus_42")  # paid; no webhook

    outcome = checkout_sessions_reconcile()

    assert (outcome.seen, outcome.completed, outcome.expired) == (1, 1, 0)
    session = CheckoutSession.objects.get()
    cart.refresh_from_db()
    assert (session.status, session.stripe_customer_id) == ("completed", "cus_42")
    assert (cart.order_reference, cart.order_amount) == (result.stripe_session_id, Decimal("24.50"))
    [listing] = fake_stripe.requests_to("GET", "/v1/checkout/sessions")
    assert int(listing.params["created"]["gte"]) == pytest.approx(time.time() - 72 * 3600, abs=60)
    # and a second run changes nothing
    assert checkout_sessions_reconcile().completed == 0


@pytest.mark.django_db
def test_reconcile_follows_pagination_and_repairs_expiry(store, plan, fake_stripe):
    result = checkout_create(store=store, plan_code="pro", user_id="user-1", email="a@example.com")
    fake_stripe.expire_session(result.stripe_session_id)
    now = int(time.time())
    for index in range(120):  # other checkouts of the account, newer than ours
        fake_stripe.state.sessions[f"cs_other_{index}"] = {
            "id": f"cs_other_{index}",
            "object": "checkout.session",
            "status": "open",
            "payment_status": "unpaid",
            "created": now,
            "metadata": {},
        }

    outcome = checkout_sessions_reconcile()

    assert (outcome.seen, outcome.expired) == (121, 1)
    assert len(fake_stripe.requests_to("GET", "/v1/checkout/sessions")) == 2
    assert CheckoutSession.objects.get().status == "expired"


@pytest.mark.django_db
def test_reconcile_leaves_sessions_older_than_the_lookback(store, plan, fake_stripe):
    result = checkout_create(store=store, plan_code="pro", user_id="user-1", email="a@example.com")
    fake_stripe.complete_session(result.stripe_session_id)
    fake_stripe.set_created(result.stripe_session_id, int(time.time()) - 73 * 3600)

    outcome = checkout_sessions_reconcile()

    assert outcome.seen == 0
    assert CheckoutSession.objects.get().status == "pending"


@pytest.mark.django_db
def test_reconcile_stripe_failure_is_an_upstream_error(fake_stripe):
    from cartsite.errors import UpstreamFailed

    fake_stripe.fail_next(500)

    with pytest.raises(UpstreamFailed) as caught:
        checkout_sessions_reconcile()
    assert caught.value.code == "STRIPE_ERROR"


# --- expiry job ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_expiry_job_expires_only_pending_sessions_past_expires_at(store, plan):
    now = timezone.now()
    past = _session(store, plan, user_id="a", expires_at=now - timedelta(seconds=1))
    future = _session(store, plan, user_id="b", expires_at=now + timedelta(seconds=1))
    completed = _session(
        store, plan, user_id="c", expires_at=now - timedelta(hours=1), status="completed", completed_at=now
    )

    assert checkout_sessions_expire_old(now=now) == 1

    assert {s.user_id: s.status for s in CheckoutSession.objects.all()} == {
        "a": "expired",
        "b": "pending",
        "c": "completed",
    }
    del past, future, completed


# --- reminders ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_reminder_window_is_6_to_24_hours_with_fewer_than_3_attempts(store, plan):
    now = timezone.now()
    minute = timedelta(minutes=1)
    cases = {
        "too-young": {"created_at": now - timedelta(hours=6) + minute},
        "just-6h": {"created_at": now - timedelta(hours=6) - minute},
        "just-24h": {"created_at": now - timedelta(hours=24) + minute},
        "too-old": {"created_at": now - timedelta(hours=24) - minute},
        "two-attempts": {"created_at": now - timedelta(hours=8), "attempts": 2},
        "three-attempts": {"created_at": now - timedelta(hours=8), "attempts": 3},
        "reminded": {"created_at": now - timedelta(hours=8), "reminder_sent_at": now - timedelta(hours=1)},
        "completed": {"created_at": now - timedelta(hours=8), "status": "completed", "completed_at": now},
        "no-email": {"created_at": now - timedelta(hours=8), "email": ""},
    }
    for user_id, fields in cases.items():
        fields.setdefault("expires_at", now + timedelta(hours=1))
        _session(store, plan, user_id=user_id, **fields)

    result = checkout_reminders_send(now=now)

    assert (result.candidates, result.sent, result.failed) == (3, 3, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        f"{u}@example.com" for u in ("just-6h", "just-24h", "two-attempts")
    )
    reminded = set(CheckoutSession.objects.filter(reminder_sent_at=now).values_list("user_id", flat=True))
    assert reminded == {"just-6h", "just-24h", "two-attempts"}
    # one reminder per session, ever: six hours later only the then 12-hour-old session is due
    assert checkout_reminders_send(now=now + timedelta(hours=6)).sent == 1
    assert [m.to[0] for m in mail.outbox[3:]] == ["too-young@example.com"]


@pytest.mark.django_db
def test_reminder_links_to_the_open_stripe_session_else_to_the_resume_page(store, plan, settings):
    now = timezone.now()
    _session(
        store,
        plan,
        user_id="open",
        created_at=now - timedelta(hours=7),
        stripe_session_id="cs_open",
        stripe_session_url="https://checkout.stripe.com/c/pay/cs_open",
        stripe_session_expires_at=now + timedelta(hours=2),
    )
    closed = _session(
        store,
        plan,
        user_id="closed",
        created_at=now - timedelta(hours=7),
        stripe_session_id="cs_gone",
        stripe_session_url="https://checkout.stripe.com/c/pay/cs_gone",
        stripe_session_expires_at=now - timedelta(minutes=1),
    )

    checkout_reminders_send(now=now)

    by_recipient = {m.to[0]: m for m in mail.outbox}
    open_mail = by_recipient["open@example.com"]
    closed_mail = by_recipient["closed@example.com"]
    assert "https://checkout.stripe.com/c/pay/cs_open" in open_mail.body
    assert f"{settings.SITE_URL}/payments/resume/{closed.pk}" in closed_mail.body
    assert "cs_gone" not in closed_mail.body
    html, mimetype = closed_mail.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{settings.SITE_URL}/payments/resume/{closed.pk}"' in html
    assert open_mail.subject == "Complete your purchase at myshop.myshopify.com"
    assert "Pro plan" in open_mail.body


@pytest.mark.django_db(transaction=True)
def test_two_reminder_runs_at_once_send_each_reminder_once(store, plan):
    now = timezone.now()
    for index in range(20):
        _session(store, plan, user_id=f"user-{index}", created_at=now - timedelta(hours=7))

    results = _run_in_threads(2, lambda: checkout_reminders_send(now=now, batch_size=5))

    assert sum(r.sent for r in results) == 20
    assert len(mail.outbox) == 20
    assert len({m.to[0] for m in mail.outbox}) == 20


@pytest.mark.django_db
def test_a_failed_reminder_is_released_for_the_next_run(store, plan, monkeypatch):
    now = timezone.now()
    session = _session(store, plan, created_at=now - timedelta(hours=7))

    def broken(session):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(services, "_reminder_send", broken)
    assert checkout_reminders_send(now=now).failed == 1
    session.refresh_from_db()
    assert session.reminder_sent_at is None

    monkeypatch.undo()
    assert checkout_reminders_send(now=now).sent == 1
    assert len(mail.outbox) == 1


# --- cleanup ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cleanup_deletes_completed_sessions_older_than_90_days_only(store, plan):
    now = timezone.now()
    minute = timedelta(minutes=1)
    old_created = now - timedelta(days=120)
    for user_id, completed_at in (
        ("old", now - timedelta(days=90) - minute),
        ("recent", now - timedelta(days=90) + minute),
    ):
        _session(
            store,
            plan,
            user_id=user_id,
            status="completed",
            completed_at=completed_at,
            created_at=old_created,
            expires_at=old_created + timedelta(hours=24),
        )
    _session(store, plan, user_id="expired", status="expired", created_at=old_created, expires_at=old_created)

    deleted = checkout_sessions_cleanup(now=now, batch_size=1)

    assert deleted == 1
    assert set(CheckoutSession.objects.values_list("user_id", flat=True)) == {"recent", "expired"}


@pytest.mark.django_db
def test_cleanup_keeps_the_subscription_and_the_cart_conversion(store, plan, make_cart):
    now = timezone.now()
    cart = make_cart()
    long_ago = now - timedelta(days=100)
    session = checkout_session_get_or_create(store=store, cart=cart, now=long_ago).session
    checkout_session_complete(session_id=session.pk, completed_at=long_ago)

    assert checkout_sessions_cleanup(now=now) == 1

    assert Cart.objects.get(pk=cart.pk).converted_at == long_ago


@pytest.mark.django_db
def test_plan_create_rejects_a_duplicate_code(store):
    from cartsite.errors import Conflict

    services.plan_create(store=store, code="pro", name="Pro", price="9.99", interval="month")

    with pytest.raises(Conflict):
        services.plan_create(store=store, code="pro", name="Pro again", price="1")
    assert Plan.objects.get().interval == "month"
