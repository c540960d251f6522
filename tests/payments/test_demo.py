"""payments.demo.demo_seed: plans and sessions in every state, created once."""

from io import StringIO

import pytest

from payments.demo import DEMO_PLANS, DEMO_SESSIONS, demo_seed
from payments.models import CheckoutSession, Plan

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_covers_every_status():
    first, second = StringIO(), StringIO()

    demo_seed(stdout=first)
    demo_seed(stdout=second)

    assert Plan.objects.count() == 2 * len(DEMO_PLANS)
    assert CheckoutSession.objects.count() == 2 * len(DEMO_SESSIONS)
    assert set(CheckoutSession.objects.values_list("status", flat=True)) == {
        "pending",
        "completed",
        "expired",
        "failed",
        "cancelled",
    }
    assert first.getvalue().strip() == f"payments: {2 * len(DEMO_SESSIONS)} demo checkout session(s) created"
    assert second.getvalue().strip() == "payments: 0 demo checkout session(s) created"


def test_openapi_schema_documents_the_payment_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    paths = response.json()["paths"]
    assert set(paths["/api/payments/checkout-session"]) >= {"get", "post", "patch"}
    assert "post" in paths["/api/payments/create-checkout"]
    assert "post" in paths["/api/payments/webhook"]
