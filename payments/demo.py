"""Demo payments data (`manage.py seed_demo`, DEMO_MODE only): plans and checkout sessions in every
state for the demo stores, so the admin list and the report page have something to show.

Idempotent: rows have fixed ids (uuid5) and plans fixed codes, so a second run creates nothing."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from carts.demo import demo_stores_ensure
from carts.models import Cart
from payments.models import CheckoutSession, Plan

DEMO_NAMESPACE = uuid.UUID("8f5b7a52-6a43-4f43-9f0e-2d0f3c1c5a10")

DEMO_PLANS = [
    ("starter", "Starter", Decimal("9.99"), Plan.Interval.ONE_OFF),
    ("pro-monthly", "Pro (monthly)", Decimal("19.00"), Plan.Interval.MONTH),
    ("pro-yearly", "Pro (yearly)", Decimal("190.00"), Plan.Interval.YEAR),
]

# (key, plan code, status, created hours ago, minutes to completion, attempts)
DEMO_SESSIONS = [
    ("completed-1", "starter", "completed", 50, 4, 1),
    ("completed-2", "pro-monthly", "completed", 30, 12, 2),
    ("completed-3", "pro-yearly", "completed", 75, 30, 1),
    ("completed-4", "pro-monthly", "completed", 100, 7, 1),
    ("pending-reminder", "pro-monthly", "pending", 8, None, 1),
    ("pending-fresh", "starter", "pending", 1, None, 1),
    ("expired-1", "pro-yearly", "expired", 60, None, 2),
    ("expired-2", "starter", "expired", 130, None, 3),
    ("failed-1", "pro-monthly", "failed", 20, None, 1),
    ("cancelled-1", "starter", "cancelled", 140, None, 1),
]


def demo_seed(*, stdout) -> None:
    now = timezone.now()
    created_count = 0
    for store in demo_stores_ensure():
        plans = {}
        for code, name, price, interval in DEMO_PLANS:
            plans[code], _ = Plan.objects.get_or_create(
                store=store,
                code=code,
                defaults={"name": name, "price": price, "currency": store.currency, "interval": interval},
            )
        for key, code, status, hours_ago, minutes_to_complete, attempts in DEMO_SESSIONS:
            plan = plans[code]
            created_at = now - timedelta(hours=hours_ago)
            _, created = CheckoutSession.objects.get_or_create(
                pk=uuid.uuid5(DEMO_NAMESPACE, f"{store.name}/{key}"),
                defaults={
                    "store": store,
                    "plan": plan,
                    "subscription_plan": plan.code,
                    "plan_price": plan.price,
                    "amount": plan.price,
                    "currency": plan.currency,
                    "user_id": f"demo-{key}",
                    "email": f"{key}@example.com",
                    "status": status,
                    "created_at": created_at,
                    "expires_at": created_at + timedelta(hours=24),
                    "completed_at": created_at + timedelta(minutes=minutes_to_complete)
                    if minutes_to_complete is not None
                    else None,
                    "attempts": attempts,
                    "metadata": {"demo": True},
                },
            )
            created_count += created
        cart = Cart.objects.open().filter(store=store, item_count__gt=0).order_by("created_at").first()
        if cart is None:
            continue
        try:
            with transaction.atomic():
                _, created = CheckoutSession.objects.get_or_create(
                    pk=uuid.uuid5(DEMO_NAMESPACE, f"{store.name}/cart/{cart.pk}"),
                    defaults={
                        "store": store,
                        "cart": cart,
                        "user_id": cart.user_id,
                        "email": cart.email,
                        "amount": cart.total,
                        "currency": cart.currency,
                        "created_at": now - timedelta(hours=2),
                        "expires_at": now + timedelta(hours=22),
                        "attempts": 1,
                        "metadata": {"demo": True},
                    },
                )
            created_count += created
        except IntegrityError:
            pass  # that cart has a real pending checkout already
    stdout.write(f"payments: {created_count} demo checkout session(s) created")
