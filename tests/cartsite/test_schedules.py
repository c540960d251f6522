"""API.md "Schedules": the periodic tasks exist after migrate, once, and name registered tasks."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from cartsite.celery import app as celery_app
from cartsite.schedules import PERIODIC_JOBS

pytestmark = pytest.mark.django_db

# What API.md "Schedules" requires: the task of each job and the period it runs at.
REQUIRED_PERIODS = {
    "notifications.tasks.abandonment_sweep": timedelta(hours=1),
    "payments.tasks.checkout_sessions_expire": timedelta(hours=1),
    "payments.tasks.checkout_reminders_send": timedelta(hours=6),
    "payments.tasks.checkout_sessions_cleanup": timedelta(weeks=1),
    "tracking.tasks.tracking_retention_run": timedelta(days=1),
}


def period_of(task: PeriodicTask) -> timedelta:
    if task.interval_id:
        return timedelta(**{task.interval.period: task.interval.every})
    cron = task.crontab
    if cron.day_of_week != "*":
        return timedelta(weeks=1)
    if cron.hour != "*":
        return timedelta(days=1) if "/" not in cron.hour else timedelta(hours=int(cron.hour.split("/")[1]))
    return timedelta(hours=1)


def test_every_declared_job_exists_after_migrate_with_its_task():
    rows = {task.name: task for task in PeriodicTask.objects.filter(name__in=[job.name for job in PERIODIC_JOBS])}

    assert sorted(rows) == sorted(job.name for job in PERIODIC_JOBS)
    for job in PERIODIC_JOBS:
        assert rows[job.name].task == job.task
        assert rows[job.name].enabled


def test_the_jobs_of_api_md_are_declared_at_their_periods():
    declared = {job.task: period_of(PeriodicTask.objects.get(name=job.name)) for job in PERIODIC_JOBS}

    for task, period in REQUIRED_PERIODS.items():
        assert declared.get(task) == period, f"{task}: {declared.get(task)}"


def test_migrate_twice_does_not_duplicate_or_reset_schedules():
    sweep = PeriodicTask.objects.get(task="notifications.tasks.abandonment_sweep")
    PeriodicTask.objects.filter(pk=sweep.pk).update(enabled=False)  # an operator's edit in the admin
    before = PeriodicTask.objects.count()

    call_command("migrate", verbosity=0)

    assert PeriodicTask.objects.count() == before
    assert PeriodicTask.objects.get(pk=sweep.pk).enabled is False


def test_every_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()

    missing = [job.task for job in PERIODIC_JOBS if job.task not in celery_app.tasks]

    assert missing == []
