"""Headless Chromium for the browser tests: one browser per test session, a fresh profile per test.

Debian's chromium is driven by Playwright's Python package. Playwright's sync API keeps one event
loop for the session, so there must be exactly one sync_playwright() — every browser test uses
these fixtures. Django's async-safety check is told that the ORM calls the tests make between
browser steps run outside that loop's coroutines.
"""

import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def wait_for(condition, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Polls `condition()` until it answers something truthy; fails with `message` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def admin_login(page, base_url: str, next_path: str, *, username: str = "boss", password: str = "boss-pass-123"):
    """Logs into the Django admin through its login form and lands on `next_path`."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


@pytest.fixture(scope="session")
def chromium_browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (scripts/test installs Debian's chromium)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium_browser):
    """A fresh browser profile (empty localStorage and cookies) for one test."""
    context = chromium_browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def browser_page(browser_context):
    return browser_context.new_page()
