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
import queue
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from carts.models import Cart
from cartsite.db import prepared_cursor
from cartsite.errors import NotFound, ValidationFailed
from cartsite.metrics import SWEEP_RESULTS
from notifications import links
from notifications.caps import store_message_budget_return_batch, store_message_budget_take_batch
from notifications.channels import ChannelError, Reminder, channels_enabled
from notifications.models import ReminderMessage, Suppression, contact_hash

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
    claimed: int = 0
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


class _Candidate(NamedTuple):
    """A message the sweep would claim (a tuple: a batch makes a thousand of them)."""

    cart_id: str
    store_id: int
    stage: int
    channel: str
    recipient_hash: str
    retry_message_id: int | None  # a failed message to try again, else a new one


# The columns of a scanned cart (a tuple, not a model instance: the sweep reads many carts); the
# id as text, and whether the cart is idle for the second delay rather than its last activity.
CART_ID, CART_STORE, CART_SECOND_IDLE, CART_EMAIL, CART_PHONE, CART_EMAIL_CONSENT, CART_WHATSAPP_CONSENT = range(7)
# Per channel: the cart's contact column, its consent column and the contact's place in
# `_contact_hashes` (e-mail, phone).
CHANNEL_COLUMNS = {
    "email": (CART_EMAIL, CART_EMAIL_CONSENT, 0),
    "whatsapp": (CART_PHONE, CART_WHATSAPP_CONSENT, 1),
}
# The SQL form of "this channel can reach the cart" (contact and consent), per channel.
CHANNEL_REACHABLE_SQL = {
    "email": "(c.email <> '' AND c.email_consent)",
    "whatsapp": "(c.phone <> '' AND c.whatsapp_consent)",
}
# Messages claimed (`scheduled`) but not handed to a channel within this long are delivered by
# the next sweep (the delivery task or the process that claimed them died).
DELIVERY_GRACE = timedelta(minutes=10)


def cart_in_holdout(cart_id, *, percent: float | None = None) -> bool:
    """Deterministic holdout membership: sha256(cart id) mod 100 below HOLDOUT_PERCENT."""
    percent = settings.HOLDOUT_PERCENT if percent is None else percent
    if percent <= 0:
        return False
    bucket = int(hashlib.sha256(str(cart_id).encode()).hexdigest()[:8], 16) % 100
    return bucket < percent


# An existing message as the sweep reads it: (id, status, error_kind, attempts, sent_at).
M_ID, M_STATUS, M_KIND, M_ATTEMPTS, M_SENT_AT = range(5)


def _retryable(message: tuple | None) -> bool:
    return (
        message is not None
        and message[M_STATUS] == ReminderMessage.Status.FAILED
        and message[M_KIND] in RETRYABLE_KINDS
        and message[M_ATTEMPTS] < settings.NOTIFICATIONS_MAX_ATTEMPTS
    )


def _due_stage(*, cart_id, second_idle: bool, channel: str, existing: dict, now: datetime, gap):
    """The stage due on one channel (1, 2 or None) and the failed row to retry, if any."""
    first_message = existing.get((cart_id, 1, channel))
    second_message = existing.get((cart_id, 2, channel))
    if first_message is not None and first_message[M_STATUS] == ReminderMessage.Status.SENT:
        if second_idle and first_message[M_SENT_AT] <= now - gap:
            if second_message is None:
                return 2, None
            if _retryable(second_message):
                return 2, second_message[M_ID]
        return None, None
    if first_message is None:
        return 1, None
    if _retryable(first_message):
        return 1, first_message[M_ID]
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
    deliver: bool = True,
    on_claimed=None,
) -> SweepSummary:
    """Claims the reminders that are due (see the module docstring for the rules), and delivers them.

    Without `cursor` and `single_batch` every batch is processed and `next_cursor` is None; with
    either, one batch is processed and `next_cursor` continues after it (None when done).
    `stores`: store ids (or Store objects) to act on, None for all. `dry_run` counts what would be
    sent and writes nothing. `on_batch(summary)` is called after each batch (progress lines).

    `deliver=True`: each batch's claimed messages are sent by this process right after the batch
    (`reminders_deliver`). `deliver=False`: the sweep only claims; `on_claimed(message_ids)` is
    called with each batch's claimed ids (the beat task queues a delivery task per batch), and
    whatever is still unsent after DELIVERY_GRACE is delivered by a later sweep.
    """
    _validate_options(batch_size=batch_size, first_delay_hours=first_delay_hours, second_delay_hours=second_delay_hours)
    started = time.monotonic()
    now = now or timezone.now()
    position = links.cursor_decode(cursor) if cursor else None
    first = timedelta(hours=first_delay_hours)
    second = timedelta(hours=second_delay_hours)
    horizon = max(timedelta(days=settings.NOTIFICATIONS_MAX_IDLE_DAYS), second * 2)
    store_ids = None if stores is None else [getattr(s, "pk", s) for s in stores]
    summary = SweepSummary(dry_run=dry_run)
    channels = channels_enabled(enable_whatsapp=enable_whatsapp, enable_email=enable_email)

    def hand_over(message_ids: list[int]) -> None:
        if not message_ids:
            return
        if deliver:
            reminders_deliver(message_ids=message_ids, now=now, summary=summary)
        elif on_claimed is not None:
            on_claimed(message_ids)

    if not dry_run:
        attribution_refresh(now=now, stores=store_ids)
        _interrupted_release(now=now, stores=store_ids)
        for message_ids in _undelivered_pages(now=now, stores=store_ids, size=batch_size):
            hand_over(message_ids)

    one_batch = single_batch or cursor is not None
    # A second connection cannot see what the caller has not committed (an atomic block).
    ahead = (
        settings.NOTIFICATIONS_SWEEP_READ_AHEAD
        and not one_batch
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )
    # Claims overlap the next batch only when the hand-over just queues the ids: a delivery in
    # this process (`deliver`) must be done before the next batch's frequency cap is read.
    claims = _ClaimWorkers(concurrent=ahead and not deliver and not dry_run, hand_over=hand_over)
    previous = None
    pages = _PageReader(
        ahead=ahead,
        position=position,
        sql=_scan_sql(channels=channels, stores=store_ids is not None),
        limit=batch_size,
        due_before=now - first,
        second_before=now - second,
        horizon=now - horizon,
        stores=store_ids,
    )
    with _jit_off(), closing(pages), closing(claims):
        while True:
            page = pages.read()
            if page.scanned == 0:
                summary.next_cursor = None
                break
            summary.batches += 1
            summary.processed += page.scanned
            for (has_email, has_phone), count in page.unreachable.items():
                # Carts no enabled channel can reach never reach Python: counted per channel here.
                for channel in channels:
                    has_contact = has_email if channel.name == "email" else has_phone
                    reason = "no_consent" if has_contact else "no_contact"
                    summary.skip(reason, count)
                    SWEEP_RESULTS.labels("1", channel.name, reason).inc(count)
            previous = _batch_process(
                page=page,
                channels=channels,
                now=now,
                second=second,
                gap=second - first,
                summary=summary,
                claims=claims,
                previous=previous,
            )
            if previous is not None and not claims.concurrent:
                previous.hand_over()
            position = page.last
            if on_batch is not None:
                on_batch(summary)
            if page.complete:
                summary.next_cursor = None
                break
            if one_batch:
                summary.next_cursor = links.cursor_encode(after=position[1], at=position[0])
                break
        if previous is not None:
            _claim_settle(previous, summary=summary, now=now)
            previous.hand_over()
    summary.duration_seconds = round(time.monotonic() - started, 3)
    logger.info(
        "abandonment sweep finished",
        extra={
            "processed": summary.processed,
            "claimed": summary.claimed,
            "first_sent": summary.first_sent,
            "second_sent": summary.second_sent,
            "skipped": summary.skipped_by_reason,
            "errors": summary.errors,
            "duration_s": summary.duration_seconds,
            "dry_run": dry_run,
        },
    )
    return summary


SCAN_SQL = """
WITH page AS MATERIALIZED (
    SELECT * FROM (
        SELECT s.*, count(*) FILTER (WHERE s.reachable)
                        OVER (ORDER BY s.last_activity_at, s.id ROWS UNBOUNDED PRECEDING) AS reachable_seen
        FROM (
            SELECT c.id, c.store_id, c.last_activity_at, c.email, c.phone, c.email_consent, c.whatsapp_consent,
                   c.last_activity_at <= %(second_before)s AS second_idle,
                   {reachable} AS reachable
            FROM carts_cart c
            WHERE c.converted_at IS NULL AND c.removed_at IS NULL AND c.item_count > 0
              AND c.last_activity_at <= %(due_before)s AND c.last_activity_at > %(horizon)s
              AND (c.last_activity_at, c.id) > (%(after_at)s, %(after_id)s)
              {store_filter}
            ORDER BY c.last_activity_at, c.id
            LIMIT %(scan_limit)s
        ) s
    ) w
    WHERE w.reachable_seen <= %(limit)s
)
(SELECT 0, id::text, store_id, second_idle, email, phone, email_consent, whatsapp_consent, 1, NULL::timestamptz
 FROM page WHERE reachable ORDER BY last_activity_at, id)
UNION ALL
(SELECT 1, NULL, NULL, NULL, NULL, NULL, email <> '', phone <> '', count(*), NULL
 FROM page WHERE NOT reachable GROUP BY email <> '', phone <> '')
UNION ALL
(SELECT 2, id::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, last_activity_at
 FROM page ORDER BY last_activity_at DESC, id DESC LIMIT 1)
"""
# A page reads at most this many carts per cart it may return: the LIMIT keeps the plan on the
# index's order (the window's run condition stops the scan at the batch's last reachable cart),
# and bounds a page made only of carts no channel can reach. Kept small: with a LIMIT close to the
# rest of the range, the planner prefers a bitmap scan and a sort of the whole rest, every page.
SCAN_READ_FACTOR = 5
# Before the first batch: a position before every cart.
SCAN_START = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))


def _scan_sql(*, channels, stores: bool) -> str:
    reachable = " OR ".join(CHANNEL_REACHABLE_SQL[channel.name] for channel in channels) or "false"
    return SCAN_SQL.format(
        reachable=f"({reachable})", store_filter="AND c.store_id = ANY(%(stores)s)" if stores else ""
    )


@dataclass
class _ScanPage:
    rows: list  # carts an enabled channel can reach (contact and consent), in scan order
    unreachable: dict  # (has e-mail, has phone) -> carts no enabled channel can reach
    scanned: int
    last: tuple | None  # (last_activity_at, id) of the page's last cart
    complete: bool  # the scan reached the end of the carts to scan
    # What the decisions read besides the carts (`_page_context`): the rows' messages, contacts'
    # hashes and unsubscribed contacts.
    existing: dict = field(default_factory=dict)
    hashes: list = field(default_factory=list)
    suppressed: set = field(default_factory=set)


def _page_read(*, position, **scan) -> _ScanPage:
    """A page of carts (`_scan_page`) with what the decisions on its carts read besides them."""
    page = _scan_page(position=position, **scan)
    if page.rows:
        page.existing, page.hashes, page.suppressed = _page_context(page.rows)
    return page


def _scan_page(*, sql, position, limit, due_before, second_before, horizon, stores) -> _ScanPage:
    """One keyset page over `carts_abandon_scan (last_activity_at, id)` in the index's order: the
    next `limit` carts some enabled channel can reach, and the count of the carts between them
    that none can (they are not sent to Python), in one statement."""
    after_at, after_id = position or SCAN_START
    params = {
        "due_before": due_before,
        "second_before": second_before,
        "horizon": horizon,
        "after_at": after_at,
        "after_id": after_id,
        "limit": limit,
        "scan_limit": limit * SCAN_READ_FACTOR,
        "stores": stores,
    }
    rows, unreachable, last = [], {}, None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            kind = row[0]
            if kind == 0:
                rows.append(row[1:8])
            elif kind == 1:
                unreachable[(row[6], row[7])] = row[8]
            else:
                last = (row[9], row[1])
    scanned = len(rows) + sum(unreachable.values())
    complete = len(rows) < limit and scanned < limit * SCAN_READ_FACTOR
    return _ScanPage(rows=rows, unreachable=unreachable, scanned=scanned, last=last, complete=complete)


# Pages read ahead and not yet claimed, at most: memory stays bounded by a few pages.
SCAN_AHEAD_PAGES = 2


class _PageReader:
    """The sweep's keyset pages (`_page_read`), in order, from `position`. With `ahead`, a worker
    thread reads them on a connection of its own, up to SCAN_AHEAD_PAGES before the caller, while
    the caller claims, so the reads' time hides behind the claims'. Nothing is decided
    differently: pages are disjoint, a batch's claim writes messages of its own page's carts
    only, and the claim re-checks that each cart is still open.

    The worker's connection gets the caller's execute wrappers (query counts, instrumentation see
    every statement of the sweep) and is closed when the worker stops (`close()`)."""

    def __init__(self, *, ahead: bool, position, **scan):
        self._scan = scan
        self._ahead = ahead
        self._position = position
        self._wrappers = list(connection.execute_wrappers)
        self._pages: queue.Queue = queue.Queue(maxsize=SCAN_AHEAD_PAGES)
        self._stop = threading.Event()
        self._executor = None

    def read(self) -> _ScanPage:
        """The next page (the caller stops after a page that is empty or complete)."""
        if not self._ahead:
            page = _page_read(position=self._position, **self._scan)
            self._position = page.last
            return page
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-scan")
            self._executor.submit(self._read_all)
        page = self._pages.get()
        if isinstance(page, BaseException):
            raise page
        return page

    def _read_all(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET jit = off")  # as on the sweep's own connection (_jit_off)
            with ExitStack() as stack:
                for wrapper in self._wrappers:
                    stack.enter_context(connection.execute_wrapper(wrapper))
                position = self._position
                while not self._stop.is_set():
                    page = _page_read(position=position, **self._scan)
                    self._hand_over(page)
                    if page.scanned == 0 or page.complete:
                        return
                    position = page.last
        except BaseException as exc:
            self._hand_over(exc)
        finally:
            connection.close()  # `connection` is per thread: here, the worker's own

    def _hand_over(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        if self._executor is None:
            return
        self._stop.set()
        self._executor.shutdown(wait=True)


@contextmanager
def _jit_off():
    """The sweep's statements are many small ones whose estimates can look large (a range of the
    carts index, a probe per key): JIT compiling them costs more than running them."""
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")


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


UNDELIVERED_SQL = """
SELECT id, attempted_at FROM notifications_remindermessage
WHERE status = 'scheduled' AND attempted_at <= %(before)s AND (attempted_at, id) > (%(after_at)s, %(after_id)s)
  {store_filter}
ORDER BY attempted_at, id
LIMIT %(size)s
"""


def _undelivered_pages(*, now: datetime, stores, size: int):
    """Ids of messages claimed (`scheduled`) more than DELIVERY_GRACE ago and never handed to a
    channel (the process or task that claimed them died), in pages of `size`, oldest claim first
    (keyset over the partial index `notifications_undelivered`). Nothing went out for them, so
    they are delivered now, within the usual attempts."""
    sql = UNDELIVERED_SQL.format(store_filter="AND store_id = ANY(%(stores)s)" if stores is not None else "")
    params = {"before": now - DELIVERY_GRACE, "after_at": SCAN_START[0], "after_id": 0, "size": size, "stores": stores}
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield [message_id for message_id, _ in rows]
        params["after_at"], params["after_id"] = rows[-1][1], rows[-1][0]
        if len(rows) < size:
            return


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


# Each batch's cart ids (and below, recipients) are looked up one by one through the index
# (a LATERAL with OFFSET 0 is never flattened into a join): the plan stays an index probe per key
# even when the message table's statistics are stale, e.g. right after it was emptied.
EXISTING_SQL = """
SELECT v.cart_id::text, m.stage, m.channel, m.id, m.status, m.error_kind, m.attempts, m.sent_at
FROM unnest(string_to_array(%s, ',')::uuid[]) AS v(cart_id)
CROSS JOIN LATERAL (
    SELECT id, stage, channel, status, error_kind, attempts, sent_at
    FROM notifications_remindermessage WHERE cart_id = v.cart_id OFFSET 0
) m
"""
SUPPRESSED_SQL = """
SELECT store_id, kind, value_hash FROM notifications_suppression
WHERE store_id = ANY(string_to_array(%s, ',')::bigint[]) AND value_hash = ANY(string_to_array(%s, ','))
"""


def _csv(values) -> str:
    """A list as one comma-separated text parameter, split in SQL with string_to_array: ids, hashes
    and channel names hold no commas, and one string costs the driver far less than an array of
    a thousand elements."""
    return ",".join(map(str, values))


EMAIL_KIND, PHONE_KIND = Suppression.Kind.EMAIL, Suppression.Kind.PHONE


def _contact_hashes(row) -> tuple[str, str]:
    """The e-mail's and the phone's hash of a scanned cart, computed once ('' when there is none)."""
    email, phone = row[CART_EMAIL], row[CART_PHONE]
    return (contact_hash(EMAIL_KIND, email) if email else "", contact_hash(PHONE_KIND, phone) if phone else "")


def _page_context(rows) -> tuple[dict, list, set]:
    """The scanned carts' messages ((cart id, stage, channel) → M_* columns), their contacts'
    hashes (`_contact_hashes`, per row) and which of those are unsubscribed (store, kind, hash)."""
    with prepared_cursor() as cursor:
        cursor.execute(EXISTING_SQL, [_csv(row[CART_ID] for row in rows)])
        existing = {(r[0], r[1], r[2]): r[3:] for r in cursor.fetchall()}
        hashes = [_contact_hashes(row) for row in rows]
        all_hashes = {h for pair in hashes for h in pair if h}
        suppressed = set()
        if all_hashes:
            cursor.execute(SUPPRESSED_SQL, [_csv({row[CART_STORE] for row in rows}), _csv(all_hashes)])
            suppressed = set(cursor.fetchall())
    return existing, hashes, suppressed


def _batch_process(
    *, page: _ScanPage, channels, now, second, gap, summary: SweepSummary, claims, previous
) -> "_PendingClaim | None":
    """Decides, per scanned cart and channel, what is due, and claims it (`claims.submit`);
    returns this batch's pending claim (its `hand_over()` gives the claimed ids on once they are
    committed), or `previous` when there was nothing to decide or only to count (dry run).
    `previous`: the last batch's pending claim. With concurrent claims it is settled
    (`_claim_settle`) and handed over here once this batch's claim is under way; otherwise this
    batch's claim is settled at once and the caller hands it over."""
    rows, existing, hashes, suppressed = page.rows, page.existing, page.hashes, page.suppressed
    if not rows:
        return previous
    # A cart without any message is due for stage 1 on every channel: `_due_stage` only for the others.
    messaged = {cart_id for cart_id, _, _ in existing}
    first_everywhere = {channel.name: (1, None) for channel in channels}
    holdout_percent = settings.HOLDOUT_PERCENT
    candidates: list[_Candidate] = []
    holdouts: list[tuple] = []
    for row, cart_hashes in zip(rows, hashes, strict=True):
        cart_id, store_id = row[CART_ID], row[CART_STORE]
        try:
            if cart_id in messaged:
                due = {}
                for channel in channels:
                    stage, retry_id = _due_stage(
                        cart_id=cart_id,
                        second_idle=row[CART_SECOND_IDLE],
                        channel=channel.name,
                        existing=existing,
                        now=now,
                        gap=gap,
                    )
                    if stage is not None:
                        due[channel.name] = (stage, retry_id)
                if any(stage == 2 for stage, _ in due.values()):
                    # Never both stages for one cart in one sweep: stage 1 elsewhere waits for the next run.
                    due = {name: value for name, value in due.items() if value[0] == 2}
            else:
                due = first_everywhere
            # One unsubscribed contact blocks every channel.
            email_hash, phone_hash = cart_hashes
            is_suppressed = (email_hash and (store_id, EMAIL_KIND, email_hash) in suppressed) or (
                phone_hash and (store_id, PHONE_KIND, phone_hash) in suppressed
            )
            for name, (stage, retry_id) in due.items():
                contact_column, consent_column, hash_index = CHANNEL_COLUMNS[name]
                reason = None
                if not row[contact_column]:
                    reason = "no_contact"
                elif not row[consent_column]:
                    reason = "no_consent"
                elif is_suppressed:
                    reason = "unsubscribed"
                elif stage == 1 and holdout_percent > 0 and cart_in_holdout(cart_id, percent=holdout_percent):
                    holdouts.append((cart_id, store_id, name, cart_hashes[hash_index]))
                    reason = "holdout"
                if reason is not None:
                    summary.skip(reason)
                    SWEEP_RESULTS.labels(str(stage), name, reason).inc()
                    continue
                candidates.append(
                    _Candidate(
                        cart_id=cart_id,
                        store_id=store_id,
                        stage=stage,
                        channel=name,
                        recipient_hash=cart_hashes[hash_index],
                        retry_message_id=retry_id,
                    )
                )
        except Exception:
            logger.exception("abandonment sweep: cart failed", extra={"cart_id": str(cart_id)})
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
        return previous

    candidates, granted = _within_store_budget(candidates=candidates, now=now, summary=summary, previous=previous)
    claim = claims.submit(after=previous, candidates=candidates, holdouts=holdouts, now=now)
    claim.granted = granted
    if claims.concurrent:
        if previous is not None:
            # The previous batch is settled while this batch's claim runs, and its messages are
            # handed over once it is committed, before this batch's claim can fail.
            _claim_settle(previous, summary=summary, now=now)
            previous.hand_over()
    else:
        _claim_settle(claim, summary=summary, now=now)
    return claim


def _claim_settle(claim: "_PendingClaim", *, summary: SweepSummary, now: datetime) -> None:
    """Once the batch's claim is decided: what the frequency cap held back is counted, and the
    budget taken for messages that were not claimed (capped, or claimed by another sweep) goes
    back, in one Redis round trip, not one per message. Once per claim."""
    if claim.settled:
        return
    claim.settled = True
    outcome = claim.decided()
    for candidate in outcome.capped:
        summary.skip("frequency_cap")
        SWEEP_RESULTS.labels(str(candidate.stage), candidate.channel, "frequency_cap").inc()
    used: dict = {}
    for _, _, store_id, channel_name in outcome.claimed:
        used[(store_id, channel_name)] = used.get((store_id, channel_name), 0) + 1
    store_message_budget_return_batch(
        returned={key: count - used.get(key, 0) for key, count in claim.granted.items()}, now=now
    )
    summary.claimed += len(outcome.claimed)


def _within_store_budget(
    *, candidates: list[_Candidate], now: datetime, summary: SweepSummary, previous: "_PendingClaim | None" = None
):
    """The store's daily budget per channel (MESSAGES_PER_STORE_PER_DAY, notifications/caps.py),
    taken once per (store, channel) and batch: a message over it is not claimed and stays due, so
    it goes out on a later day. Returns the candidates within the budget and what was granted per
    (store, channel), so that what is not claimed can be given back.

    `previous`: the previous batch's claim, which may not have given back what it did not use yet
    (not settled: its claim is still running). The budget is taken at once; only when that falls
    short of what is wanted for a (store, channel) the previous batch was granted some of is it
    all given back and, once the previous batch is settled, taken again: each batch is granted
    what it would be granted one after the other."""
    groups: dict = {}
    for candidate in candidates:
        groups.setdefault((candidate.store_id, candidate.channel), []).append(candidate)
    wanted = {key: len(group) for key, group in groups.items()}
    unsettled = previous is not None and not previous.settled
    granted = store_message_budget_take_batch(wanted=wanted, now=now, announce=not unsettled)
    if unsettled and any(
        granted.get(key, 0) < count and previous.granted.get(key, 0) > 0 for key, count in wanted.items()
    ):
        store_message_budget_return_batch(returned=granted, now=now)
        _claim_settle(previous, summary=summary, now=now)
        granted = store_message_budget_take_batch(wanted=wanted, now=now)
    allowed = []
    for key, group in groups.items():
        count = granted.get(key, 0)
        allowed.extend(group[:count])
        for candidate in group[count:]:
            summary.skip("store_daily_cap")
            SWEEP_RESULTS.labels(str(candidate.stage), candidate.channel, "store_daily_cap").inc()
    return allowed, granted


RECENT_SQL = """
SELECT v.store_id, v.channel, v.recipient_hash, m.cart_id::text
FROM unnest(string_to_array(%(stores)s, ',')::bigint[], string_to_array(%(channels)s, ','),
            string_to_array(%(hashes)s, ',')) AS v(store_id, channel, recipient_hash)
CROSS JOIN LATERAL (
    SELECT m.cart_id FROM notifications_remindermessage m
    WHERE m.store_id = v.store_id AND m.channel = v.channel AND m.recipient_hash = v.recipient_hash
      AND m.status IN ('scheduled', 'sending', 'sent') AND m.attempted_at > %(since)s
    ORDER BY m.recipient_hash, m.attempted_at
    LIMIT 100
) m
"""


def _recent_recipients(candidates: list[_Candidate], now: datetime) -> dict:
    """(store, channel, recipient hash) → cart ids messaged within the frequency cap.

    Looked up by the exact (store, channel, recipient) of each candidate, so the index
    `notifications_cap_lookup` answers with its first three columns and each batch reads only its
    own recipients' messages. The ORDER BY (the index's order) keeps the planner on that index
    even without statistics; 100 rows per recipient are more than enough to see another cart (one
    cart has at most 2 stages per channel)."""
    if not candidates:
        return {}
    keys = sorted({(c.store_id, c.channel, c.recipient_hash) for c in candidates})
    recent: dict = {}
    with prepared_cursor() as cursor:
        cursor.execute(
            RECENT_SQL,
            {
                "stores": _csv(k[0] for k in keys),
                "channels": _csv(k[1] for k in keys),
                "hashes": _csv(k[2] for k in keys),
                "since": now - timedelta(hours=settings.NOTIFICATIONS_FREQUENCY_CAP_HOURS),
            },
        )
        for store_id, channel, recipient_hash, cart_id in cursor.fetchall():
            recent.setdefault((store_id, channel, recipient_hash), set()).add(cart_id)
    return recent


def _apply_cap(*, candidates: list[_Candidate], recent: dict):
    """Splits candidates into allowed and capped: one message per recipient and channel per cap
    window across carts (another stage of the same cart is governed by the delays instead)."""
    allowed, capped = [], []
    taken = {key: set(cart_ids) for key, cart_ids in recent.items()}
    for candidate in candidates:
        key = (candidate.store_id, candidate.channel, candidate.recipient_hash)
        holders = taken.get(key)
        if holders is None:
            taken[key] = {candidate.cart_id}
        elif len(holders) > 1 or candidate.cart_id not in holders:
            capped.append(candidate)
            continue
        allowed.append(candidate)
    return allowed, capped


# The cart is re-checked (still open) by a scalar subquery: one primary-key probe per row, whatever
# the statistics say (a join could be planned as a scan of the carts table).
CART_OPEN_SQL = "(SELECT c.converted_at IS NULL AND c.removed_at IS NULL FROM carts_cart c WHERE c.id = {cart})"

CLAIM_INSERT_SQL = f"""
INSERT INTO notifications_remindermessage
    (cart_id, store_id, stage, channel, status, skip_reason, attempts, last_error, error_kind,
     provider_message_id, recipient_hash, scheduled_at, attempted_at, click_count, created_at, updated_at)
SELECT v.cart_id, v.store_id, v.stage, v.channel, 'scheduled', '', 0, '', '', '', v.recipient_hash,
       %(now)s, %(now)s, 0, %(now)s, %(now)s
FROM unnest(string_to_array(%(cart_ids)s, ',')::uuid[], string_to_array(%(stores)s, ',')::bigint[],
            string_to_array(%(stages)s, ',')::smallint[], string_to_array(%(channels)s, ','),
            string_to_array(%(hashes)s, ',')) AS v(cart_id, store_id, stage, channel, recipient_hash)
WHERE {CART_OPEN_SQL.format(cart="v.cart_id")}
ON CONFLICT (cart_id, stage, channel) DO NOTHING
RETURNING id, cart_id::text, store_id, channel
"""

CLAIM_RETRY_SQL = f"""
UPDATE notifications_remindermessage m
SET status = 'scheduled', attempted_at = %(now)s, updated_at = %(now)s
WHERE m.id = ANY(%(ids)s) AND {CART_OPEN_SQL.format(cart="m.cart_id")}
  AND m.status = 'failed' AND m.error_kind IN ('retry', 'alert') AND m.attempts < %(max_attempts)s
RETURNING m.id, m.cart_id::text, m.store_id, m.channel
"""

HOLDOUT_MESSAGES_SQL = """
INSERT INTO notifications_remindermessage
    (cart_id, store_id, stage, channel, status, skip_reason, attempts, last_error, error_kind,
     provider_message_id, recipient_hash, scheduled_at, click_count, created_at, updated_at)
SELECT v.cart_id, v.store_id, 1, v.channel, 'skipped', 'holdout', 0, '', '', '', v.recipient_hash,
       %(now)s, 0, %(now)s, %(now)s
FROM unnest(%(cart_ids)s::uuid[], %(stores)s::bigint[], %(channels)s::text[], %(hashes)s::text[])
     AS v(cart_id, store_id, channel, recipient_hash)
ON CONFLICT DO NOTHING
"""

HOLDOUT_OUTCOMES_SQL = """
INSERT INTO notifications_cartoutcome
    (cart_id, store_id, holdout, holdout_at, holdout_converted, recovered, recovered_at,
     credited_stage, credited_channel, revenue, updated_at)
SELECT DISTINCT v.cart_id, v.store_id, true, %(now)s, false, false, NULL::timestamptz, NULL::smallint, '',
       NULL::numeric, %(now)s
FROM unnest(%(cart_ids)s::uuid[], %(stores)s::bigint[]) AS v(cart_id, store_id)
ON CONFLICT DO NOTHING
"""


@dataclass
class _ClaimOutcome:
    claimed: list  # (message id, cart id, store id, channel) of the claimed messages, by id
    capped: list  # the candidates the frequency cap held back


def _claim(*, candidates, holdouts, now, before_commit=None, before_lock=None, on_locked=None) -> _ClaimOutcome:
    """Claims the batch's messages (status `scheduled`), set-based, in one short transaction.

    Recipients are locked (transaction advisory locks, in a fixed order) while the frequency cap
    is checked and the claims are written, so two sweeps cannot both pass the cap for one
    customer; the unique (cart, stage, channel) makes a message claimable once.
    `before_commit(outcome)` is called with the outcome before the transaction commits;
    `before_lock()` right before the recipients are locked, `on_locked()` once they are (or once
    there is nothing to lock)."""
    claimed: list[tuple] = []
    capped: list[_Candidate] = []
    with transaction.atomic(), prepared_cursor() as cursor:
        if holdouts:
            params = {
                "now": now,
                "cart_ids": [h[0] for h in holdouts],
                "stores": [h[1] for h in holdouts],
                "channels": [h[2] for h in holdouts],
                "hashes": [h[3] for h in holdouts],
            }
            cursor.execute(HOLDOUT_MESSAGES_SQL, params)
            cursor.execute(HOLDOUT_OUTCOMES_SQL, params)
        if before_lock is not None:
            before_lock()
        if candidates:
            lock_keys = sorted({f"{c.store_id}:{c.channel}:{c.recipient_hash}" for c in candidates})
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
                "FROM unnest(string_to_array(%s, ',')) AS t(k)",
                [_csv(lock_keys)],
            )
        if on_locked is not None:
            on_locked()
        if candidates:
            allowed, capped = _apply_cap(candidates=candidates, recent=_recent_recipients(candidates, now))
            new = [c for c in allowed if c.retry_message_id is None]
            retries = [c.retry_message_id for c in allowed if c.retry_message_id is not None]
            if new:
                cursor.execute(
                    CLAIM_INSERT_SQL,
                    {
                        "now": now,
                        "cart_ids": _csv(c.cart_id for c in new),
                        "stores": _csv(c.store_id for c in new),
                        "stages": _csv(c.stage for c in new),
                        "channels": _csv(c.channel for c in new),
                        "hashes": _csv(c.recipient_hash for c in new),
                    },
                )
                claimed.extend(cursor.fetchall())
            if retries:
                cursor.execute(
                    CLAIM_RETRY_SQL, {"now": now, "ids": retries, "max_attempts": settings.NOTIFICATIONS_MAX_ATTEMPTS}
                )
                claimed.extend(cursor.fetchall())
        claimed.sort(key=lambda row: row[0])
        outcome = _ClaimOutcome(claimed=claimed, capped=capped)
        if before_commit is not None:
            before_commit(outcome)
    return outcome


class _PendingClaim:
    """A batch's claim: `decided()` waits for what it claimed (known before its commit),
    `hand_over()` waits for the commit and gives the claimed ids on (once). `locked` is done once
    its recipients are locked; `granted` is the budget its batch took, `settled` whether what it
    did not use was given back (`_claim_settle`)."""

    def __init__(self, *, decided: Future, committed: Future, locked: Future, hand_over):
        self._decided = decided
        self._committed = committed
        self.locked = locked
        self._hand_over = hand_over
        self._handed = False
        self.granted: dict = {}
        self.settled = False

    def decided(self) -> _ClaimOutcome:
        return self._decided.result()

    def hand_over(self) -> None:
        if self._handed:
            return
        self._handed = True
        self._committed.result()
        self._hand_over([row[0] for row in self._decided.result().claimed])


class _ClaimWorkers:
    """Where the claims run. With `concurrent`, on two worker threads in turn, each with a
    connection of its own, so that a batch's claim runs while the previous batch's claim
    finishes and commits (its COMMIT carries the deferred foreign-key checks of its rows) and
    while the next batch is scanned and decided. Nothing is decided differently:
    - batches hold disjoint carts;
    - a claim locks its recipients only once the previous batch's claim has locked its own
      (`after`), and a recipient the previous claim still holds is waited for until it commits,
      so the frequency cap then sees that claim, as if the claims had run one after the other;
    - a claim commits only once the previous one is decided: when that one failed, it is rolled
      back, so a failed sweep leaves no claim behind that it did not hand over;
    - the store budget a batch takes before the previous batch gave back what it did not use is
      taken again after that, whenever it fell short (`_within_store_budget`).
    Without `concurrent`, each claim runs on the caller's connection and is committed at once.

    The workers' connections get the caller's execute wrappers and are closed by `close()`."""

    def __init__(self, *, concurrent: bool, hand_over):
        self.concurrent = concurrent
        self._hand_over = hand_over
        self._wrappers = list(connection.execute_wrappers)
        self._executors: list[ThreadPoolExecutor] = []
        self._turn = 0

    def submit(self, *, after: _PendingClaim | None = None, **claim) -> _PendingClaim:
        decided: Future = Future()
        locked: Future = Future()
        if not self.concurrent:
            committed: Future = Future()
            decided.set_result(_claim(**claim))
            locked.set_result(None)
            committed.set_result(None)
        else:
            if not self._executors:
                self._executors = [
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sweep-claim-{i}") for i in range(2)
                ]
                for executor in self._executors:
                    executor.submit(_jit_off_here)
            executor = self._executors[self._turn % len(self._executors)]
            self._turn += 1
            committed = executor.submit(self._run, decided, locked, after, claim)
        return _PendingClaim(decided=decided, committed=committed, locked=locked, hand_over=self._hand_over)

    def _run(self, decided: Future, locked: Future, after: _PendingClaim | None, claim: dict) -> None:
        def before_commit(outcome: _ClaimOutcome) -> None:
            if after is not None:
                after.decided()  # the previous claim failed: this one is rolled back, not handed over
            decided.set_result(outcome)

        try:
            with ExitStack() as stack:
                for wrapper in self._wrappers:
                    stack.enter_context(connection.execute_wrapper(wrapper))
                _claim(
                    **claim,
                    before_commit=before_commit,
                    before_lock=after.locked.result if after is not None else None,
                    on_locked=lambda: locked.set_result(None),
                )
        except BaseException as exc:
            for future in (decided, locked):
                if not future.done():
                    future.set_exception(exc)
            raise

    def close(self) -> None:
        for executor in self._executors:
            executor.submit(_connection_close)
            executor.shutdown(wait=True)
        self._executors = []


def _connection_close() -> None:
    connection.close()  # `connection` is per thread: in a worker, the worker's own


def _jit_off_here() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")  # as on the sweep's own connection (_jit_off)


# --- delivery: claimed messages to their channel ------------------------------------------

# `status || ''`: the ids are looked up by primary key; a partial index on status (which matches
# every claimed message) is never the better plan, whatever stale statistics suggest.
DELIVERY_TAKE_SQL = f"""
UPDATE notifications_remindermessage m
SET status = 'sending', attempts = m.attempts + 1, attempted_at = %(now)s, updated_at = %(now)s
WHERE m.id = ANY(%(ids)s) AND m.status || '' = 'scheduled' AND m.attempts < %(max_attempts)s
  AND {CART_OPEN_SQL.format(cart="m.cart_id")}
RETURNING m.id, m.cart_id, m.stage, m.channel
"""

DELIVERY_CLOSE_SQL = f"""
UPDATE notifications_remindermessage m
SET status = 'skipped', skip_reason = 'converted', updated_at = %(now)s
WHERE m.id = ANY(%(ids)s) AND m.status = 'scheduled' AND NOT {CART_OPEN_SQL.format(cart="m.cart_id")}
"""


def reminders_deliver(*, message_ids: list[int], now: datetime | None = None, summary: SweepSummary | None = None):
    """Sends claimed (`scheduled`) messages, each at most once.

    The messages are taken (`scheduled` → `sending`, one more attempt) in one conditional UPDATE,
    so two deliveries of the same ids (a task run twice, a sweep picking up leftovers) send each
    message once; a cart converted or removed since the claim is not messaged (its message is
    closed as skipped). Then each message goes to its channel outside any transaction, and the
    results are written in one UPDATE. Returns the summary (sent and failed counts)."""
    summary = summary if summary is not None else SweepSummary()
    now = now or timezone.now()
    if not message_ids:
        return summary
    with connection.cursor() as cursor:
        cursor.execute(
            DELIVERY_TAKE_SQL,
            {"now": now, "ids": list(message_ids), "max_attempts": settings.NOTIFICATIONS_MAX_ATTEMPTS},
        )
        taken = sorted(cursor.fetchall())
        if len(taken) < len(message_ids):
            cursor.execute(DELIVERY_CLOSE_SQL, {"now": now, "ids": list(message_ids)})
    if not taken:
        return summary
    carts = Cart.objects.select_related("store").in_bulk({cart_id for _, cart_id, _, _ in taken})
    channels = {channel.name: channel for channel in channels_enabled(enable_whatsapp=True, enable_email=True)}
    used = {channels[channel_name] for _, _, _, channel_name in taken}
    outcomes: list[_SendOutcome] = []
    for channel in used:
        channel.open()
    try:
        for message_id, cart_id, stage, channel_name in taken:
            outcomes.append(
                _send_one(
                    channel=channels[channel_name],
                    message_id=message_id,
                    cart=carts[cart_id],
                    stage=stage,
                    summary=summary,
                )
            )
    finally:
        for channel in used:
            channel.close()
        # The batch's results in one statement (a crash before it leaves the rows in `sending`:
        # closed as failed/final by a later sweep, never sent twice).
        _results_write(outcomes=outcomes, now=now)
    return summary


def reminders_deliver_pending(*, now: datetime | None = None, batch_size: int = 1000, stores=None, limit=None):
    """Delivers every claimed message not yet handed to a channel (whatever its age), in batches:
    the delivery step on its own (the benchmark times it apart from the sweep's claim)."""
    summary = SweepSummary()
    now = now or timezone.now()
    store_ids = None if stores is None else [getattr(s, "pk", s) for s in stores]
    delivered = 0
    for message_ids in _undelivered_pages(now=now + DELIVERY_GRACE, stores=store_ids, size=batch_size):
        reminders_deliver(message_ids=message_ids, now=now, summary=summary)
        summary.batches += 1
        delivered += len(message_ids)
        if limit is not None and delivered >= limit:
            break
    return summary


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
