"""Celery tasks: scheduled as API.md says, routed to the payments queue, each calling its service."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from cartsite.celery import app
from cartsite.schedules import PERIODIC_JOBS, schedules_ensure
from payments import tasks
from payments.models import CheckoutSession


def _pending(store, plan, **fields):
    now = timezone.now()
    defaults = {
        "store": store,
        "plan": plan,
        "subscription_plan": plan.code,
        "amount": plan.price,
        "currency": "EUR",
        "user_id": "user-1",
        "email": "user-1@example.com",
        "created_at": now,
        "expires_at": now + timedelta(hours=24),
    }
    defaults.update(fields)
    return CheckoutSession.objects.create(**defaults)


def test_payment_jobs_are_scheduled_hourly_six_hourly_and_weekly():
    jobs = {job.task: job for job in PERIODIC_JOBS if job.task.startswith("payments.")}

    assert {task: (job.every, job.period) for task, job in jobs.items() if job.crontab is None} == {
        "payments.tasks.checkout_sessions_expire": (1, "hours"),
        "payments.tasks.checkout_reminders_send": (6, "hours"),
        "payments.tasks.stripe_sessions_reconcile": (1, "hours"),
    }
    assert jobs["payments.tasks.checkout_sessions_cleanup"].crontab["day_of_week"] == "0"
    for task in jobs:
        assert task in app.tasks
        assert app.amqp.router.route({}, task)["queue"].name == "payments"


@pytest.mark.django_db
def test_schedules_exist_in_the_beat_tables_after_migrate():
    schedules_ensure()

    names = set(PeriodicTask.objects.filter(task__startswith="payments.").values_list("task", flat=True))
    assert names == {
        "payments.tasks.checkout_sessions_expire",
        "payments.tasks.checkout_reminders_send",
        "payments.tasks.checkout_sessions_cleanup",
        "payments.tasks.stripe_sessions_reconcile",
    }
    assert schedules_ensure() == 0  # idempotent


@pytest.mark.django_db
def test_expire_task_expires_overdue_sessions(store, plan):
    _pending(store, plan, expires_at=timezone.now() - timedelta(minutes=1))

    assert tasks.checkout_sessions_expire.delay().get() == 1
    assert CheckoutSession.objects.get().status == "expired"


@pytest.mark.django_db
def test_reminder_task_sends_and_reports(store, plan):
    _pending(store, plan, created_at=timezone.now() - timedelta(hours=7))

    assert tasks.checkout_reminders_send.delay().get() == {"candidates": 1, "sent": 1, "failed": 0}
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_cleanup_task_deletes_old_completed_sessions(store, plan):
    long_ago = timezone.now() - timedelta(days=91)
    _pending(store, plan, status="completed", completed_at=long_ago, created_at=long_ago, expires_at=long_ago)

    assert tasks.checkout_sessions_cleanup.delay().get() == 1


@pytest.mark.django_db
def test_reconcile_task_repairs_completions(store, make_cart, fake_stripe):
    from payments.services import checkout_create

    cart = make_cart()
    result = checkout_create(
        store=store, cart_id=cart.pk, success_url="https://s.example/ok", cancel_url="https://s.example/no"
    )
    fake_stripe.complete_session(result.stripe_session_id)

    assert tasks.stripe_sessions_reconcile.delay().get() == {"seen": 1, "completed": 1, "expired": 0}
    cart.refresh_from_db()
    assert cart.converted_at is not None
