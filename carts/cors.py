"""CORS for storefront origins: an origin configured on any store may call the storefront paths.

The preflight carries no credentials, so it cannot say which store it is for; the actual request
is then authenticated by its key, which binds it to one store.

A browser sends `Origin` on every storefront call, so this check runs on the hot path (track,
sync). An origin found configured is remembered in the shared cache (Redis: every web worker sees
the same entry) for `ALLOWED_ORIGIN_CACHE_SECONDS`; a hit costs one cache read instead of an ORM
query and a database round trip. Only allowed origins are remembered, so adding an origin takes
effect on the next request. Changing or deleting one (admin inline, store deletion, any ORM
save or delete) forgets it once the change commits (`origins_forget`, connected in
carts.apps). What can still outlive a removal, at most the cache time: a request that read the
row just before the deleting transaction committed and cached it just after, or a write that
bypasses the ORM's signals (`QuerySet.update`, raw SQL). With the cache unreachable, the database
answers, as without a cache.
"""

import hashlib
import logging

from django.core.cache import cache
from django.db import transaction

from carts.models import StoreOrigin

logger = logging.getLogger("carts.cors")

ALLOWED_ORIGIN_CACHE_SECONDS = 60


def origin_cache_key(origin: str) -> str:
    # Hashed: the header is client input (any length, any characters); cache keys should not be.
    return "cors-origin:" + hashlib.sha256(origin.encode()).hexdigest()[:32]


UNAVAILABLE = object()


def _cached(operation, *args):
    """`cache.<operation>(*args)`, or UNAVAILABLE when the cache fails: it is an optimisation
    here, and its failure must not fail the request (the database answers instead)."""
    try:
        return getattr(cache, operation)(*args)
    except Exception as exc:
        logger.warning("origin cache unavailable", extra={"error_type": type(exc).__name__})
        return UNAVAILABLE


def origin_is_configured(sender, request, **kwargs) -> bool:
    """django-cors-headers' `check_request_enabled` receiver."""
    origin = request.headers.get("Origin", "").lower().rstrip("/")
    if not origin:
        return False
    key = origin_cache_key(origin)
    cached = _cached("get", key)
    if cached == 1:
        return True
    allowed = StoreOrigin.objects.filter(origin=origin).exists()
    if allowed and cached is not UNAVAILABLE:  # one failed cache call per request at most
        _cached("set", key, 1, ALLOWED_ORIGIN_CACHE_SECONDS)
    return allowed


def origins_forget(origins) -> None:
    """Drops the cached answers for `origins` when the current transaction commits (at once
    outside one)."""
    keys = [origin_cache_key(origin) for origin in {o for o in origins if o}]
    if keys:
        transaction.on_commit(lambda: _cached("delete_many", keys))


def store_origin_pre_save(sender, instance, raw=False, **kwargs) -> None:
    """An edited origin: the value it had is no longer allowed (by this row)."""
    if raw or instance.pk is None:
        return
    previous = StoreOrigin.objects.filter(pk=instance.pk).values_list("origin", flat=True).first()
    if previous and previous != instance.origin:
        origins_forget([previous])


def store_origin_post_delete(sender, instance, **kwargs) -> None:
    origins_forget([instance.origin])
