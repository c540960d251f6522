"""Celery tasks of the notifications app (queue `notifications`)."""

from celery import shared_task

from notifications.services import reminders_deliver, sweep_run_exclusive


@shared_task(name="notifications.tasks.abandonment_sweep")
def abandonment_sweep() -> dict:
    """The hourly sweep. Holds the sweep lock: a run that overlaps a running one skips.

    The sweep claims the due messages set-based, batch by batch, and queues one delivery task per
    batch (`reminders_deliver_batch`); what a lost task leaves unsent is delivered by a later sweep."""
    summary = sweep_run_exclusive(deliver=False, on_claimed=lambda ids: reminders_deliver_batch.delay(ids))
    if summary is None:
        return {"skipped": "another sweep is running"}
    return {**summary.as_api(), "claimed": summary.claimed, "durationSeconds": summary.duration_seconds}


@shared_task(name="notifications.tasks.reminders_deliver_batch")
def reminders_deliver_batch(message_ids: list[int]) -> dict:
    """Sends one batch of claimed messages (each at most once, also when the task runs twice)."""
    summary = reminders_deliver(message_ids=message_ids)
    return {"firstSent": summary.first_sent, "secondSent": summary.second_sent, "byChannel": summary.by_channel}
