"""Celery tasks of the notifications app (queue `notifications`)."""

from celery import shared_task

from notifications.services import sweep_run_exclusive


@shared_task(name="notifications.tasks.abandonment_sweep")
def abandonment_sweep() -> dict:
    """The hourly sweep. Holds the sweep lock: a run that overlaps a running one skips."""
    summary = sweep_run_exclusive()
    if summary is None:
        return {"skipped": "another sweep is running"}
    return {**summary.as_api(), "durationSeconds": summary.duration_seconds}
