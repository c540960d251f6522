"""The one place where the periodic tasks of API.md "Schedules" are declared.

Each entry is created in django-celery-beat's tables on migrate if it does not exist yet. An
existing row is left as an operator may have edited it in the admin (interval, enabled), so
running migrate twice never duplicates or resets a schedule.
"""

from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    # Either an interval (every N units) or a crontab; exactly one is set.
    every: int | None = None
    period: str = "hours"  # days, hours, minutes, seconds
    crontab: dict | None = None  # {"minute": "15", "hour": "3", "day_of_week": "*", ...}
    description: str = ""


# Each job is added by the change that builds it (no placeholders).
PERIODIC_JOBS: list[PeriodicJob] = []


# payments: checkout-session expiry, payment reminders, cleanup, Stripe reconciliation.
PERIODIC_JOBS += [
    PeriodicJob(
        name="payments: expire checkout sessions",
        task="payments.tasks.checkout_sessions_expire",
        every=1,
        period="hours",
        description="Pending checkout sessions past expires_at become expired.",
    ),
    PeriodicJob(
        name="payments: payment reminders",
        task="payments.tasks.checkout_reminders_send",
        every=6,
        period="hours",
        description="One reminder e-mail per pending checkout session 6-24 h old with fewer than 3 attempts.",
    ),
    PeriodicJob(
        name="payments: cleanup completed checkout sessions",
        task="payments.tasks.checkout_sessions_cleanup",
        crontab={"minute": "30", "hour": "3", "day_of_week": "0", "day_of_month": "*", "month_of_year": "*"},
        description="Deletes completed checkout sessions older than 90 days (weekly, Sunday 03:30 UTC).",
    ),
    PeriodicJob(
        name="payments: reconcile Stripe checkout sessions",
        task="payments.tasks.stripe_sessions_reconcile",
        every=1,
        period="hours",
        description="Repairs completions and expiries whose Stripe webhook never arrived.",
    ),
]

# notifications: the abandonment sweep (the task takes a lock, so an overlapping run skips).
PERIODIC_JOBS += [
    PeriodicJob(
        name="notifications: abandonment sweep",
        task="notifications.tasks.abandonment_sweep",
        every=1,
        period="hours",
        description="Sends due abandoned-cart reminders (WhatsApp, e-mail) and refreshes attribution.",
    ),
]

PERIODIC_JOBS += [
    PeriodicJob(
        name="tracking: retention",
        task="tracking.tasks.tracking_retention_run",
        crontab={"minute": "15", "hour": "2", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
        description="Archives tracking events older than TRACKING_RETENTION_DAYS to gzip files, then deletes them.",
    ),
]


def schedules_ensure(*, jobs: list[PeriodicJob] | None = None) -> int:
    """Create the missing periodic tasks; returns how many were created."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    created = 0
    for job in PERIODIC_JOBS if jobs is None else jobs:
        with transaction.atomic():
            schedule = {}
            if job.crontab is not None:
                crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **job.crontab)
                schedule["crontab"] = crontab
            else:
                interval, _ = IntervalSchedule.objects.get_or_create(every=job.every, period=job.period)
                schedule["interval"] = interval
            _, was_created = PeriodicTask.objects.get_or_create(
                name=job.name, defaults={"task": job.task, "description": job.description, **schedule}
            )
            created += int(was_created)
    return created


def schedules_ensure_after_migrate(sender, **kwargs):
    # post_migrate fires once per app; django-celery-beat's is the one whose tables we need.
    if sender.label == "django_celery_beat":
        schedules_ensure()
