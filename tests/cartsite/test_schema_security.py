"""The served OpenAPI schema lists, per operation, the credentials that operation accepts, each as
an alternative of its own (API.md "Who calls")."""

import pytest
from rest_framework.test import APIClient

EITHER_KEY_OR_STAFF = [{"publishableKey": []}, {"secretKey": []}, {"tokenAuth": []}, {"cookieAuth": []}]
SECRET_KEY_OR_STAFF = [{"secretKey": []}, {"tokenAuth": []}, {"cookieAuth": []}]
STAFF_ONLY = [{"tokenAuth": []}, {"cookieAuth": []}]


@pytest.fixture(scope="module")
def operations(django_db_blocker):
    with django_db_blocker.unblock():
        schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


@pytest.mark.parametrize(
    ("operation", "security"),
    [
        (("POST", "/cart/sync"), EITHER_KEY_OR_STAFF),
        (("POST", "/api/cart-tracking/track"), EITHER_KEY_OR_STAFF),
        (("GET", "/api/cart-tracking/events"), SECRET_KEY_OR_STAFF),
        (("GET", "/api/carts/active"), STAFF_ONLY),
        (("POST", "/api/payments/create-checkout"), [{"secretKey": []}]),
        (("POST", "/api/payments/webhook"), [{}]),
    ],
)
def test_each_operation_lists_its_credentials_as_alternatives(operations, operation, security):
    assert operations[operation]["security"] == security


def test_no_operation_asks_for_two_credentials_at_once(operations):
    combined = [key for key, operation in operations.items() if any(len(r) > 1 for r in operation.get("security", []))]

    assert combined == []
