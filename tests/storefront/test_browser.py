"""The storefront journey in headless Chromium against the live server: the demo shop syncs the
cart, tracking survives unloads, a recovery link (also the real one from a reminder e-mail) restores
the cart in a fresh browser, and a dead API leaves the shop working with at most one warning."""

import re
import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from carts.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, DEMO_STORE_NAME
from carts.models import Cart
from notifications.services import sweep_run
from tests.browser import wait_for
from tests.storefront.conftest import NETWORK_LOG_PREFIX, script_messages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEE = {"productId": "sku-tee", "quantity": 2, "price": 19.9, "title": "Organic cotton tee", "category": "apparel"}
MUG = {"productId": "sku-mug", "quantity": 1, "price": 12.5, "title": "Enamel camp mug", "category": "kitchen"}


def open_cart(token: str):
    return Cart.objects.filter(session_token=token, converted_at__isnull=True, removed_at__isnull=True).first()


def cart_matching(token: str, **expected):
    def check():
        cart = open_cart(token)
        if cart is not None and all(getattr(cart, name) == value for name, value in expected.items()):
            return cart
        return None

    return check


def tracked_events(product_id: str) -> list[dict]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {DEMO_SECRET_KEY}")
    response = client.get("/api/cart-tracking/events", {"productId": product_id})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_adding_products_creates_the_server_cart_and_quantity_changes_update_it(
    demo_site, live_server, browser_context, console_log
):
    # Given the demo shop in a fresh browser
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")

    # When the customer adds two tees and a mug
    page.click("[data-add=sku-tee]")
    page.click("[data-add=sku-tee]")
    page.click("[data-add=sku-mug]")

    # Then one open cart of the demo store holds exactly those items, totalled by the server
    cart = wait_for(cart_matching(token, item_count=3), message="the synced cart")
    assert Cart.objects.filter(session_token=token).count() == 1
    assert cart.store.name == DEMO_STORE_NAME
    assert cart.items == [TEE, MUG]
    assert cart.total == Decimal("52.30")
    assert cart.currency == "EUR"
    assert page.text_content("#cart-total") == "52.30"

    # When the quantity of mugs becomes 4, then the tee line is removed
    page.fill("[data-quantity=sku-mug]", "4")
    page.dispatch_event("[data-quantity=sku-mug]", "change")
    cart = wait_for(cart_matching(token, item_count=6), message="the quantity change")
    assert cart.items == [TEE, {**MUG, "quantity": 4}]
    assert cart.total == Decimal("89.80")
    page.click("[data-remove=sku-tee]")
    cart = wait_for(cart_matching(token, item_count=4), message="the removed line")
    assert cart.items == [{**MUG, "quantity": 4}]
    assert cart.total == Decimal("50.00")

    # When the customer leaves an e-mail address and consents to e-mail reminders only
    page.fill("#customer [name=email]", "Ann@Example.com")
    page.fill("#customer [name=first_name]", "Ann")
    page.check("#customer [name=consent_email]")
    cart = wait_for(cart_matching(token, email_consent=True), message="the consent")

    # Then the same cart carries the contact and the per-channel consent
    assert Cart.objects.filter(session_token=token).count() == 1
    assert (cart.email, cart.first_name, cart.email_consent, cart.whatsapp_consent) == (
        "ann@example.com",
        "Ann",
        True,
        False,
    )
    assert script_messages(console_log) == []


def test_clear_cart_takes_it_out_of_the_live_view(demo_site, live_server, browser_context):
    # Given a synced cart
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")
    page.click("[data-add=sku-socks]")
    wait_for(cart_matching(token, item_count=1), message="the synced cart")

    # When the customer clears it
    page.click("#clear-cart")

    # Then the cart is removed (kept in the database), and the status says so
    wait_for(lambda: open_cart(token) is None, message="the removal")
    assert Cart.objects.get(session_token=token).removed_at is not None
    page.wait_for_selector("#sync-status:has-text('Cart removed')")


def test_a_tracking_event_sent_as_the_page_unloads_arrives(demo_site, live_server, browser_context):
    # Given the demo shop
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")

    # When the page tracks an event and navigates away in the same task
    page.evaluate(
        """() => {
            Cartsite.track({productId: "sku-unload", productTitle: "Tracked while leaving"});
            location.href = "/healthz";
        }"""
    )
    page.wait_for_url("**/healthz")

    # Then the event arrived, for the demo store and this session
    events = wait_for(lambda: tracked_events("sku-unload"), message="the tracking event")
    assert len(events) == 1
    assert events[0]["productTitle"] == "Tracked while leaving"
    assert events[0]["sessionId"] == token
    assert events[0]["storeName"] == DEMO_STORE_NAME


def test_a_tracking_event_sent_as_the_tab_closes_arrives(demo_site, live_server, browser_context):
    # Given the demo shop
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")

    # When the page tracks an event and the tab is closed at once
    page.evaluate("""() => { Cartsite.track({productId: "sku-closed", productTitle: "Closed tab"}); }""")
    page.close(run_before_unload=True)

    # Then the event arrived
    events = wait_for(lambda: tracked_events("sku-closed"), message="the tracking event")
    assert [event["productTitle"] for event in events] == ["Closed tab"]


def test_a_cart_change_right_before_leaving_reaches_the_server(demo_site, live_server, browser_context):
    # Given the demo shop
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")

    # When the customer adds a product and leaves within the debounce pause
    page.click("[data-add=sku-mug]")
    page.evaluate("""() => { location.href = "/healthz"; }""")
    page.wait_for_url("**/healthz")

    # Then the pagehide beacon delivered the cart
    cart = wait_for(cart_matching(token, item_count=1), message="the cart sent on pagehide")
    assert cart.items == [MUG]


def test_a_recovery_link_in_a_fresh_browser_restores_the_cart(demo_site, live_server, chromium_browser):
    # Given a cart made in one browser
    first = chromium_browser.new_context()
    page = first.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")
    page.click("[data-add=sku-tee]")
    page.click("[data-add=sku-tee]")
    page.click("[data-add=sku-mug]")
    cart = wait_for(cart_matching(token, item_count=3), message="the synced cart")
    first.close()

    # When its recovery link is opened in a fresh browser (no storage, no cookies)
    fresh = chromium_browser.new_context()
    try:
        page = fresh.new_page()
        page.goto(f"{live_server.url}/demo/?utm_source=reminder&cart_session={token}")

        # Then the page adopts the session and shows the server's cart
        page.wait_for_selector("#sync-status:has-text('Restored (2 lines)')")
        assert page.evaluate("Cartsite.sessionToken") == token
        assert page.evaluate("Cartsite.adoptedFromLink") is True
        assert page.evaluate("localStorage.getItem('cartsite_session')") == token
        assert page.url == f"{live_server.url}/demo/?utm_source=reminder"
        rows = page.eval_on_selector_all("#cart-lines tr", "rows => rows.map(row => row.dataset.line)")
        assert rows == ["sku-tee", "sku-mug"]
        assert page.input_value("[data-quantity=sku-tee]") == "2"
        assert page.text_content("#cart-total") == "52.30"

        # And a change there updates that same cart
        page.click("[data-add=sku-mug]")
        updated = wait_for(cart_matching(token, item_count=4), message="the update of the restored cart")
        assert updated.pk == cart.pk
        assert Cart.objects.filter(session_token=token).count() == 1
    finally:
        fresh.close()


def test_an_unreachable_api_leaves_the_page_working_with_one_warning(
    demo_site, live_server, browser_context, console_log
):
    # Given a shop page whose cartsite API address is a closed port
    api = f"http://127.0.0.1:{closed_port()}"
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/storefront-test/bare?key={DEMO_PUBLISHABLE_KEY}&api={api}&store=demo")

    # When it uses every call of the client
    answers = page.evaluate(
        """async () => {
            const results = {};
            results.track = Cartsite.track({productId: "sku-1"});
            results.restore = await Cartsite.restoreCart();
            Cartsite.syncCart([{productId: "sku-1", quantity: 1, price: 5}], {email: "ann@example.com"});
            const later = new Promise((resolve) => setTimeout(() => resolve("pending"), 1500));
            results.flushed = await Promise.race([Cartsite.flush(), later]);
            Cartsite.removeCart();
            return results;
        }"""
    )
    page.click("#click-me")
    page.click("#click-me")
    page.wait_for_timeout(1500)

    # Then nothing threw, every call answered, the page still works, and the console got one warning
    assert answers == {"track": True, "restore": None, "flushed": "pending"}
    assert page.text_content("#clicks") == "2"
    own = script_messages(console_log, kinds=("log", "info", "debug", "error", "warning", "pageerror"))
    assert len(own) == 1, console_log
    kind, text = own[0]
    assert kind == "warning"
    assert text.startswith(f"[cartsite] could not reach {api}")
    # The only other lines are Chromium's own network log of the refused connections.
    assert all(
        text.startswith(NETWORK_LOG_PREFIX) and "ERR_CONNECTION_REFUSED" in text
        for kind, text in console_log
        if (kind, text) != own[0]
    ), console_log


def test_cross_origin_shop_syncs_and_tracks_through_cors(demo_site, live_server, browser_context, console_log):
    # Given a shop page on another origin than the API (localhost vs 127.0.0.1), both configured
    port = live_server.url.rsplit(":", 1)[1]
    api = f"http://127.0.0.1:{port}"
    page = browser_context.new_page()
    page.goto(f"http://localhost:{port}/storefront-test/bare?key={DEMO_PUBLISHABLE_KEY}&api={api}&store=demo-shop")
    token = page.evaluate("Cartsite.sessionToken")

    # When it syncs a cart, then tracks an event and leaves at once
    delivered = page.evaluate(
        """() => Cartsite.syncCart([{productId: "sku-x", quantity: 3, price: 2.5}]).then(() => Cartsite.flush())"""
    )
    page.evaluate(
        """() => {
            Cartsite.track({productId: "sku-cross", productTitle: "Across origins"});
            location.href = "/healthz";
        }"""
    )
    page.wait_for_url("**/healthz")

    # Then both arrived (CORS preflights answered for the configured origin)
    assert delivered is True
    cart = wait_for(cart_matching(token, item_count=3), message="the cross-origin cart")
    assert cart.total == Decimal("7.50")
    events = wait_for(lambda: tracked_events("sku-cross"), message="the cross-origin event")
    assert [event["productTitle"] for event in events] == ["Across origins"]
    assert script_messages(console_log) == []


def test_the_script_also_loads_as_an_es_module(demo_site, live_server, browser_context, console_log):
    # Given a page without the script
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/healthz")

    # When it imports the file as a module (strict mode, no `this`)
    version = page.evaluate(
        """async () => {
            await import("/static/cartsite/cartsite-1.0.0.js");
            const client = globalThis.Cartsite.init({key: "pk_demo", apiBase: ""});
            return [globalThis.Cartsite.VERSION, typeof client.syncCart];
        }"""
    )

    # Then globalThis.Cartsite is there and works
    assert version == ["1.0.0", "function"]
    assert script_messages(console_log) == []


def test_checkout_right_after_a_change_pays_for_the_whole_cart(demo_site, live_server, browser_context, fake_stripe):
    # Given the demo shop; the checkout answer is caught before the browser follows it to Stripe
    # (stripe.com is not reachable from the tests, and Playwright routes do not see redirects)
    redirects = []

    def catch_redirect(route):
        response = route.fetch(max_redirects=0)
        redirects.append((response.status, response.headers.get("location")))
        route.fulfill(status=200, content_type="text/html", body="<h1>On the way to Stripe</h1>")

    browser_context.route(f"{live_server.url}/demo/checkout", catch_redirect)
    page = browser_context.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")

    # When the customer adds products and pays at once, inside the debounce pause
    page.click("[data-add=sku-tee]")
    page.click("[data-add=sku-socks]")
    page.fill("#customer [name=email]", "ann@example.com")
    page.click("#checkout")

    # Then the form waited for the sync, Stripe was asked for exactly that cart, and the shop
    # sent the customer to the Checkout URL
    page.wait_for_selector("h1:has-text('On the way to Stripe')")
    [created] = fake_stripe.created_sessions
    cart = open_cart(token)
    assert created["metadata"]["cart_id"] == str(cart.pk)
    assert created["customer_email"] == "ann@example.com"
    assert sorted((line["price_data"]["unit_amount"], line["quantity"]) for line in created["line_items"]) == [
        ("1990", "1"),
        ("725", "1"),
    ]
    stripe_session_id = next(iter(fake_stripe.state.sessions))
    assert redirects == [(302, f"https://checkout.stripe.com/c/pay/{stripe_session_id}")]


def test_the_reminder_emails_recovery_link_brings_the_cart_back_in_a_fresh_browser(
    demo_site, live_server, chromium_browser, mailoutbox
):
    # Given a cart left in the demo shop by a customer who consented to e-mail reminders, and the
    # store's recovery URL pointing at the demo shop
    demo_site.recovery_url = f"{live_server.url}/demo/"
    demo_site.save(update_fields=["recovery_url"])
    first = chromium_browser.new_context()
    page = first.new_page()
    page.goto(f"{live_server.url}/demo/")
    token = page.evaluate("Cartsite.sessionToken")
    page.click("[data-add=sku-socks]")
    page.fill("#customer [name=email]", "ann@example.com")
    page.check("#customer [name=consent_email]")
    wait_for(cart_matching(token, email_consent=True, item_count=1), message="the cart with consent")
    first.close()

    # When the abandonment sweep runs a day later and the customer opens the e-mail's link elsewhere
    summary = sweep_run(now=timezone.now() + timedelta(hours=25), enable_whatsapp=False, stores=[demo_site])
    assert summary.first_sent == 1
    [email] = mailoutbox
    link = re.search(rf"{re.escape(live_server.url)}/r/[^\s\"'<>]+", email.body).group(0)
    fresh = chromium_browser.new_context()
    try:
        page = fresh.new_page()
        page.goto(link)

        # Then the link led to the shop with the session, and the shop shows the server's cart
        page.wait_for_selector("#sync-status:has-text('Restored (1 lines)')")
        assert page.url == f"{live_server.url}/demo/"
        assert page.evaluate("Cartsite.sessionToken") == token
        assert page.eval_on_selector_all("#cart-lines tr", "rows => rows.map(row => row.dataset.line)") == ["sku-socks"]
    finally:
        fresh.close()
