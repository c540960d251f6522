"""Payments fixtures: the fake Stripe API, plans, and signed webhook posts."""

import json
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from payments.models import Plan
from tests.fakes.stripe_server import fake_stripe, sign_webhook  # noqa: F401 (fixture)


@pytest.fixture
def plan(store):
    return Plan.objects.create(store=store, code="pro", name="Pro plan", price=Decimal("9.99"), currency="EUR")


@pytest.fixture
def monthly_plan(store):
    return Plan.objects.create(
        store=store, code="pro-monthly", name="Pro monthly", price=Decimal("19.00"), currency="EUR", interval="month"
    )


@pytest.fixture
def post_webhook():
    """Posts an event to the webhook as Stripe would: exact bytes, real signature."""

    def post(event: dict | str | bytes, *, signature: str | None = "sign", timestamp: int | None = None, client=None):
        body = event if isinstance(event, str | bytes) else json.dumps(event)
        headers = {}
        if signature == "sign":
            signature = sign_webhook(body, settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp)
        if signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        return (client or APIClient()).post(
            "/api/payments/webhook", data=body, content_type="application/json", **headers
        )

    return post
