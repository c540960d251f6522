"""Content negotiation: JSON for what API clients send, DRF's rules (406) for everything else."""

import pytest

pytestmark = pytest.mark.urls("tests.cartsite.probe_urls")

BODY = {"storeName": "MyShop"}


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json "])
def test_plain_accept_headers_get_json(storefront_client, store, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = storefront_client.post("/api/probe", data=BODY, format="json", **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["store"] == store.name


@pytest.mark.parametrize("accept", ["application/json;q=0.9, text/html", "application/*"])
def test_other_accept_headers_that_allow_json_get_json(storefront_client, store, accept):
    response = storefront_client.post("/api/probe", data=BODY, format="json", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_client_that_accepts_only_html_gets_406(storefront_client, store):
    response = storefront_client.post("/api/probe", data=BODY, format="json", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json()["status"] == "error"


def test_an_unknown_format_override_is_refused(storefront_client, store):
    response = storefront_client.post("/api/probe?format=xml", data=BODY, format="json")

    assert response.status_code == 404
