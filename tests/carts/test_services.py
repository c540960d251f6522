"""Cart services and selectors: sync rules, removal, the abandoned-carts report, demo data."""

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from carts import selectors
from carts.demo import DEMO_CARTS_PER_STORE, demo_seed
from carts.models import Cart
from carts.selectors import _groups_python, _item_categories, _item_tags, abandoned_report
from carts.services import cart_mark_converted, cart_remove, cart_sync
from cartsite.errors import NotFound, ValidationFailed

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def item(product, quantity=1, price="10", category=None, tags=None):
    line = {"productId": product, "quantity": quantity, "price": Decimal(price)}
    if category is not None:
        line["category"] = category
    if tags is not None:
        line["tags"] = tags
    return line


def test_cart_sync_creates_then_updates_and_touches_activity(store):
    created = cart_sync(store=store, session_token="s", items=[item("a", 2, "1.005")], now=NOW)
    later = NOW + timedelta(minutes=3)
    updated = cart_sync(store=store, session_token="s", items=[item("a", 3, "2.50")], now=later)

    assert created.created is True and updated.created is False
    assert created.cart_id == updated.cart_id
    cart = Cart.objects.get()
    assert cart.id == created.cart_id
    assert (cart.created_at, cart.last_activity_at) == (NOW, later)
    assert (cart.total, cart.item_count, cart.items) == (
        Decimal("7.50"),
        3,
        [{"productId": "a", "quantity": 3, "price": 2.5}],
    )


def test_cart_sync_rounds_the_total_half_up_to_cents(store):
    result = cart_sync(store=store, session_token="s", items=[item("a", 1, "1.005")])
    assert Cart.objects.get(pk=result.cart_id).total == Decimal("1.01")


def test_cart_sync_refuses_more_items_than_the_limit(store):
    items = [item(f"p{i}") for i in range(settings.CART_MAX_ITEMS + 1)]
    with pytest.raises(ValidationFailed) as raised:
        cart_sync(store=store, session_token="s", items=items)
    assert raised.value.details == {"field": "items", "reason": "Too many items"}


def test_cart_remove_sets_removed_at_once_and_keeps_the_row(store):
    cart_sync(store=store, session_token="s", items=[item("a")], now=NOW)
    removed = cart_remove(store=store, session_token="s", now=NOW)
    assert removed.removed_at == NOW
    assert Cart.objects.get().removed_at == NOW
    with pytest.raises(NotFound):
        cart_remove(store=store, session_token="s")


def test_removed_cart_can_still_convert_once(store):
    cart_id = cart_sync(store=store, session_token="s", items=[item("a")]).cart_id
    cart_remove(store=store, session_token="s")
    assert cart_mark_converted(cart_id=cart_id, order_reference="cs_1", amount=Decimal("10")) is True
    assert cart_mark_converted(cart_id=cart_id, order_reference="cs_1", amount=Decimal("10")) is False


def test_selectors_for_other_apps(store, other_store, make_cart):
    open_cart = make_cart(session_token="s", email="a@example.com", idle=timedelta(hours=30))
    make_cart(session_token="s", converted_at=timezone.now())
    make_cart(session_token="no-contact", idle=timedelta(hours=30))
    make_cart(session_token="s", store=other_store, phone="+4915112345678", idle=timedelta(hours=30))

    assert selectors.cart_get_open(store=store, session_token="s") == open_cart
    assert selectors.cart_get_open(store=other_store, session_token="no-contact") is None
    assert selectors.cart_get(store=other_store, cart_id=open_cart.id) is None
    assert selectors.cart_get(store=store, cart_id="not-a-uuid") is None
    assert selectors.cart_get_for_checkout(store=store, cart_id=open_cart.id) == open_cart
    assert selectors.cart_get_for_checkout(store=store, session_token="s") == open_cart
    with_contact = selectors.carts_abandoned_with_contact(stores=[store])
    assert list(with_contact) == [open_cart]
    assert selectors.carts_abandoned_with_contact().count() == 2


# --- the abandoned-carts report --------------------------------------------------------------


def report_rows(make_cart, other_store):
    """Carts in every state, created 2026-03-01 … 03-10, plus some the report must ignore."""
    abandoned = {"last_activity_at": NOW - timedelta(days=2)}
    fresh = {"last_activity_at": NOW - timedelta(hours=1)}

    def at(day, hour=10):
        return datetime(2026, 3, day, hour, tzinfo=UTC)

    rows = [
        # abandoned: two categories, tags; one item without a category
        dict(
            created_at=at(1),
            items=[
                {"productId": "a", "quantity": 2, "price": 10, "category": "apparel", "tags": ["sale", "cotton"]},
                {"productId": "b", "quantity": 1, "price": 5.5, "category": "kitchen"},
                {"productId": "c", "quantity": 1, "price": 3},
            ],
            **abandoned,
        ),
        # abandoned, no category at all, empty tag list
        dict(created_at=at(1, 23), items=[{"productId": "d", "quantity": 4, "price": 2.25, "tags": []}], **abandoned),
        # converted (not abandoned although idle long)
        dict(
            created_at=at(2),
            items=[{"productId": "a", "quantity": 1, "price": 10, "category": "apparel", "tags": ["sale"]}],
            converted_at=NOW - timedelta(days=3),
            **abandoned,
        ),
        # removed
        dict(
            created_at=at(3),
            items=[{"productId": "e", "quantity": 1, "price": 99, "category": "kitchen", "tags": ["gift"]}],
            removed_at=NOW - timedelta(days=3),
            **abandoned,
        ),
        # still fresh (open, not abandoned yet)
        dict(
            created_at=at(5),
            items=[{"productId": "a", "quantity": 3, "price": 10, "category": "apparel", "tags": ["cotton"]}],
            **fresh,
        ),
        # abandoned, tags only
        dict(
            created_at=at(10, 23),
            items=[{"productId": "f", "quantity": 1, "price": 7, "tags": ["gift", "sale"]}],
            **abandoned,
        ),
        # empty carts: never in the base, also when idle long
        dict(created_at=at(4), items=[], **abandoned),
        dict(created_at=at(6), items=[], **fresh),
    ]
    ignored = [
        {
            "created_at": datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
            "items": [{"productId": "x", "quantity": 1, "price": 1}],
        },
        {
            "created_at": datetime(2026, 3, 11, 0, 0, tzinfo=UTC),
            "items": [{"productId": "x", "quantity": 1, "price": 1}],
        },
        {"created_at": at(2), "store": other_store, "items": [{"productId": "x", "quantity": 1, "price": 1}]},
    ]
    carts = []
    for fields in rows + ignored:
        fields.setdefault("last_activity_at", NOW - timedelta(days=2))
        carts.append(make_cart(**fields))
    return carts[: len(rows)]


def recompute(carts, cutoff):
    """The report's numbers, recomputed straight from the rows of the test."""
    base = [c for c in carts if c.item_count > 0]
    abandoned = [c for c in base if c.converted_at is None and c.removed_at is None and c.last_activity_at < cutoff]
    by_category, by_tag = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for cart in base:
        categories = {i.get("category") for i in cart.items}
        tags = set()
        for i in cart.items:
            tags |= set(i.get("tags") or [None])
        for name in categories:
            by_category[name][0] += 1
            by_category[name][1] += cart in abandoned
        for name in tags:
            by_tag[name][0] += 1
            by_tag[name][1] += cart in abandoned
    by_day = defaultdict(lambda: [0, 0])
    for cart in base:
        by_day[cart.created_at.date()][0] += 1
        by_day[cart.created_at.date()][1] += cart in abandoned
    cents = Decimal("0.01")
    return {
        "carts": len(base),
        "abandoned": len(abandoned),
        "average_items": (Decimal(sum(c.item_count for c in abandoned)) / len(abandoned)).quantize(
            cents, rounding=ROUND_HALF_UP
        ),
        "average_value": (sum(c.total for c in abandoned) / len(abandoned)).quantize(cents, rounding=ROUND_HALF_UP),
        "by_category": {name: tuple(v) for name, v in by_category.items()},
        "by_tag": {name: tuple(v) for name, v in by_tag.items()},
        "by_day": {day: tuple(v) for day, v in by_day.items()},
    }


def test_abandoned_report_equals_a_recomputation_from_the_rows(store, other_store, make_cart):
    carts = report_rows(make_cart, other_store)
    expected = recompute(carts, NOW - timedelta(hours=settings.ABANDONED_AFTER_HOURS))

    report = abandoned_report(store=store, date_from=date(2026, 3, 1), date_to=date(2026, 3, 10), now=NOW)

    assert (report.carts_with_items, report.abandoned) == (expected["carts"], expected["abandoned"])
    assert (report.carts_with_items, report.abandoned) == (6, 3)  # the rows above, counted by hand
    assert report.rate == 0.5
    assert (report.average_items, report.average_value) == (expected["average_items"], expected["average_value"])
    assert (report.average_items, report.average_value) == (Decimal("3.00"), Decimal("14.83"))
    assert {g.name: (g.carts, g.abandoned) for g in report.by_category} == expected["by_category"]
    assert {g.name: (g.carts, g.abandoned) for g in report.by_tag} == expected["by_tag"]
    assert {g.name: (g.carts, g.abandoned) for g in report.by_category} == {
        "apparel": (3, 1),
        "kitchen": (2, 1),
        None: (3, 3),
    }
    by_day = {d.day: (d.carts, d.abandoned) for d in report.by_day}
    assert len(report.by_day) == 10
    assert {day: counts for day, counts in by_day.items() if counts != (0, 0)} == expected["by_day"]
    # ordered by carts, most first
    assert [g.carts for g in report.by_tag] == sorted((g.carts for g in report.by_tag), reverse=True)


def test_abandoned_report_python_fallback_matches_the_sql(store, other_store, make_cart):
    report_rows(make_cart, other_store)
    report = abandoned_report(store=store, date_from=date(2026, 3, 1), date_to=date(2026, 3, 10), now=NOW)
    base = Cart.objects.filter(
        store=store,
        created_at__gte=datetime(2026, 3, 1, tzinfo=UTC),
        created_at__lt=datetime(2026, 3, 11, tzinfo=UTC),
        item_count__gt=0,
    )
    cutoff = NOW - timedelta(hours=settings.ABANDONED_AFTER_HOURS)
    as_dict = lambda groups: {g.name: (g.carts, g.abandoned) for g in groups}  # noqa: E731
    assert as_dict(_groups_python(base, cutoff, _item_categories)) == as_dict(report.by_category)
    assert as_dict(_groups_python(base, cutoff, _item_tags)) == as_dict(report.by_tag)


def test_abandoned_report_of_an_empty_range_is_zero(store):
    report = abandoned_report(store=store, date_from=date(2026, 1, 1), date_to=date(2026, 1, 3), now=NOW)
    assert (report.carts_with_items, report.abandoned, report.rate) == (0, 0, 0.0)
    assert (report.average_items, report.average_value) == (Decimal("0.00"), Decimal("0.00"))
    assert (report.by_category, report.by_tag) == ([], [])
    assert [(d.day, d.carts) for d in report.by_day] == [
        (date(2026, 1, 1), 0),
        (date(2026, 1, 2), 0),
        (date(2026, 1, 3), 0),
    ]


# --- demo data --------------------------------------------------------------------------------


def test_demo_seed_creates_carts_in_every_state_idempotently(db):
    out = io.StringIO()
    demo_seed(stdout=out)
    demo_seed(stdout=out)

    assert Cart.objects.count() == 2 * DEMO_CARTS_PER_STORE
    for store_name in ("demo-shop.myshopify.com", "second-shop.example.com"):
        carts = Cart.objects.filter(store__name=store_name)
        for status in Cart.Status:
            assert carts.with_status(status).exists(), (store_name, status)
        assert carts.filter(email_consent=True).exists() and carts.filter(email="", phone="").exists()
        assert carts.filter(item_count=0).exists()
    assert "demo-shop.myshopify.com: 240 demo carts" in out.getvalue()


def test_cart_sync_without_on_conflict_falls_back_to_the_constraint_error(store, monkeypatch):
    # given the portable path (SQLite for local use): insert, and on IntegrityError update
    from django.db import connection

    monkeypatch.setattr(connection, "vendor", "sqlite")
    first = cart_sync(store=store, session_token="s", items=[item("a")])
    second = cart_sync(store=store, session_token="s", items=[item("a", 2)])

    assert (first.created, second.created) == (True, False)
    assert first.cart_id == second.cart_id
    assert Cart.objects.get().item_count == 2


def test_report_groups_follow_every_write_of_the_items(store):
    # given a cart synced with an apparel item, then re-synced with a kitchen item
    today = timezone.now().date()
    cart_sync(store=store, session_token="s1", items=[item("a", category="apparel", tags=["sale"])])
    cart_sync(store=store, session_token="s1", items=[item("b", category="kitchen")])
    # and another cart whose items are changed by a plain UPDATE
    other_id = cart_sync(store=store, session_token="s2", items=[item("c", category="apparel")]).cart_id
    Cart.objects.filter(pk=other_id).update(items=[{"productId": "d", "quantity": 1, "price": 1, "tags": ["gift"]}])

    # when the report is read
    report = abandoned_report(store=store, date_from=today, date_to=today)

    # then only the current items count
    assert {g.name: (g.carts, g.abandoned) for g in report.by_category} == {"kitchen": (1, 0), None: (1, 0)}
    assert {g.name: (g.carts, g.abandoned) for g in report.by_tag} == {None: (1, 0), "gift": (1, 0)}


def test_report_groups_of_odd_items_match_the_python_rules(store):
    # given carts whose items the storefront did not normalise (written straight to the table)
    odd_items = [
        ["not an object", {"category": "  ", "tags": "not a list"}, {"category": " apparel ", "tags": ["  ", "sale "]}],
        [{"category": "apparel", "tags": []}, {"category": "kitchen", "tags": ["sale", "sale", "gift"]}],
        {"not": "a list"},
    ]
    for number, items in enumerate(odd_items):
        Cart.objects.create(
            store=store,
            session_token=f"odd-{number}",
            items=items,
            item_count=3,
            currency="EUR",
            created_at=datetime(2026, 3, 2, tzinfo=UTC),
            last_activity_at=NOW - timedelta(days=2 * number),
        )

    # when the report is read
    report = abandoned_report(store=store, date_from=date(2026, 3, 1), date_to=date(2026, 3, 10), now=NOW)

    # then its groups are those of the Python rules
    base = Cart.objects.filter(store=store)
    cutoff = NOW - timedelta(hours=settings.ABANDONED_AFTER_HOURS)
    as_dict = lambda groups: {g.name: (g.carts, g.abandoned) for g in groups}  # noqa: E731
    assert as_dict(report.by_category) == as_dict(_groups_python(base, cutoff, _item_categories))
    assert as_dict(report.by_category) == {"apparel": (2, 1), None: (1, 0), "kitchen": (1, 1)}
    assert as_dict(report.by_tag) == as_dict(_groups_python(base, cutoff, _item_tags))
    assert as_dict(report.by_tag) == {None: (2, 1), "sale": (2, 1), "gift": (1, 1)}
