"""The demo shop (DEMO_MODE only): a storefront page using cartsite.js, and a demo "merchant backend".

The page holds only the demo store's publishable key. Checkout posts to `demo_checkout`, which plays
the merchant's server: it calls `POST /api/payments/create-checkout` over HTTP with the secret key
(prices never come from the browser, and the secret key never reaches it) and redirects the
customer to the Stripe Checkout URL it gets back.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from carts.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, DEMO_STORE_NAME

logger = logging.getLogger("cartsite.demo")

# How long the demo backend waits for cartsite (and, behind it, Stripe) before giving up.
CHECKOUT_TIMEOUT_SECONDS = 10
CLIENT_SCRIPT = "cartsite/cartsite-1.0.0.js"

PRODUCTS = [
    {"productId": "sku-tee", "title": "Organic cotton tee", "price": 19.9, "category": "apparel"},
    {"productId": "sku-mug", "title": "Enamel camp mug", "price": 12.5, "category": "kitchen"},
    {"productId": "sku-socks", "title": "Wool hiking socks", "price": 7.25, "category": "apparel"},
]


@dataclass(frozen=True)
class CheckoutAnswer:
    """What the merchant backend learnt from create-checkout: a Stripe URL, or why there is none."""

    url: str | None
    status: int
    message: str


def demo_mode_required(view):
    def wrapped(request, *args, **kwargs):
        # The URLconf mounts this module only in DEMO_MODE; the check here covers reloaded URLconfs.
        if not settings.DEMO_MODE:
            raise Http404("The demo shop runs only in DEMO_MODE")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def shop_context(request, **extra) -> dict:
    return {
        "products": PRODUCTS,
        "client_script": CLIENT_SCRIPT,
        "storefront": {
            "key": DEMO_PUBLISHABLE_KEY,
            # The page and the API share this origin here; a real shop sets its cartsite address.
            "apiBase": "",
            "storeName": DEMO_STORE_NAME,
            "currency": "EUR",
            "products": PRODUCTS,
            "checkoutState": request.GET.get("checkout", ""),
        },
        "store_name": DEMO_STORE_NAME,
        **extra,
    }


@require_GET
@demo_mode_required
def demo_shop(request):
    """The storefront page: products, a cart synced by cartsite.js, customer details, checkout."""
    return render(request, "demo/shop.html", shop_context(request))


def checkout_create_remote(*, session_token: str, email: str, success_url: str, cancel_url: str) -> CheckoutAnswer:
    """Calls create-checkout the way a merchant's server does: HTTP, the secret key, a short timeout."""
    body = {"session_token": session_token, "successUrl": success_url, "cancelUrl": cancel_url}
    if email:
        body["email"] = email
    request = urllib.request.Request(
        f"{settings.SITE_URL}/api/payments/create-checkout",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {DEMO_SECRET_KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=CHECKOUT_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read() or b"{}")
            url = answer.get("url") or ""
            if url.startswith(("https://", "http://")):
                return CheckoutAnswer(url=url, status=response.status, message="")
            return CheckoutAnswer(url=None, status=502, message="cartsite answered without a checkout URL.")
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read() or b"{}").get("message") or error.reason
        except ValueError:
            message = str(error.reason)
        return CheckoutAnswer(url=None, status=error.code, message=str(message))
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        logger.warning("demo checkout could not reach cartsite", extra={"site_url": settings.SITE_URL})
        reason = getattr(error, "reason", error)
        return CheckoutAnswer(
            url=None, status=0, message=f"cartsite at {settings.SITE_URL} is unreachable ({reason}); check SITE_URL."
        )


@require_POST
@demo_mode_required
def demo_checkout(request):
    """The demo merchant backend: create-checkout with the secret key, then off to Stripe."""
    session_token = request.POST.get("session_token", "").strip()
    email = request.POST.get("email", "").strip()
    if not session_token or len(session_token) > 128:
        return render(
            request,
            "demo/shop.html",
            shop_context(request, checkout_error="Your cart has no session yet: add a product first."),
            status=400,
        )
    shop_url = request.build_absolute_uri(reverse("demo-shop"))
    answer = checkout_create_remote(
        session_token=session_token,
        email=email,
        success_url=f"{shop_url}?checkout=success",
        cancel_url=f"{shop_url}?checkout=cancelled",
    )
    if answer.url:
        return HttpResponseRedirect(answer.url)
    if answer.status >= 500 or answer.status == 0:
        # Stripe not configured or unreachable, or cartsite itself down: the shop says so plainly.
        message = f"Checkout is not available right now: {answer.message}"
        status = 502
    else:
        message = f"Checkout was refused: {answer.message}"
        status = 400
    return render(request, "demo/shop.html", shop_context(request, checkout_error=message), status=status)


urlpatterns = [
    path("", demo_shop, name="demo-shop"),
    path("checkout", demo_checkout, name="demo-checkout"),
]
