"""Cart tracking events (seed 001 §1): one row per "added to cart" the storefront reports.

The table, its columns and its six indexes carry seed 001's names. Rows are written once and
never edited; they leave the table only through retention (archive, then delete) or erasure.
"""

import re
import secrets
import string
import time

from django.db import models
from django.db.models import Q
from django.utils import timezone

from carts.models import Store

EVENT_ID_PATTERN = re.compile(r"^cart-event-\d{13}-[a-z0-9]{7}$")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_CHOICES = 36**7

# Sane maxima (seed 001 §2.2 names only productTitle's 500); longer free text is truncated.
MAX_LENGTHS = {
    "product_id": 255,
    "variant_id": 255,
    "product_title": 500,
    "product_url": 2048,
    "customer_email": 254,
    "customer_first_name": 255,
    "customer_last_name": 255,
    "generated_image_url": 2048,
    "person_image_url": 2048,
    "clothing_image_url": 2048,
    "user_agent": 1024,
    "session_id": 255,
}


def event_id_new(at_ms: int | None = None) -> str:
    """`cart-event-{13-digit ms}-{7 [a-z0-9]}`; 36^7 (7.8e10) choices per millisecond. Uniqueness
    is not assumed: the primary key decides, and a writer that loses retries with a new id."""
    if at_ms is None:
        at_ms = time.time_ns() // 1_000_000
    number = secrets.randbelow(_ID_CHOICES)
    suffix = []
    for _ in range(7):
        number, digit = divmod(number, 36)
        suffix.append(_ID_ALPHABET[digit])
    return f"cart-event-{at_ms:013d}-{''.join(suffix)}"


# Random bytes to id characters: 252 = 7 × 36, so the bytes 0-251 map evenly onto the 36
# characters (byte % 36) and the 4 bytes above are dropped (rejection sampling: no bias at all).
_BYTE_TO_ID_CHAR = bytes(ord(_ID_ALPHABET[byte % 36]) if byte < 252 else 0 for byte in range(256))
_BYTES_OVER_252 = bytes(range(252, 256))


def _id_chars(count: int) -> str:
    """`count` independent, uniformly random characters of the id alphabet."""
    chars = b""
    while len(chars) < count:
        needed = count - len(chars)
        chars += secrets.token_bytes(needed + needed // 32 + 8).translate(_BYTE_TO_ID_CHAR, _BYTES_OVER_252)
    return chars[:count].decode()


def event_ids_new(count: int, at_ms: int) -> list[str]:
    """`count` ids of one millisecond (bulk inserts), their suffixes from one read of the OS
    random source, mapped to characters in C (`bytes.translate`) rather than digit by digit."""
    prefix = f"cart-event-{at_ms:013d}-"
    chars = _id_chars(7 * count)
    return [prefix + chars[offset : offset + 7] for offset in range(0, 7 * count, 7)]


class CartTrackingEvent(models.Model):
    id = models.CharField(primary_key=True, max_length=40, editable=False)
    # The FK ties the row to a known store; store_name is seed 001's column, the one queries use
    # (its indexes serve every read), so the FK itself carries no extra index.
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="tracking_events", db_index=False)
    store_name = models.CharField(max_length=253)

    product_id = models.CharField(max_length=MAX_LENGTHS["product_id"], null=True, blank=True)
    product_title = models.CharField(max_length=MAX_LENGTHS["product_title"], null=True, blank=True)
    product_url = models.CharField(max_length=MAX_LENGTHS["product_url"], null=True, blank=True)
    variant_id = models.CharField(max_length=MAX_LENGTHS["variant_id"], null=True, blank=True)
    customer_email = models.CharField(max_length=MAX_LENGTHS["customer_email"], null=True, blank=True)
    customer_first_name = models.CharField(max_length=MAX_LENGTHS["customer_first_name"], null=True, blank=True)
    customer_last_name = models.CharField(max_length=MAX_LENGTHS["customer_last_name"], null=True, blank=True)
    generated_image_url = models.CharField(max_length=MAX_LENGTHS["generated_image_url"], null=True, blank=True)
    person_image_url = models.CharField(max_length=MAX_LENGTHS["person_image_url"], null=True, blank=True)
    clothing_image_url = models.CharField(max_length=MAX_LENGTHS["clothing_image_url"], null=True, blank=True)
    user_agent = models.CharField(max_length=MAX_LENGTHS["user_agent"], null=True, blank=True)
    session_id = models.CharField(max_length=MAX_LENGTHS["session_id"], null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Kept by the database itself; lets the analytics count generated images from an index alone.
    has_generated_image = models.GeneratedField(
        expression=Q(generated_image_url__isnull=False), output_field=models.BooleanField(), db_persist=True
    )

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "cart_tracking_events"
        ordering = ["-created_at", "-id"]
        verbose_name = "cart tracking event"
        indexes = [
            models.Index(fields=["store_name"], name="idx_store_name"),
            models.Index(fields=["created_at"], name="idx_created_at"),
            models.Index(fields=["customer_email"], name="idx_customer_email"),
            models.Index(fields=["product_id"], name="idx_product_id"),
            models.Index(fields=["session_id"], name="idx_session_id"),
            # One store's events by time; id breaks ties so keyset pages walk it directly. The
            # included columns let every analytics aggregate (product_title too: the top products'
            # names) run as an index-only scan of the store's date range.
            models.Index(
                fields=["store_name", "created_at", "id"],
                include=["session_id", "product_id", "has_generated_image", "product_title"],
                name="idx_store_created",
            ),
        ]

    def __str__(self):
        return self.id
