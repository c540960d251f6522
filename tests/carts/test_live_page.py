"""The live carts page in a real browser: headless Chromium polling GET /api/carts/active."""

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def browser_page():
    # Playwright's sync API runs an event loop in this thread; Django must still be callable here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def call_api(base_url, method, path, key, body=None):
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Store-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.mark.django_db(transaction=True)
def test_a_synced_cart_appears_within_six_seconds_and_a_deleted_one_disappears(
    live_server, browser_page, store_keys, staff_user
):
    page = browser_page
    # given a staff member logged into the admin, on the live carts page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/carts/live/")
    page.fill("#id_username", "staffer")
    page.fill("#id_password", "staff-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/carts/live/")
    page.wait_for_selector("#live-carts tr.empty")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

    # when a storefront syncs a cart through the API
    status, body = call_api(
        live_server.url,
        "POST",
        "/cart/sync",
        store_keys.publishable_key,
        {
            "session_token": "browser-session",
            "items": [{"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks"}],
            "customer": {"email": "jane.doe@example.com", "first_name": "Jane"},
        },
    )
    assert status == 201
    synced_at = time.monotonic()

    # then it appears without a reload within 6 seconds, with count, value and a masked customer
    row = page.wait_for_selector('tr[data-session-id="browser-session"]', timeout=6000)
    assert time.monotonic() - synced_at < 6
    assert row.query_selector(".item-count").inner_text() == "2"
    assert "24.50" in row.query_selector(".total").inner_text()
    text = row.inner_text()
    assert "j***@example.com" in text and "jane.doe@" not in text
    assert "2 × Socks" in text

    # and when the storefront removes it, it disappears from the page
    assert call_api(live_server.url, "DELETE", "/api/carts/browser-session", store_keys.publishable_key) == (
        200,
        {"success": True},
    )
    page.wait_for_selector('tr[data-session-id="browser-session"]', state="detached", timeout=6000)
    assert page.evaluate("window.loadedOnce") is True  # updated in place, never reloaded
