"""Plans, checkout sessions (seed 004's payment_checkout_sessions, tied to carts), the Stripe
events we received, and the subscriptions a completed plan purchase activates.

State rules live in the database: one pending session per (store, user, plan) and one per cart
(partial unique constraints), status moves only forward by conditional UPDATEs in services, and a
Stripe event is stored once by its Stripe id.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from carts.models import Cart, Store


class Plan(models.Model):
    """Something a customer can buy outside a cart: its price comes from here, never from a browser."""

    class Interval(models.TextChoices):
        ONE_OFF = "one_off", "One-off"
        DAY = "day", "Daily"
        WEEK = "week", "Weekly"
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="plans")
    code = models.SlugField(max_length=50, help_text="What clients send as `plan`, e.g. pro-monthly")
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    stripe_price_id = models.CharField(
        max_length=255, blank=True, default="", help_text="A Stripe Price (price_…); empty: price_data from here"
    )
    interval = models.CharField(max_length=16, choices=Interval.choices, default=Interval.ONE_OFF)
    active = models.BooleanField(default=True, help_text="Inactive plans cannot be bought any more")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["store", "code"]
        constraints = [
            models.UniqueConstraint(fields=["store", "code"], name="payments_plan_code_per_store"),
            models.CheckConstraint(condition=Q(price__gte=0), name="payments_plan_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.code} ({self.store_id})"

    @property
    def is_recurring(self) -> bool:
        return self.interval != self.Interval.ONE_OFF


PENDING = Q(status="pending")


class CheckoutSession(models.Model):
    """One payment attempt series for a plan or a cart (seed 004), linked to its Stripe session."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = (Status.COMPLETED, Status.EXPIRED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="checkout_sessions")
    cart = models.ForeignKey(Cart, on_delete=models.SET_NULL, null=True, blank=True, related_name="checkout_sessions")
    user_id = models.CharField(max_length=255, blank=True, default="", help_text="The shop's own customer id")
    email = models.EmailField(max_length=255, blank=True, default="")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="checkout_sessions")
    subscription_plan = models.CharField(max_length=50, blank=True, default="", help_text="The plan code (seed 004)")
    plan_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="What the customer is charged")
    currency = models.CharField(max_length=3)
    payment_provider = models.CharField(max_length=50, default="stripe")
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_session_url = models.URLField(max_length=2000, blank=True, default="")
    stripe_session_expires_at = models.DateTimeField(null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Checkout attempts (Stripe sessions asked for)")
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "user_id", "plan"],
                condition=Q(PENDING, plan__isnull=False),
                name="payments_one_pending_per_user_plan",
            ),
            models.UniqueConstraint(
                fields=["cart"], condition=Q(PENDING, cart__isnull=False), name="payments_one_pending_per_cart"
            ),
            models.CheckConstraint(
                condition=Q(plan__isnull=False) | Q(cart__isnull=False) | ~PENDING,
                name="payments_pending_has_plan_or_cart",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="payments_completed_has_completed_at",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payments_amount_not_negative"),
        ]
        indexes = [
            # Seed 004's indexes; the Stripe session lookup is the unique constraint's index.
            models.Index(fields=["store", "user_id", "-created_at"], name="payments_cs_user_id"),
            models.Index(fields=["email"], name="payments_cs_email"),
            models.Index(fields=["status", "created_at"], name="payments_cs_status"),
            models.Index(fields=["created_at", "id"], condition=PENDING, name="payments_cs_pending"),
            models.Index(fields=["expires_at"], condition=PENDING, name="payments_cs_expired"),
            models.Index(fields=["completed_at"], condition=Q(status="completed"), name="payments_cs_completed"),
            models.Index(fields=["store", "created_at"], name="payments_cs_store_created"),
        ]

    def __str__(self):
        return f"checkout {self.id} ({self.status})"

    @property
    def stripe_session_is_open(self) -> bool:
        return bool(
            self.stripe_session_url
            and self.stripe_session_expires_at
            and self.stripe_session_expires_at > timezone.now()
            and self.status == self.Status.PENDING
        )


class StripeEvent(models.Model):
    """Every webhook event, stored once by its Stripe id (the duplicate delivery guard)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["type", "-received_at"], name="payments_event_type"),
            models.Index(fields=["received_at"], condition=Q(status="failed"), name="payments_event_failed"),
        ]

    def __str__(self):
        return f"{self.type} {self.stripe_id}"


class Subscription(models.Model):
    """A customer's plan, activated by a completed plan purchase (seed 004: "update user subscription")."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELLED = "cancelled", "Cancelled"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="subscriptions")
    user_id = models.CharField(max_length=255)
    email = models.EmailField(max_length=255, blank=True, default="")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(default=timezone.now)
    checkout_session = models.ForeignKey(
        CheckoutSession, on_delete=models.SET_NULL, null=True, blank=True, related_name="subscriptions"
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    stripe_subscription_id = models.CharField(
        max_length=255, blank=True, default="", db_index=True, help_text="Stripe's sub_… for recurring plans"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "user_id", "plan"], name="payments_one_subscription_per_plan")
        ]

    def __str__(self):
        return f"{self.user_id} on {self.plan.code} ({self.status})"
