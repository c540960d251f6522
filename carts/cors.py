"""CORS for storefront origins: an origin configured on any store may call the storefront paths.

The preflight carries no credentials, so it cannot say which store it is for; the actual request
is then authenticated by its key, which binds it to one store.
"""

from carts.models import StoreOrigin


def origin_is_configured(sender, request, **kwargs) -> bool:
    origin = request.headers.get("Origin", "").lower().rstrip("/")
    return bool(origin) and StoreOrigin.objects.filter(origin=origin).exists()
