"""Demo tracking events (`manage.py seed_demo`, DEMO_MODE only) for the demo stores.

Events are spread over the last 30 days and use the demo carts' session tokens (`demo-000` …),
so the analytics show converted sessions. Idempotent: a run replaces the previous run's demo
events (recognised by their user agent), so the count stays the same and the dates stay recent.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from carts.demo import demo_stores_ensure
from tracking.models import CartTrackingEvent, event_id_new

DEMO_USER_AGENT = "Mozilla/5.0 (cartsite demo)"
DEMO_EVENTS_PER_STORE = 120
DEMO_SESSIONS = 28
DEMO_PRODUCTS = [
    ("8100000001", "Linen shirt", "linen-shirt"),
    ("8100000002", "Wool coat", "wool-coat"),
    ("8100000003", "Summer dress", "summer-dress"),
    ("8100000004", "Denim jacket", "denim-jacket"),
    ("8100000005", "Silk scarf", "silk-scarf"),
    ("8100000006", "Chino trousers", "chino-trousers"),
]
DEMO_PEOPLE = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), (None, None)]


def _demo_events(store, rng: random.Random, now) -> list[CartTrackingEvent]:
    rows = []
    for _ in range(DEMO_EVENTS_PER_STORE):
        created_at = now - timedelta(days=rng.uniform(0, 29.5))
        created_at = created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
        product_id, title, handle = rng.choice(DEMO_PRODUCTS)
        session = rng.randrange(DEMO_SESSIONS)
        first_name, last_name = DEMO_PEOPLE[session % len(DEMO_PEOPLE)]
        generated = rng.random() < 0.6
        rows.append(
            CartTrackingEvent(
                id=event_id_new(int(created_at.timestamp() * 1000)),
                store=store,
                store_name=store.name,
                product_id=product_id,
                product_title=title,
                product_url=f"https://{store.name}/products/{handle}",
                variant_id=f"{product_id}-{rng.randint(1, 3)}",
                customer_email=f"{first_name.lower()}+{session}@example.com" if first_name else None,
                customer_first_name=first_name,
                customer_last_name=last_name,
                generated_image_url=f"https://images.example.com/generated/{session}-{handle}.png"
                if generated
                else None,
                person_image_url=f"https://images.example.com/person/{session}.png" if generated else None,
                clothing_image_url=f"https://images.example.com/clothing/{handle}.png",
                user_agent=DEMO_USER_AGENT,
                session_id=f"demo-{session:03d}",
                ip_address=f"192.0.2.{session + 1}",
                created_at=created_at,
                updated_at=created_at,
            )
        )
    return rows


def demo_seed(*, stdout) -> None:
    """Replaces the demo stores' demo events with a fresh set (see the module docstring)."""
    now = timezone.now()
    for store in demo_stores_ensure():
        rng = random.Random(f"tracking:{store.name}")
        with transaction.atomic():
            CartTrackingEvent.objects.filter(store_name=store.name, user_agent=DEMO_USER_AGENT).delete()
            CartTrackingEvent.objects.bulk_create(_demo_events(store, rng, now))
        stdout.write(f"{store.name}: {DEMO_EVENTS_PER_STORE} demo tracking events\n")
