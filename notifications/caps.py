"""Per-store daily budget of outbound reminders (OWASP API6: the store's WhatsApp and e-mail
budget must not be turned into spam by whoever can make carts).

At most `MESSAGES_PER_STORE_PER_DAY` messages per store and channel in each UTC day, counted in
the shared cache (Redis). A message over the budget is not claimed: the sweep skips it
(`store_daily_cap`) and it becomes due again on a later run, once the day has turned.

Redis down: fail closed (nothing is sent). Unlike tracking, a reminder can wait; the sweep's own
lock needs Redis too, so a sweep does not run without it anyway.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from carts.models import Store

logger = logging.getLogger("notifications.caps")

# A day's counter outlives its UTC day by an hour (clock skew between hosts, a sweep crossing
# midnight), then expires.
DAY_KEY_SECONDS = int(timedelta(days=1, hours=1).total_seconds())


def _day_key(store: Store | int, channel: str, now: datetime) -> str:
    store_id = getattr(store, "pk", store)
    return f"caps:messages:{store_id}:{channel}:{now.astimezone(UTC).date().isoformat()}"


def store_message_budget_take(*, store: Store, channel: str, now: datetime | None = None) -> bool:
    """Takes one message of `channel` from `store`'s budget for today; False when it is spent
    (or cannot be counted). A budget of 0 (or less) means no budget."""
    limit = getattr(settings, "MESSAGES_PER_STORE_PER_DAY", 0)
    if limit <= 0:
        return True
    now = now or datetime.now(UTC)
    key = _day_key(store, channel, now)
    try:
        cache.add(key, 0, timeout=DAY_KEY_SECONDS)
        count = cache.incr(key)
    except Exception as exc:
        logger.warning("message budget unavailable", extra={"channel": channel, "error_type": type(exc).__name__})
        return False
    if count > limit:
        if count == limit + 1:
            logger.warning("store daily message budget spent", extra={"channel": channel, "limit": limit})
        return False
    return True


def store_message_budget_take_many(
    *, store_id: int, channel: str, count: int, now: datetime | None = None, announce: bool = True
) -> int:
    """Takes up to `count` messages of `channel` from the store's budget for today in one Redis
    round trip (INCRBY), gives back at once what is over the budget, and returns how many were
    granted (0 when the budget cannot be counted). Give back unused ones with
    `store_message_budget_return_batch`."""
    limit = getattr(settings, "MESSAGES_PER_STORE_PER_DAY", 0)
    if count <= 0:
        return 0
    if limit <= 0:
        return count
    now = now or datetime.now(UTC)
    key = _day_key(store_id, channel, now)
    try:
        cache.add(key, 0, timeout=DAY_KEY_SECONDS)
        total = cache.incr(key, count)
        over = _over_budget(count=count, total=total, limit=limit, channel=channel, announce=announce)
        if over:
            cache.decr(key, over)
    except Exception as exc:
        logger.warning("message budget unavailable", extra={"channel": channel, "error_type": type(exc).__name__})
        return 0
    return count - over


def _over_budget(*, count: int, total: int, limit: int, channel: str, announce: bool = True) -> int:
    """How many of `count` messages just taken (the day's count now `total`) are over `limit`,
    to give back at once; the call that spends the budget says so in the log (`announce`)."""
    over = min(count, max(0, total - limit))
    if announce and over and total - count <= limit:
        logger.warning("store daily message budget spent", extra={"channel": channel, "limit": limit})
    return over


def store_message_budget_take_batch(*, wanted: dict, now: datetime | None = None, announce: bool = True) -> dict:
    """`store_message_budget_take_many` for several (store id, channel) keys at once: how many
    each was granted (0 for all when the budget cannot be counted). On Redis, one round trip for
    every key (a MULTI of SET NX and INCRBY per key), and one more only when some key went over
    its budget; on another cache backend, one `store_message_budget_take_many` per key.
    `announce=False`: a take that may be given back and taken again does not log the spent budget."""
    wanted = {key: count for key, count in wanted.items() if count > 0}
    limit = getattr(settings, "MESSAGES_PER_STORE_PER_DAY", 0)
    if limit <= 0 or not wanted:
        return wanted
    now = now or datetime.now(UTC)
    redis_client = getattr(getattr(cache, "client", None), "get_client", None)
    if redis_client is None:
        return {
            key: store_message_budget_take_many(
                store_id=key[0], channel=key[1], count=count, now=now, announce=announce
            )
            for key, count in wanted.items()
        }
    keys = {key: cache.client.make_key(_day_key(key[0], key[1], now)) for key in wanted}
    granted = {}
    try:
        pipeline = redis_client(write=True).pipeline(transaction=True)
        for key, count in wanted.items():
            # The same integer encoding as cache.add(key, 0): cache.get() reads it back.
            pipeline.set(keys[key], 0, ex=DAY_KEY_SECONDS, nx=True)
            pipeline.incrby(keys[key], count)
        totals = pipeline.execute()[1::2]
        give_back = redis_client(write=True).pipeline(transaction=False)
        for (key, count), total in zip(wanted.items(), totals, strict=True):
            over = _over_budget(count=count, total=total, limit=limit, channel=key[1], announce=announce)
            if over:
                give_back.decrby(keys[key], over)
            granted[key] = count - over
        if len(give_back):
            give_back.execute()
    except Exception as exc:
        logger.warning("message budget unavailable", extra={"error_type": type(exc).__name__})
        return dict.fromkeys(wanted, 0)
    return granted


# KEYS: the day counters, ARGV: what each gets back. A counter that is gone (expired, or Redis
# restarted) stays gone, as `cache.decr` leaves it: DECRBY would create it below zero, with no expiry.
_RETURN_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, ARGV[i]) end
end
return 0
"""


def store_message_budget_return_batch(*, returned: dict, now: datetime | None = None) -> None:
    """Gives back, per (store id, channel), messages taken but not claimed (capped, claimed by
    another sweep, or taken again later): one Redis round trip for all of them (on another cache
    backend, one `decr` per key)."""
    returned = {key: count for key, count in returned.items() if count > 0}
    if not returned or getattr(settings, "MESSAGES_PER_STORE_PER_DAY", 0) <= 0:
        return
    now = now or datetime.now(UTC)
    try:
        redis_client = getattr(getattr(cache, "client", None), "get_client", None)
        if redis_client is None:
            for (store_id, channel), count in returned.items():
                try:
                    cache.decr(_day_key(store_id, channel, now), count)
                except ValueError:
                    pass  # a counter that is gone stays gone, as on Redis; the others still get theirs
            return
        keys = [cache.client.make_key(_day_key(store_id, channel, now)) for store_id, channel in returned]
        redis_client(write=True).register_script(_RETURN_SCRIPT)(keys=keys, args=list(returned.values()))
    except Exception as exc:
        logger.warning("message budget not returned", extra={"error_type": type(exc).__name__})


def store_message_budget_left(*, store: Store, channel: str, now: datetime | None = None) -> int | None:
    """What is left of today's budget (None: no budget configured or not countable)."""
    limit = getattr(settings, "MESSAGES_PER_STORE_PER_DAY", 0)
    if limit <= 0:
        return None
    try:
        used = cache.get(_day_key(store, channel, now or datetime.now(UTC))) or 0
    except Exception:
        return None
    return max(0, limit - used)
