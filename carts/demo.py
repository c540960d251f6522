"""Demo data for local use (`manage.py seed_demo`, DEMO_MODE only): stores with fixed keys.

The keys are public knowledge, so the demo refuses to run outside DEMO_MODE.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from carts.models import Cart, Store, StoreKey
from carts.services import store_create, store_key_issue

DEMO_STORE_NAME = "demo-shop.myshopify.com"
DEMO_PUBLISHABLE_KEY = "pk_demo_cartsite_publishable_key_0001"
DEMO_SECRET_KEY = "sk_demo_cartsite_secret_key_0001"
DEMO_SECOND_STORE_NAME = "second-shop.example.com"


def demo_stores_ensure() -> tuple[Store, Store]:
    """The two demo stores, created once; the first with the fixed demo keys."""
    stores = []
    for name, currency in ((DEMO_STORE_NAME, "EUR"), (DEMO_SECOND_STORE_NAME, "USD")):
        store = Store.objects.filter(name=name).first()
        if store is None:
            store = store_create(
                name=name, currency=currency, origins=["http://localhost:8000", "http://127.0.0.1:8000"]
            ).store
        stores.append(store)
    store_key_issue(store=stores[0], kind=StoreKey.Kind.PUBLISHABLE, raw_key=DEMO_PUBLISHABLE_KEY)
    store_key_issue(store=stores[0], kind=StoreKey.Kind.SECRET, raw_key=DEMO_SECRET_KEY)
    return stores[0], stores[1]


# --- demo carts -------------------------------------------------------------------------------

DEMO_PRODUCTS = [
    # (productId, title, price, category, tags)
    ("tee-classic", "Classic tee", Decimal("19.90"), "apparel", ["cotton", "bestseller"]),
    ("hoodie-zip", "Zip hoodie", Decimal("54.00"), "apparel", ["winter"]),
    ("socks-3pack", "Socks, 3 pairs", Decimal("12.25"), "apparel", ["sale"]),
    ("mug-enamel", "Enamel mug", Decimal("14.50"), "kitchen", ["gift"]),
    ("kettle-steel", "Steel kettle", Decimal("79.00"), "kitchen", []),
    ("candle-fig", "Fig candle", Decimal("24.00"), "home", ["gift", "sale"]),
    ("poster-a2", "Poster A2", Decimal("29.00"), None, []),
    ("notebook-dot", "Dotted notebook", Decimal("9.80"), "stationery", ["bestseller"]),
]
DEMO_PEOPLE = [
    ("Jane", "Doe", "jane.doe@example.com", "+4915112345678"),
    ("Omar", "Haddad", "omar@example.com", ""),
    ("Li", "Wei", "", "+8613800138000"),
    ("Ana", "Souza", "ana.souza@example.com", "+5511912345678"),
]
DEMO_CARTS_PER_STORE = 240


def _demo_items(rng: random.Random) -> list[dict]:
    items = []
    for product_id, title, price, category, tags in rng.sample(DEMO_PRODUCTS, rng.randint(1, 4)):
        item = {"productId": product_id, "quantity": rng.randint(1, 3), "price": float(price), "title": title}
        if category:
            item["category"] = category
        if tags:
            item["tags"] = tags
        items.append(item)
    return items


def _demo_cart_fields(rng: random.Random, index: int, now) -> dict:
    """One demo cart; the state cycles so that every status is present in both stores."""
    state = ("active", "idle", "abandoned", "abandoned", "converted", "removed", "empty")[index % 7]
    items = [] if state == "empty" else _demo_items(rng)
    total = sum(Decimal(str(i["price"])) * i["quantity"] for i in items)
    if state == "active":
        last_activity = now - timedelta(minutes=rng.randint(0, 25))
    elif state == "idle":
        last_activity = now - timedelta(hours=rng.uniform(1, 20))
    else:
        last_activity = now - timedelta(days=rng.uniform(1.1, 29))
    fields = {
        "items": items,
        "total": total,
        "item_count": sum(i["quantity"] for i in items),
        "created_at": last_activity - timedelta(minutes=rng.randint(1, 90)),
        "last_activity_at": last_activity,
        "user_id": f"demo-user-{index}" if index % 5 == 0 else "",
        "converted_at": None,
        "order_reference": "",
        "order_amount": None,
        "removed_at": None,
    }
    if state == "converted":
        fields.update(
            converted_at=last_activity + timedelta(minutes=5), order_reference=f"cs_demo_{index}", order_amount=total
        )
    if state == "removed":
        fields["removed_at"] = last_activity + timedelta(minutes=2)
    if index % 3 != 2:  # two carts in three have a contact
        first_name, last_name, email, phone = DEMO_PEOPLE[index % len(DEMO_PEOPLE)]
        consent_at = fields["created_at"]
        fields.update(
            first_name=first_name,
            last_name=last_name,
            email=email.replace("@", f"+{index}@") if email else "",
            phone=phone,
            email_consent=bool(email) and index % 2 == 0,
            email_consent_at=consent_at if email else None,
            email_consent_source="demo" if email else "",
            whatsapp_consent=bool(phone) and index % 4 != 3,
            whatsapp_consent_at=consent_at if phone else None,
            whatsapp_consent_source="demo" if phone else "",
        )
    return fields


def demo_seed(*, stdout) -> None:
    """Demo carts in every state (active, idle, abandoned, converted, removed, empty; with and
    without contact and consent, with categories and tags) in both demo stores.

    Idempotent: the carts have fixed session tokens and are reset relative to now on each run,
    so the live page and the report look alive whenever the command is run again."""
    now = timezone.now()
    for store in demo_stores_ensure():
        rng = random.Random(store.name)
        with transaction.atomic():
            for index in range(DEMO_CARTS_PER_STORE):
                fields = {"currency": store.currency, **_demo_cart_fields(rng, index, now)}
                Cart.objects.update_or_create(store=store, session_token=f"demo-{index:03d}", defaults=fields)
        counts = {status: Cart.objects.filter(store=store).with_status(status).count() for status in Cart.Status}
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        stdout.write(f"{store.name}: {DEMO_CARTS_PER_STORE} demo carts ({summary})\n")
