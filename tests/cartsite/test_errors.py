"""The API.md error envelope on every API path, whatever goes wrong."""

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIHandler

pytestmark = pytest.mark.urls("tests.cartsite.probe_urls")


def test_malformed_json_is_400_envelope(storefront_client):
    response = storefront_client.post("/api/probe", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "Malformed JSON in request body",
    }


def test_missing_field_is_400_with_field_details(storefront_client):
    response = storefront_client.post("/api/probe", data={}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "storeName is required",
        "details": {"field": "storeName", "reason": "Field is required"},
    }


def test_invalid_field_names_the_field(storefront_client):
    response = storefront_client.post("/api/probe", data={"storeName": "MyShop", "quantity": 0}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Validation Error"
    assert body["details"] == {"field": "quantity", "reason": "Ensure this value is greater than or equal to 1."}


def test_oversize_body_with_content_length_is_413(storefront_client):
    response = storefront_client.post(
        "/api/probe", data=json.dumps({"storeName": "x" * 300_000}), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {
        "status": "error",
        "error": "Payload Too Large",
        "message": "Request body is larger than 262144 bytes",
        "code": "PAYLOAD_TOO_LARGE",
    }


def _call_wsgi_chunked(body: bytes, key: str):
    """A request as gunicorn hands on a chunked upload: decoded stream, no Content-Length."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/probe",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_X_STORE_KEY": key,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])

    content = b"".join(WSGIHandler()(environ, start_response))
    return captured["status"], json.loads(content)


@pytest.mark.django_db(transaction=True)
def test_oversize_chunked_body_is_413(store_keys):
    status, body = _call_wsgi_chunked(json.dumps({"storeName": "x" * 300_000}).encode(), store_keys.publishable_key)

    assert status == 413
    assert body["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.django_db(transaction=True)
def test_chunked_body_within_limit_is_read(store_keys):
    status, body = _call_wsgi_chunked(json.dumps({"storeName": "MyShop"}).encode(), store_keys.publishable_key)

    assert status == 200
    assert body == {"store": "myshop.myshopify.com", "carts": 0}


def test_unknown_api_path_is_404_envelope(storefront_client):
    response = storefront_client.get("/api/does-not-exist")

    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "Not Found", "message": "Not found"}


def test_wrong_method_is_405_envelope(storefront_client):
    response = storefront_client.get("/api/probe")

    assert response.status_code == 405
    assert response.json()["error"] == "Method Not Allowed"


def test_database_refusing_connections_is_503(store_keys, database_refusing_connections):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)

    response = client.post("/api/probe", data={"storeName": "MyShop"}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "error": "Service Unavailable",
        "message": "Database service unavailable",
        "code": "DATABASE_UNAVAILABLE",
    }


@pytest.mark.django_db(transaction=True)
def test_other_database_error_is_500_database_error(storefront_client, monkeypatch):
    from django.db import ProgrammingError

    from carts.models import CartQuerySet

    def broken_count(self):
        raise ProgrammingError("relation does not exist")

    monkeypatch.setattr(CartQuerySet, "count", broken_count)

    response = storefront_client.post("/api/probe", data={"storeName": "MyShop"}, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "error": "Server Error",
        "message": "Database error",
        "code": "DATABASE_ERROR",
    }
    assert "relation" not in response.content.decode()


def test_unexpected_error_is_500_envelope_without_trace(storefront_client, monkeypatch):
    from carts.models import CartQuerySet

    def boom(self):
        raise RuntimeError("secret internals /srv/app.py line 3")

    monkeypatch.setattr(CartQuerySet, "count", boom)

    response = storefront_client.post("/api/probe", data={"storeName": "MyShop"}, format="json")

    assert response.status_code == 500
    assert response.json() == {"status": "error", "error": "Server Error", "message": "Internal server error"}


def test_json_nested_past_the_recursion_limit_is_400_not_500(storefront_client):
    body = '{"a":' * 5000 + "1" + "}" * 5000

    response = storefront_client.post("/api/probe", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"status": "error", "error": "Validation Error", "message": "JSON nesting is too deep"}


def test_json_nested_deeper_than_the_limit_is_400(storefront_client, settings):
    settings.API_MAX_JSON_DEPTH = 16
    body = '{"storeName": "MyShop", "x": ' + "[" * 16 + "]" * 16 + "}"

    response = storefront_client.post("/api/probe", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"] == "JSON nesting is deeper than 16 levels"


def test_json_nested_within_the_limit_is_parsed(storefront_client, settings):
    settings.API_MAX_JSON_DEPTH = 16
    body = '{"storeName": "MyShop", "x": ' + "[" * 15 + "]" * 15 + "}"

    response = storefront_client.post("/api/probe", data=body, content_type="application/json")

    assert response.status_code == 200
