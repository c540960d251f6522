"""Every write to tracking events: record one, record many, and retention (archive then delete)."""

import gzip
import json
import logging
import operator
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from carts.auth import keyed_store_sql
from carts.models import Store
from cartsite.db import prepared_cursor
from cartsite.errors import DomainError, Forbidden, ValidationFailed
from cartsite.logging import store_var
from cartsite.retention import retention_days_check
from tracking.inputs import EventInput, event_input_clean
from tracking.models import CartTrackingEvent, event_id_new, event_ids_new

logger = logging.getLogger("tracking")

ID_ATTEMPTS = 3
# A retention run archives at most this many rows a batch (held in memory, written as one file).
MAX_ARCHIVE_BATCH = 100_000
STORE_MISMATCH_REASON = "Store mismatch"
# The stored columns (the database computes generated ones itself).
ATTNAMES = [f.attname for f in CartTrackingEvent._meta.concrete_fields if not f.generated]


def _now_ms() -> datetime:
    """Now, cut to the millisecond: the id, `createdAt` and the stored value then agree exactly."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _is_id_collision(exc: IntegrityError) -> bool:
    """True when an insert lost on the primary key (another writer took the same random id)."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None:
        return getattr(exc.__cause__, "sqlstate", None) == "23505" and diag.constraint_name == (
            f"{CartTrackingEvent._meta.db_table}_pkey"
        )
    return f"{CartTrackingEvent._meta.db_table}.id" in str(exc)


def store_mismatch_error() -> Forbidden:
    return Forbidden("This key belongs to another store", field="storeName", reason=STORE_MISMATCH_REASON)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """What storing one event gives back: its id and server time (what the API answers)."""

    id: str
    created_at: datetime


def event_record(*, store: Store, event: EventInput, ip_address: str | None = None) -> RecordedEvent:
    """Stores one event of `store` (seed 001 §2.3-2.4).

    The event's normalised store name must be the acting store's (else 403). The id is random;
    the primary key is the arbiter of uniqueness: one `INSERT … ON CONFLICT (id) DO NOTHING
    RETURNING id` in autocommit, and when no row comes back (another writer took the id) the
    insert is repeated with a new id. `created_at` is server time (UTC). Inside an outer
    transaction the insert runs in a savepoint, so a failing insert leaves that transaction usable.
    """
    if event.store_name != store.name:
        raise store_mismatch_error()
    ops = connection.ops
    sql = _insert_sql(connection.vendor)
    ip_value = ops.adapt_ipaddressfield_value(ip_address)
    fields = _event_values(event)
    for _attempt in range(ID_ATTEMPTS):
        now = _now_ms()
        event_id = event_id_new(_epoch_ms(now))
        stamp = ops.adapt_datetimefield_value(now)
        params = (event_id, store.pk, *fields, ip_value, stamp, stamp)
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.fetchone()
        if inserted is not None:
            return RecordedEvent(id=event_id, created_at=now)
        logger.warning("tracking event id collision, retrying", extra={"event_id": event_id})
    raise IntegrityError("could not find a free event id")


def event_record_by_key(*, key_digest: str, event: EventInput, ip_address: str | None = None) -> RecordedEvent | None:
    """event_record for the store of an active store key, the key check and the insert in one
    statement (carts.auth.KeyCheckedByTheWrite): the storefront's event costs one round trip.

    None, with nothing stored, when the key is unknown or revoked, belongs to another store than
    the event's `storeName`, or the random id was taken, and also when this cannot be one
    statement (not PostgreSQL, or inside a transaction): the caller then checks the key the
    usual way and calls event_record, which gives each of those its own answer."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    now = _now_ms()
    event_id = event_id_new(_epoch_ms(now))
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = (
        key_digest,
        event.store_name,
        event_id,
        *_event_values(event),
        connection.ops.adapt_ipaddressfield_value(ip_address),
        stamp,
        stamp,
    )
    with prepared_cursor() as cursor:
        cursor.execute(_insert_by_key_sql(connection.vendor), params)
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    store_var.set(event.store_name)
    return RecordedEvent(id=event_id, created_at=now)


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    reason: str


@dataclass(frozen=True)
class BulkResult:
    ids: list[str]
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.ids)


def events_record_bulk(*, store: Store, payloads: list, ip_address: str | None = None) -> BulkResult:
    """Validates each posted event and stores the valid ones in one set-based insert.

    Invalid events (each rule of `event_input_clean`, and a `storeName` of another store) are
    reported by their index; they never stop the others. PostgreSQL gets one COPY, other
    databases one multi-row INSERT; an id collision rolls the whole insert back (savepoint) and
    it is retried with fresh ids, so either every accepted event is stored or none is.
    """
    events: list[tuple] = []  # each valid event's values in `_EVENT_FIELDS` order
    rejected: list[Rejection] = []
    store_name = store.name
    for index, payload in enumerate(payloads):
        try:
            event = event_input_clean(payload)
        except DomainError as exc:
            details = exc.details or {}
            rejected.append(Rejection(index, details.get("field", "event"), details.get("reason", exc.message)))
            continue
        if event.store_name != store_name:
            rejected.append(Rejection(index, "storeName", STORE_MISMATCH_REASON))
            continue
        events.append(_event_values(event))
    if not events:
        return BulkResult(ids=[], rejected=rejected)

    for _attempt in range(ID_ATTEMPTS):
        now = _now_ms()
        ids = event_ids_new(len(events), _epoch_ms(now))
        try:
            with transaction.atomic():
                _rows_insert(ids, events, store_pk=store.pk, ip_address=ip_address, now=now)
            return BulkResult(ids=ids, rejected=rejected)
        except IntegrityError as exc:
            if not _is_id_collision(exc):
                raise
            logger.warning("tracking event id collision in bulk insert, retrying")
    raise IntegrityError("could not find free event ids")


_EVENT_FIELDS = [name for name in ATTNAMES if name not in ("id", "store_id", "ip_address", "created_at", "updated_at")]
_ROW_ORDER = ["id", "store_id", *_EVENT_FIELDS, "ip_address", "created_at", "updated_at"]


_event_values = operator.attrgetter(*_EVENT_FIELDS)


@cache
def _insert_sql(vendor: str) -> str:
    """One row in `_ROW_ORDER`; nothing inserted (no row returned) when the id is taken."""
    quote = connection.ops.quote_name
    meta = CartTrackingEvent._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in _ROW_ORDER)
    placeholders = ", ".join(["%s"] * len(_ROW_ORDER))
    return (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({quote(meta.pk.column)}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )


@cache
def _insert_by_key_sql(vendor: str) -> str:
    """`_insert_sql` with the store read from the active key of that store (carts.auth)."""
    quote = connection.ops.quote_name
    meta = CartTrackingEvent._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in _ROW_ORDER)
    expressions = ", ".join("keyed.store_id" if name == "store_id" else "%s" for name in _ROW_ORDER)
    return (
        f"WITH keyed AS ({keyed_store_sql(vendor, named=True)}) "
        f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {expressions} FROM keyed "
        f"ON CONFLICT ({quote(meta.pk.column)}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )


_COPY_NULL = "\x00"  # stands for NULL while the text is built (cleaned input holds no NUL)
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _copy_field(value) -> str:
    """One value in COPY's text format: NULL as \\N; backslash, tab, newline, CR escaped."""
    if value is None:
        return "\\N"
    text = value if type(value) is str else str(value)
    for char, escaped in _COPY_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text


def copy_text(ids: list[str], events: list[tuple], *, store_pk, ip_address: str | None, now: datetime) -> str:
    """The rows (`_ROW_ORDER`) as one COPY text-format string, one line per row.

    Built by joining; when the joined text holds no character that needs escaping (the number of
    tabs and newlines is exactly the separators', no backslash, no CR: the usual case) it is used
    as is, else every field is escaped one by one.
    """
    stamp = now.isoformat()
    head = f"\t{store_pk}\t"
    tail = f"\t{_COPY_NULL if ip_address is None else ip_address}\t{stamp}\t{stamp}"
    null = _COPY_NULL
    lines = [
        event_id + head + "\t".join([null if value is None else value for value in values]) + tail
        for event_id, values in zip(ids, events, strict=True)
    ]
    lines.append("")
    text = "\n".join(lines)
    rows = len(ids)
    if (
        text.count("\t") == rows * (len(_ROW_ORDER) - 1)
        and text.count("\n") == rows
        and "\\" not in text
        and "\r" not in text
    ):
        return text.replace(null, "\\N")
    fixed_tail = [_copy_field(ip_address), stamp, stamp]
    return "".join(
        "\t".join([_copy_field(event_id), str(store_pk), *map(_copy_field, values), *fixed_tail]) + "\n"
        for event_id, values in zip(ids, events, strict=True)
    )


def _rows_insert(ids: list[str], events: list[tuple], *, store_pk, ip_address: str | None, now: datetime) -> None:
    """One set-based insert: COPY (one text block, written once) on PostgreSQL, bulk_create elsewhere."""
    if connection.vendor == "postgresql":
        columns = ", ".join(connection.ops.quote_name(CartTrackingEvent._meta.get_field(n).column) for n in _ROW_ORDER)
        sql = f"COPY {connection.ops.quote_name(CartTrackingEvent._meta.db_table)} ({columns}) FROM STDIN"
        text = copy_text(ids, events, store_pk=store_pk, ip_address=ip_address, now=now)
        with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            copy.write(text)
        return
    objects = [
        CartTrackingEvent(
            id=event_id,
            store_id=store_pk,
            ip_address=ip_address,
            created_at=now,
            updated_at=now,
            **dict(zip(_EVENT_FIELDS, values, strict=True)),
        )
        for event_id, values in zip(ids, events, strict=True)
    ]
    CartTrackingEvent.objects.bulk_create(objects)


# --- Retention ------------------------------------------------------------------------------


@dataclass
class RetentionResult:
    cutoff: datetime
    archived: int = 0
    deleted: int = 0
    files: list[str] = field(default_factory=list)


def _archive_line(values: dict) -> str:
    record = {}
    for key, value in values.items():
        record[key] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _archive_write(directory: Path, name: str, rows: list[dict]) -> Path:
    """Writes rows to `name` (gzip JSON lines) atomically and durably: a temporary file is
    written and fsync'd, renamed into place, and the directory fsync'd; only then is it final."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    partial = directory / f".{name}.partial"
    with open(partial, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
            for row in rows:
                compressed.write(_archive_line(row).encode() + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    return final


def _archive_name(rows: list[dict]) -> str:
    # Named after the batch's first and last row: a run that died between writing the file and
    # deleting the rows writes the same batch under the same name again (no duplicate archives).
    first, last = rows[0], rows[-1]
    stamp = first["created_at"].strftime("%Y%m%dT%H%M%S%fZ")
    return f"cart_tracking_events-{stamp}-{first['id']}-{last['id']}.jsonl.gz"


def events_archive_expired(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    archive_dir: str | Path | None = None,
    batch_size: int = 5000,
    max_batches: int | None = None,
    progress: Callable[[RetentionResult, str], None] | None = None,
) -> RetentionResult:
    """Archives events older than TRACKING_RETENTION_DAYS to gzip JSON-lines files in
    TRACKING_ARCHIVE_DIR, then deletes exactly the archived rows.

    Batches are the oldest `batch_size` expired rows (keyset order created_at, id), locked with
    SKIP LOCKED so two runs never take the same rows. A batch's rows are deleted only after its
    file is written, fsync'd and renamed into place; if writing fails, the batch's transaction
    rolls back and nothing is deleted. The run is resumable: each committed batch is final, and
    a batch interrupted after its file was written is written again under the same name.
    """
    now = now or timezone.now()
    days = settings.TRACKING_RETENTION_DAYS if retention_days is None else retention_days
    retention_days_check(days)
    if not 1 <= batch_size <= MAX_ARCHIVE_BATCH:
        raise ValidationFailed(
            f"batch size must be between 1 and {MAX_ARCHIVE_BATCH}", field="batch_size", reason="Out of range"
        )
    if max_batches is not None and max_batches < 1:
        raise ValidationFailed("max batches must be at least 1", field="max_batches", reason="Out of range")
    directory = Path(archive_dir or settings.TRACKING_ARCHIVE_DIR)
    result = RetentionResult(cutoff=now - timedelta(days=days))
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            query = CartTrackingEvent.objects.filter(created_at__lt=result.cutoff).order_by("created_at", "id")
            if connection.features.has_select_for_update_skip_locked:
                query = query.select_for_update(skip_locked=True)
            rows = list(query.values(*ATTNAMES)[:batch_size])
            if not rows:
                break
            path = _archive_write(directory, _archive_name(rows), rows)
            deleted, _ = CartTrackingEvent.objects.filter(
                id__in=[row["id"] for row in rows], created_at__lt=result.cutoff
            ).delete()
        batches += 1
        result.archived += len(rows)
        result.deleted += deleted
        result.files.append(str(path))
        logger.info(
            "tracking events archived",
            extra={"archive_file": path.name, "archived": len(rows), "deleted": deleted},
        )
        if progress is not None:
            progress(result, path.name)
        if len(rows) < batch_size:
            break
    return result


def archive_read(path: str | Path) -> Iterable[dict]:
    """The rows of one archive file (for checks and restores)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)
