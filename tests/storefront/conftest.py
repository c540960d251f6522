"""Storefront fixtures: the demo site on pytest-django's live server, and headless Chromium.

Playwright's sync API runs an event loop in this thread, so Django's async-safety check must be
told that the ORM calls made by these tests (between browser steps) are fine.
"""

import os
import time
from pathlib import Path

import pytest

from carts.models import StoreOrigin
from tests.fakes.stripe_server import fake_stripe  # noqa: F401 (fixture)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
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


@pytest.fixture(scope="session")
def chromium_browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (CI installs Debian's chromium for the browser tests)")
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
def demo_site(live_server, settings):
    """The demo shop on the live server: DEMO_MODE on, the demo store with its fixed keys, and the
    live server's origins configured on it (the demo backend calls SITE_URL = the live server)."""
    from carts.demo import demo_stores_ensure

    settings.DEMO_MODE = True
    settings.ROOT_URLCONF = "tests.storefront.urls"
    settings.SITE_URL = live_server.url
    store, _ = demo_stores_ensure()
    port = live_server.url.rsplit(":", 1)[1]
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
        StoreOrigin.objects.get_or_create(store=store, origin=origin)
    return store


# Chromium logs every failed or 4xx/5xx resource load itself ("Failed to load resource: …", e.g. the
# 404 of restoreCart() when there is no open cart): that is the browser's network log, which no page
# script can silence, not output of the page's scripts.
NETWORK_LOG_PREFIX = "Failed to load resource:"


def script_messages(console_log, kinds=("error", "warning", "pageerror")):
    """The console messages of the page's own scripts (and uncaught errors) of the given kinds."""
    return [entry for entry in console_log if entry[0] in kinds and not entry[1].startswith(NETWORK_LOG_PREFIX)]


@pytest.fixture
def console_log(browser_context):
    """Every console message and uncaught page error of the context's pages."""
    messages = []

    def watch(page):
        page.on("console", lambda message: messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))

    browser_context.on("page", watch)
    return messages
