"""Every read of carts that is more than a get: for the API, the admin pages and the other apps."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from carts.models import Cart, Store

NO_CATEGORY = None  # the bucket of items without a category (shown as "(no category)")
NO_TAG = None  # the bucket of items without tags
REPORT_MAX_GROUPS = 50


# --- single carts --------------------------------------------------------------------------


def cart_get_open(*, store: Store, session_token: str) -> Cart | None:
    """The open (not converted, not removed) cart of a session in a store, or None."""
    return Cart.objects.open().select_related("store").filter(store=store, session_token=session_token).first()


def cart_get(*, store: Store, cart_id) -> Cart | None:
    """A cart of the store by id (any status), or None; another store's cart is None too."""
    try:
        cart_id = uuid.UUID(str(cart_id))
    except ValueError:
        return None
    return Cart.objects.select_related("store").filter(store=store, pk=cart_id).first()


def cart_get_for_checkout(*, store: Store, session_token: str | None = None, cart_id=None) -> Cart | None:
    """The open cart a checkout is for: by session token, or by id (which must still be open)."""
    if session_token:
        return cart_get_open(store=store, session_token=session_token)
    cart = cart_get(store=store, cart_id=cart_id) if cart_id else None
    return cart if cart is not None and cart.is_open else None


# --- lists ---------------------------------------------------------------------------------


def carts_active(*, store: Store, now=None, limit: int | None = None):
    """Open carts of the store active within CART_LIVE_WINDOW_MINUTES, newest activity first."""
    limit = limit or settings.CART_LIVE_MAX_ROWS
    carts = Cart.objects.live(now=now).filter(store=store).select_related("store")
    return carts.order_by("-last_activity_at", "-id")[:limit]


def carts_abandoned_with_contact(*, stores=None, now=None, after_hours=None):
    """Abandoned carts (open, with items, idle past ABANDONED_AFTER_HOURS) that have an e-mail
    address or a phone number, for reminders; ordered by id for keyset batches."""
    queryset = Cart.objects.abandoned(now=now, after_hours=after_hours).exclude(email="", phone="")
    if stores is not None:
        queryset = queryset.filter(store__in=stores)
    return queryset.select_related("store").order_by("id")


# --- abandoned-carts report ----------------------------------------------------------------


@dataclass(frozen=True)
class AbandonmentRate:
    """Abandoned carts as a share of carts (0 when there are none)."""

    carts: int
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.carts if self.carts else 0.0


@dataclass(frozen=True)
class GroupRate(AbandonmentRate):
    """Carts with items created in the range that hold an item of this group, and how many of them
    are abandoned. `name` None is the bucket of items without a category (or without tags)."""

    name: str | None
    carts: int
    abandoned: int


@dataclass(frozen=True)
class DayRate(AbandonmentRate):
    day: date
    carts: int
    abandoned: int


@dataclass(frozen=True)
class AbandonedReport:
    store: Store
    date_from: date
    date_to: date
    generated_at: datetime
    carts_with_items: int
    abandoned: int
    average_items: Decimal  # of abandoned carts
    average_value: Decimal  # of abandoned carts, in the store's currency
    by_category: list[GroupRate] = field(default_factory=list)
    by_tag: list[GroupRate] = field(default_factory=list)
    by_day: list[DayRate] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.abandoned / self.carts_with_items if self.carts_with_items else 0.0


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _abandoned_condition(cutoff) -> Q:
    return Q(converted_at__isnull=True, removed_at__isnull=True, item_count__gt=0, last_activity_at__lt=cutoff)


def _groups_sql(base_sql: str, params: list, cutoff) -> tuple[list[GroupRate], list[GroupRate]]:
    """The per-category and per-tag counts on PostgreSQL, both in one pass over the carts in range.

    Each cart's distinct groups are kept, already computed from its items, in the column
    `item_groups` (a trigger fills it on every write of `items`; migration carts 0003): "c:<name>"
    for a category, "t:<name>" for a tag, bare "c" / "t" for items without one. The items' JSON is
    not parsed here. The first REPORT_MAX_GROUPS groups of each kind (most carts first, then by
    name, the no-group bucket last among equals) are chosen by a window in the same query.
    """
    table = connection.ops.quote_name(Cart._meta.db_table)
    sql = f"""
        WITH counted AS (
            SELECT left(g.code, 1) AS kind, NULLIF(substr(g.code, 3), '') AS name, COUNT(*) AS carts,
                   COUNT(*) FILTER (
                       WHERE c.converted_at IS NULL AND c.removed_at IS NULL AND c.last_activity_at < %s
                   ) AS abandoned
            FROM {table} c CROSS JOIN LATERAL unnest(c.item_groups) AS g(code)
            WHERE {base_sql}
            GROUP BY 1, 2
        ), ranked AS (
            SELECT kind, name, carts, abandoned,
                   row_number() OVER (PARTITION BY kind ORDER BY carts DESC, name NULLS LAST) AS position
            FROM counted
        )
        SELECT kind, name, carts, abandoned FROM ranked
        WHERE position <= {REPORT_MAX_GROUPS} ORDER BY kind, position
    """
    groups = {"c": [], "t": []}
    with transaction.atomic(), connection.cursor() as cursor:
        # unnest's default estimate (100 rows a cart) would make PostgreSQL JIT-compile the
        # query, which costs more than running it.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, [cutoff, *params])
        for kind, name, carts, abandoned in cursor.fetchall():
            groups[kind].append(GroupRate(name=name, carts=carts, abandoned=abandoned))
    return groups["c"], groups["t"]


def _item_categories(items) -> set:
    names = set()
    for item in items if isinstance(items, list) else []:
        category = item.get("category") if isinstance(item, dict) else None
        names.add(category.strip() or NO_CATEGORY if isinstance(category, str) else NO_CATEGORY)
    return names


def _item_tags(items) -> set:
    names = set()
    for item in items if isinstance(items, list) else []:
        tags = item.get("tags") if isinstance(item, dict) else None
        if not isinstance(tags, list) or not tags:
            names.add(NO_TAG)
            continue
        for tag in tags:
            names.add(tag.strip() or NO_TAG if isinstance(tag, str) else NO_TAG)
    return names


def _groups_python(queryset, cutoff, names_of) -> list[GroupRate]:
    """The same counts as `_groups_sql`, for databases without JSON set functions (SQLite)."""
    carts, abandoned = defaultdict(int), defaultdict(int)
    rows = queryset.values_list("items", "converted_at", "removed_at", "last_activity_at")
    for items, converted_at, removed_at, last_activity_at in rows.iterator(chunk_size=2000):
        is_abandoned = converted_at is None and removed_at is None and last_activity_at < cutoff
        for name in names_of(items):
            carts[name] += 1
            abandoned[name] += is_abandoned
    ordered = sorted(carts, key=lambda name: (-carts[name], name is None, name or ""))
    return [GroupRate(name=name, carts=carts[name], abandoned=abandoned[name]) for name in ordered][:REPORT_MAX_GROUPS]


def abandoned_report(*, store: Store, date_from: date, date_to: date, now=None, after_hours=None) -> AbandonedReport:
    """The abandoned-carts report of one store over carts *created* from `date_from` to `date_to`
    (whole UTC days, both included).

    The base is the carts with items (item_count > 0) created in the range, whatever became of
    them; a cart is abandoned when it has items, is neither converted nor removed and was last
    active more than ABANDONED_AFTER_HOURS ago. Rate = abandoned / base. Averages (items and value)
    are over the abandoned carts. By category and by tag, a cart counts once in every group one of
    its items belongs to; items without a category (without tags) form the None group.
    """
    now = now or timezone.now()
    hours = settings.ABANDONED_AFTER_HOURS if after_hours is None else after_hours
    cutoff = now - timedelta(hours=hours)
    start, end = _day_start(date_from), _day_start(date_to + timedelta(days=1))
    base = Cart.objects.filter(store=store, created_at__gte=start, created_at__lt=end, item_count__gt=0)
    abandoned = _abandoned_condition(cutoff)
    # One pass (an index-only scan of carts_report_range) gives the days; the totals are their sums.
    by_day_rows = (
        base.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            carts=Count("created_at"),  # never null, and in the index (count(id) would read the table)
            abandoned=Count("created_at", filter=abandoned),
            abandoned_items=Sum("item_count", filter=abandoned),
            abandoned_value=Sum("total", filter=abandoned),
        )
        .order_by("day")
    )
    counted = {row["day"]: row for row in by_day_rows}
    by_day, day = [], date_from
    while day <= date_to:
        row = counted.get(day, {"carts": 0, "abandoned": 0})
        by_day.append(DayRate(day=day, carts=row["carts"], abandoned=row["abandoned"]))
        day += timedelta(days=1)
    carts_with_items = sum(row["carts"] for row in counted.values())
    abandoned_carts = sum(row["abandoned"] for row in counted.values())
    abandoned_items = sum(row["abandoned_items"] or 0 for row in counted.values())
    abandoned_value = sum((row["abandoned_value"] or Decimal(0) for row in counted.values()), Decimal(0))

    if connection.vendor == "postgresql":
        base_sql = "c.store_id = %s AND c.created_at >= %s AND c.created_at < %s AND c.item_count > 0"
        params = [store.pk, start, end]
        by_category, by_tag = _groups_sql(base_sql, params, cutoff)
    else:
        by_category = _groups_python(base, cutoff, _item_categories)
        by_tag = _groups_python(base, cutoff, _item_tags)

    cents = Decimal("0.01")
    average_items = Decimal(abandoned_items) / abandoned_carts if abandoned_carts else Decimal(0)
    average_value = Decimal(abandoned_value) / abandoned_carts if abandoned_carts else Decimal(0)
    return AbandonedReport(
        store=store,
        date_from=date_from,
        date_to=date_to,
        generated_at=now,
        carts_with_items=carts_with_items,
        abandoned=abandoned_carts,
        average_items=average_items.quantize(cents, rounding=ROUND_HALF_UP),
        average_value=average_value.quantize(cents, rounding=ROUND_HALF_UP),
        by_category=by_category,
        by_tag=by_tag,
        by_day=by_day,
    )
