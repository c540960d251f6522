"""The three callers of API.md "Who calls": storefront (publishable key), merchant backend
(secret key) and staff (admin session or DRF token), and which store a request acts on.

- missing, unknown or revoked credential: 401 (revocation works at once: no key is cached);
- a valid credential of the wrong kind, or for another store: 403;
- objects of another store are looked up inside the caller's store, so they are 404.
"""

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions

from carts.models import Store, StoreKey
from carts.names import store_name_normalise
from cartsite.errors import Forbidden, ValidationFailed
from cartsite.logging import store_var

PUBLISHABLE_PREFIX = "pk_"
SECRET_PREFIX = "sk_"


@dataclass(frozen=True)
class StoreClient:
    """The authenticated principal for a store key (DRF's request.user)."""

    store: Store
    kind: str
    key_id: int

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def is_secret(self) -> bool:
        return self.kind == StoreKey.Kind.SECRET

    def __str__(self):
        return f"{self.kind} key of {self.store.name}"


class StoreKeyAuthentication(authentication.BaseAuthentication):
    """`X-Store-Key: pk_…` (or `?key=pk_…` for sendBeacon), or `Authorization: Bearer sk_…`."""

    def authenticate(self, request):
        raw = None
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            raw = header[7:].strip()
        elif request.META.get("HTTP_X_STORE_KEY"):
            raw = request.META["HTTP_X_STORE_KEY"].strip()
        elif request.query_params.get("key"):
            raw = request.query_params["key"].strip()
        if raw is None:
            return None
        if not raw.startswith((PUBLISHABLE_PREFIX, SECRET_PREFIX)) or len(raw) > 200:
            raise exceptions.AuthenticationFailed("Invalid API key")
        key = (
            StoreKey.objects.select_related("store")
            .filter(key_hash=StoreKey.digest(raw), revoked_at__isnull=True)
            .only("id", "kind", "store")
            .first()
        )
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key")
        store_var.set(key.store.name)
        return StoreClient(store=key.store, kind=key.kind, key_id=key.id), key

    def authenticate_header(self, request):
        return 'Bearer realm="cartsite"'


def is_store_client(user) -> bool:
    return isinstance(user, StoreClient)


def is_staff_user(user) -> bool:
    return bool(user and user.is_authenticated and not is_store_client(user) and user.is_staff and user.is_active)


class _CallerPermission(permissions.BasePermission):
    allow_publishable = False
    allow_secret = False
    allow_staff = True
    message = "This credential may not call this endpoint"

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            # Let DRF answer 401 (NotAuthenticated) rather than 403.
            return False
        if is_store_client(user):
            return self.allow_secret if user.is_secret else self.allow_publishable
        return self.allow_staff and is_staff_user(user)


class IsStorefront(_CallerPermission):
    """Publishable key, secret key (a superset), or staff."""

    allow_publishable = True
    allow_secret = True


class IsMerchant(_CallerPermission):
    """Secret key or staff: never a browser."""

    allow_secret = True


class IsStoreStaff(_CallerPermission):
    """Staff users only (admin session with CSRF, or a DRF token)."""


class IsSecretKeyOnly(_CallerPermission):
    """Only the secret key (e.g. checkout creation by the merchant's backend)."""

    allow_secret = True
    allow_staff = False


def stores_visible_to(user):
    """The stores a caller may act on."""
    if is_store_client(user):
        return Store.objects.filter(pk=user.store.pk)
    if user.is_superuser:
        return Store.objects.all()
    return Store.objects.filter(memberships__user=user)


def request_store(request, requested: str | None = None, *, field: str = "store") -> Store:
    """The store a request acts on.

    A key acts on its own store: naming another one is a 403. Staff name it with `?store=`
    (or the body); it may be left out when they belong to one store only, else it is a 400.
    """
    user = request.user
    if requested is None:
        requested = request.query_params.get("store") or None
    if is_store_client(user):
        if requested and store_name_normalise(requested, field=field) != user.store.name:
            raise Forbidden("This key belongs to another store", field=field, reason="Store mismatch")
        return user.store
    visible = stores_visible_to(user)
    if requested:
        name = store_name_normalise(requested, field=field)
        store = visible.filter(name=name).first()
        if store is None:
            raise Forbidden("You are not a member of this store", field=field, reason="Not a member")
    else:
        candidates = list(visible[:2])
        if len(candidates) != 1:
            raise ValidationFailed(
                f"{field} is required when you belong to several stores" if candidates else "You belong to no store",
                field=field,
                reason="Field is required",
            )
        store = candidates[0]
    store_var.set(store.name)
    return store
