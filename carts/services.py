"""Every write to stores, keys, memberships and carts."""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from carts.models import Cart, Store, StoreKey, StoreMembership, StoreOrigin
from carts.names import store_name_normalise
from cartsite.errors import Conflict, NotFound, ValidationFailed


@dataclass(frozen=True)
class IssuedKeys:
    """The raw keys, shown once: only their digests are stored."""

    store: Store
    publishable_key: str
    secret_key: str


def _new_raw_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(30)


def store_key_issue(*, store: Store, kind: str, raw_key: str | None = None) -> str:
    """Creates a key of `kind` for `store` and returns the raw key (never stored).

    `raw_key` registers a given key instead of a random one (the demo store's fixed keys);
    registering a key that exists already is a no-op."""
    prefix = "pk_" if kind == StoreKey.Kind.PUBLISHABLE else "sk_"
    raw = raw_key or _new_raw_key(prefix)
    if not raw.startswith(prefix):
        raise ValidationFailed(f"A {kind} key starts with {prefix}", field="key")
    StoreKey.objects.get_or_create(
        key_hash=StoreKey.digest(raw), defaults={"store": store, "kind": kind, "hint": f"{raw[:7]}…{raw[-4:]}"}
    )
    return raw


def store_origin_normalise(origin: str) -> str:
    value = origin.strip().rstrip("/").lower()
    if not value.startswith(("http://", "https://")) or "/" in value.split("://", 1)[1]:
        raise ValidationFailed(f"Invalid origin {origin!r}: expected scheme://host[:port]", field="origin")
    return value


@transaction.atomic
def store_create(
    *, name: str, currency: str = "EUR", recovery_url: str = "", origins: list[str] | None = None
) -> IssuedKeys:
    """Creates a store (by normalised name) with one publishable and one secret key."""
    normalised = store_name_normalise(name, field="name")
    currency = (currency or "EUR").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationFailed("currency must be an ISO 4217 code", field="currency")
    try:
        with transaction.atomic():
            store = Store.objects.create(name=normalised, currency=currency, recovery_url=recovery_url or "")
    except IntegrityError as exc:
        raise Conflict(f"A store named {normalised} exists already", field="name", reason="Already exists") from exc
    StoreOrigin.objects.bulk_create(
        [StoreOrigin(store=store, origin=o) for o in {store_origin_normalise(o) for o in origins or []}]
    )
    return IssuedKeys(
        store=store,
        publishable_key=store_key_issue(store=store, kind=StoreKey.Kind.PUBLISHABLE),
        secret_key=store_key_issue(store=store, kind=StoreKey.Kind.SECRET),
    )


def store_key_revoke(*, raw_key: str) -> StoreKey:
    """Revokes a key at once (keys are checked against the database on every request)."""
    key = StoreKey.objects.select_related("store").filter(key_hash=StoreKey.digest(raw_key.strip())).first()
    if key is None:
        raise NotFound("No such key")
    StoreKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db()
    return key


def store_staff_add(*, store_name: str, username: str) -> tuple[StoreMembership, bool]:
    """Makes `username` staff and a member of the store; idempotent."""
    store = Store.objects.filter(name=store_name_normalise(store_name, field="store")).first()
    if store is None:
        raise NotFound(f"No store named {store_name}")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user named {username}")
    if not user.is_staff:
        get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
    return StoreMembership.objects.get_or_create(store=store, user=user)


def cart_mark_converted(
    *, cart_id, order_reference: str = "", amount: Decimal | None = None, converted_at=None
) -> bool:
    """Flags a cart converted exactly once (seed 000: "multiple orders from same cart not
    re-flagged"). The first conversion wins; a later call changes nothing and returns False.
    A removed cart can still convert: storefronts remove the cart when checkout starts."""
    updated = Cart.objects.filter(pk=cart_id, converted_at__isnull=True).update(
        converted_at=converted_at or timezone.now(),
        order_reference=order_reference or "",
        order_amount=amount,
    )
    return updated == 1
