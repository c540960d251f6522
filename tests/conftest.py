"""Shared fixtures: stores with keys, the three kinds of caller, and a cart factory."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from redis.connection import Connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.models import Cart, StoreMembership
from carts.services import store_create
from tests.browser import browser_context, browser_page, chromium_browser  # noqa: F401 (fixtures)

# Keys a SCAN of the cleanup reads at a time. The scan walks every key of the Redis database, this
# run's and any other's; at django-redis's default of 10 a cleanup took 0.65 s with 47,000 keys
# of another process in the database, 37 ms at this size.
CLEANUP_SCAN_SIZE = 10_000


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with an empty cache (rate-limit counters, locks) in this run's key space."""
    cache.delete_pattern("*", itersize=CLEANUP_SCAN_SIZE)
    yield
    cache.delete_pattern("*", itersize=CLEANUP_SCAN_SIZE)


@pytest.fixture
def redis_round_trips(monkeypatch):
    """What the Redis connections sent, one entry a round trip (the commands still go to Redis)."""
    sent = []
    original = Connection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent


@pytest.fixture
def store_keys(db):
    return store_create(name="MyShop", currency="EUR", origins=["https://myshop.example"])


@pytest.fixture
def store(store_keys):
    return store_keys.store


@pytest.fixture
def other_store_keys(db):
    return store_create(name="other-shop.example.com", currency="USD")


@pytest.fixture
def other_store(other_store_keys):
    return other_store_keys.store


@pytest.fixture
def storefront_client(store_keys):
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=store_keys.publishable_key)
    return client


@pytest.fixture
def merchant_client(store_keys):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {store_keys.secret_key}")
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def staff_user(store):
    user = get_user_model().objects.create_user("staffer", password="staff-pass-123", is_staff=True)
    StoreMembership.objects.create(user=user, store=store)
    return user


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return client


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "boss-pass-123")


@pytest.fixture
def make_cart(store):
    """Creates a cart row directly (the API path is tested in tests/carts)."""

    def factory(**fields):
        items = fields.pop("items", [{"productId": "sku-1", "quantity": 2, "price": 12.25, "title": "Socks"}])
        idle = fields.pop("idle", None)
        now = timezone.now()
        last_activity = fields.pop("last_activity_at", now - idle if idle is not None else now)
        defaults = {
            "store": store,
            "session_token": f"session-{uuid.uuid4().hex}",
            "items": items,
            "total": sum(Decimal(str(i["price"])) * i["quantity"] for i in items),
            "item_count": sum(i["quantity"] for i in items),
            "currency": "EUR",
            "created_at": min(last_activity, now) - timedelta(minutes=1),
            "last_activity_at": last_activity,
        }
        defaults.update(fields)
        return Cart.objects.create(**defaults)

    return factory
