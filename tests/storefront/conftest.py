"""Storefront fixtures: the demo site on pytest-django's live server, and headless Chromium.

Playwright's sync API runs an event loop in this thread, so Django's async-safety check must be
told that the ORM calls made by these tests (between browser steps) are fine.
"""

import pytest

from carts.models import StoreOrigin
from tests.fakes.stripe_server import fake_stripe  # noqa: F401 (fixture)


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
