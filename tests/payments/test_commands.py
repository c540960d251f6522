"""manage.py commands: create_plan (API.md) and the jobs, each with a summary line."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import CheckoutSession, Plan

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_plan_as_api_md_names_it(store):
    output = _run("create_plan", "MyShop", "pro-monthly", "--name", "Pro", "--price", "9.99", "--interval", "month")

    plan = Plan.objects.get()
    assert (plan.store, plan.code, plan.name, plan.price, plan.currency, plan.interval) == (
        store,
        "pro-monthly",
        "Pro",
        Decimal("9.99"),
        "EUR",
        "month",
    )
    assert output == "plan pro-monthly created in myshop.myshopify.com: Pro, 9.99 EUR, monthly"


def test_create_plan_takes_a_currency_and_defaults_to_one_off(store):
    _run("create_plan", "myshop.myshopify.com", "lifetime", "--name", "Lifetime", "--price", "99", "--currency", "usd")

    plan = Plan.objects.get()
    assert (plan.currency, plan.interval, plan.price) == ("USD", "one_off", Decimal("99.00"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchshop", "x", "--name", "X", "--price", "1"], "No store named nosuchshop"),
        (["MyShop", "x", "--name", "X", "--price", "abc"], "price must be a number"),
        (["MyShop", "x", "--name", "X", "--price", "-1"], "price must be ≥ 0 with at most 2 decimals"),
        (["MyShop", "x", "--name", "X", "--price", "nan"], "price must be a number"),
        (["MyShop", "x", "--name", "X", "--price", "inf"], "price must be a number"),
        (["MyShop", "x", "--name", "X", "--price", "1e400"], "price must be below 100,000,000"),
        (["MyShop", "x", "--name", "X", "--price", "100000000"], "price must be below 100,000,000"),
        (["MyShop", "x", "--name", "X" * 201, "--price", "1"], "name must be at most 200 characters"),
        (["MyShop", "x", "--name", "Pro\tplan", "--price", "1"], "name must be printable text"),
        (["MyShop", "x" * 51, "--name", "X", "--price", "1"], "code must be at most 50 characters"),
        (
            ["MyShop", "pro monthly", "--name", "X", "--price", "1"],
            "code must be letters, digits, hyphens or underscores",
        ),
        (
            ["MyShop", "x", "--name", "X", "--price", "1", "--stripe-price", "p" * 256],
            "stripe_price_id must be at most",
        ),
        (["MyShop", "x", "--name", "Pro\x00", "--price", "1"], "must not contain a NUL character"),
        (["MyShop", "x", "--name", "Pro \udcff", "--price", "1"], "is not valid UTF-8 text"),
    ],
)
def test_create_plan_errors(store, args, message):
    with pytest.raises(CommandError, match=message):
        _run("create_plan", *args)

    assert not Plan.objects.exists()


def test_create_plan_takes_the_largest_price_the_column_holds(store):
    _run("create_plan", "MyShop", "max", "--name", "Max", "--price", "99999999.99")

    assert Plan.objects.get().price == Decimal("99999999.99")


def test_create_plan_twice_is_an_error(store):
    _run("create_plan", "MyShop", "pro", "--name", "Pro", "--price", "1")

    with pytest.raises(CommandError, match="Plan pro exists already"):
        _run("create_plan", "MyShop", "pro", "--name", "Pro", "--price", "1")


def _session(store, plan, **fields) -> CheckoutSession:
    return CheckoutSession.objects.create(
        store=store,
        plan=plan,
        subscription_plan="pro",
        amount=plan.price,
        currency="EUR",
        user_id="u1",
        email="u1@example.com",
        **fields,
    )


def test_job_commands_print_a_summary(store, plan):
    now = timezone.now()
    _session(store, plan, created_at=now - timedelta(hours=7), expires_at=now - timedelta(minutes=1))

    assert _run("send_payment_reminders") == "payment reminders: 1 candidate(s), 1 sent, 0 failed"
    assert _run("expire_checkout_sessions") == "expired 1 checkout session(s)"
    assert _run("cleanup_checkout_sessions") == "deleted 0 completed checkout session(s) older than 90 days"


def test_reconcile_command_summary_and_stripe_failure(fake_stripe):
    assert _run("reconcile_stripe_sessions") == "reconciled 0 Stripe session(s): 0 completed, 0 expired, 0 failed"

    fake_stripe.fail_next(500)
    with pytest.raises(CommandError, match="Payment provider error"):
        _run("reconcile_stripe_sessions")


@pytest.mark.parametrize("days", ["0", "-1", "99999999999999999999"])
def test_cleanup_refuses_a_retention_that_would_delete_every_session(store, plan, days):
    # given a session completed an hour ago
    now = timezone.now()
    _session(
        store,
        plan,
        status=CheckoutSession.Status.COMPLETED,
        completed_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=1),
    )

    # when the cleanup is asked to keep no day at all (or more days than a date can count)
    with pytest.raises(CommandError, match="days must be between 1 and 36500"):
        _run("cleanup_checkout_sessions", "--days", days)

    # then nothing is deleted
    assert CheckoutSession.objects.count() == 1
