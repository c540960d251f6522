"""Every write of the notifications app: the abandonment sweep, unsubscribes, clicks, attribution.

The sweep (`sweep_run`) in short:

- scans open carts with items, idle for at least the first delay, in keyset batches by id;
- stage 1 is due on a channel when the cart is idle for `first_delay_hours`; stage 2 when it is
  idle for `second_delay_hours` and stage 1 went out on that channel at least (second − first)
  earlier; a cart never gets stage 1 and stage 2 in the same sweep;
- a channel needs the contact and the consent for it; an unsubscribed e-mail or phone blocks
  every channel; converted and removed carts are never messaged (checked again in the claim);
- one message per customer and channel per NOTIFICATIONS_FREQUENCY_CAP_HOURS across carts;
- HOLDOUT_PERCENT of carts (chosen by a hash of the cart id) are never messaged;
- each message is claimed in the database before it is sent (INSERT … ON CONFLICT DO NOTHING on
  the unique (cart, stage, channel), or a conditional UPDATE of a failed row), so two sweeps
  never send the same message twice; a failed send is retried on later runs, at most
  NOTIFICATIONS_MAX_ATTEMPTS attempts in all.
"""

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from carts.models import Cart
from cartsite.errors import NotFound, ValidationFailed
from cartsite.metrics import SWEEP_RESULTS
from notifications import links
from notifications.caps import store_message_budget_take
from notifications.channels import ChannelError, Reminder, channels_enabled
from notifications.models import CartOutcome, ReminderMessage, Suppression, contact_hash

logger = logging.getLogger("notifications.sweep")

SWEEP_LOCK_KEY = "notifications:abandonment-sweep-lock"
CHANNEL_NAMES = ("whatsapp", "email")
RETRYABLE_KINDS = (ReminderMessage.ErrorKind.RETRY, ReminderMessage.ErrorKind.ALERT)
# Delays beyond a year make no sense for a cart reminder (and would overflow date arithmetic).
MAX_DELAY_HOURS = 24 * 366


@dataclass
class SweepSummary:
    """What one sweep did. `first_sent` / `second_sent` count messages, not carts."""

    processed: int = 0
    first_sent: int = 0
    second_sent: int = 0
    by_channel: dict = field(default_factory=lambda: {name: {"sent": 0, "failed": 0} for name in CHANNEL_NAMES})
    skipped_by_reason: dict = field(default_factory=dict)
    errors: int = 0
    batches: int = 0
    duration_seconds: float = 0.0
    next_cursor: str | None = None
    dry_run: bool = False

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_reason.values())

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + count

    def as_api(self) -> dict:
        return {
            "processed": self.processed,
            "firstSent": self.first_sent,
            "secondSent": self.second_sent,
            "skipped": self.skipped,
            "errors": self.errors,
            "nextCursor": self.next_cursor,
            "byChannel": self.by_channel,
            "skippedByReason": dict(sorted(self.skipped_by_reason.items())),
            "batches": self.batches,
            "dryRun": self.dry_run,
        }


@dataclass(frozen=True)
class _Candidate:
    cart: Cart
    stage: int
    channel: str
    recipient_hash: str
    retry_message_id: int | None  # a failed message to try again, else a new one


def cart_in_holdout(cart_id, *, percent: float | None = None) -> bool:
    """Deterministic holdout membership: sha256(cart id) mod 100 below HOLDOUT_PERCENT."""
    percent = settings.HOLDOUT_PERCENT if percent is None else percent
    if percent <= 0:
        return False
    bucket = int(hashlib.sha256(str(cart_id).encode()).hexdigest()[:8], 16) % 100
    return bucket < percent


def _retryable(message: ReminderMessage | None) -> bool:
    return (
        message is not None
        and message.status == ReminderMessage.Status.FAILED
        and message.error_kind in RETRYABLE_KINDS
        and message.attempts < settings.NOTIFICATIONS_MAX_ATTEMPTS
    )


def _due_stage(*, cart: Cart, channel: str, existing: dict, now: datetime, second: timedelta, gap: timedelta):
    """The stage due on one channel (1, 2 or None) and the failed row to retry, if any."""
    first_message = existing.get((cart.id, 1, channel))
    second_message = existing.get((cart.id, 2, channel))
    idle = now - cart.last_activity_at
    if first_message is not None and first_message.status == ReminderMessage.Status.SENT:
        if idle >= second and first_message.sent_at <= now - gap:
            if second_message is None:
                return 2, None
            if _retryable(second_message):
                return 2, second_message.id
        return None, None
    if first_message is None:
        return 1, None
    if _retryable(first_message):
        return 1, first_message.id
    return None, None


def _validate_options(*, batch_size: int, first_delay_hours: float, second_delay_hours: float) -> None:
    if not 1 <= batch_size <= 1000:
        raise ValidationFailed("batchSize must be between 1 and 1000", field="batchSize", reason="Out of range")
    for name, value in (
        ("firstNotificationDelayHours", first_delay_hours),
        ("secondNotificationDelayHours", second_delay_hours),
    ):
        if not 0 <= value <= MAX_DELAY_HOURS:
            raise ValidationFailed(f"{name} must be between 0 and {MAX_DELAY_HOURS}", field=name, reason="Out of range")
    if second_delay_hours <= first_delay_hours:
        raise ValidationFailed(
            "secondNotificationDelayHours must be greater than firstNotificationDelayHours",
            field="secondNotificationDelayHours",
            reason="Must be greater than firstNotificationDelayHours",
        )


def sweep_run(
    *,
    batch_size: int = 100,
    first_delay_hours: float = 24,
    second_delay_hours: float = 48,
    enable_whatsapp: bool = True,
    enable_email: bool = True,
    cursor: str | None = None,
    single_batch: bool = False,
    stores=None,
    dry_run: bool = False,
    now: datetime | None = None,
    on_batch=None,
) -> SweepSummary:
    """Sends the reminders that are due (see the module docstring for the rules).

    Without `cursor` and `single_batch` every batch is processed and `next_cursor` is None; with
    either, one batch is processed and `next_cursor` continues after it (None when done).
    `stores`: store ids (or Store objects) to act on, None for all. `dry_run` counts what would be
    sent and writes nothing. `on_batch(summary)` is called after each batch (progress lines).
    """
    _validate_options(batch_size=batch_size, first_delay_hours=first_delay_hours, second_delay_hours=second_delay_hours)
    started = time.monotonic()
    now = now or timezone.now()
    after = links.cursor_decode(cursor) if cursor else None
    first = timedelta(hours=first_delay_hours)
    second = timedelta(hours=second_delay_hours)
    horizon = max(timedelta(days=settings.NOTIFICATIONS_MAX_IDLE_DAYS), second * 2)
    store_ids = None if stores is None else [getattr(s, "pk", s) for s in stores]
    summary = SweepSummary(dry_run=dry_run)
    channels = channels_enabled(enable_whatsapp=enable_whatsapp, enable_email=enable_email)

    if not dry_run:
        attribution_refresh(now=now, stores=store_ids)
        _interrupted_release(now=now, stores=store_ids)

    scan = Cart.objects.open().filter(
        item_count__gt=0, last_activity_at__lte=now - first, last_activity_at__gt=now - horizon
    )
    if store_ids is not None:
        scan = scan.filter(store_id__in=store_ids)
    one_batch = single_batch or cursor is not None
    while True:
        page = scan.filter(id__gt=after) if after is not None else scan
        carts = list(page.select_related("store").order_by("id")[:batch_size])
        if not carts:
            summary.next_cursor = None
            break
        summary.batches += 1
        _batch_process(carts=carts, channels=channels, now=now, second=second, gap=second - first, summary=summary)
        after = carts[-1].id
        if on_batch is not None:
            on_batch(summary)
        if len(carts) < batch_size:
            summary.next_cursor = None
            break
        if one_batch:
            summary.next_cursor = links.cursor_encode(after=after)
            break
    summary.duration_seconds = round(time.monotonic() - started, 3)
    logger.info(
        "abandonment sweep finished",
        extra={
            "processed": summary.processed,
            "first_sent": summary.first_sent,
            "second_sent": summary.second_sent,
            "skipped": summary.skipped_by_reason,
            "errors": summary.errors,
            "duration_s": summary.duration_seconds,
            "dry_run": dry_run,
        },
    )
    return summary


INTERRUPTED_ERROR = "interrupted between claim and result: outcome unknown, not retried (no duplicate)"


def _interrupted_release(*, now: datetime, stores) -> int:
    """Messages left in `sending` by a sweep that died (older than the sweep lock's lifetime)
    become failed/final: they may have gone out, so they are never sent again."""
    stale = ReminderMessage.objects.filter(
        status=ReminderMessage.Status.SENDING,
        attempted_at__lt=now - timedelta(seconds=settings.NOTIFICATIONS_SWEEP_LOCK_SECONDS),
    )
    if stores is not None:
        stale = stale.filter(store_id__in=stores)
    return stale.update(
        status=ReminderMessage.Status.FAILED,
        error_kind=ReminderMessage.ErrorKind.FINAL,
        last_error=INTERRUPTED_ERROR,
        updated_at=timezone.now(),
    )


def sweep_run_exclusive(**options) -> SweepSummary | None:
    """`sweep_run` under a Redis lock: returns None (and sends nothing) while another holds it."""
    token = uuid.uuid4().hex
    if not cache.add(SWEEP_LOCK_KEY, token, timeout=settings.NOTIFICATIONS_SWEEP_LOCK_SECONDS):
        logger.info("abandonment sweep skipped: another sweep is running")
        SWEEP_RESULTS.labels("-", "-", "locked").inc()
        return None
    try:
        return sweep_run(**options)
    finally:
        if cache.get(SWEEP_LOCK_KEY) == token:
            cache.delete(SWEEP_LOCK_KEY)


def _batch_process(*, carts, channels, now, second, gap, summary: SweepSummary) -> None:
    cart_ids = [cart.id for cart in carts]
    existing = {
        (m.cart_id, m.stage, m.channel): m
        for m in ReminderMessage.objects.filter(cart_id__in=cart_ids).only(
            "id", "cart_id", "stage", "channel", "status", "error_kind", "attempts", "sent_at"
        )
    }
    hashes = {
        cart.id: {
            Suppression.Kind.EMAIL: contact_hash(Suppression.Kind.EMAIL, cart.email),
            Suppression.Kind.PHONE: contact_hash(Suppression.Kind.PHONE, cart.phone),
        }
        for cart in carts
    }
    all_hashes = {h for by_kind in hashes.values() for h in by_kind.values() if h}
    suppressed = set(
        Suppression.objects.filter(store_id__in={c.store_id for c in carts}, value_hash__in=all_hashes).values_list(
            "store_id", "kind", "value_hash"
        )
    )

    candidates: list[_Candidate] = []
    holdouts: list[tuple[Cart, str, str]] = []
    for cart in carts:
        summary.processed += 1
        try:
            due = {}
            for channel in channels:
                stage, retry_id = _due_stage(
                    cart=cart, channel=channel.name, existing=existing, now=now, second=second, gap=gap
                )
                if stage is not None:
                    due[channel] = (stage, retry_id)
            if any(stage == 2 for stage, _ in due.values()):
                # Never both stages for one cart in one sweep: stage 1 elsewhere waits for the next run.
                due = {ch: value for ch, value in due.items() if value[0] == 2}
            is_suppressed = any((cart.store_id, kind, h) in suppressed for kind, h in hashes[cart.id].items() if h)
            for channel, (stage, retry_id) in due.items():
                reason = None
                if not channel.contact(cart):
                    reason = "no_contact"
                elif not channel.consented(cart):
                    reason = "no_consent"
                elif is_suppressed:
                    reason = "unsubscribed"
                elif stage == 1 and cart_in_holdout(cart.id):
                    holdouts.append((cart, channel.name, hashes[cart.id][channel.suppression_kind]))
                    reason = "holdout"
                if reason is not None:
                    summary.skip(reason)
                    SWEEP_RESULTS.labels(str(stage), channel.name, reason).inc()
                    continue
                candidates.append(
                    _Candidate(
                        cart=cart,
                        stage=stage,
                        channel=channel.name,
                        recipient_hash=hashes[cart.id][channel.suppression_kind],
                        retry_message_id=retry_id,
                    )
                )
        except Exception:
            logger.exception("abandonment sweep: cart failed", extra={"cart_id": str(cart.id)})
            summary.errors += 1

    if summary.dry_run:
        allowed, capped = _apply_cap(candidates=candidates, recent=_recent_recipients(candidates, now))
        if capped:
            summary.skip("frequency_cap", len(capped))
        for candidate in allowed:
            if candidate.stage == 1:
                summary.first_sent += 1
            else:
                summary.second_sent += 1
        return

    candidates = _within_store_budget(candidates=candidates, now=now, summary=summary)
    claimed = _claim(candidates=candidates, holdouts=holdouts, now=now, summary=summary)
    if not claimed:
        return
    by_name = {channel.name: channel for channel in channels}
    carts_by_id = {cart.id: cart for cart in carts}
    used = {by_name[channel_name] for _, _, _, channel_name in claimed}
    outcomes: list[_SendOutcome] = []
    for channel in used:
        channel.open()
    try:
        for message_id, cart_id, stage, channel_name in claimed:
            outcomes.append(
                _send_one(
                    channel=by_name[channel_name],
                    message_id=message_id,
                    cart=carts_by_id[cart_id],
                    stage=stage,
                    summary=summary,
                )
            )
    finally:
        for channel in used:
            channel.close()
        # The batch's results in one statement (a crash before it leaves the rows in `sending`:
        # claimed, so never sent twice).
        _results_write(outcomes=outcomes, now=now)


def _within_store_budget(*, candidates: list[_Candidate], now: datetime, summary: SweepSummary) -> list[_Candidate]:
    """The store's daily budget per channel (MESSAGES_PER_STORE_PER_DAY, notifications/caps.py):
    a message over it is not claimed and stays due, so it goes out on a later day. The budget is
    taken before the claim, so a message lost to a concurrent sweep still counts: the cap errs on
    the side of sending less."""
    allowed = []
    for candidate in candidates:
        if store_message_budget_take(store=candidate.cart.store, channel=candidate.channel, now=now):
            allowed.append(candidate)
        else:
            summary.skip("store_daily_cap")
            SWEEP_RESULTS.labels(str(candidate.stage), candidate.channel, "store_daily_cap").inc()
    return allowed


def _recent_recipients(candidates: list[_Candidate], now: datetime) -> dict:
    """(store, channel, recipient hash) → cart ids messaged within the frequency cap."""
    if not candidates:
        return {}
    recent: dict = {}
    rows = ReminderMessage.objects.filter(
        status__in=[ReminderMessage.Status.SENDING, ReminderMessage.Status.SENT],
        attempted_at__gt=now - timedelta(hours=settings.NOTIFICATIONS_FREQUENCY_CAP_HOURS),
        store_id__in={c.cart.store_id for c in candidates},
        recipient_hash__in={c.recipient_hash for c in candidates},
    ).values_list("store_id", "channel", "recipient_hash", "cart_id")
    for store_id, channel, recipient_hash, cart_id in rows:
        recent.setdefault((store_id, channel, recipient_hash), set()).add(cart_id)
    return recent


def _apply_cap(*, candidates: list[_Candidate], recent: dict):
    """Splits candidates into allowed and capped: one message per recipient and channel per cap
    window across carts (another stage of the same cart is governed by the delays instead)."""
    allowed, capped = [], []
    taken = {key: set(cart_ids) for key, cart_ids in recent.items()}
    for candidate in candidates:
        key = (candidate.cart.store_id, candidate.channel, candidate.recipient_hash)
        others = taken.get(key, set()) - {candidate.cart.id}
        if others:
            capped.append(candidate)
            continue
        taken.setdefault(key, set()).add(candidate.cart.id)
        allowed.append(candidate)
    return allowed, capped


CLAIM_INSERT_SQL = """
INSERT INTO notifications_remindermessage
    (cart_id, store_id, stage, channel, status, skip_reason, attempts, last_error, error_kind,
     provider_message_id, recipient_hash, scheduled_at, attempted_at, click_count, created_at, updated_at)
SELECT c.id, c.store_id, v.stage, v.channel, 'sending', '', 1, '', '', '', v.recipient_hash,
       %(now)s, %(now)s, 0, %(now)s, %(now)s
FROM unnest(%(cart_ids)s::uuid[], %(stages)s::smallint[], %(channels)s::text[], %(hashes)s::text[])
     AS v(cart_id, stage, channel, recipient_hash)
JOIN carts_cart c ON c.id = v.cart_id AND c.converted_at IS NULL AND c.removed_at IS NULL
ON CONFLICT (cart_id, stage, channel) DO NOTHING
RETURNING id, cart_id, stage, channel
"""

CLAIM_RETRY_SQL = """
UPDATE notifications_remindermessage m
SET status = 'sending', attempts = m.attempts + 1, attempted_at = %(now)s, updated_at = %(now)s
FROM carts_cart c
WHERE m.id = ANY(%(ids)s) AND c.id = m.cart_id AND c.converted_at IS NULL AND c.removed_at IS NULL
  AND m.status = 'failed' AND m.error_kind IN ('retry', 'alert') AND m.attempts < %(max_attempts)s
RETURNING m.id, m.cart_id, m.stage, m.channel
"""


def _claim(*, candidates, holdouts, now, summary: SweepSummary) -> list[tuple]:
    """Claims the messages this sweep will send, in one short transaction per batch.

    Recipients are locked (transaction advisory locks, in a fixed order) while the frequency cap
    is checked and the claims are written, so two sweeps cannot both pass the cap for one
    customer; the unique (cart, stage, channel) makes a message claimable once."""
    claimed: list[tuple] = []
    with transaction.atomic():
        if holdouts:
            ReminderMessage.objects.bulk_create(
                [
                    ReminderMessage(
                        cart=cart,
                        store_id=cart.store_id,
                        stage=1,
                        channel=channel,
                        status=ReminderMessage.Status.SKIPPED,
                        skip_reason=ReminderMessage.SkipReason.HOLDOUT,
                        recipient_hash=recipient_hash,
                        scheduled_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                    for cart, channel, recipient_hash in holdouts
                ],
                ignore_conflicts=True,
            )
            CartOutcome.objects.bulk_create(
                [
                    CartOutcome(cart=cart, store_id=cart.store_id, holdout=True, holdout_at=now, updated_at=now)
                    for cart in {cart.id: cart for cart, _, _ in holdouts}.values()
                ],
                ignore_conflicts=True,
            )
        if not candidates:
            return claimed
        lock_keys = sorted({f"{c.cart.store_id}:{c.channel}:{c.recipient_hash}" for c in candidates})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS t(k)", [lock_keys]
            )
        allowed, capped = _apply_cap(candidates=candidates, recent=_recent_recipients(candidates, now))
        for candidate in capped:
            summary.skip("frequency_cap")
            SWEEP_RESULTS.labels(str(candidate.stage), candidate.channel, "frequency_cap").inc()
        new = [c for c in allowed if c.retry_message_id is None]
        retries = [c.retry_message_id for c in allowed if c.retry_message_id is not None]
        with connection.cursor() as cursor:
            if new:
                cursor.execute(
                    CLAIM_INSERT_SQL,
                    {
                        "now": now,
                        "cart_ids": [c.cart.id for c in new],
                        "stages": [c.stage for c in new],
                        "channels": [c.channel for c in new],
                        "hashes": [c.recipient_hash for c in new],
                    },
                )
                claimed.extend(cursor.fetchall())
            if retries:
                cursor.execute(
                    CLAIM_RETRY_SQL,
                    {"now": now, "ids": retries, "max_attempts": settings.NOTIFICATIONS_MAX_ATTEMPTS},
                )
                claimed.extend(cursor.fetchall())
    claimed.sort(key=lambda row: row[0])
    return claimed


RESULTS_WRITE_SQL = """
UPDATE notifications_remindermessage m
SET status = v.status,
    sent_at = CASE WHEN v.status = 'sent' THEN %(now)s ELSE m.sent_at END,
    provider_message_id = CASE WHEN v.status = 'sent' THEN v.provider_id ELSE m.provider_message_id END,
    last_error = v.last_error, error_kind = v.error_kind, updated_at = %(updated_at)s
FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(providers)s::text[], %(errors)s::text[], %(kinds)s::text[])
     AS v(id, status, provider_id, last_error, error_kind)
WHERE m.id = v.id AND m.status = 'sending'
"""


@dataclass(frozen=True)
class _SendOutcome:
    message_id: int
    status: str
    provider_message_id: str = ""
    last_error: str = ""
    error_kind: str = ""


def _send_one(*, channel, message_id: int, cart: Cart, stage: int, summary: SweepSummary) -> _SendOutcome:
    reminder = Reminder(
        message_id=message_id,
        stage=stage,
        cart=cart,
        recovery_url=links.recovery_url(message_id=message_id),
        unsubscribe_url=links.unsubscribe_url(cart_id=cart.id),
    )
    try:
        result = channel.send(reminder)
    except Exception as exc:
        if isinstance(exc, ChannelError):
            error, kind = str(exc), exc.kind
        else:
            logger.exception("abandonment sweep: send failed", extra={"cart_id": str(cart.id)})
            error, kind = f"{type(exc).__name__}: {exc}"[:1000], ReminderMessage.ErrorKind.RETRY
        summary.errors += 1
        summary.by_channel[channel.name]["failed"] += 1
        SWEEP_RESULTS.labels(str(stage), channel.name, "failed").inc()
        logger.warning(
            "reminder failed",
            extra={"cart_id": str(cart.id), "stage": stage, "channel": channel.name, "kind": kind, "error": error},
        )
        return _SendOutcome(message_id, ReminderMessage.Status.FAILED, last_error=error, error_kind=kind)
    if stage == 1:
        summary.first_sent += 1
    else:
        summary.second_sent += 1
    summary.by_channel[channel.name]["sent"] += 1
    SWEEP_RESULTS.labels(str(stage), channel.name, "sent").inc()
    return _SendOutcome(message_id, ReminderMessage.Status.SENT, provider_message_id=result.provider_message_id[:255])


def _results_write(*, outcomes: list[_SendOutcome], now: datetime) -> None:
    """One UPDATE for the batch's results (only rows still in `sending`, i.e. claimed by us)."""
    if not outcomes:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            RESULTS_WRITE_SQL,
            {
                "now": now,
                "updated_at": timezone.now(),
                "ids": [o.message_id for o in outcomes],
                "statuses": [str(o.status) for o in outcomes],
                "providers": [o.provider_message_id for o in outcomes],
                "errors": [o.last_error for o in outcomes],
                "kinds": [str(o.error_kind) for o in outcomes],
            },
        )


ATTRIBUTION_RECOVERED_SQL = """
WITH last_sent AS (
    SELECT DISTINCT ON (m.cart_id)
           m.cart_id, c.store_id, m.stage, m.channel, m.sent_at, c.converted_at,
           COALESCE(c.order_amount, c.total) AS revenue
    FROM notifications_remindermessage m
    JOIN carts_cart c ON c.id = m.cart_id
    WHERE m.status = 'sent' AND c.converted_at IS NOT NULL AND m.sent_at <= c.converted_at
      {store_filter}
    ORDER BY m.cart_id, m.sent_at DESC, m.stage DESC, m.channel
)
INSERT INTO notifications_cartoutcome
    (cart_id, store_id, holdout, holdout_at, holdout_converted, recovered, recovered_at,
     credited_stage, credited_channel, revenue, updated_at)
SELECT cart_id, store_id, false, NULL, false, true, converted_at, stage, channel, revenue, %(now)s
FROM last_sent
WHERE converted_at - sent_at <= %(window)s
ON CONFLICT (cart_id) DO UPDATE SET
    recovered = true, recovered_at = EXCLUDED.recovered_at, credited_stage = EXCLUDED.credited_stage,
    credited_channel = EXCLUDED.credited_channel, revenue = EXCLUDED.revenue, updated_at = EXCLUDED.updated_at
WHERE NOT notifications_cartoutcome.recovered
"""

ATTRIBUTION_HOLDOUT_SQL = """
UPDATE notifications_cartoutcome o
SET holdout_converted = true, revenue = COALESCE(c.order_amount, c.total), updated_at = %(now)s
FROM carts_cart c
WHERE c.id = o.cart_id AND o.holdout AND NOT o.holdout_converted
  AND c.converted_at IS NOT NULL AND c.converted_at >= o.holdout_at
  AND c.converted_at - o.holdout_at <= %(window)s
  {store_filter}
"""


@dataclass(frozen=True)
class AttributionSummary:
    recovered: int
    holdout_converted: int


def attribution_refresh(*, now: datetime | None = None, stores=None) -> AttributionSummary:
    """Credits conversions to reminders, set-based.

    A reminded cart that converted within ATTRIBUTION_WINDOW_DAYS of the last reminder sent
    before its conversion is recovered, with its revenue (order amount, else cart total); the
    stage and channel of that reminder get the credit (same instant: stage 2 first, then the
    channel name). A held-out cart that converted within the window after it was held out counts
    as a held-out conversion. Conversions happen once, so a credited cart is never re-credited."""
    now = now or timezone.now()
    params = {"now": now, "window": timedelta(days=settings.ATTRIBUTION_WINDOW_DAYS)}
    store_ids = None if stores is None else [getattr(s, "pk", s) for s in stores]
    if store_ids is not None:
        params["stores"] = store_ids
    with connection.cursor() as cursor:
        cursor.execute(
            ATTRIBUTION_RECOVERED_SQL.format(
                store_filter="AND c.store_id = ANY(%(stores)s)" if store_ids is not None else ""
            ),
            params,
        )
        recovered = cursor.rowcount
        cursor.execute(
            ATTRIBUTION_HOLDOUT_SQL.format(
                store_filter="AND o.store_id = ANY(%(stores)s)" if store_ids is not None else ""
            ),
            params,
        )
        holdout_converted = cursor.rowcount
    return AttributionSummary(recovered=max(recovered, 0), holdout_converted=max(holdout_converted, 0))


def suppression_add_for_cart(*, cart_id, reason: str = "unsubscribe") -> int:
    """Unsubscribes the cart's e-mail address and phone number for its store (idempotent).

    Only hashes are stored. Afterwards no cart of that store with either contact gets a reminder
    on any channel. Returns how many contacts the cart had."""
    cart = Cart.objects.filter(pk=cart_id).only("id", "store_id", "email", "phone").first()
    if cart is None:
        raise NotFound("No such cart")
    rows = [
        Suppression(store_id=cart.store_id, kind=kind, value_hash=value_hash, reason=reason)
        for kind, value_hash in (
            (Suppression.Kind.EMAIL, contact_hash(Suppression.Kind.EMAIL, cart.email)),
            (Suppression.Kind.PHONE, contact_hash(Suppression.Kind.PHONE, cart.phone)),
        )
        if value_hash
    ]
    Suppression.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def url_with_query(url: str, **params) -> str:
    """`url` with `params` set in its query, keeping the other parameters."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def recovery_click(*, message_id: int, now: datetime | None = None) -> str:
    """Counts a click on a recovery link and returns where to send the customer: the store's
    recovery URL with `cart_session=<session token>` added to its query."""
    now = now or timezone.now()
    updated = ReminderMessage.objects.filter(pk=message_id).update(
        click_count=F("click_count") + 1, clicked_at=Coalesce(F("clicked_at"), Value(now)), updated_at=now
    )
    if not updated:
        raise NotFound("No such reminder")
    message = (
        ReminderMessage.objects.select_related("cart__store")
        .only("id", "cart__session_token", "cart__store__name", "cart__store__recovery_url")
        .get(pk=message_id)
    )
    return url_with_query(message.cart.store.effective_recovery_url, cart_session=message.cart.session_token)
