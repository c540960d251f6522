"""Demo data for local use (`manage.py seed_demo`, DEMO_MODE only): stores with fixed keys.

The keys are public knowledge, so the demo refuses to run outside DEMO_MODE.
"""

from carts.models import Store, StoreKey
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
