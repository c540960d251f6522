"""Stripe webhook events (STYLE.md "Stripe webhook shape", after dj-stripe, made race-free).

1. The signature is checked on the raw body (`stripe.Webhook.construct_event`) before anything
   is parsed or stored.
2. The event row is inserted with `INSERT … ON CONFLICT (stripe_id) DO NOTHING` in the same
   transaction that processes it: a second delivery of the same event (also one arriving at the
   same moment, which waits on the first one's uncommitted row) inserts nothing and changes
   nothing. If the first delivery dies mid-way its transaction rolls back, so the retry processes.
3. A failed event keeps its error; Stripe's retry (or the admin's "reprocess") claims it back with
   a conditional UPDATE and processes it again.
4. Handlers are looked up in a dict by type and only move state forward.
"""

import json
import logging
import time
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from cartsite.errors import DomainError, NotFound, ServiceUnavailable, ValidationFailed
from cartsite.metrics import STRIPE_EVENTS
from payments.models import StripeEvent
from payments.services import checkout_apply_stripe_session, subscription_apply_stripe

logger = logging.getLogger("payments.webhook")


class WebhookProcessingFailed(DomainError):
    """Answered 500 so that Stripe delivers the event again."""

    status = 500
    code = "WEBHOOK_FAILED"
    default_message = "The event could not be processed; it will be retried"


def _checkout_session_event(event: dict) -> str:
    return checkout_apply_stripe_session(stripe_session=event["data"]["object"], event_type=event["type"])


def _subscription_event(event: dict) -> str:
    return subscription_apply_stripe(
        stripe_subscription=event["data"]["object"], deleted=event["type"] == "customer.subscription.deleted"
    )


EVENT_HANDLERS = {
    "checkout.session.completed": _checkout_session_event,
    "checkout.session.async_payment_succeeded": _checkout_session_event,
    "checkout.session.async_payment_failed": _checkout_session_event,
    "checkout.session.expired": _checkout_session_event,
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
}
# Handler results that mean "nothing of ours was concerned".
IGNORED_RESULTS = {"unknown_session", "unknown_subscription"}


@dataclass(frozen=True)
class EventOutcome:
    stripe_id: str
    type: str
    status: str  # processed, ignored, failed, duplicate
    result: str = ""


def stripe_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event, if `signature` is Stripe's signature of exactly these bytes within the
    tolerance; else a 400."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ServiceUnavailable("The Stripe webhook secret is not configured")
    if not signature:
        raise ValidationFailed(
            "Stripe-Signature header is required", field="Stripe-Signature", reason="Field is required"
        )
    try:
        stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError:
        raise ValidationFailed(
            "Invalid Stripe signature", field="Stripe-Signature", reason="Signature verification failed"
        )
    except ValueError:
        raise ValidationFailed("Malformed JSON in request body")
    except (TypeError, AttributeError, KeyError):
        # Signed, valid JSON, but not an object the library can read as an event.
        raise ValidationFailed("Not a Stripe event", field="type", reason="Field is required")
    # The library only refuses old timestamps; one from the future is as far outside the tolerance.
    timestamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
    if not timestamps or not timestamps[0].isdigit():
        raise ValidationFailed("Invalid Stripe signature", field="Stripe-Signature", reason="No timestamp")
    if int(timestamps[0]) > time.time() + settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS:
        raise ValidationFailed(
            "Invalid Stripe signature", field="Stripe-Signature", reason="Timestamp outside the tolerance zone"
        )
    event = json.loads(payload)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValidationFailed("Not a Stripe event", field="id", reason="Field is required")
    return event


def _event_insert(event: dict) -> int | None:
    """Inserts the event row unless its Stripe id is known; the new row's id, else None."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(StripeEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (stripe_id, type, livemode, payload, status, error, attempts, received_at)"
                " VALUES (%s, %s, %s, %s::jsonb, %s, '', 1, %s)"
                " ON CONFLICT (stripe_id) DO NOTHING RETURNING id",
                [
                    event["id"],
                    str(event["type"])[:100],
                    bool(event.get("livemode")),
                    json.dumps(event),
                    StripeEvent.Status.RECEIVED,
                    now,
                ],
            )
            row = cursor.fetchone()
        return row[0] if row else None
    try:  # other databases (local SQLite): the unique index is the arbiter all the same
        with transaction.atomic():
            return StripeEvent.objects.create(
                stripe_id=event["id"],
                type=str(event["type"])[:100],
                livemode=bool(event.get("livemode")),
                payload=event,
                received_at=now,
            ).pk
    except IntegrityError:
        return None


def _event_claim_failed(**lookup) -> StripeEvent | None:
    """Takes a failed event back for processing (conditional UPDATE: one claimant wins)."""
    claimed = StripeEvent.objects.filter(status=StripeEvent.Status.FAILED, **lookup).update(
        status=StripeEvent.Status.RECEIVED, attempts=F("attempts") + 1
    )
    return StripeEvent.objects.filter(**lookup).first() if claimed else None


def _event_process(*, row_id: int, event: dict) -> EventOutcome:
    """Runs the handler inside a savepoint and writes the outcome on the event row."""
    handler = EVENT_HANDLERS.get(event["type"])
    rows = StripeEvent.objects.filter(pk=row_id)
    if handler is None:
        rows.update(status=StripeEvent.Status.IGNORED, processed_at=timezone.now(), error="")
        return EventOutcome(stripe_id=event["id"], type=event["type"], status="ignored")
    try:
        with transaction.atomic():
            result = handler(event)
    except Exception as exc:
        logger.exception("stripe event failed", extra={"stripe_event": event["id"], "event_type": event["type"]})
        rows.update(status=StripeEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], processed_at=None)
        return EventOutcome(stripe_id=event["id"], type=event["type"], status="failed")
    status = StripeEvent.Status.IGNORED if result in IGNORED_RESULTS else StripeEvent.Status.PROCESSED
    rows.update(status=status, processed_at=timezone.now(), error="")
    return EventOutcome(stripe_id=event["id"], type=event["type"], status=str(status), result=result)


def stripe_event_receive(*, payload: bytes, signature: str | None) -> EventOutcome:
    """The webhook: verify, store once, process. A repeated delivery of a processed (or ignored,
    or in-flight) event is a no-op answered `duplicate`; one of a failed event reprocesses it."""
    event = stripe_event_verify(payload=payload, signature=signature)
    with transaction.atomic():
        row_id = _event_insert(event)
        if row_id is None:
            claimed = _event_claim_failed(stripe_id=event["id"])
            if claimed is None:
                outcome = EventOutcome(stripe_id=event["id"], type=event["type"], status="duplicate")
                STRIPE_EVENTS.labels(type=event["type"], outcome=outcome.status).inc()
                return outcome
            row_id, event = claimed.pk, claimed.payload
        outcome = _event_process(row_id=row_id, event=event)
    STRIPE_EVENTS.labels(type=event["type"], outcome=outcome.status).inc()
    logger.info(
        "stripe event",
        extra={"stripe_event": outcome.stripe_id, "event_type": outcome.type, "outcome": outcome.status},
    )
    return outcome


def stripe_event_reprocess(*, event_id: int) -> EventOutcome:
    """The admin's "reprocess": a failed event, processed again from its stored payload."""
    with transaction.atomic():
        claimed = _event_claim_failed(pk=event_id)
        if claimed is None:
            if not StripeEvent.objects.filter(pk=event_id).exists():
                raise NotFound("Stripe event not found")
            current = StripeEvent.objects.get(pk=event_id)
            return EventOutcome(stripe_id=current.stripe_id, type=current.type, status="not_failed")
        outcome = _event_process(row_id=claimed.pk, event=claimed.payload)
    STRIPE_EVENTS.labels(type=outcome.type, outcome=f"reprocess_{outcome.status}").inc()
    return outcome
