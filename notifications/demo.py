"""Demo data (DEMO_MODE, `manage.py seed_demo`): a few abandoned demo carts with a message log."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from carts.demo import demo_stores_ensure
from carts.models import Cart
from notifications.models import ReminderMessage

DEMO_CARTS = [
    # session token, first name, hours idle, messages (stage, channel, status, error)
    ("demo-reminder-anna", "Anna", 30, [(1, "email", "sent", ""), (1, "whatsapp", "sent", "")]),
    ("demo-reminder-ben", "Ben", 60, [(1, "email", "sent", ""), (2, "email", "sent", "")]),
    (
        "demo-reminder-chloe",
        "Chloe",
        27,
        [(1, "whatsapp", "failed", "[131026] Message undeliverable"), (1, "email", "sent", "")],
    ),
]


def demo_seed(*, stdout) -> None:
    """Creates the demo carts and their message rows once; running it again changes nothing."""
    store, _ = demo_stores_ensure()
    now = timezone.now()
    created = 0
    for token, first_name, idle_hours, messages in DEMO_CARTS:
        last_activity = now - timedelta(hours=idle_hours)
        items = [{"productId": "demo-tea", "title": "Ayurvedic tea", "quantity": 2, "price": 9.5}]
        cart = Cart.objects.filter(store=store, session_token=token).first()
        if cart is None:
            cart = Cart.objects.create(
                store=store,
                session_token=token,
                items=items,
                total=Decimal("19.00"),
                item_count=2,
                currency=store.currency,
                first_name=first_name,
                email=f"{first_name.lower()}@example.com",
                phone="+4915100000000",
                email_consent=True,
                whatsapp_consent=True,
                created_at=last_activity - timedelta(minutes=5),
                last_activity_at=last_activity,
            )
        for stage, channel, status, error in messages:
            sent_at = last_activity + timedelta(hours=24 if stage == 1 else 48)
            _, was_created = ReminderMessage.objects.get_or_create(
                cart=cart,
                stage=stage,
                channel=channel,
                defaults={
                    "store": store,
                    "status": status,
                    "attempts": 1,
                    "last_error": error,
                    "error_kind": "final" if error else "",
                    "provider_message_id": "" if error else f"demo-{token}-{stage}-{channel}",
                    "scheduled_at": sent_at,
                    "attempted_at": sent_at,
                    "sent_at": sent_at if status == "sent" else None,
                },
            )
            created += int(was_created)
    stdout.write(f"notifications: {created} demo reminder messages created")
