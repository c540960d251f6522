"""Celery tasks of the tracking app (queue `tracking`)."""

from celery import shared_task

from tracking.services import events_archive_expired


@shared_task(name="tracking.tasks.tracking_retention_run")
def tracking_retention_run() -> dict:
    """Daily: archive events older than TRACKING_RETENTION_DAYS, then delete them.

    Safe to overlap with another run or the management command (batches are taken with SKIP
    LOCKED) and to retry (each committed batch is final; an interrupted one is redone)."""
    result = events_archive_expired()
    return {
        "cutoff": result.cutoff.isoformat(),
        "archived": result.archived,
        "deleted": result.deleted,
        "files": len(result.files),
    }
