"""GET /api/cart-tracking/events (filters, keyset pages, CSV) and /analytics."""

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone

EVENTS = "/api/cart-tracking/events"
ANALYTICS = "/api/cart-tracking/analytics"
DAY = datetime(2026, 3, 10, tzinfo=UTC)


def test_an_event_is_listed_with_seed_field_names(merchant_client, make_event):
    event = make_event(
        created_at=DAY.replace(hour=12, microsecond=345000),
        product_id="p1",
        product_title="Shirt",
        product_url="https://myshop.myshopify.com/p/1",
        variant_id="v1",
        customer_email="ada@example.com",
        customer_first_name="Ada",
        customer_last_name="Lovelace",
        generated_image_url="https://cdn.example.com/g.png",
        person_image_url="https://cdn.example.com/p.png",
        clothing_image_url="https://cdn.example.com/c.png",
        user_agent="UA",
        session_id="s1",
        ip_address="2001:db8::1",
    )

    response = merchant_client.get(EVENTS)

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": [
            {
                "id": event.id,
                "storeName": "myshop.myshopify.com",
                "productId": "p1",
                "productTitle": "Shirt",
                "productUrl": "https://myshop.myshopify.com/p/1",
                "variantId": "v1",
                "customerEmail": "ada@example.com",
                "customerFirstName": "Ada",
                "customerLastName": "Lovelace",
                "generatedImageUrl": "https://cdn.example.com/g.png",
                "personImageUrl": "https://cdn.example.com/p.png",
                "clothingImageUrl": "https://cdn.example.com/c.png",
                "userAgent": "UA",
                "sessionId": "s1",
                "ipAddress": "2001:db8::1",
                "createdAt": "2026-03-10T12:00:00.345Z",
            }
        ],
        "nextCursor": None,
    }


def test_only_the_callers_store_is_listed(merchant_client, make_event, other_store):
    mine = make_event(session_id="mine")
    make_event(store=other_store, session_id="theirs")

    data = merchant_client.get(EVENTS).json()["data"]

    assert [row["id"] for row in data] == [mine.id]


def test_filters_by_date_product_session_and_email(merchant_client, make_event):
    before = make_event(created_at=DAY - timedelta(seconds=1), session_id="before")
    start = make_event(created_at=DAY, session_id="start", product_id="p1", customer_email="ada@example.com")
    late = make_event(created_at=DAY.replace(hour=23, minute=59, second=59), session_id="late", product_id="p2")
    make_event(created_at=DAY + timedelta(days=1), session_id="next-day")

    def ids(query):
        response = merchant_client.get(f"{EVENTS}?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["data"]]

    # a bare date `to` covers that whole day
    assert ids("from=2026-03-10&to=2026-03-10") == [late.id, start.id]
    # date-times: from inclusive, to inclusive
    assert ids("from=2026-03-10T00:00:00Z&to=2026-03-10T00:00:00Z") == [start.id]
    # an offset is honoured: 00:00+01:00 is 23:00 UTC the day before
    assert ids("from=2026-03-10T00:00:00%2B01:00&to=2026-03-09T23:59:59Z") == [before.id]
    assert ids("productId=p2") == [late.id]
    assert ids("sessionId=start") == [start.id]
    assert ids("customerEmail=ADA@example.com") == [start.id]
    assert ids("from=2026-03-10&productId=p1") == [start.id]


@pytest.mark.parametrize(
    ("query", "field", "message", "reason"),
    [
        ("limit=1001", "limit", "limit must be an integer from 1 to 1000", "Must be 1 to 1000"),
        ("limit=0", "limit", "limit must be an integer from 1 to 1000", "Must be 1 to 1000"),
        ("limit=ten", "limit", "limit must be an integer from 1 to 1000", "Must be 1 to 1000"),
        ("from=yesterday", "from", "from must be an ISO 8601 date or date-time", "Invalid date or date-time"),
        ("to=2026-13-01", "to", "to must be an ISO 8601 date or date-time", "Invalid date or date-time"),
        ("from=2026-03-11&to=2026-03-10", "from", "from must be before to", "Must be before to"),
        ("cursor=forged", "cursor", "cursor is not valid", "Invalid cursor"),
    ],
)
def test_bad_parameters_are_a_400(merchant_client, query, field, message, reason):
    response = merchant_client.get(f"{EVENTS}?{query}")

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": message,
        "details": {"field": field, "reason": reason},
    }


def test_limit_defaults_to_100_and_1000_is_allowed(merchant_client, store):
    _bulk_insert(store, 150)

    assert len(merchant_client.get(EVENTS).json()["data"]) == 100
    assert len(merchant_client.get(f"{EVENTS}?limit=1000").json()["data"]) == 150


def test_keyset_pages_walk_every_event_once_even_with_equal_timestamps(merchant_client, make_event):
    # given five events, three of them in the same microsecond
    same = DAY.replace(hour=10)
    created = [make_event(created_at=same) for _ in range(3)]
    created += [make_event(created_at=DAY.replace(hour=9)), make_event(created_at=DAY.replace(hour=11))]
    expected = [e.id for e in sorted(created, key=lambda e: (e.created_at, e.id), reverse=True)]

    # when the merchant pages through them two at a time
    seen, cursor, pages = [], None, 0
    while True:
        query = f"{EVENTS}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = merchant_client.get(query).json()
        seen += [row["id"] for row in body["data"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break

    # then every event comes once, newest first, in three pages
    assert seen == expected
    assert pages == 3


def test_a_cursor_keeps_the_filters_it_is_used_with(merchant_client, make_event):
    for hour in range(4):
        make_event(created_at=DAY.replace(hour=hour), product_id="p1" if hour % 2 else "p2")

    first = merchant_client.get(f"{EVENTS}?productId=p1&limit=1").json()
    second = merchant_client.get(f"{EVENTS}?productId=p1&limit=1&cursor={first['nextCursor']}").json()

    assert [row["productId"] for row in first["data"] + second["data"]] == ["p1", "p1"]
    assert second["nextCursor"] is None


def test_the_publishable_key_may_not_read_events(storefront_client):
    response = storefront_client.get(EVENTS)

    assert response.status_code == 403


def test_staff_read_their_stores_events(staff_client, make_event):
    event = make_event()

    response = staff_client.get(EVENTS)

    assert [row["id"] for row in response.json()["data"]] == [event.id]


def test_staff_naming_a_store_they_do_not_belong_to_is_a_403(staff_client, other_store):
    assert staff_client.get(f"{EVENTS}?store=other-shop.example.com").status_code == 403


# --- CSV --------------------------------------------------------------------------------------


def test_csv_has_a_header_and_the_same_fields(merchant_client, make_event):
    make_event(created_at=DAY, product_id="p1", product_title="=HYPERLINK(1)", customer_email="ada@example.com")
    make_event(created_at=DAY + timedelta(hours=1), product_title='Shirt, "blue"', ip_address="192.0.2.1")

    response = merchant_client.get(f"{EVENTS}?format=csv")

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="cart-events-myshop.myshopify.com.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "id",
        "storeName",
        "productId",
        "productTitle",
        "productUrl",
        "variantId",
        "customerEmail",
        "customerFirstName",
        "customerLastName",
        "generatedImageUrl",
        "personImageUrl",
        "clothingImageUrl",
        "userAgent",
        "sessionId",
        "ipAddress",
        "createdAt",
    ]
    assert len(rows) == 3
    assert rows[1][3] == 'Shirt, "blue"' and rows[1][14] == "192.0.2.1" and rows[1][15] == "2026-03-10T01:00:00.000Z"
    # a cell a spreadsheet would run as a formula is defused
    assert rows[2][3] == "'=HYPERLINK(1)" and rows[2][6] == "ada@example.com"


def test_csv_applies_the_filters(merchant_client, make_event):
    make_event(created_at=DAY, session_id="a")
    make_event(created_at=DAY + timedelta(days=2), session_id="b")

    response = merchant_client.get(f"{EVENTS}?format=csv&to=2026-03-10")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[13] for row in rows[1:]] == ["a"]


def _bulk_insert(store, count: int, *, start: datetime = DAY) -> None:
    """`count` events in one INSERT … SELECT (fast fixture data for volume tests)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cart_tracking_events
                (id, store_id, store_name, product_id, product_title, product_url, customer_email,
                 user_agent, session_id, ip_address, created_at, updated_at)
            SELECT 'cart-event-' || lpad((1700000000000 + n)::text, 13, '0') || '-' || lpad(n::text, 7, '0'),
                   %s, %s, 'product-' || (n %% 50), 'A product title of ordinary length ' || n,
                   'https://myshop.myshopify.com/products/product-' || (n %% 50),
                   'customer' || n || '@example.com', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120',
                   'session-' || (n / 3), ('192.0.2.' || (n %% 250))::inet, %s + n * interval '1 second',
                   %s + n * interval '1 second'
            FROM generate_series(1, %s) AS n
            """,
            [store.pk, store.name, start, start, count],
        )


@pytest.mark.slow
def test_csv_of_100000_events_streams_in_constant_memory(merchant_client, store):
    # given 100,000 events
    _bulk_insert(store, 100_000)

    # when the export is read chunk by chunk while Python's allocations are traced
    response = merchant_client.get(f"{EVENTS}?format=csv")
    assert isinstance(response, StreamingHttpResponse)
    tracemalloc.start()
    try:
        total_bytes = lines = 0
        for chunk in response.streaming_content:
            total_bytes += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # then every row came out, and the peak is a small fraction of the output
    assert lines == 100_001
    assert total_bytes > 25_000_000
    print(f"csv export: {total_bytes} bytes, tracemalloc peak {peak} bytes")
    assert peak < total_bytes / 10


# --- analytics --------------------------------------------------------------------------------


def test_analytics_answers_every_figure(merchant_client, make_event, make_cart, other_store):
    # given events over two days: sessions s1 (converted cart), s2 (open cart), s3 (no cart)
    make_event(
        created_at=DAY, session_id="s1", product_id="p1", product_title="Shirt", generated_image_url="https://g/1"
    )
    make_event(created_at=DAY, session_id="s1", product_id="p2", product_title="Hat")
    make_event(created_at=DAY + timedelta(days=1), session_id="s2", product_id="p1", product_title="Shirt")
    make_event(created_at=DAY + timedelta(days=1), session_id="s3", generated_image_url="https://g/2")
    make_event(created_at=DAY + timedelta(days=5), session_id="s4", product_id="p9")  # outside the range
    make_event(store=other_store, created_at=DAY, session_id="s1", product_id="p1")  # another store
    make_cart(session_token="s1", converted_at=timezone.now())
    make_cart(session_token="s2")
    make_cart(session_token="untracked", converted_at=timezone.now())
    make_cart(session_token="s4", converted_at=timezone.now())

    response = merchant_client.get(f"{ANALYTICS}?from=2026-03-10&to=2026-03-11")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": {
            "totalEvents": 4,
            "uniqueSessions": 3,
            "byDay": [{"date": "2026-03-10", "events": 2}, {"date": "2026-03-11", "events": 2}],
            "byProduct": [
                {"productId": "p1", "productTitle": "Shirt", "events": 2},
                {"productId": "p2", "productTitle": "Hat", "events": 1},
            ],
            "generatedImageShare": 0.5,
            "convertedSessions": 1,
        },
    }


def test_analytics_of_no_events_is_zeros(merchant_client):
    response = merchant_client.get(ANALYTICS)

    assert response.json() == {
        "status": "success",
        "data": {
            "totalEvents": 0,
            "uniqueSessions": 0,
            "byDay": [],
            "byProduct": [],
            "generatedImageShare": 0.0,
            "convertedSessions": 0,
        },
    }


def test_analytics_needs_the_secret_key(storefront_client):
    assert storefront_client.get(ANALYTICS).status_code == 403


def test_analytics_ranks_products_by_events_then_id_and_names_them_by_their_first_title(merchant_client, make_event):
    # given p2 with three events (renamed once), p1 and p3 with one each, and events without a product
    for title in ("Shirt v2", "Shirt", "Shirt"):
        make_event(created_at=DAY, session_id="s1", product_id="p2", product_title=title)
    make_event(created_at=DAY, session_id="s2", product_id="p3", product_title="Hat")
    make_event(created_at=DAY, session_id="s2", product_id="p1")
    make_event(created_at=DAY, session_id=None)
    make_event(created_at=DAY, session_id=None)

    response = merchant_client.get(f"{ANALYTICS}?from=2026-03-10&to=2026-03-10")

    data = response.json()["data"]
    assert data["byProduct"] == [
        {"productId": "p2", "productTitle": "Shirt", "events": 3},
        {"productId": "p1", "productTitle": None, "events": 1},
        {"productId": "p3", "productTitle": "Hat", "events": 1},
    ]
    assert (data["totalEvents"], data["uniqueSessions"]) == (7, 2)
