"""The only door to Stripe: the official library, configured per call from settings.

A `StripeClient` per call (instead of the module-level `stripe.api_key`) keeps threads and tests
from seeing each other's configuration; `STRIPE_API_BASE` points it at a local double. Every Stripe
failure leaves here as `UpstreamFailed(code="STRIPE_ERROR")` (502), with the cause logged.
"""

import logging
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import stripe
from django.conf import settings

from cartsite.errors import UpstreamFailed

logger = logging.getLogger("payments.stripe")

STRIPE_TIMEOUT_SECONDS = 20
# Currencies Stripe takes in whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL_CURRENCIES = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)


def stripe_client() -> stripe.StripeClient:
    """A client for the current settings (read on every call, so tests and operators can change
    them); clients are kept per configuration, and their HTTP sessions are per thread."""
    if not settings.STRIPE_SECRET_KEY:
        raise UpstreamFailed("Stripe is not configured (STRIPE_SECRET_KEY)", code="STRIPE_ERROR")
    return _stripe_client_for(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE.rstrip("/"), settings.STRIPE_MAX_NETWORK_RETRIES
    )


@lru_cache(maxsize=8)
def _stripe_client_for(api_key: str, api_base: str, max_network_retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=stripe.new_default_http_client(timeout=STRIPE_TIMEOUT_SECONDS),
    )


@contextmanager
def stripe_errors(action: str):
    """Turns any Stripe failure inside the block into a 502 STRIPE_ERROR."""
    try:
        yield
    except stripe.StripeError as exc:
        logger.warning(
            "stripe request failed",
            extra={
                "action": action,
                "error_type": type(exc).__name__,
                "http_status": exc.http_status,
                "stripe_code": exc.code,
                "stripe_request_id": exc.request_id,
            },
        )
        raise UpstreamFailed(f"Payment provider error while trying to {action}", code="STRIPE_ERROR") from exc


def to_minor_units(amount: Decimal, currency: str) -> int:
    """24.50 EUR → 2450; 1200 JPY → 1200."""
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return int((Decimal(amount) * (10**exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(units: int, currency: str) -> Decimal:
    exponent = 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return (Decimal(units) / (10**exponent)).quantize(Decimal("0.01"))


def checkout_stripe_create(*, params: dict, idempotency_key: str) -> dict:
    with stripe_errors("create the checkout"):
        created = stripe_client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    return created.to_dict()


def checkout_stripe_retrieve(*, stripe_session_id: str) -> dict:
    with stripe_errors("read the checkout"):
        return stripe_client().v1.checkout.sessions.retrieve(stripe_session_id).to_dict()


def checkout_stripe_expire(*, stripe_session_id: str) -> dict:
    with stripe_errors("expire the previous checkout"):
        return stripe_client().v1.checkout.sessions.expire(stripe_session_id).to_dict()


def checkout_stripe_list_since(*, created_gte: int):
    """Every Checkout Session created at or after `created_gte` (epoch seconds), newest first,
    following Stripe's pagination."""
    with stripe_errors("list checkouts"):
        page = stripe_client().v1.checkout.sessions.list(params={"created": {"gte": created_gte}, "limit": 100})
        for item in page.auto_paging_iter():
            yield item.to_dict()
