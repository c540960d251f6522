"""The hourly beat task and its schedule entry."""

import pytest
from django.core.cache import cache

from cartsite.schedules import PERIODIC_JOBS, schedules_ensure
from notifications.models import ReminderMessage
from notifications.services import SWEEP_LOCK_KEY
from notifications.tasks import abandonment_sweep

pytestmark = pytest.mark.django_db


def test_the_task_runs_the_sweep(due_cart, fake_whatsapp):
    due_cart(hours=25)

    result = abandonment_sweep.delay().get()

    # the sweep claims both messages; the batch's delivery task (run eagerly here) sends them
    assert (result["processed"], result["claimed"], result["errors"]) == (1, 2, 0)
    assert ReminderMessage.objects.filter(status="sent").count() == 2
    assert len(fake_whatsapp.requests) == 1
    assert cache.get(SWEEP_LOCK_KEY) is None


def test_an_overlapping_scheduled_run_skips(due_cart, fake_whatsapp):
    due_cart(hours=25)
    cache.add(SWEEP_LOCK_KEY, "running", timeout=60)

    result = abandonment_sweep.delay().get()

    assert result == {"skipped": "another sweep is running"}
    assert ReminderMessage.objects.count() == 0
    assert fake_whatsapp.requests == []


def test_the_sweep_is_scheduled_hourly():
    from django_celery_beat.models import PeriodicTask

    [job] = [j for j in PERIODIC_JOBS if j.task == "notifications.tasks.abandonment_sweep"]
    schedules_ensure(jobs=[job])
    task = PeriodicTask.objects.get(task="notifications.tasks.abandonment_sweep")
    assert (task.interval.every, task.interval.period) == (1, "hours")
    assert schedules_ensure(jobs=[job]) == 0
