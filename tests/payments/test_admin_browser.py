"""The checkout report in a real browser: reached from the sessions list, chart drawn inline, no
request leaves the site (no CDN)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from payments.models import CheckoutSession
from tests.browser import admin_login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_report_is_reached_from_the_sessions_list_and_draws_its_chart_locally(
    live_server, browser_page, superuser, plan
):
    now = timezone.now()
    for index, status in enumerate(["completed", "completed", "expired", "pending"]):
        CheckoutSession.objects.create(
            store=plan.store,
            plan=plan,
            subscription_plan=plan.code,
            amount=plan.price,
            currency="EUR",
            user_id=f"user-{index}",
            status=status,
            created_at=now - timedelta(days=index),
            expires_at=now + timedelta(hours=1),
            completed_at=now if status == "completed" else None,
        )
    page = browser_page
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    admin_login(page, live_server.url, "/admin/payments/checkoutsession/")
    page.click("text=Checkout report")

    page.wait_for_selector("#by-day")
    heights = [
        float(h) for h in page.locator("svg rect").evaluate_all("rects => rects.map(r => r.getAttribute('height'))")
    ]
    assert len(heights) == 14
    assert sum(1 for h in heights if h > 0) == 4 + 2  # four days with sessions, two with completions
    assert page.locator("#conversion-30d").inner_text() == "50 %"
    assert page.locator("svg text").count() == 7
    assert page.locator("#by-plan tbody tr").first.inner_text().split("\t")[:4] == ["pro", "4", "2", "2"]
    assert hosts == {urlsplit(live_server.url).netloc}
