"""The cart endpoints of API.md "Carts": exact bodies, credentials, store scoping, limits."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from carts.models import Cart
from carts.services import cart_mark_converted, store_key_revoke

ITEMS = [
    {"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks", "category": "apparel", "tags": ["sale"]},
    {"productId": 42, "quantity": 1, "price": 5, "variantId": "blue", "imageUrl": "https://cdn.example/p.png"},
]


def error(status_title, message, field=None, reason=None):
    body = {"status": "error", "error": status_title, "message": message}
    if field:
        body["details"] = {"field": field, "reason": reason}
    return body


def ms(moment):
    return int(moment.timestamp() * 1000)


# --- POST /cart/sync and /api/carts/sync ----------------------------------------------------


def test_first_sync_creates_the_cart_with_server_totals(storefront_client, store):
    # given a storefront cart whose client-side total is wrong
    body = {"session_token": "tok-1", "items": ITEMS, "total": 1, "item_count": 99}

    # when it syncs for the first time
    response = storefront_client.post("/cart/sync", body, format="json")

    # then one cart exists, with the server's total and count
    cart = Cart.objects.get()
    assert response.status_code == 201
    assert response.json() == {"created": True, "cart_id": str(cart.id)}
    assert cart.store == store
    assert cart.total == Decimal("29.50")
    assert cart.item_count == 3
    assert cart.currency == "EUR"
    assert cart.items == [
        {
            "productId": "sku-1",
            "quantity": 2,
            "price": 12.25,
            "title": "Socks",
            "category": "apparel",
            "tags": ["sale"],
        },
        {"productId": 42, "quantity": 1, "price": 5, "variantId": "blue", "imageUrl": "https://cdn.example/p.png"},
    ]


def test_later_sync_updates_the_same_cart(storefront_client):
    first = storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")
    cart_id = first.json()["cart_id"]

    response = storefront_client.post(
        "/api/carts/sync", {"session_token": "tok-1", "items": [ITEMS[1]], "user_id": "u-7"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"updated": True, "cart_id": cart_id}
    cart = Cart.objects.get()
    assert (cart.total, cart.item_count, cart.user_id) == (Decimal("5.00"), 1, "u-7")


def test_sync_records_customer_and_consent_with_when_and_how(storefront_client):
    customer = {
        "email": "Jane@Example.com",
        "phone": "+4915112345678",
        "first_name": "Jane",
        "last_name": "Doe",
        "marketing_consent": {"email": True, "whatsapp": False},
    }
    storefront_client.post(
        "/cart/sync", {"session_token": "tok-1", "items": ITEMS, "customer": customer}, format="json"
    )
    cart = Cart.objects.get()
    given_at = cart.email_consent_at
    assert (cart.email, cart.phone, cart.first_name, cart.last_name) == (
        "jane@example.com",
        "+4915112345678",
        "Jane",
        "Doe",
    )
    assert (cart.email_consent, cart.email_consent_source) == (True, "storefront:cart_sync")
    assert (cart.whatsapp_consent, cart.whatsapp_consent_source) == (False, "storefront:cart_sync")
    assert given_at is not None and cart.whatsapp_consent_at is not None

    # a later sync without customer leaves contact and consent alone
    storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")
    cart.refresh_from_db()
    assert (cart.email, cart.email_consent, cart.email_consent_at) == ("jane@example.com", True, given_at)

    # repeating the same answer keeps when it was first given; a change records anew
    storefront_client.post(
        "/api/carts/update",
        {"sessionId": "tok-1", "cart": {"items": ITEMS}},
        format="json",
    )
    storefront_client.post(
        "/cart/sync",
        {"session_token": "tok-1", "items": ITEMS, "customer": {"marketing_consent": {"email": True}}},
        format="json",
    )
    cart.refresh_from_db()
    assert cart.email_consent_at == given_at
    storefront_client.post(
        "/cart/sync",
        {"session_token": "tok-1", "items": ITEMS, "customer": {"marketing_consent": {"whatsapp": True}}},
        format="json",
    )
    cart.refresh_from_db()
    assert cart.whatsapp_consent is True
    assert cart.whatsapp_consent_at > given_at
    assert cart.email_consent_at == given_at


def test_sync_with_currency_and_empty_items(storefront_client):
    response = storefront_client.post(
        "/cart/sync", {"session_token": "tok-1", "items": [], "currency": "usd"}, format="json"
    )
    assert response.status_code == 201
    cart = Cart.objects.get()
    assert (cart.items, cart.total, cart.item_count, cart.currency) == ([], Decimal("0.00"), 0, "USD")


def test_convert_then_sync_starts_a_new_cart_and_the_old_one_keeps_its_items(storefront_client):
    first = storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")
    old_id = first.json()["cart_id"]
    assert cart_mark_converted(cart_id=old_id, order_reference="cs_1", amount=Decimal("29.50")) is True

    response = storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": [ITEMS[1]]}, format="json")

    assert response.status_code == 201
    new_id = response.json()["cart_id"]
    assert new_id != old_id
    old = Cart.objects.get(pk=old_id)
    assert (old.item_count, old.total, old.order_reference) == (3, Decimal("29.50"), "cs_1")
    converted_at = old.converted_at
    # the converted cart is never re-flagged
    assert cart_mark_converted(cart_id=old_id, order_reference="cs_2", amount=Decimal("1")) is False
    old.refresh_from_db()
    assert (old.converted_at, old.order_reference, old.order_amount) == (converted_at, "cs_1", Decimal("29.50"))
    assert Cart.objects.get(pk=new_id).item_count == 1


def test_remove_then_sync_starts_a_new_cart(storefront_client):
    first = storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")
    assert storefront_client.delete("/api/carts/tok-1").json() == {"success": True}

    response = storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")

    assert response.status_code == 201
    assert response.json()["cart_id"] != first.json()["cart_id"]
    assert Cart.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_racing_first_syncs_give_one_cart_and_one_201(store_keys):
    # given 20 threads, each with its own connection, released at once
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(20)
    statuses, ids, failures = [], [], []

    def sync():
        from django.db import connections

        try:
            client = APIClient()
            client.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
            barrier.wait()
            response = client.post("/cart/sync", {"session_token": "race", "items": ITEMS}, format="json")
            statuses.append(response.status_code)
            ids.append(response.json()["cart_id"])
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then one cart, exactly one 201, everyone got its id
    assert failures == []
    assert sorted(statuses) == [200] * 19 + [201]
    cart = Cart.objects.get()
    assert set(ids) == {str(cart.id)}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"items": []}, "session_token", None),
        ({"session_token": "t"}, "items", None),
        ({"session_token": "t", "items": [{"quantity": 1, "price": 1}]}, "items[0].productId", None),
        (
            {"session_token": "t", "items": [ITEMS[0], {"productId": "a", "quantity": 0, "price": 1}]},
            "items[1].quantity",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"session_token": "t", "items": [{"productId": "a", "quantity": 1000, "price": 1}]},
            "items[0].quantity",
            "Ensure this value is less than or equal to 999.",
        ),
        (
            {"session_token": "t", "items": [{"productId": "a", "quantity": "2", "price": 1}]},
            "items[0].quantity",
            "A valid integer is required.",
        ),
        (
            {"session_token": "t", "items": [{"productId": "a", "quantity": 1, "price": -1}]},
            "items[0].price",
            "Ensure this value is greater than or equal to 0.",
        ),
        (
            {"session_token": "t", "items": [{"productId": True, "quantity": 1, "price": 1}]},
            "items[0].productId",
            "Must be a string or a number",
        ),
        (
            {"session_token": "t", "items": [{"productId": "a", "quantity": 1, "price": 1, "tags": "x"}]},
            "items[0].tags",
            'Expected a list of items but got type "str".',
        ),
        (
            {
                "session_token": "t",
                "items": [{"productId": "a", "quantity": 1, "price": 1, "imageUrl": "ftp://example.com/p.png"}],
            },
            "items[0].imageUrl",
            "Must be an http(s) URL",
        ),
        (
            {"session_token": "t", "items": [{"productId": "a" * 129, "quantity": 1, "price": 1}]},
            "items[0].productId",
            "Must be at most 128 characters",
        ),
        (
            {"session_token": "x" * 129, "items": []},
            "session_token",
            "Ensure this field has no more than 128 characters.",
        ),
        (
            {"session_token": "t", "items": [{"productId": f"p{i}", "quantity": 1, "price": 1} for i in range(101)]},
            "items",
            "Ensure this field has no more than 100 elements.",
        ),
        (
            {"session_token": "t", "items": [], "customer": {"phone": "0151 123"}},
            "customer.phone",
            "Must be an E.164 phone number, e.g. +4915112345678",
        ),
        (
            {"session_token": "t", "items": [], "customer": {"email": "nope"}},
            "customer.email",
            "Enter a valid email address.",
        ),
        (
            {"session_token": "t", "items": [], "currency": "EURO"},
            "currency",
            "This value does not match the required pattern.",
        ),
    ],
)
def test_sync_rejects_invalid_bodies_naming_the_field(storefront_client, body, field, reason):
    response = storefront_client.post("/cart/sync", body, format="json")

    assert response.status_code == 400
    if reason is None:
        assert response.json() == error("Validation Error", f"{field} is required", field, "Field is required")
    else:
        assert response.json() == error("Validation Error", f"{field}: {reason}", field, reason)
    assert Cart.objects.count() == 0


def test_sync_rejects_malformed_json(storefront_client):
    response = storefront_client.post("/cart/sync", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == error("Validation Error", "Malformed JSON in request body")


def test_sync_rejects_a_total_the_cart_cannot_hold(storefront_client):
    items = [{"productId": f"p{i}", "quantity": 999, "price": 1_000_000} for i in range(20)]
    response = storefront_client.post("/cart/sync", {"session_token": "t", "items": items}, format="json")
    assert response.status_code == 400
    assert response.json() == error("Validation Error", "The cart total is too large", "items", "Total too large")


def test_sync_without_key_is_401(anonymous_client):
    response = anonymous_client.post("/cart/sync", {"session_token": "t", "items": []}, format="json")
    assert response.status_code == 401
    assert response.json() == error("Unauthorized", "Authentication credentials were not provided.")


def test_sync_with_revoked_key_is_401(storefront_client, store_keys):
    store_key_revoke(raw_key=store_keys.publishable_key)
    response = storefront_client.post("/cart/sync", {"session_token": "t", "items": []}, format="json")
    assert response.status_code == 401
    assert response.json() == error("Unauthorized", "Invalid or revoked API key")


def test_sync_naming_another_store_is_403(storefront_client, other_store):
    response = storefront_client.post(
        f"/cart/sync?store={other_store.name}", {"session_token": "t", "items": []}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == error("Forbidden", "This key belongs to another store", "store", "Store mismatch")


def test_sync_with_the_key_as_query_parameter_for_send_beacon(anonymous_client, store_keys):
    response = anonymous_client.post(
        f"/api/carts/sync?key={store_keys.publishable_key}", {"session_token": "t", "items": ITEMS}, format="json"
    )
    assert response.status_code == 201


# --- POST /api/carts/update (seed 002) ---------------------------------------------------------


def test_update_saves_the_seed_002_cart_with_server_totals(storefront_client):
    body = {"sessionId": "session-1", "cart": {"items": ITEMS, "total": 1000, "itemCount": 1}}

    response = storefront_client.post("/api/carts/update", body, format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    cart = Cart.objects.get(session_token="session-1")
    assert (cart.total, cart.item_count) == (Decimal("29.50"), 3)
    # the same cart as /cart/sync
    again = storefront_client.post("/cart/sync", {"session_token": "session-1", "items": ITEMS}, format="json")
    assert again.json() == {"updated": True, "cart_id": str(cart.id)}


def test_update_accepts_seed_002_items_with_id_and_name(storefront_client):
    body = {"sessionId": "s", "cart": {"items": [{"id": "p1", "name": "Mug", "quantity": 1, "price": 9.9}]}}
    assert storefront_client.post("/api/carts/update", body, format="json").status_code == 200
    assert Cart.objects.get().items == [{"productId": "p1", "quantity": 1, "price": 9.9, "title": "Mug"}]


def test_update_without_cart_is_400(storefront_client):
    response = storefront_client.post("/api/carts/update", {"sessionId": "s"}, format="json")
    assert response.status_code == 400
    assert response.json() == error("Validation Error", "cart is required", "cart", "Field is required")


def test_update_with_invalid_item_names_the_field(storefront_client):
    body = {"sessionId": "s", "cart": {"items": [{"productId": "a", "quantity": 1.5, "price": 1}]}}
    response = storefront_client.post("/api/carts/update", body, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"field": "cart.items[0].quantity", "reason": "A valid integer is required."}


def test_update_with_secret_key_is_allowed_and_without_key_401(merchant_client, anonymous_client):
    body = {"sessionId": "s", "cart": {"items": ITEMS}}
    assert merchant_client.post("/api/carts/update", body, format="json").status_code == 200
    assert anonymous_client.post("/api/carts/update", body, format="json").status_code == 401


# --- GET /api/carts/<sessionId> ----------------------------------------------------------------


def test_get_returns_the_open_cart(storefront_client):
    storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")
    cart = Cart.objects.get()

    response = storefront_client.get("/api/carts/tok-1")

    assert response.status_code == 200
    assert response.json() == {
        "sessionId": "tok-1",
        "cartId": str(cart.id),
        "items": cart.items,
        "total": 29.5,
        "itemCount": 3,
        "currency": "EUR",
        "lastUpdated": ms(cart.last_activity_at),
        "createdAt": ms(cart.created_at),
    }


def test_get_of_unknown_removed_or_other_store_session_is_404(storefront_client, make_cart, other_store):
    make_cart(session_token="gone", removed_at=timezone.now())
    make_cart(session_token="theirs", store=other_store)
    for token in ("nope", "gone", "theirs"):
        response = storefront_client.get(f"/api/carts/{token}")
        assert response.status_code == 404
        assert response.json() == error("Not Found", "No open cart for this session")


def test_get_without_key_401_and_revoked_401(anonymous_client, storefront_client, store_keys):
    assert anonymous_client.get("/api/carts/tok").status_code == 401
    store_key_revoke(raw_key=store_keys.publishable_key)
    response = storefront_client.get("/api/carts/tok")
    assert response.status_code == 401
    assert response.json() == error("Unauthorized", "Invalid or revoked API key")


# --- DELETE /api/carts/<sessionId> -------------------------------------------------------------


def test_delete_takes_the_cart_out_of_the_live_view_and_keeps_the_row(storefront_client, staff_client, store):
    storefront_client.post("/cart/sync", {"session_token": "tok-1", "items": ITEMS}, format="json")

    response = storefront_client.delete("/api/carts/tok-1")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    cart = Cart.objects.get()
    assert cart.removed_at is not None and cart.items and cart.item_count == 3
    assert staff_client.get(f"/api/carts/active?store={store.name}").json() == []


def test_delete_of_another_stores_session_is_404_and_leaves_it(storefront_client, make_cart, other_store):
    theirs = make_cart(session_token="theirs", store=other_store)
    response = storefront_client.delete("/api/carts/theirs")
    assert response.status_code == 404
    assert response.json() == error("Not Found", "No open cart for this session")
    theirs.refresh_from_db()
    assert theirs.removed_at is None


def test_delete_without_key_is_401(anonymous_client):
    assert anonymous_client.delete("/api/carts/tok").status_code == 401


# --- GET /api/carts/active ---------------------------------------------------------------------


def test_active_lists_live_carts_newest_first_in_seed_002_shape(staff_client, store, make_cart, other_store):
    older = make_cart(
        session_token="older", idle=timedelta(minutes=10), email="jane.doe@example.com", first_name="Jane"
    )
    newer = make_cart(session_token="newer", idle=timedelta(minutes=1), phone="+4915112345678", last_name="Doe")
    make_cart(session_token="stale", idle=timedelta(minutes=31))
    make_cart(session_token="converted", converted_at=timezone.now())
    make_cart(session_token="removed", removed_at=timezone.now())
    make_cart(session_token="theirs", store=other_store)

    response = staff_client.get(f"/api/carts/active?store={store.name}")

    assert response.status_code == 200

    def shape(cart, customer):
        return {
            "sessionId": cart.session_token,
            "items": cart.items,
            "total": float(cart.total),
            "itemCount": cart.item_count,
            "lastUpdated": ms(cart.last_activity_at),
            "createdAt": ms(cart.created_at),
            "shopId": "myshop.myshopify.com",
            "cartId": str(cart.id),
            "currency": "EUR",
            "customer": customer,
        }

    assert response.json() == [
        shape(newer, {"name": "D.", "email": "", "phone": "+***********78"}),
        shape(older, {"name": "Jane", "email": "j***@example.com", "phone": ""}),
    ]


def test_active_store_may_be_left_out_by_staff_of_one_store(staff_client, make_cart):
    make_cart(session_token="a")
    assert [c["sessionId"] for c in staff_client.get("/api/carts/active").json()] == ["a"]


def test_active_with_publishable_or_secret_key_is_403(storefront_client, merchant_client, store):
    for client in (storefront_client, merchant_client):
        response = client.get(f"/api/carts/active?store={store.name}")
        assert response.status_code == 403
        assert response.json() == error("Forbidden", "This credential may not call this endpoint")


def test_active_of_a_store_the_staff_user_is_not_member_of_is_403(staff_client, other_store):
    response = staff_client.get(f"/api/carts/active?store={other_store.name}")
    assert response.status_code == 403
    assert response.json() == error("Forbidden", "You are not a member of this store", "store", "Not a member")


def test_active_without_credentials_is_401(anonymous_client, store):
    response = anonymous_client.get(f"/api/carts/active?store={store.name}")
    assert response.status_code == 401
    assert response.json() == error("Unauthorized", "Authentication credentials were not provided.")


def test_active_is_not_taken_for_a_session_id(storefront_client, make_cart):
    # a storefront cannot read "active" as a session: the route belongs to staff
    make_cart(session_token="active")
    assert storefront_client.get("/api/carts/active").status_code == 403


def test_schema_describes_the_cart_endpoints(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    sync = paths["/cart/sync"]["post"]
    assert set(sync["responses"]) >= {"200", "201", "400", "401", "403"}
    assert "requestBody" in sync
    assert set(paths["/api/carts/{session_id}"]) == {"get", "delete"}
    assert "/api/carts/active" in paths and "/api/carts/update" in paths and "/api/carts/sync" in paths


def test_unknown_session_id_uuid_is_not_a_cart_id(storefront_client, make_cart):
    cart = make_cart(session_token="s1")
    assert storefront_client.get(f"/api/carts/{cart.id}").status_code == 404
    assert storefront_client.get(f"/api/carts/{uuid.uuid4()}").status_code == 404


STOREFRONT_CALLS = [
    ("post", "/cart/sync", {"session_token": "tok-1", "items": []}),
    ("post", "/api/carts/sync", {"session_token": "tok-1", "items": []}),
    ("post", "/api/carts/update", {"sessionId": "tok-1", "cart": {"items": []}}),
    ("get", "/api/carts/tok-1", None),
    ("delete", "/api/carts/tok-1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), STOREFRONT_CALLS)
def test_every_storefront_endpoint_refuses_missing_and_revoked_keys(
    anonymous_client, storefront_client, store_keys, method, path, body
):
    missing = getattr(anonymous_client, method)(path, body, format="json")
    assert missing.status_code == 401
    assert missing.json() == error("Unauthorized", "Authentication credentials were not provided.")
    store_key_revoke(raw_key=store_keys.publishable_key)
    revoked = getattr(storefront_client, method)(path, body, format="json")
    assert revoked.status_code == 401
    assert revoked.json() == error("Unauthorized", "Invalid or revoked API key")
    assert Cart.objects.count() == 0


@pytest.mark.parametrize(("method", "path", "body"), STOREFRONT_CALLS)
def test_every_storefront_endpoint_refuses_another_stores_name(
    storefront_client, other_store, make_cart, method, path, body
):
    make_cart(session_token="tok-1")
    response = getattr(storefront_client, method)(f"{path}?store={other_store.name}", body, format="json")
    assert response.status_code == 403
    assert response.json() == error("Forbidden", "This key belongs to another store", "store", "Store mismatch")


def test_staff_act_on_a_storefront_endpoint_for_a_named_store(staff_client, store):
    response = staff_client.post(
        f"/cart/sync?store={store.name}", {"session_token": "tok-1", "items": ITEMS}, format="json"
    )
    assert response.status_code == 201
    assert Cart.objects.get().store == store


def test_new_carts_over_the_stores_hourly_cap_are_429_and_updates_go_on(storefront_client, store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 2
    created = [
        storefront_client.post("/cart/sync", {"session_token": f"s-{i}", "items": ITEMS}, format="json")
        for i in range(3)
    ]
    update = storefront_client.post("/cart/sync", {"session_token": "s-0", "items": ITEMS[:1]}, format="json")

    assert [r.status_code for r in created] == [201, 201, 429]
    refused = created[2].json()
    assert refused == {
        "status": "error",
        "error": "Too Many Requests",
        "message": "This store has created too many carts this hour; try again later",
        "code": "RATE_LIMITED",
    }
    assert int(created[2]["Retry-After"]) >= 1
    assert update.status_code == 200
    assert sorted(Cart.objects.values_list("session_token", flat=True)) == ["s-0", "s-1"]
