"""Admin: read-only events list, filters, exact search, CSV export, analytics page with SVG charts."""

import csv
import io
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from cartsite.admin_pagination import EstimatedCountPaginator
from tracking.models import CartTrackingEvent

CHANGELIST = "/admin/tracking/carttrackingevent/"
ANALYTICS = "/admin/tracking/analytics/"


@pytest.fixture
def admin_client_logged_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def member_client(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_carttrackingevent"))
    client.force_login(staff_user)
    return client


def test_the_list_shows_events_and_links_the_analytics_page(admin_client_logged_in, make_event):
    event = make_event(session_id="sess-1", product_title="Linen shirt")

    response = admin_client_logged_in.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert event.id in content and "Linen shirt" in content
    assert f'href="{ANALYTICS}"' in content
    assert response.context["cl"].show_full_result_count is False
    assert isinstance(response.context["cl"].paginator, EstimatedCountPaginator)


def test_events_cannot_be_added_changed_or_deleted(admin_client_logged_in, make_event):
    event = make_event()
    change_url = reverse("admin:tracking_carttrackingevent_change", args=[event.id])

    assert admin_client_logged_in.get(f"{CHANGELIST}add/").status_code == 403
    delete_url = reverse("admin:tracking_carttrackingevent_delete", args=[event.id])
    assert admin_client_logged_in.get(delete_url).status_code == 403
    view = admin_client_logged_in.get(change_url)
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert admin_client_logged_in.post(change_url, {"session_id": "changed"}).status_code == 403
    assert CartTrackingEvent.objects.get().session_id == event.session_id
    actions = admin_client_logged_in.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["export_csv"]


def test_search_is_exact_on_session_product_and_email(admin_client_logged_in, make_event):
    by_session = make_event(session_id="sess-42")
    by_product = make_event(product_id="prod-42")
    by_email = make_event(customer_email="ada@example.com")
    make_event(session_id="sess-420")

    def found(term):
        response = admin_client_logged_in.get(CHANGELIST, {"q": term})
        return {row.id for row in response.context["cl"].result_list}

    assert found("sess-42") == {by_session.id}
    assert found("prod-42") == {by_product.id}
    assert found("ADA@example.com") == {by_email.id}


def test_filters_by_store_and_date(admin_client_logged_in, make_event, other_store):
    mine_today = make_event()
    make_event(created_at=timezone.now() - timedelta(days=40))
    theirs = make_event(store=other_store)

    by_store = admin_client_logged_in.get(CHANGELIST, {"store": "other-shop.example.com"})
    today = admin_client_logged_in.get(
        CHANGELIST,
        {
            "created_at__gte": timezone.now().date().isoformat(),
            "created_at__lt": (timezone.now().date() + timedelta(days=1)).isoformat(),
        },
    )

    assert {row.id for row in by_store.context["cl"].result_list} == {theirs.id}
    assert {row.id for row in today.context["cl"].result_list} == {mine_today.id, theirs.id}


def test_a_staff_member_sees_only_their_stores_events(member_client, make_event, other_store):
    mine = make_event()
    make_event(store=other_store)

    response = member_client.get(CHANGELIST)

    assert response.status_code == 200
    assert {row.id for row in response.context["cl"].result_list} == {mine.id}


def test_csv_export_action_streams_the_selected_events(admin_client_logged_in, make_event):
    first = make_event(session_id="a", product_title="First")
    make_event(session_id="b")
    third = make_event(session_id="c", product_title="Third")

    response = admin_client_logged_in.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": [first.id, third.id]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["id", "storeName"]
    assert sorted(row[0] for row in rows[1:]) == sorted([first.id, third.id])


def test_the_analytics_page_draws_the_charts(admin_client_logged_in, make_event, make_cart):
    now = timezone.now()
    make_event(
        created_at=now, session_id="s1", product_id="p1", product_title="Shirt", generated_image_url="https://g/1"
    )
    make_event(created_at=now - timedelta(days=2), session_id="s2", product_id="p1", product_title="Shirt")
    make_event(created_at=now - timedelta(days=2), session_id="s2", product_id="p<2>", product_title="<b>Hat</b>")
    make_cart(session_token="s1", converted_at=now)

    response = admin_client_logged_in.get(ANALYTICS, {"store": "myshop.myshopify.com"})

    assert response.status_code == 200
    content = response.content.decode()
    result = response.context["result"]
    assert (result.total_events, result.unique_sessions, result.converted_sessions) == (3, 2, 1)
    assert content.count('class="chart ') == 3
    # 30 days of bars (zero days included), products by count, no CDN or script
    assert content.count('class="day"') == 30
    assert content.count('class="product"') == 2
    assert "&lt;b&gt;Hat&lt;/b&gt;" in content and "<b>Hat</b>" not in content
    assert "cdn" not in content.lower() and '<script src="http' not in content
    assert 'id="total-events">3<' in content


def test_the_analytics_page_filters_by_date(admin_client_logged_in, make_event):
    make_event(created_at=timezone.now() - timedelta(days=100))
    make_event()

    old = admin_client_logged_in.get(
        ANALYTICS,
        {
            "from": (timezone.now() - timedelta(days=101)).date().isoformat(),
            "to": (timezone.now() - timedelta(days=99)).date().isoformat(),
        },
    )
    bad = admin_client_logged_in.get(ANALYTICS, {"from": "garbage"})

    assert old.context["result"].total_events == 1
    assert bad.status_code == 200 and "from must be an ISO 8601 date" in bad.content.decode()


def test_the_analytics_page_needs_a_staff_login(client):
    response = client.get(ANALYTICS)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_staff_member_without_the_view_permission_is_refused(client, staff_user):
    client.force_login(staff_user)

    assert client.get(ANALYTICS).status_code == 403


def test_a_bare_date_in_the_date_filter_is_read_as_utc_midnight(admin_client_logged_in, make_event):
    # given events around the day 2026-03-10 (UTC)
    inside = {
        make_event(created_at=datetime(2026, 3, 10, 0, 0, tzinfo=UTC)).id,
        make_event(created_at=datetime(2026, 3, 10, 23, 59, tzinfo=UTC)).id,
    }
    make_event(created_at=datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC))
    make_event(created_at=datetime(2026, 3, 11, 0, 0, tzinfo=UTC))

    # when the list is filtered with bare dates, any naive-datetime warning failing the test
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        response = admin_client_logged_in.get(
            CHANGELIST, {"created_at__gte": "2026-03-10", "created_at__lt": "2026-03-11"}
        )

    # then the day's events are listed
    assert response.status_code == 200
    assert {row.id for row in response.context["cl"].result_list} == inside


def test_carts_and_events_lists_share_one_paginator():
    from django.contrib import admin

    from carts.models import Cart

    assert admin.site._registry[Cart].paginator is EstimatedCountPaginator
    assert admin.site._registry[CartTrackingEvent].paginator is EstimatedCountPaginator
