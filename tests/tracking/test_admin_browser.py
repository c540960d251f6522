"""The tracking analytics page in a real browser: reached from the events list, charts drawn inline,
no request leaves the site (no CDN)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests.browser import admin_login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_analytics_page_is_reached_from_the_events_list_and_draws_its_charts(
    live_server, browser_page, superuser, make_event, make_cart
):
    # given events on two days, one session of which converted
    now = timezone.now()
    make_event(
        created_at=now, session_id="s1", product_id="p1", product_title="Shirt", generated_image_url="https://g/1"
    )
    make_event(created_at=now, session_id="s1", product_id="p2", product_title="Hat")
    make_event(created_at=now - timedelta(days=3), session_id="s2", product_id="p1", product_title="Shirt")
    make_event(created_at=now - timedelta(days=3), session_id="s3")
    make_cart(session_token="s1", converted_at=now)
    page = browser_page
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    # when a superuser opens the events list and follows its Analytics link
    admin_login(page, live_server.url, "/admin/tracking/carttrackingevent/")
    page.click("text=Analytics")

    # then the figures and the three charts are on the page, drawn from inline SVG
    page.wait_for_selector("svg.events-by-day")
    assert page.locator("#total-events").inner_text() == "4"
    assert page.locator("#unique-sessions").inner_text() == "3"
    assert page.locator("#converted-sessions").inner_text() == "1"
    heights = page.locator("svg.events-by-day rect.day").evaluate_all(
        "rects => rects.map(r => parseFloat(r.getAttribute('height')))"
    )
    assert len(heights) == 30
    assert sum(1 for h in heights if h > 0) == 2
    assert page.locator("svg.events-by-product rect.product").count() == 2
    assert page.locator("svg.generated-share title").text_content() == "Share of events with a generated image: 25%"
    assert page.locator("svg.events-by-day").bounding_box()["width"] > 300
    assert hosts == {urlsplit(live_server.url).netloc}
