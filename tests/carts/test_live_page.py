"""The live carts page in a real browser: headless Chromium polling GET /api/carts/active."""

import json
import time
import urllib.request

import pytest

from tests.browser import admin_login

pytestmark = pytest.mark.browser


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
    admin_login(page, live_server.url, "/admin/carts/live/", username="staffer", password="staff-pass-123")
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
