"""Stores, their credentials and staff, and the one Cart row every other app reads.

A cart is *open* while it is neither converted nor removed; there is exactly one open cart per
(store, session token), enforced by a partial unique index. Its status (active, idle, abandoned,
converted, removed) is derived from timestamps, never stored a second time.
"""

import hashlib
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Store(models.Model):
    name = models.CharField(max_length=253, unique=True, help_text="Normalised host name, e.g. myshop.myshopify.com")
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217 code of prices in this store")
    recovery_url = models.URLField(
        blank=True, help_text="Where recovery links send the customer; default https://<store name>/cart"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def effective_recovery_url(self) -> str:
        return self.recovery_url or f"https://{self.name}/cart"


class StoreOrigin(models.Model):
    """A browser origin (scheme://host[:port]) allowed to call the storefront endpoints (CORS)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="origins")
    origin = models.CharField(max_length=255, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "origin"], name="carts_store_origin_unique")]

    def __str__(self):
        return self.origin


class StoreKey(models.Model):
    """A publishable (`pk_…`) or secret (`sk_…`) key. Only a SHA-256 of the key is stored:
    keys are long random strings, so a plain digest is enough to make a leaked table useless."""

    class Kind(models.TextChoices):
        PUBLISHABLE = "publishable", "Publishable"
        SECRET = "secret", "Secret"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="keys")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=32, editable=False, help_text="Start and end of the key, to recognise it")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["store", "kind", "-created_at"]

    def __str__(self):
        return f"{self.hint} ({self.get_kind_display().lower()}{', revoked' if self.revoked_at else ''})"

    @staticmethod
    def digest(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class StoreMembership(models.Model):
    """A staff user's access to one store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "user"], name="carts_membership_unique")]

    def __str__(self):
        return f"{self.user} @ {self.store}"


OPEN_CART = Q(converted_at__isnull=True, removed_at__isnull=True)


class CartQuerySet(models.QuerySet):
    def open(self):
        return self.filter(OPEN_CART)

    def live(self, *, now=None):
        """Open carts active within CART_LIVE_WINDOW_MINUTES."""
        now = now or timezone.now()
        return self.open().filter(last_activity_at__gte=now - timedelta(minutes=settings.CART_LIVE_WINDOW_MINUTES))

    def abandoned(self, *, now=None, after_hours=None):
        """Open carts with items, idle for longer than ABANDONED_AFTER_HOURS."""
        now = now or timezone.now()
        hours = settings.ABANDONED_AFTER_HOURS if after_hours is None else after_hours
        return self.open().filter(item_count__gt=0, last_activity_at__lt=now - timedelta(hours=hours))

    def with_status(self, status: str, *, now=None):
        now = now or timezone.now()
        if status == Cart.Status.CONVERTED:
            return self.filter(converted_at__isnull=False)
        if status == Cart.Status.REMOVED:
            return self.filter(converted_at__isnull=True, removed_at__isnull=False)
        if status == Cart.Status.ABANDONED:
            return self.abandoned(now=now)
        if status == Cart.Status.ACTIVE:
            return self.live(now=now)
        if status == Cart.Status.IDLE:
            live_since = now - timedelta(minutes=settings.CART_LIVE_WINDOW_MINUTES)
            abandoned_before = now - timedelta(hours=settings.ABANDONED_AFTER_HOURS)
            return (
                self.open()
                .filter(last_activity_at__lt=live_since)
                .exclude(item_count__gt=0, last_activity_at__lt=abandoned_before)
            )
        return self.none()


class Cart(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        IDLE = "idle", "Idle"
        ABANDONED = "abandoned", "Abandoned"
        CONVERTED = "converted", "Converted"
        REMOVED = "removed", "Removed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="carts")
    session_token = models.CharField(max_length=128)
    user_id = models.CharField(max_length=255, blank=True, default="", help_text="The shop's own customer id, if known")

    items = models.JSONField(default=list, blank=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    item_count = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3)

    email = models.EmailField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=16, blank=True, default="", help_text="E.164, e.g. +4915112345678")
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    email_consent_source = models.CharField(max_length=64, blank=True, default="")
    whatsapp_consent = models.BooleanField(default=False)
    whatsapp_consent_at = models.DateTimeField(null=True, blank=True)
    whatsapp_consent_source = models.CharField(max_length=64, blank=True, default="")

    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    converted_at = models.DateTimeField(null=True, blank=True)
    order_reference = models.CharField(max_length=255, blank=True, default="")
    order_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = CartQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "session_token"], condition=OPEN_CART, name="carts_one_open_cart_per_session"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="carts_total_not_negative"),
        ]
        indexes = [
            # Live view: open carts of one store, newest activity first.
            models.Index(fields=["store", "-last_activity_at"], condition=OPEN_CART, name="carts_open_by_activity"),
            # Abandoned scan (all stores, keyset by id): open carts with items by activity.
            models.Index(
                fields=["last_activity_at", "id"],
                condition=Q(OPEN_CART, item_count__gt=0),
                name="carts_abandon_scan",
            ),
            models.Index(fields=["store", "created_at"], name="carts_store_created"),
            # The abandoned-carts report also reads `carts_report_range` (store_id, created_at)
            # INCLUDE (item_count, total, last_activity_at, converted_at, removed_at) WHERE
            # item_count > 0, and the column `item_groups`, kept by a trigger from `items`: both
            # exist on PostgreSQL only and are created by migration 0003, not declared here.
            # Tracking analytics (convertedSessions): the session tokens of a store's converted carts.
            models.Index(
                fields=["store", "session_token"],
                condition=Q(converted_at__isnull=False),
                name="carts_converted_session",
            ),
            models.Index(fields=["store", "email"], name="carts_store_email"),
            models.Index(fields=["user_id"], name="carts_user_id"),
            # Admin: the changelist's default order and date hierarchy, and search by e-mail or token.
            models.Index(fields=["created_at"], name="carts_created"),
            models.Index(fields=["email"], condition=~Q(email=""), name="carts_email"),
            models.Index(fields=["session_token"], name="carts_session_token"),
        ]

    def __str__(self):
        return f"cart {self.id} ({self.store_id})"

    def status_at(self, now) -> str:
        if self.converted_at:
            return self.Status.CONVERTED
        if self.removed_at:
            return self.Status.REMOVED
        idle_for = now - self.last_activity_at
        if self.item_count > 0 and idle_for > timedelta(hours=settings.ABANDONED_AFTER_HOURS):
            return self.Status.ABANDONED
        if idle_for <= timedelta(minutes=settings.CART_LIVE_WINDOW_MINUTES):
            return self.Status.ACTIVE
        return self.Status.IDLE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    @property
    def is_open(self) -> bool:
        return self.converted_at is None and self.removed_at is None


class AbandonedCartsReport(Cart):
    """Not data: the admin index entry for the abandoned-carts report page."""

    class Meta:
        proxy = True
        verbose_name = "abandoned carts report"
        verbose_name_plural = "abandoned carts report"


class LiveCarts(Cart):
    """Not data: the admin index entry for the live-carts page."""

    class Meta:
        proxy = True
        verbose_name = "live carts"
        verbose_name_plural = "live carts"
