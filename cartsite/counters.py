"""Counters of fixed time windows in the shared cache, for the product's limits and caps.

`window_counts` adds one to each counter and returns their counts, in one Redis round trip (a
Lua script: `INCR` each key, `EXPIRE` it when it is new), so every process and host counts
together. Without Redis (`REDIS_URL` unset: local runserver) the same counters live in Django's
cache API, per process. A failure is raised: each caller decides whether it fails open.

Callers name the cache by its alias: `django.core.cache.cache` is a proxy, not the cache itself,
so a test of the cache's class on it would always send the counters the slow way (two round trips
a counter).

Used by the tracking rate limit (tracking/ratelimit.py) and the per-store cap on new carts
(carts/caps.py).
"""

from django.core.cache import caches

try:  # only where Redis is configured
    from django_redis.cache import RedisCache
except ImportError:  # pragma: no cover - django-redis is a dependency
    RedisCache = None

# KEYS: the counters; ARGV: each counter's time to live in seconds. Returns the counts, in order.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = count
end
return counts
"""


class _RedisCounter:
    """The raw client of the configured django-redis cache, with the script registered once."""

    def __init__(self, cache):
        self.cache = cache
        self.client = cache.client.get_client(write=True)
        self.script = self.client.register_script(COUNT_SCRIPT)

    def count(self, keys: list[str], ttls: list[int]) -> list[int]:
        full_keys = [self.cache.make_key(key) for key in keys]
        return [int(count) for count in self.script(keys=full_keys, args=ttls)]


def _redis_counter(cache) -> _RedisCounter | None:
    if RedisCache is None or not isinstance(cache, RedisCache):
        return None
    # Kept on the cache object: a settings change (tests) makes a new cache, and a new client.
    counter = getattr(cache, "_window_counter", None)
    if counter is None:
        counter = cache._window_counter = _RedisCounter(cache)
    return counter


def _cache_counts(cache, keys: list[str], ttls: list[int]) -> list[int]:
    """The same counters through Django's cache API (LocMem when Redis is not configured)."""
    counts = []
    for key, ttl in zip(keys, ttls, strict=True):
        if cache.add(key, 1, ttl):
            counts.append(1)
            continue
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, ttl)
            counts.append(1)
    return counts


def window_counts(alias: str, keys: list[str], ttls: list[int]) -> list[int]:
    """Adds one to each of `keys` in the cache named `alias` (each expiring `ttls[i]` seconds
    after its first count) and returns the counts, in order."""
    cache = caches[alias]
    counter = _redis_counter(cache)
    return counter.count(keys, ttls) if counter is not None else _cache_counts(cache, keys, ttls)
