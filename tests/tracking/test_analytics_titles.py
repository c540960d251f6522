"""GET /api/cart-tracking/analytics: the top products' titles, and the index that serves them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

ANALYTICS = "/api/cart-tracking/analytics"
DAY = datetime(2026, 3, 10, tzinfo=UTC)


def test_a_products_title_is_the_least_of_its_titles_in_the_range_over_every_day(
    merchant_client, make_event, other_store
):
    # given p1 renamed across the range's days, with untitled events, and smaller titles only
    # outside the range or in another store; p2 never titled; p3 titled on one day only
    make_event(created_at=DAY, session_id="s1", product_id="p1", product_title="Shirt (red)")
    make_event(created_at=DAY, session_id="s1", product_id="p1", product_title=None)
    make_event(created_at=DAY + timedelta(days=1), session_id="s2", product_id="p1", product_title="Shirt")
    make_event(created_at=DAY + timedelta(days=1), session_id="s2", product_id="p1", product_title="Tee")
    make_event(created_at=DAY - timedelta(days=1), session_id="s0", product_id="p1", product_title="A shirt")
    make_event(store=other_store, created_at=DAY, session_id="s1", product_id="p1", product_title="Another")
    make_event(created_at=DAY, session_id="s3", product_id="p2", product_title=None)
    make_event(created_at=DAY, session_id="s3", product_id="p2", product_title=None)
    make_event(created_at=DAY + timedelta(days=1), session_id="s3", product_id="p3", product_title="Hat")
    make_event(created_at=DAY, session_id="s3", product_id="p3", product_title=None)

    response = merchant_client.get(f"{ANALYTICS}?from=2026-03-10&to=2026-03-11")

    assert response.status_code == 200
    assert response.json()["data"]["byProduct"] == [
        {"productId": "p1", "productTitle": "Shirt", "events": 4},
        {"productId": "p2", "productTitle": None, "events": 2},
        {"productId": "p3", "productTitle": "Hat", "events": 2},
    ]


def test_the_titles_follow_the_other_filters(merchant_client, make_event):
    # given p1's titles differ by session
    make_event(created_at=DAY, session_id="s1", product_id="p1", product_title="Shirt")
    make_event(created_at=DAY, session_id="s2", product_id="p1", product_title="Old shirt")

    response = merchant_client.get(f"{ANALYTICS}?from=2026-03-10&to=2026-03-10&sessionId=s1")

    assert response.json()["data"]["byProduct"] == [{"productId": "p1", "productTitle": "Shirt", "events": 1}]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL index definition")
@pytest.mark.django_db
def test_idx_store_created_covers_every_column_the_analytics_read():
    # The analytics read store_name, created_at (keys), session_id, product_id, has_generated_image
    # and product_title: with all of them in the index, both passes can be index-only scans of the
    # store's date range instead of a sequential scan of the whole table.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_store_created'")
        (definition,) = cursor.fetchone()

    assert "(store_name, created_at, id)" in definition
    included = definition.split("INCLUDE (", 1)[1].rstrip(")").split(", ")
    assert set(included) == {"session_id", "product_id", "has_generated_image", "product_title"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage parameter")
@pytest.mark.django_db
def test_new_events_are_vacuumed_soon_so_index_only_scans_stay_index_only():
    # Only VACUUM marks pages all-visible; the default waits for 20 % new rows, the newest days.
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'cart_tracking_events'")
        (options,) = cursor.fetchone()

    assert "autovacuum_vacuum_insert_scale_factor=0.01" in (options or [])
