"""Request ids, JSON log lines without contact data, health, readiness and metrics."""

import io
import json
import logging

import pytest
from django.test import override_settings

from cartsite.logging import JsonFormatter, RequestContextFilter
from tests.fakes.redis_down import DEAD_REDIS


@pytest.fixture
def json_log_lines():
    """Captures what the production log handler would write: formatted JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


@pytest.mark.urls("tests.cartsite.probe_urls")
def test_no_email_or_phone_reaches_a_log_line(storefront_client, json_log_lines):
    storefront_client.post(
        "/api/probe",
        data={"storeName": "MyShop", "email": "jane.doe@example.com", "phone": "+4915112345678"},
        format="json",
        HTTP_X_REQUEST_ID="req-123",
    )
    storefront_client.get("/api/nothing/jane.doe@example.com/+4915112345678")

    lines = json_log_lines()
    text = "\n".join(json.dumps(line) for line in lines)
    assert "jane.doe@example.com" not in text
    assert "+4915112345678" not in text
    assert "4915112345678" not in text
    probe = next(line for line in lines if line["logger"] == "tests.probe")
    assert probe["message"] == "probe for j***@example.com"
    assert probe["request_id"] == "req-123"
    assert probe["store"] == "myshop.myshopify.com"
    assert probe["customer"]["phone"] == "***"
    access = [line for line in lines if line["logger"] == "cartsite.access"]
    assert [line["status"] for line in access] == [200, 404]
    assert access[1]["path"] == "/api/nothing/j***@example.com/+***********78"


def test_request_id_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"


def test_request_id_is_made_when_missing_or_unsafe(client):
    made = client.get("/healthz")["X-Request-ID"]
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]

    assert len(made) == 32 and made.isalnum()
    assert len(replaced) == 32 and replaced != made


def test_healthz_touches_no_dependency(client):
    # No db mark: pytest-django makes any query in here raise.
    response = client.get("/healthz")

    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_and_redis_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_readyz_names_the_database_when_it_is_down(client, database_refusing_connections):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["message"] == "unavailable: database"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["database"].startswith("unavailable")


@pytest.mark.django_db
def test_readyz_names_redis_when_it_is_down(client):
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["message"] == "unavailable: cache"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_metrics_are_prometheus_text(client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'cartsite_http_requests_total{method="GET",route="/healthz",status="200"}' in text


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_cors_preflight_allows_a_configured_origin(client, store):
    response = client.options(
        "/api/carts/sync",
        HTTP_ORIGIN="https://myshop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-store-key",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://myshop.example"
    assert "x-store-key" in response["Access-Control-Allow-Headers"]


def test_cors_preflight_ignores_an_unknown_origin(client, store):
    response = client.options(
        "/api/carts/sync", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )

    assert "Access-Control-Allow-Origin" not in response
