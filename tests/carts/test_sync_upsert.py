"""cart_sync's one statement on PostgreSQL, outside any transaction (as a web request runs it):
one round trip, the fields a sync may change and the ones it must leave alone, the hourly cap."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carts import services
from carts.models import Cart
from carts.services import cart_mark_converted, cart_remove, cart_sync
from cartsite.errors import RateLimited

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
ITEM = {"productId": "sku-1", "quantity": 2, "price": Decimal("12.25")}


def test_a_create_and_an_update_are_one_statement_each_in_autocommit(store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 0
    assert connection.vendor == "postgresql" and not connection.in_atomic_block

    with CaptureQueriesContext(connection) as create:
        created = cart_sync(store=store, session_token="s", items=[ITEM], now=NOW)
    with CaptureQueriesContext(connection) as update:
        updated = cart_sync(store=store, session_token="s", items=[ITEM, ITEM], now=NOW + timedelta(minutes=1))

    assert [q["sql"].split(" ", 3)[:3] for q in create.captured_queries + update.captured_queries] == [
        ["INSERT", "INTO", '"carts_cart"'],
        ["INSERT", "INTO", '"carts_cart"'],
    ]
    assert (created.created, updated.created) == (True, False)
    assert created.cart_id == updated.cart_id
    cart = Cart.objects.get()
    assert (cart.id, cart.total, cart.item_count, cart.created_at, cart.last_activity_at) == (
        created.cart_id,
        Decimal("49.00"),
        4,
        NOW,
        NOW + timedelta(minutes=1),
    )


def test_an_update_changes_only_what_the_client_sent(store):
    customer = {
        "email": " Jane@Example.com ",
        "phone": "+4915112345678",
        "first_name": "Jane",
        "last_name": "Doe",
        "marketing_consent": {"email": True, "whatsapp": False},
    }
    first = cart_sync(
        store=store,
        session_token="s",
        items=[ITEM],
        user_id="u-1",
        currency="usd",
        customer=customer,
        source="storefront:a",
        now=NOW,
    )
    later = NOW + timedelta(hours=1)

    # a sync without user, currency or customer leaves them alone
    cart_sync(store=store, session_token="s", items=[], now=later)
    cart = Cart.objects.get()
    assert (cart.user_id, cart.currency, cart.email, cart.phone, cart.first_name, cart.last_name) == (
        "u-1",
        "USD",
        "jane@example.com",
        "+4915112345678",
        "Jane",
        "Doe",
    )
    assert (cart.items, cart.total, cart.item_count, cart.last_activity_at) == ([], Decimal("0.00"), 0, later)
    assert (cart.email_consent, cart.email_consent_at, cart.email_consent_source) == (True, NOW, "storefront:a")
    assert (cart.whatsapp_consent, cart.whatsapp_consent_at, cart.whatsapp_consent_source) == (
        False,
        NOW,
        "storefront:a",
    )

    # a repeated answer keeps when and how it was given, a changed one records anew; null is no answer
    cart_sync(
        store=store,
        session_token="s",
        items=[ITEM],
        user_id="u-2",
        currency="chf",
        customer={"last_name": "", "email": None, "marketing_consent": {"email": True, "whatsapp": True}},
        source="storefront:b",
        now=later,
    )
    cart = Cart.objects.get()
    assert cart.id == first.cart_id
    assert (cart.user_id, cart.currency, cart.email, cart.first_name, cart.last_name) == (
        "u-2",
        "CHF",
        "jane@example.com",
        "Jane",
        "",
    )
    assert (cart.email_consent, cart.email_consent_at, cart.email_consent_source) == (True, NOW, "storefront:a")
    assert (cart.whatsapp_consent, cart.whatsapp_consent_at, cart.whatsapp_consent_source) == (
        True,
        later,
        "storefront:b",
    )

    # withdrawing is a change too
    cart_sync(
        store=store,
        session_token="s",
        items=[ITEM],
        customer={"marketing_consent": {"email": False, "whatsapp": None}},
        source="storefront:c",
        now=later + timedelta(minutes=5),
    )
    cart = Cart.objects.get()
    assert (cart.email_consent, cart.email_consent_at, cart.email_consent_source) == (
        False,
        later + timedelta(minutes=5),
        "storefront:c",
    )
    assert (cart.whatsapp_consent, cart.whatsapp_consent_at) == (True, later)


def test_a_closed_cart_is_never_written_a_sync_after_it_creates_a_new_one(store):
    converted = cart_sync(store=store, session_token="s", items=[ITEM], now=NOW).cart_id
    assert cart_mark_converted(cart_id=converted, order_reference="cs_1", amount=Decimal("24.50"))

    second = cart_sync(store=store, session_token="s", items=[ITEM, ITEM], now=NOW)
    cart_remove(store=store, session_token="s")
    third = cart_sync(store=store, session_token="s", items=[], now=NOW)

    assert second.created and third.created
    assert len({converted, second.cart_id, third.cart_id}) == 3
    assert Cart.objects.get(pk=converted).item_count == 2
    assert Cart.objects.get(pk=second.cart_id).item_count == 4
    assert Cart.objects.open().get().id == third.cart_id


def test_a_creation_over_the_hourly_cap_leaves_no_cart_and_updates_go_on(store, other_store, settings):
    settings.CARTS_PER_STORE_PER_HOUR = 1
    kept = cart_sync(store=store, session_token="s-1", items=[ITEM])

    with pytest.raises(RateLimited) as refused:
        cart_sync(store=store, session_token="s-2", items=[ITEM])
    updated = cart_sync(store=store, session_token="s-1", items=[ITEM, ITEM])
    elsewhere = cart_sync(store=other_store, session_token="s-2", items=[ITEM])

    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) >= 1
    assert (updated.created, updated.cart_id, elsewhere.created) == (False, kept.cart_id, True)
    assert sorted(Cart.objects.values_list("store__name", "session_token", "item_count")) == [
        (store.name, "s-1", 4),
        (other_store.name, "s-2", 2),
    ]


def test_the_cap_is_counted_in_one_redis_round_trip_and_only_for_creations(store, settings, monkeypatch):
    import redis.connection

    settings.CARTS_PER_STORE_PER_HOUR = 100
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def send_packed_command(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_packed_command)
    cart_sync(store=store, session_token="s", items=[ITEM])
    creation = len(sent)
    cart_sync(store=store, session_token="s", items=[ITEM])

    assert (creation, len(sent)) == (1, 1)


def test_the_statement_is_built_once_per_shape_from_the_models_columns(store):
    services._cart_upsert_sql_cache.clear()
    cart_sync(store=store, session_token="a", items=[ITEM])
    cart_sync(store=store, session_token="b", items=[ITEM])
    cart_sync(store=store, session_token="a", items=[ITEM], customer={"email": "x@example.com"})

    assert len(services._cart_upsert_sql_cache) == 2
    sql = services._cart_upsert_sql(("items",), ("email",))
    columns = sql.split("(", 2)[1].split(")")[0]
    assert columns == ", ".join(f'"{f.column}"' for f in Cart._meta.concrete_fields)
    assert (
        '"email_consent_at" = CASE WHEN "carts_cart"."email_consent" = EXCLUDED."email_consent" '
        'THEN "carts_cart"."email_consent_at" ELSE EXCLUDED."email_consent_at" END'
    ) in sql
    assert sql.endswith('RETURNING "id", (xmax = 0) AS created')
