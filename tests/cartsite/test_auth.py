"""API.md "Who calls": 401 for missing/unknown/revoked credentials, 403 for the wrong kind or store."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.services import store_key_revoke

pytestmark = pytest.mark.urls("tests.cartsite.probe_urls")

BODY = {"storeName": "MyShop"}
UNAUTHORIZED = {"status": "error", "error": "Unauthorized"}


def test_missing_credential_is_401(anonymous_client, store):
    response = anonymous_client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 401
    assert response.json() == {**UNAUTHORIZED, "message": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == 'Bearer realm="cartsite"'


def test_unknown_key_is_401(store):
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY="pk_not_a_real_key")

    response = client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 401
    assert response.json() == {**UNAUTHORIZED, "message": "Invalid or revoked API key"}


def test_revoked_key_stops_working_at_once(storefront_client, store_keys):
    assert storefront_client.post("/api/probe", data=BODY, format="json").status_code == 200

    store_key_revoke(raw_key=store_keys.publishable_key)
    response = storefront_client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 401
    assert response.json() == {**UNAUTHORIZED, "message": "Invalid or revoked API key"}


def test_publishable_key_in_query_parameter_for_beacons(store_keys):
    response = APIClient().post(f"/api/probe?key={store_keys.publishable_key}", data=BODY, format="json")

    assert response.status_code == 200
    assert response.json() == {"store": "myshop.myshopify.com", "carts": 0}


def test_secret_key_may_do_what_a_publishable_key_may(merchant_client):
    response = merchant_client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 200


def test_key_naming_another_store_is_403(storefront_client, other_store):
    response = storefront_client.post("/api/probe", data={"storeName": other_store.name}, format="json")

    assert response.status_code == 403
    assert response.json() == {
        "status": "error",
        "error": "Forbidden",
        "message": "This key belongs to another store",
        "details": {"field": "storeName", "reason": "Store mismatch"},
    }


def test_store_name_is_normalised_before_comparison(storefront_client):
    response = storefront_client.post(
        "/api/probe", data={"storeName": "https://MyShop.myshopify.com/admin"}, format="json"
    )

    assert response.status_code == 200


def test_staff_token_of_a_member_is_accepted(staff_client):
    response = staff_client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 200


def test_staff_of_another_store_is_403(staff_client, other_store):
    response = staff_client.post("/api/probe", data={"storeName": other_store.name}, format="json")

    assert response.status_code == 403
    assert response.json()["message"] == "You are not a member of this store"


def test_non_staff_user_is_403(store):
    user = get_user_model().objects.create_user("shopper", password="x-pass-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    response = client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_session_auth_requires_csrf(staff_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post("/api/probe", data=BODY, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_key_lookup_answers_the_store_as_the_orm_reads_it(store_keys, other_store_keys):
    from carts.auth import store_key_resolve
    from carts.models import Store, StoreKey

    key, store = store_key_resolve(store_keys.secret_key)

    expected = Store.objects.get(name=store_keys.store.name)
    assert store == expected
    assert [getattr(store, f.attname) for f in Store._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in Store._meta.concrete_fields
    ]
    assert key == StoreKey.objects.get(key_hash=StoreKey.digest(store_keys.secret_key))
    assert key.kind == StoreKey.Kind.SECRET
    assert store_key_resolve("sk_unknown") is None


def test_key_lookup_ignores_revoked_keys(store_keys):
    from carts.auth import store_key_resolve

    store_key_revoke(raw_key=store_keys.publishable_key)

    assert store_key_resolve(store_keys.publishable_key) is None
    assert store_key_resolve(store_keys.secret_key) is not None
