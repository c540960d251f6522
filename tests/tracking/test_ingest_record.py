"""Storing one event: one autocommit INSERT … ON CONFLICT (id) DO NOTHING RETURNING id, a new id
when the first is taken, a savepoint only inside an outer transaction, and SQLite (local
runserver) served by the same statement."""

import json
import logging
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from carts.models import Store
from tracking import services
from tracking.inputs import event_input_clean
from tracking.models import CartTrackingEvent

TRACK = "/api/cart-tracking/track"


def post(client, body):
    return client.post(TRACK, data=json.dumps(body), content_type="application/json")


@contextmanager
def statements(target=connection):
    """Every statement sent, with whether it ran in autocommit."""
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append({"sql": sql, "autocommit": target.get_autocommit(), "atomic": target.in_atomic_block})
        return execute(sql, params, many, context)

    with target.execute_wrapper(spy):
        yield seen


@pytest.mark.django_db(transaction=True)
def test_a_tracked_event_is_one_autocommit_insert_without_transaction_or_savepoint(storefront_client):
    with statements() as seen:
        response = post(storefront_client, {"storeName": "myshop", "productId": "p1"})

    assert response.status_code == 200
    # The key is checked by the insert itself: the whole request is this one statement.
    assert len(seen) == 1
    writes = [s for s in seen if "cart_tracking_events" in s["sql"]]
    assert len(writes) == 1
    assert writes[0]["sql"].startswith("WITH keyed AS (SELECT")
    assert 'INSERT INTO "cart_tracking_events"' in writes[0]["sql"]
    assert 'ON CONFLICT ("id") DO NOTHING RETURNING "id"' in writes[0]["sql"]
    assert writes[0]["autocommit"] is True and writes[0]["atomic"] is False
    assert not any("SAVEPOINT" in s["sql"] for s in seen)
    row = CartTrackingEvent.objects.get()
    assert row.id == response.json()["data"]["id"] and row.product_id == "p1"


@pytest.mark.django_db(transaction=True)
def test_a_taken_id_in_autocommit_is_retried_with_a_new_one(store, monkeypatch, caplog):
    first = services.event_record(store=store, event=event_input_clean({"storeName": "myshop"}))
    ids = iter([first.id, "cart-event-1700000000000-zzzzzzz"])
    monkeypatch.setattr("tracking.services.event_id_new", lambda at_ms=None: next(ids))

    with caplog.at_level(logging.WARNING, logger="tracking"):
        second = services.event_record(store=store, event=event_input_clean({"storeName": "myshop"}))

    assert second.id == "cart-event-1700000000000-zzzzzzz"
    assert CartTrackingEvent.objects.count() == 2
    assert [r.getMessage() for r in caplog.records] == ["tracking event id collision, retrying"]


def test_ids_taken_every_time_give_up_after_three_tries(store, monkeypatch):
    taken = services.event_record(store=store, event=event_input_clean({"storeName": "myshop"})).id
    monkeypatch.setattr("tracking.services.event_id_new", lambda at_ms=None: taken)

    with pytest.raises(IntegrityError, match="could not find a free event id"):
        services.event_record(store=store, event=event_input_clean({"storeName": "myshop"}))
    assert CartTrackingEvent.objects.count() == 1


def test_the_answer_carries_the_stored_id_and_time(store):
    recorded = services.event_record(
        store=store, event=event_input_clean({"storeName": "myshop", "sessionId": "s1"}), ip_address="2001:db8::1"
    )

    row = CartTrackingEvent.objects.get()
    assert (row.id, row.created_at, row.updated_at) == (recorded.id, recorded.created_at, recorded.created_at)
    assert row.ip_address == "2001:db8::1" and row.session_id == "s1" and row.store == store
    assert recorded.created_at.microsecond % 1000 == 0


def test_a_failing_insert_inside_an_outer_transaction_leaves_it_usable(store):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cart_tracking_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            services.event_record(store=store, event=event_input_clean({"storeName": "myshop"}))
        # the savepoint rolled back alone: the outer transaction still answers
        assert Store.objects.filter(pk=store.pk).exists()


@pytest.fixture
def sqlite_connection(monkeypatch):
    """An in-memory SQLite database with the stores and events tables, standing in for the
    default connection (what a local runserver without DATABASE_URL uses)."""
    settings = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "OPTIONS": {}}
    sqlite = SQLiteWrapper(settings)
    sqlite.connect()
    with sqlite.schema_editor() as editor:
        editor.create_model(Store)
        editor.create_model(CartTrackingEvent)
    monkeypatch.setattr(services, "connection", sqlite)
    yield sqlite
    sqlite.close()


def test_sqlite_stores_the_event_with_the_same_statement(store, sqlite_connection, monkeypatch):
    with sqlite_connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO "carts_store" ("id", "name", "currency", "recovery_url", "created_at")
            VALUES (%s, %s, %s, %s, %s)""",
            [store.pk, "x", "EUR", "", "2026-01-01 00:00:00"],
        )
    recorded = services.event_record(
        store=store, event=event_input_clean({"storeName": "myshop", "productId": 7}), ip_address="192.0.2.1"
    )
    # a taken id: nothing inserted, a new id tried
    ids = iter([recorded.id, "cart-event-1700000000000-sqlite1"])
    monkeypatch.setattr("tracking.services.event_id_new", lambda at_ms=None: next(ids))
    again = services.event_record(store=store, event=event_input_clean({"storeName": "myshop"}))

    with sqlite_connection.cursor() as cursor:
        cursor.execute('SELECT "id", "product_id", "ip_address", "has_generated_image" FROM "cart_tracking_events"')
        rows = sorted(cursor.fetchall())
    assert again.id == "cart-event-1700000000000-sqlite1"
    assert rows == sorted([(recorded.id, "7", "192.0.2.1", 0), (again.id, None, None, 0)])
