"""Periodic payment jobs (scheduled in cartsite/schedules.py). Each calls one service."""

import logging

from celery import shared_task

from cartsite.errors import UpstreamFailed
from payments import services

logger = logging.getLogger("payments.tasks")


@shared_task
def checkout_sessions_expire() -> int:
    """Hourly: pending sessions past expires_at become expired."""
    return services.checkout_sessions_expire_old()


@shared_task
def checkout_reminders_send() -> dict:
    """Every 6 hours: one reminder e-mail per pending session 6–24 h old (fewer than 3 attempts)."""
    result = services.checkout_reminders_send()
    return {"candidates": result.candidates, "sent": result.sent, "failed": result.failed}


@shared_task
def checkout_sessions_cleanup() -> int:
    """Weekly: completed sessions older than CHECKOUT_RETENTION_DAYS are deleted."""
    return services.checkout_sessions_cleanup()


@shared_task(bind=True, max_retries=3, default_retry_delay=300)
def stripe_sessions_reconcile(self) -> dict:
    """Hourly: repairs completions and expiries whose webhook never arrived."""
    try:
        result = services.checkout_sessions_reconcile()
    except UpstreamFailed as exc:
        raise self.retry(exc=exc)
    return {"seen": result.seen, "completed": result.completed, "expired": result.expired}
