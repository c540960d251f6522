"""Reads of tracking events: filtered pages (keyset), CSV rows, and the analytics aggregates.

Every read is scoped to one store and served by the indexes of seed 001 §1.2, mainly
`idx_store_created` (store_name, created_at, id): pages walk it backwards, date ranges are a
range scan of it, and the aggregates are single GROUP BY queries over that range.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from carts.models import Cart, Store
from cartsite.errors import ValidationFailed
from tracking.models import CartTrackingEvent

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
BY_PRODUCT_LIMIT = 50
CURSOR_SALT = "tracking.events.cursor"

# (API name, model field) in the order of the JSON objects and the CSV columns.
EVENT_COLUMNS = [
    ("id", "id"),
    ("storeName", "store_name"),
    ("productId", "product_id"),
    ("productTitle", "product_title"),
    ("productUrl", "product_url"),
    ("variantId", "variant_id"),
    ("customerEmail", "customer_email"),
    ("customerFirstName", "customer_first_name"),
    ("customerLastName", "customer_last_name"),
    ("generatedImageUrl", "generated_image_url"),
    ("personImageUrl", "person_image_url"),
    ("clothingImageUrl", "clothing_image_url"),
    ("userAgent", "user_agent"),
    ("sessionId", "session_id"),
    ("ipAddress", "ip_address"),
    ("createdAt", "created_at"),
]
MODEL_FIELDS = [model for _, model in EVENT_COLUMNS]


def iso_ms(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and `Z` (seed 001's `createdAt`)."""
    return timezone.localtime(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_as_dict(values) -> dict:
    """An event row (a tuple in MODEL_FIELDS order) in the API's camelCase shape."""
    body = dict(zip((api for api, _ in EVENT_COLUMNS), values, strict=True))
    body["createdAt"] = iso_ms(body["createdAt"])
    return body


@dataclass(frozen=True)
class EventFilters:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    product_id: str | None = None
    session_id: str | None = None
    customer_email: str | None = None


def _as_utc(moment: datetime) -> datetime:
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def _moment(raw: str, name: str, *, end: bool) -> datetime:
    """`YYYY-MM-DD` or an ISO 8601 date-time; a bare date as `to` covers that whole day."""
    raw = raw.strip()
    try:
        # A bare date first: Python's fromisoformat would read it as midnight.
        day = parse_date(raw) if len(raw) == 10 else None
        parsed = None if day else parse_datetime(raw)
    except ValueError:
        parsed = day = None
    if day is not None:
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1) if end else moment
    if parsed is not None:
        moment = _as_utc(parsed)
        # A date-time `to` is inclusive: the end bound is exclusive, one microsecond later.
        return moment + timedelta(microseconds=1) if end else moment
    raise ValidationFailed(
        f"{name} must be an ISO 8601 date or date-time", field=name, reason="Invalid date or date-time"
    )


def event_filters_parse(params) -> EventFilters:
    """The query parameters `from`, `to`, `productId`, `sessionId`, `customerEmail`."""
    start = _moment(params["from"], "from", end=False) if params.get("from") else None
    end = _moment(params["to"], "to", end=True) if params.get("to") else None
    if start and end and start >= end:
        raise ValidationFailed("from must be before to", field="from", reason="Must be before to")
    email = (params.get("customerEmail") or "").strip().lower() or None
    return EventFilters(
        start=start,
        end=end,
        product_id=(params.get("productId") or "").strip() or None,
        session_id=(params.get("sessionId") or "").strip() or None,
        customer_email=email,
    )


def limit_parse(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit", reason=f"Must be 1 to {MAX_LIMIT}"
        )
    return limit


def events_query(*, store: Store, filters: EventFilters) -> QuerySet:
    query = CartTrackingEvent.objects.filter(store_name=store.name)
    if filters.start:
        query = query.filter(created_at__gte=filters.start)
    if filters.end:
        query = query.filter(created_at__lt=filters.end)
    if filters.product_id:
        query = query.filter(product_id=filters.product_id)
    if filters.session_id:
        query = query.filter(session_id=filters.session_id)
    if filters.customer_email:
        query = query.filter(customer_email=filters.customer_email)
    return query


def cursor_encode(created_at: datetime, event_id: str) -> str:
    return signing.dumps([created_at.isoformat(), event_id], salt=CURSOR_SALT, compress=True)


def cursor_decode(raw: str) -> tuple[datetime, str]:
    try:
        created, event_id = signing.loads(raw, salt=CURSOR_SALT)
        moment = datetime.fromisoformat(created)
    except (signing.BadSignature, ValueError, TypeError, json.JSONDecodeError, base64.binascii.Error):
        raise ValidationFailed("cursor is not valid", field="cursor", reason="Invalid cursor")
    return moment, event_id


@dataclass(frozen=True)
class EventPage:
    events: list[dict]
    next_cursor: str | None


def events_page(*, store: Store, filters: EventFilters, limit: int, cursor: str | None = None) -> EventPage:
    """Newest first; the next page starts after the last row's (created_at, id)."""
    query = events_query(store=store, filters=filters)
    if cursor:
        created_at, event_id = cursor_decode(cursor)
        query = query.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=event_id))
    rows = list(query.order_by("-created_at", "-id").values_list(*MODEL_FIELDS)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = cursor_encode(last[MODEL_FIELDS.index("created_at")], last[0])
    return EventPage(events=[event_as_dict(row) for row in rows], next_cursor=next_cursor)


def events_rows(*, query: QuerySet, chunk_size: int = 1000) -> Iterator[tuple]:
    """Rows (MODEL_FIELDS order, newest first) streamed from a server-side cursor: memory stays
    flat however many rows match."""
    return query.order_by("-created_at", "-id").values_list(*MODEL_FIELDS).iterator(chunk_size=chunk_size)


# --- Analytics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    date: date
    events: int


@dataclass(frozen=True)
class ProductCount:
    product_id: str | None
    product_title: str | None
    events: int


@dataclass(frozen=True)
class Analytics:
    total_events: int
    unique_sessions: int
    with_generated_image: int
    converted_sessions: int
    by_day: list[DayCount] = field(default_factory=list)
    by_product: list[ProductCount] = field(default_factory=list)

    @property
    def generated_image_share(self) -> float:
        return round(self.with_generated_image / self.total_events, 4) if self.total_events else 0.0

    def as_api(self) -> dict:
        return {
            "totalEvents": self.total_events,
            "uniqueSessions": self.unique_sessions,
            "byDay": [{"date": day.date.isoformat(), "events": day.events} for day in self.by_day],
            "byProduct": [
                {"productId": p.product_id, "productTitle": p.product_title, "events": p.events}
                for p in self.by_product
            ],
            "generatedImageShare": self.generated_image_share,
            "convertedSessions": self.converted_sessions,
        }


def analytics(*, store: Store, filters: EventFilters, product_limit: int = BY_PRODUCT_LIMIT) -> Analytics:
    """The analytics of API.md for one store and date range, in two passes over the range (a
    range scan of `idx_store_created` or `idx_created_at`, as the planner prefers).
    1. Events per (day, product), rolled up in the same query into the days (with the generated
       images) and the top products (most events first, then by id); totals are the days' sums.
       A product's title is the first of its stored titles in sort order (one title per
       product is the norm; this makes the choice deterministic without another query).
    2. The range's distinct sessions (a hash GROUP BY, not COUNT(DISTINCT)'s sort), counted, and
       those of them with a converted cart of the store (`session_token` equal to `sessionId`),
       found through the partial index `carts_converted_session`.
    JIT is off (these short scans cost less than compiling them) and work_mem is raised for the
    query so the session hash stays in memory.
    """
    events = events_query(store=store, filters=filters)
    if connection.vendor != "postgresql":
        return _analytics_portable(store=store, events=events, product_limit=product_limit)
    cells = (
        events.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "product_id")
        .annotate(
            events=Count("created_at"),
            generated=Count("created_at", filter=Q(has_generated_image=True)),
            title=Min("product_title"),
        )
        .order_by()
    )
    cells_sql, cells_params = cells.query.sql_with_params()
    rollup_sql = f"""
        SELECT is_product, day, product_id, events, generated, title FROM (
            SELECT GROUPING(cells.day) AS is_product, cells.day, cells.product_id,
                   SUM(cells.events)::bigint AS events, SUM(cells.generated)::bigint AS generated,
                   MIN(cells.title) AS title,
                   row_number() OVER (
                       PARTITION BY GROUPING(cells.day)
                       ORDER BY cells.product_id IS NULL, SUM(cells.events) DESC, cells.product_id
                   ) AS position
            FROM ({cells_sql}) AS cells
            GROUP BY GROUPING SETS ((cells.day), (cells.product_id))
        ) AS rolled
        WHERE is_product = 0 OR (product_id IS NOT NULL AND position <= %s)
        ORDER BY is_product, day, position
    """
    sessions = events.filter(session_id__isnull=False).values("session_id").distinct().order_by()
    sessions_sql, sessions_params = sessions.query.sql_with_params()
    carts_table = connection.ops.quote_name(Cart._meta.db_table)
    # Each distinct token of a converted cart joins at most one session: COUNT(*) stays the sessions.
    sessions_count_sql = f"""
        SELECT COUNT(*), COUNT(converted.session_token)
        FROM ({sessions_sql}) AS s
        LEFT JOIN (
            SELECT DISTINCT c.session_token FROM {carts_table} c
            WHERE c.store_id = %s AND c.converted_at IS NOT NULL
        ) AS converted ON converted.session_token = s.session_id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(rollup_sql, [*cells_params, product_limit])
        rows = cursor.fetchall()
        cursor.execute(sessions_count_sql, [*sessions_params, store.pk])
        unique_sessions, converted = cursor.fetchone()
    days = [row for row in rows if row[0] == 0]
    return Analytics(
        total_events=sum(row[3] for row in days),
        unique_sessions=unique_sessions,
        with_generated_image=sum(row[4] for row in days),
        converted_sessions=converted,
        by_day=[DayCount(date=row[1], events=row[3]) for row in days],
        by_product=[
            ProductCount(product_id=product_id, product_title=title, events=count)
            for is_product, _, product_id, count, _, title in rows
            if is_product == 1
        ],
    )


def _analytics_portable(*, store: Store, events: QuerySet, product_limit: int) -> Analytics:
    """The same figures with plain ORM queries, for databases without GROUPING SETS (SQLite)."""
    by_day_rows = list(
        events.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(events=Count("id"), generated=Count("id", filter=Q(has_generated_image=True)))
        .order_by("day")
    )
    top_products = (
        events.filter(product_id__isnull=False)
        .values("product_id")
        .annotate(events=Count("id"), title=Min("product_title"))
        .order_by("-events", "product_id")[:product_limit]
    )
    tracked = events.filter(session_id=OuterRef("session_token"))
    converted = (
        Cart.objects.filter(store=store, converted_at__isnull=False)
        .filter(Exists(tracked))
        .aggregate(sessions=Count("session_token", distinct=True))["sessions"]
    )
    return Analytics(
        total_events=sum(row["events"] for row in by_day_rows),
        unique_sessions=events.aggregate(sessions=Count("session_id", distinct=True))["sessions"],
        with_generated_image=sum(row["generated"] for row in by_day_rows),
        converted_sessions=converted,
        by_day=[DayCount(date=row["day"], events=row["events"]) for row in by_day_rows],
        by_product=[ProductCount(row["product_id"], row["title"], row["events"]) for row in top_products],
    )
