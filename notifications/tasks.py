"""Celery tasks of the notifications app (queue `notifications`)."""

from celery import shared_task

from notifications.services import reminders_deliver, sweep_run_exclusive


@shared_task(bind=True, name="notifications.tasks.abandonment_sweep")
def abandonment_sweep(self) -> dict:
    """The hourly sweep. Holds the sweep lock: a run that overlaps a running one skips.

    The sweep claims the due messages set-based, batch by batch, and queues one delivery task per
    batch (`reminders_deliver_batch`) on the queue the sweep itself came from (the notifications
    queue, by the routes); what a lost task leaves unsent is delivered by a later sweep. The
    result names the delivery tasks, so a caller can follow them."""
    queue = (self.request.delivery_info or {}).get("routing_key")
    deliveries: list[str] = []

    def queue_delivery(message_ids: list[int]) -> None:
        deliveries.append(reminders_deliver_batch.apply_async((message_ids,), queue=queue).id)

    summary = sweep_run_exclusive(deliver=False, on_claimed=queue_delivery)
    if summary is None:
        return {"skipped": "another sweep is running"}
    return {
        **summary.as_api(),
        "claimed": summary.claimed,
        "durationSeconds": summary.duration_seconds,
        "deliveryTasks": deliveries,
    }


@shared_task(name="notifications.tasks.reminders_deliver_batch")
def reminders_deliver_batch(message_ids: list[int]) -> dict:
    """Sends one batch of claimed messages (each at most once, also when the task runs twice)."""
    summary = reminders_deliver(message_ids=message_ids)
    return {"firstSent": summary.first_sent, "secondSent": summary.second_sent, "byChannel": summary.by_channel}
