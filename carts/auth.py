"""The three callers of API.md "Who calls": storefront (publishable key), merchant backend
(secret key) and staff (admin session or DRF token), and which store a request acts on.

- missing, unknown or revoked credential: 401 (revocation works at once: no key is cached);
- a valid credential of the wrong kind, or for another store: 403;
- objects of another store are looked up inside the caller's store, so they are 404.
"""

from dataclasses import dataclass
from datetime import UTC
from functools import cache

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import authentication, exceptions, permissions

from carts.models import Store, StoreKey
from carts.names import store_name_normalise
from cartsite.db import prepared_cursor
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


STORE_FIELDS = list(Store._meta.concrete_fields)


@cache
def _key_lookup_sql(vendor: str) -> str:
    """The active key of a digest and its store, in one statement built from the models.

    Raw SQL because this runs on every storefront request: the ORM spent more CPU compiling the
    query (join, `only()`, the models' default ordering) than the database spent answering it."""
    qn = connection.ops.quote_name
    store_columns = ", ".join(f"s.{qn(f.column)}" for f in STORE_FIELDS)
    key = StoreKey._meta
    return (
        f"SELECT k.{qn(key.pk.column)}, k.{qn(key.get_field('kind').column)}, {store_columns} "
        f"FROM {qn(key.db_table)} k JOIN {qn(Store._meta.db_table)} s "
        f"ON s.{qn(Store._meta.pk.column)} = k.{qn(key.get_field('store').column)} "
        f"WHERE k.{qn(key.get_field('key_hash').column)} = %s AND k.{qn(key.get_field('revoked_at').column)} IS NULL"
    )


def _store_from_row(values) -> Store:
    kwargs = {}
    for field, value in zip(STORE_FIELDS, values, strict=True):
        if value is not None and field.get_internal_type() == "DateTimeField":
            # SQLite answers naive UTC datetimes (or text); PostgreSQL aware ones.
            if isinstance(value, str):
                value = parse_datetime(value)
            if timezone.is_naive(value):
                value = timezone.make_aware(value, UTC)
        kwargs[field.attname] = value
    store = Store(**kwargs)
    store._state.adding = False
    store._state.db = "default"
    return store


def store_key_resolve(raw_key: str) -> tuple[StoreKey, Store] | None:
    """The active (not revoked) key `raw_key` and its store, or None."""
    with prepared_cursor() as cursor:
        cursor.execute(_key_lookup_sql(connection.vendor), [StoreKey.digest(raw_key)])
        row = cursor.fetchone()
    if row is None:
        return None
    store = _store_from_row(row[2:])
    key = StoreKey(id=row[0], kind=row[1], store=store)
    key._state.adding = False
    key._state.db = "default"
    return key, store


def request_store_key(request) -> str | None:
    """The store key a request carries: `X-Store-Key: pk_…` (or `?key=pk_…` for sendBeacon), or
    `Authorization: Bearer sk_…`; None without one. A malformed key is a 401."""
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
    return raw


class StoreKeyAuthentication(authentication.BaseAuthentication):
    """`X-Store-Key: pk_…` (or `?key=pk_…` for sendBeacon), or `Authorization: Bearer sk_…`."""

    def authenticate(self, request):
        raw = request_store_key(request)
        if raw is None:
            return None
        resolved = store_key_resolve(raw)
        if resolved is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key")
        key, store = resolved
        store_var.set(store.name)
        return StoreClient(store=store, kind=key.kind, key_id=key.id), key

    def authenticate_header(self, request):
        return 'Bearer realm="cartsite"'


@dataclass(frozen=True)
class DeferredKey:
    """A store key whose check is left to the write statement (see KeyCheckedByTheWrite)."""

    digest: str


@cache
def keyed_store_sql(vendor: str, *, named: bool = False) -> str:
    """A SELECT of the store of an active key, for a write statement to read from
    (`WITH keyed AS (…) INSERT … SELECT … FROM keyed`): one row (`store_id`, `store_name`,
    `store_currency`) when the key (parameter: its digest) is active, and, with `named`, its store
    is the one named (a second parameter: the normalised name); no row otherwise."""
    qn = connection.ops.quote_name
    key = StoreKey._meta
    store = Store._meta
    sql = (
        f"SELECT k.{qn(key.get_field('store').column)} AS store_id, s.{qn(store.get_field('name').column)} AS "
        f"store_name, s.{qn(store.get_field('currency').column)} AS store_currency "
        f"FROM {qn(key.db_table)} k JOIN {qn(store.db_table)} s "
        f"ON s.{qn(store.pk.column)} = k.{qn(key.get_field('store').column)} "
        f"WHERE k.{qn(key.get_field('key_hash').column)} = %s AND k.{qn(key.get_field('revoked_at').column)} IS NULL"
    )
    if named:
        sql += f" AND s.{qn(store.get_field('name').column)} = %s"
    return sql


class KeyCheckedByTheWrite:
    """APIView mixin for the storefront's hot write paths: the key check joins the write.

    A request with a store key skips DRF's authentication and permission steps; the view writes
    with one statement that reads the key (`keyed_store_sql`) and writes nothing when the key is
    unknown, revoked or of another store, which saves a round trip on every request. When that
    statement writes nothing, or anything fails before it, `key_check_now()` runs the full check
    first, so every answer (401, 403, 400, 429 …) is the one the plain path would have given.
    Only for views whose permission lets either kind of key in (a valid key then always passes).
    """

    def perform_authentication(self, request):
        raw = request_store_key(request)
        if raw is not None and all(
            getattr(permission, "allow_publishable", False) and getattr(permission, "allow_secret", False)
            for permission in self.permission_classes
        ):
            request.deferred_key = DeferredKey(digest=StoreKey.digest(raw))
            return
        request.deferred_key = None
        super().perform_authentication(request)

    def check_permissions(self, request):
        if getattr(request, "deferred_key", None) is None:
            super().check_permissions(request)

    def key_check_now(self, request) -> None:
        """The full key check (authentication, then permissions) when it was deferred."""
        if getattr(request, "deferred_key", None) is not None:
            request.deferred_key = None
            super().perform_authentication(request)
            super().check_permissions(request)

    def acting_store(self, request) -> Store | None:
        """Before the body is read: the store of the usual path, checked now, or None while the
        key check is left to the write. A store named with `?store=` is checked now, so that its
        403 comes before a 400 of the body, as on the usual path."""
        if request.query_params.get("store"):
            self.key_check_now(request)
        return request_store(request) if request.deferred_key is None else None

    def write_checked(self, request, *, by_key, plain):
        """`by_key(digest)` when the key check was left to the write; when that wrote nothing
        (None), or on the usual path, the full check and then `plain()`."""
        if request.deferred_key is not None:
            written = by_key(request.deferred_key.digest)
            if written is not None:
                return written
            self.key_check_now(request)
        return plain()

    def handle_exception(self, exc):
        # Whatever failed, a bad credential is what the caller must hear first.
        if getattr(self.request, "deferred_key", None) is not None:
            try:
                self.key_check_now(self.request)
            except Exception as auth_exc:  # answered instead of `exc`
                exc = auth_exc
        return super().handle_exception(exc)


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
