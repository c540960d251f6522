"""The cart back office: changelist, cart page, CSV export, abandoned report and live page."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from carts.models import Cart
from cartsite import admin_pagination

ITEMS = [
    {"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks", "category": "apparel", "tags": ["sale"]},
    {"productId": "mug", "quantity": 1, "price": 5, "title": "Mug <b>"},
]


@pytest.fixture
def admin_client_superuser(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def member_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_changelist_renders_with_filters_and_search(admin_client_superuser, make_cart, store):
    abandoned = make_cart(email="jane@example.com", idle=timedelta(hours=30))
    active = make_cart(session_token="tok-live")

    page = admin_client_superuser.get("/admin/carts/cart/")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 2
    assert b"Abandoned carts report" in page.content and b"Live carts" in page.content

    by_status = admin_client_superuser.get("/admin/carts/cart/?status=abandoned")
    assert list(by_status.context["cl"].result_list) == [abandoned]
    by_store = admin_client_superuser.get(f"/admin/carts/cart/?store={store.pk}&status=active")
    assert list(by_store.context["cl"].result_list) == [active]
    for term, expected in (("JANE@example.com", abandoned), ("tok-live", active), (str(abandoned.id), abandoned)):
        found = admin_client_superuser.get("/admin/carts/cart/", {"q": term})
        assert list(found.context["cl"].result_list) == [expected], term


def test_changelist_never_counts_the_whole_table(admin_client_superuser, make_cart, monkeypatch):
    for _ in range(3):
        make_cart()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE carts_cart")
    monkeypatch.setattr(admin_pagination, "EXACT_COUNT_BELOW", 0)

    with CaptureQueriesContext(connection) as queries:
        page = admin_client_superuser.get("/admin/carts/cart/")

    assert page.status_code == 200
    assert page.context["cl"].result_count == 3  # the planner's estimate, exact after ANALYZE
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "carts_cart" in q["sql"]]
    assert counts == []


def test_filtered_count_is_capped(admin_client_superuser, make_cart, monkeypatch):
    for _ in range(5):
        make_cart()
    monkeypatch.setattr(admin_pagination, "FILTERED_COUNT_CAP", 3)
    page = admin_client_superuser.get("/admin/carts/cart/?status=active")
    assert page.context["cl"].result_count == 3


def test_staff_member_sees_only_their_stores_carts(member_client, make_cart, other_store):
    mine = make_cart()
    theirs = make_cart(store=other_store)
    page = member_client.get("/admin/carts/cart/")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [mine]
    assert member_client.get(f"/admin/carts/cart/{theirs.id}/change/").status_code == 302  # not found → index


def test_cart_page_shows_items_table_consent_and_raw_data(admin_client_superuser, make_cart):
    cart = make_cart(
        items=ITEMS,
        email="jane@example.com",
        email_consent=True,
        email_consent_at=timezone.now(),
        email_consent_source="storefront:cart_sync",
    )
    page = admin_client_superuser.get(f"/admin/carts/cart/{cart.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<table class="cart-items">' in html
    assert "<td>Mug &lt;b&gt;</td>" in html  # escaped
    assert '<td style="text-align:right">24.50</td>' in html  # quantity × price
    assert '<th style="text-align:right">29.50</th>' in html  # the line totals add up
    assert "E-mail</strong>: given on" in html and "via storefront:cart_sync" in html
    assert "WhatsApp</strong>: not asked" in html
    assert "&quot;productId&quot;: &quot;sku-1&quot;" in html  # raw JSON
    assert 'name="_save"' not in html  # read-only


def test_csv_export_streams_the_selected_rows(admin_client_superuser, make_cart):
    first = make_cart(items=ITEMS, email="=cmd@example.com", phone="+4915112345678")
    second = make_cart(items=[])
    response = admin_client_superuser.post(
        "/admin/carts/cart/",
        {"action": "export_csv", "_selected_action": [str(first.id), str(second.id)]},
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["id"] for row in rows] == sorted([str(first.id), str(second.id)], key=lambda i: i != str(first.id))
    assert {row["id"]: (row["total"], row["item_count"], row["status"]) for row in rows} == {
        str(first.id): ("29.50", "3", "active"),
        str(second.id): ("0.00", "0", "active"),
    }
    exported = next(row for row in rows if row["id"] == str(first.id))
    assert exported["email"] == "'=cmd@example.com"  # no formula injection
    assert exported["phone"] == "+4915112345678"
    assert exported["store"] == "myshop.myshopify.com"


def test_admin_index_links_the_report_and_the_live_page(admin_client_superuser):
    index = admin_client_superuser.get("/admin/")
    html = index.content.decode()
    assert "<title>Carts, reminders and recovered revenue | cartsite</title>" in html
    assert "/admin/carts/abandonedcartsreport/" in html and "/admin/carts/livecarts/" in html
    assert admin_client_superuser.get("/admin/carts/abandonedcartsreport/")["Location"] == (
        "/admin/carts/abandoned-report/"
    )
    assert admin_client_superuser.get("/admin/carts/livecarts/")["Location"] == "/admin/carts/live/"


def test_abandoned_report_page_shows_the_numbers_and_the_chart(admin_client_superuser, make_cart, store):
    make_cart(items=ITEMS, idle=timedelta(hours=30))
    make_cart(items=ITEMS)
    today = timezone.now().date()

    page = admin_client_superuser.get(
        "/admin/carts/abandoned-report/",
        {"store": store.name, "date_from": (today - timedelta(days=6)).isoformat(), "date_to": today.isoformat()},
    )

    assert page.status_code == 200
    report = page.context["report"]
    assert (report.carts_with_items, report.abandoned) == (2, 1)
    html = page.content.decode()
    assert '<div class="value" id="abandoned-count">1</div>' in html
    assert '<div class="value" id="abandonment-rate">50%</div>' in html
    assert '<div class="value" id="average-value">29.50 EUR</div>' in html
    assert html.count('<g class="day"') == 7
    assert html.count('<rect class="abandoned"') == 1
    assert "<td>apparel</td>" in html and "<td>sale</td>" in html and "<em>(no category)</em>" in html


def test_abandoned_report_defaults_and_bad_ranges(member_client):
    assert member_client.get("/admin/carts/abandoned-report/").status_code == 200
    page = member_client.get("/admin/carts/abandoned-report/", {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert page.status_code == 200
    assert page.context["report"] is None
    assert b"The start date is after the end date." in page.content


def test_report_of_another_store_is_not_offered(member_client, other_store):
    page = member_client.get("/admin/carts/abandoned-report/", {"store": other_store.name})
    assert page.context["report"] is None
    assert "store" in page.context["form"].errors


def test_live_page_renders_for_staff(member_client, store):
    page = member_client.get("/admin/carts/live/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-store="{store.name}"' in html
    assert "/api/carts/active?store=" in html


def test_admin_pages_need_a_staff_login(client):
    for path in ("/admin/carts/live/", "/admin/carts/abandoned-report/", "/admin/carts/cart/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_cart_rows_are_never_deleted_from_the_admin(admin_client_superuser, make_cart):
    cart = make_cart()
    assert admin_client_superuser.get(f"/admin/carts/cart/{cart.id}/delete/").status_code == 403
    assert Cart.objects.filter(pk=cart.pk).exists()


def test_date_hierarchy_drills_down_without_scanning_dates(admin_client_superuser, make_cart):
    from datetime import UTC, datetime

    make_cart(created_at=datetime(2025, 12, 30, 10, tzinfo=UTC), last_activity_at=datetime(2025, 12, 30, tzinfo=UTC))
    in_march = make_cart(
        created_at=datetime(2026, 3, 2, 10, tzinfo=UTC), last_activity_at=datetime(2026, 3, 2, 11, tzinfo=UTC)
    )

    with CaptureQueriesContext(connection) as queries:
        top = admin_client_superuser.get("/admin/carts/cart/")
    assert not [q for q in queries.captured_queries if "DATE_TRUNC" in q["sql"].upper()]
    assert "created_at__year=2025" in top.content.decode() and "created_at__year=2026" in top.content.decode()

    months = admin_client_superuser.get("/admin/carts/cart/?created_at__year=2026")
    assert "created_at__month=3" in months.content.decode()
    day = admin_client_superuser.get("/admin/carts/cart/?created_at__year=2026&created_at__month=3&created_at__day=2")
    assert list(day.context["cl"].result_list) == [in_march]


def test_staff_member_exports_csv_of_their_store(member_client, make_cart):
    cart = make_cart(items=ITEMS)
    response = member_client.post("/admin/carts/cart/", {"action": "export_csv", "_selected_action": [str(cart.id)]})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["id"], row["total"]) for row in rows] == [(str(cart.id), "29.50")]
