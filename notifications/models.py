"""The reminder message log, unsubscribes and the attribution of conversions to reminders.

One `ReminderMessage` row per (cart, stage, channel), ever: the unique constraint is what makes two
concurrent sweeps send each message once (the row is claimed before the send). The seed's JSON
metadata (`firstSent`, `firstSentAt`, `firstError` …) is derived from these rows by a selector.
"""

import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone

from carts.models import Cart, Store


def contact_normalise(kind: str, value: str) -> str:
    """E-mail: trimmed and lower-cased; phone: E.164 digits with a leading +."""
    value = (value or "").strip()
    if kind == Suppression.Kind.EMAIL:
        return value.lower()
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"+{digits}" if digits else ""


def contact_hash(kind: str, value: str) -> str:
    """SHA-256 of the normalised contact ('' when there is none): only hashes are stored."""
    normalised = contact_normalise(kind, value)
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else ""


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    EMAIL = "email", "E-mail"


class ReminderMessage(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class ErrorKind(models.TextChoices):
        NONE = "", "—"
        RETRY = "retry", "Retry later"
        FINAL = "final", "Never retry"
        ALERT = "alert", "Alert (configuration), retry later"

    class SkipReason(models.TextChoices):
        NONE = "", "—"
        HOLDOUT = "holdout", "Held out (control group)"
        CONVERTED = "converted", "Cart converted or removed before delivery"

    # No single-column indexes on the two keys: the unique (cart, stage, channel) and the index
    # (store, channel, recipient_hash, attempted_at) start with them and serve every look-up by
    # cart or store, and each index costs the sweep's batch claim a write per message.
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="reminder_messages", db_index=False)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reminder_messages", db_index=False)
    stage = models.PositiveSmallIntegerField(choices=[(1, "First"), (2, "Second")])
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    error_kind = models.CharField(max_length=8, choices=ErrorKind.choices, blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    # SHA-256 of the normalised e-mail or phone the message went to: the frequency cap across carts.
    recipient_hash = models.CharField(max_length=64, blank=True, default="")
    scheduled_at = models.DateTimeField(default=timezone.now)
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True, help_text="First click on the recovery link")
    click_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "stage", "channel"], name="notifications_one_message_per_stage"),
            models.CheckConstraint(condition=Q(stage__in=[1, 2]), name="notifications_stage_1_or_2"),
        ]
        indexes = [
            # Frequency cap: recent messages to one recipient on one channel of one store (the
            # query keeps the statuses that count). Not partial, so that its first column also
            # serves every read of one store's messages (statistics, daily series, the admin's
            # store filter, a store's deletion): one index where there were two.
            models.Index(
                fields=["store", "channel", "recipient_hash", "attempted_at"], name="notifications_cap_lookup"
            ),
            # Claimed and not yet delivered: the delivery step pages through these, oldest claim first.
            models.Index(
                fields=["attempted_at", "id"], condition=Q(status="scheduled"), name="notifications_undelivered"
            ),
        ]

    def __str__(self):
        return f"stage {self.stage} {self.channel} for cart {self.cart_id}: {self.status}"


class Suppression(models.Model):
    """An unsubscribed e-mail address or phone number of one store (only its hash is kept)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        PHONE = "phone", "Phone"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="suppressions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value_hash = models.CharField(max_length=64)
    reason = models.CharField(max_length=64, blank=True, default="unsubscribe")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "kind", "value_hash"], name="notifications_suppression_unique")
        ]

    def __str__(self):
        return f"{self.kind} {self.value_hash[:12]}… @ {self.store_id}"


class CartOutcome(models.Model):
    """Per cart: held out or not, and whether a conversion is credited to a reminder.

    Written set-based by `attribution_refresh()` and by the sweep (holdout membership).
    """

    cart = models.OneToOneField(Cart, on_delete=models.CASCADE, primary_key=True, related_name="reminder_outcome")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="reminder_outcomes")
    holdout = models.BooleanField(default=False)
    holdout_at = models.DateTimeField(null=True, blank=True, help_text="When stage 1 would have been sent")
    holdout_converted = models.BooleanField(default=False)
    recovered = models.BooleanField(default=False)
    recovered_at = models.DateTimeField(null=True, blank=True)
    credited_stage = models.PositiveSmallIntegerField(null=True, blank=True)
    credited_channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    revenue = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["store", "recovered"], name="notifications_outcome_store")]

    def __str__(self):
        return f"outcome of cart {self.cart_id}"


class RemindedCart(Cart):
    """Carts as the reminder admin shows them (with the seed's derived metadata)."""

    class Meta:
        proxy = True
        verbose_name = "cart reminder status"
        verbose_name_plural = "cart reminder status"
