"""The statistics page in a real browser: reached from the message log, charts drawn inline with no
request leaving the site, and "Process now" sending the due reminders."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from notifications.models import ReminderMessage
from tests.browser import admin_login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_process_now_sends_the_due_reminders_and_the_charts_show_them(
    live_server, browser_page, superuser, make_cart, settings
):
    # given two due carts with e-mail consent (e-mail only: WhatsApp has no credentials here)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for index in range(2):
        make_cart(email=f"c{index}@example.com", email_consent=True, idle=timedelta(hours=30))
    page = browser_page
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    # when the superuser opens the statistics from the message log and presses "Process now"
    admin_login(page, live_server.url, "/admin/notifications/remindermessage/")
    page.click("text=Statistics and “process now”")
    page.click("#process-now")

    # then both e-mails went out, the page says so, and the "sent" chart has today's bar
    page.wait_for_selector("ul.messagelist")
    assert "2 first and 0 second reminders sent" in page.locator("ul.messagelist").inner_text()
    assert ReminderMessage.objects.filter(status="sent", channel="email").count() == 2
    sent_chart = page.locator('svg[aria-label="Reminders sent"] rect.bar')
    heights = [float(h) for h in sent_chart.evaluate_all("rects => rects.map(r => r.getAttribute('height'))")]
    assert len(heights) == 30
    assert heights[-1] == 120.0
    assert sum(1 for h in heights if h > 0) == 1
    assert page.locator('svg[role="img"]').count() == 6
    assert hosts == {urlsplit(live_server.url).netloc}
