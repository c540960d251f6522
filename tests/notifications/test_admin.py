"""Back office: message log, per-cart metadata, statistics page with charts, "process now"."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from carts.models import StoreMembership
from notifications.models import ReminderMessage
from notifications.services import sweep_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def member_client(store):
    user = get_user_model().objects.create_user("member", password="member-pass-123", is_staff=True)
    StoreMembership.objects.create(user=user, store=store)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_message_log_lists_filters_and_is_read_only(admin_client, due_cart, now):
    cart = due_cart(phone="")
    sweep_run(now=now, enable_whatsapp=False)
    message = ReminderMessage.objects.get(cart=cart)

    listing = admin_client.get("/admin/notifications/remindermessage/?status__exact=sent&channel__exact=email")
    change = admin_client.get(f"/admin/notifications/remindermessage/{message.pk}/change/")
    add = admin_client.get("/admin/notifications/remindermessage/add/")

    assert listing.status_code == 200
    assert str(cart.id) in listing.content.decode()
    assert "/admin/notifications/stats/" in listing.content.decode()
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert add.status_code == 403


def test_cart_reminder_status_shows_the_seed_metadata(admin_client, due_cart, now, fake_whatsapp):
    cart = due_cart(email_consent=False)
    fake_whatsapp.fail_next(131026)
    sweep_run(now=now)

    listing = admin_client.get("/admin/notifications/remindedcart/")
    detail = admin_client.get(f"/admin/notifications/remindedcart/{cart.pk}/change/")

    assert listing.status_code == 200
    assert "[131026] (#131026) fake Graph error" in listing.content.decode()
    assert detail.status_code == 200
    assert "&quot;firstSent&quot;: false" in detail.content.decode()
    assert "&quot;firstError&quot;: &quot;[131026] (#131026) fake Graph error&quot;" in detail.content.decode()


def test_statistics_page_draws_inline_svg_charts(admin_client, due_cart, now):
    due_cart(phone="")
    sweep_run(now=now - timedelta(hours=1), enable_whatsapp=False)

    page = admin_client.get("/admin/notifications/stats/")

    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<svg role="img"') == 6
    for title in ("Reminders sent", "Reminders clicked", "Carts recovered", "Recovery rate", "Recovered revenue"):
        assert title in html
    assert "Lift" in html
    assert "cdn" not in html.lower()
    assert re.search(r'<rect class="bar" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="120\.0">', html)
    assert 'id="process-now"' in html


def test_statistics_page_needs_staff(client, due_cart):
    response = client.get("/admin/notifications/stats/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_process_now_runs_the_sweep_for_the_members_stores(member_client, due_cart, make_cart, other_store, now):
    # given a due cart in the member's store and one in another store
    mine = due_cart(phone="")
    theirs = make_cart(store=other_store, email="x@example.com", email_consent=True, idle=timedelta(hours=30))
    page = member_client.get("/admin/notifications/stats/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    # when the member presses "process now" (a POST with the CSRF token)
    response = member_client.post("/admin/notifications/stats/", {"csrfmiddlewaretoken": token, "store": ""})
    without_csrf = Client(enforce_csrf_checks=True)
    without_csrf.force_login(get_user_model().objects.get(username="member"))
    refused = without_csrf.post("/admin/notifications/stats/", {"store": ""})

    # then the sweep ran for their store only, and a POST without CSRF was refused
    assert response.status_code == 302
    assert ReminderMessage.objects.filter(cart=mine, status="sent").count() == 1
    assert not ReminderMessage.objects.filter(cart=theirs).exists()
    assert refused.status_code == 403
    followed = member_client.get(response["Location"])
    assert "1 first and 0 second reminders sent" in followed.content.decode()
