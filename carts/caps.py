"""Per-store cap on new carts (OWASP API4/API6: a script must not flood a store with carts).

At most `CARTS_PER_STORE_PER_HOUR` carts created per store in each clock hour (UTC), counted in
the shared cache (Redis, one round trip: `cartsite.counters`) so every web process counts
together. Updates of an existing cart are not counted: only `cart_sync` calls that insert a new
open cart.

Redis down: fail open (the cart is created). Keeping a storefront's cart is worth more than
the cap, and the per-request limits (body size, items, string lengths) still hold; the skipped
check is logged as `cart creation cap unavailable`.
"""

import logging
import time

from django.conf import settings

from carts.models import Store
from cartsite.counters import window_counts
from cartsite.errors import RateLimited

logger = logging.getLogger("carts.caps")

WINDOW_SECONDS = 3600


def _window_key(store: Store, now: float) -> tuple[str, int]:
    window = int(now // WINDOW_SECONDS)
    return f"caps:carts-created:{store.pk}:{window}", (window + 1) * WINDOW_SECONDS


def store_cart_creation_allow(*, store: Store, now: float | None = None) -> bool:
    """Counts one new cart of `store` in this hour and says whether it is within the cap.

    A cap of 0 (or less) means no cap. Counts made while over the cap still count, so a script
    that keeps trying stays refused until the hour ends."""
    limit = getattr(settings, "CARTS_PER_STORE_PER_HOUR", 0)
    if limit <= 0:
        return True
    key, _ends = _window_key(store, time.time() if now is None else now)
    try:
        [count] = window_counts("default", [key], [WINDOW_SECONDS + 60])
    except Exception as exc:  # any cache failure: cannot count, so let the cart through
        logger.warning("cart creation cap unavailable", extra={"error_type": type(exc).__name__})
        return True
    if count > limit:
        logger.warning("cart creation cap reached", extra={"limit": limit, "count": count})
        return False
    return True


def store_cart_creation_check(*, store: Store, now: float | None = None) -> None:
    """`store_cart_creation_allow`, as the 429 a door answers (`Retry-After`: the hour's end)."""
    now = time.time() if now is None else now
    if not store_cart_creation_allow(store=store, now=now):
        _key, ends = _window_key(store, now)
        raise RateLimited(
            "This store has created too many carts this hour; try again later",
            code="RATE_LIMITED",
            headers={"Retry-After": str(max(1, int(ends - now)))},
        )
