"""Every write to stores, keys, memberships and carts."""

import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from carts.caps import store_cart_creation_check
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


# --- carts ------------------------------------------------------------------------------------

CART_TOTAL_MAX = Decimal("9999999999.99")  # what Cart.total (12 digits, 2 places) can hold
CONSENT_CHANNELS = ("email", "whatsapp")
_CART_SYNC_ATTEMPTS = 3


@dataclass(frozen=True)
class CartSyncResult:
    cart: Cart
    created: bool


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def cart_items_normalise(items: list[dict]) -> tuple[list[dict], Decimal, int]:
    """The items as stored (known keys only, prices as JSON numbers), their total and item count.

    The server computes total = Σ quantity × price (rounded half up to cents) and item count =
    Σ quantity; whatever total the client sends is ignored."""
    if len(items) > settings.CART_MAX_ITEMS:
        raise ValidationFailed(
            f"A cart holds at most {settings.CART_MAX_ITEMS} items", field="items", reason="Too many items"
        )
    stored, total, count = [], Decimal("0"), 0
    for item in items:
        price = Decimal(str(item["price"]))
        quantity = int(item["quantity"])
        total += price * quantity
        count += quantity
        line = {"productId": item["productId"], "quantity": quantity, "price": _json_number(price)}
        for key in ("title", "variantId", "category", "tags", "imageUrl"):
            if item.get(key) not in (None, ""):
                line[key] = item[key]
        stored.append(line)
    total = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if total > CART_TOTAL_MAX:
        raise ValidationFailed("The cart total is too large", field="items", reason="Total too large")
    return stored, total, count


def _contact_fields(customer: dict | None) -> dict:
    """Contact fields the sync sets; a key the client left out (or sent as null) is left alone."""
    fields = {}
    for key in ("email", "phone", "first_name", "last_name"):
        if customer and customer.get(key) is not None:
            value = customer[key].strip()
            fields[key] = value.lower() if key == "email" else value
    return fields


def _consent_given(customer: dict | None) -> dict[str, bool]:
    consent = (customer or {}).get("marketing_consent") or {}
    return {channel: bool(consent[channel]) for channel in CONSENT_CHANNELS if consent.get(channel) is not None}


def _insert_open_cart(cart: Cart) -> bool:
    """Inserts `cart` unless an open cart of its (store, session token) exists; True if inserted.

    The partial unique index is the arbiter: on PostgreSQL an INSERT … ON CONFLICT DO NOTHING
    (racing inserts wait for each other, exactly one wins); elsewhere the IntegrityError."""
    if connection.vendor == "postgresql":
        fields = list(Cart._meta.concrete_fields)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        values = [f.get_db_prep_save(getattr(cart, f.attname), connection) for f in fields]
        sql = (
            f"INSERT INTO {connection.ops.quote_name(Cart._meta.db_table)} ({columns}) VALUES ({placeholders}) "
            "ON CONFLICT (store_id, session_token) WHERE converted_at IS NULL AND removed_at IS NULL "
            "DO NOTHING RETURNING id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            return cursor.fetchone() is not None
    try:
        with transaction.atomic():
            cart.save(force_insert=True)
        return True
    except IntegrityError:
        return False


def cart_sync(
    *,
    store: Store,
    session_token: str,
    items: list[dict],
    user_id: str | None = None,
    currency: str | None = None,
    customer: dict | None = None,
    source: str = "storefront",
    now=None,
) -> CartSyncResult:
    """Writes the storefront's cart into the one open cart of (store, session token).

    The first sync of a token (or the first after the cart converted or was removed) creates a
    cart, later ones replace its items; many first syncs racing give one cart and one `created`.
    Total and item count are computed here. Contact fields and per-channel marketing consent are
    set when given and left alone when left out; consent records when (`*_consent_at`) and how
    (`*_consent_source` = `source`) it was last given or withdrawn. Every sync is activity.
    """
    now = now or timezone.now()
    stored_items, total, item_count = cart_items_normalise(items)
    contact = _contact_fields(customer)
    consent = _consent_given(customer)
    for _attempt in range(_CART_SYNC_ATTEMPTS):
        with transaction.atomic():
            new_cart = Cart(
                store=store,
                session_token=session_token,
                user_id=user_id or "",
                items=stored_items,
                total=total,
                item_count=item_count,
                currency=(currency or store.currency).upper(),
                created_at=now,
                last_activity_at=now,
                **contact,
            )
            for channel, given in consent.items():
                setattr(new_cart, f"{channel}_consent", given)
                setattr(new_cart, f"{channel}_consent_at", now)
                setattr(new_cart, f"{channel}_consent_source", source)
            if _insert_open_cart(new_cart):
                # Inside the transaction: a creation over the store's hourly cap leaves no row.
                store_cart_creation_check(store=store)
                new_cart._state.adding = False
                new_cart._state.db = "default"
                return CartSyncResult(cart=new_cart, created=True)

            changes = {"items": stored_items, "total": total, "item_count": item_count, "last_activity_at": now}
            changes.update(contact)
            if user_id:
                changes["user_id"] = user_id
            if currency:
                changes["currency"] = currency.upper()
            for channel, given in consent.items():
                # A repeated answer keeps the moment consent was first given; a change records anew.
                unchanged = When(**{f"{channel}_consent": given}, then=F(f"{channel}_consent_at"))
                changes[f"{channel}_consent_at"] = Case(unchanged, default=Value(now))
                unchanged = When(**{f"{channel}_consent": given}, then=F(f"{channel}_consent_source"))
                changes[f"{channel}_consent_source"] = Case(unchanged, default=Value(source))
                changes[f"{channel}_consent"] = Value(given)
            open_cart = Cart.objects.open().filter(store=store, session_token=session_token)
            cart_id = open_cart.select_for_update().values_list("id", flat=True).first()
            if cart_id is not None:
                Cart.objects.filter(pk=cart_id).update(**changes)
                return CartSyncResult(cart=Cart.objects.select_related("store").get(pk=cart_id), created=False)
        # The open cart closed between our insert and our update: start over.
    raise Conflict("The cart changed while it was being saved; try again", field="session_token")


def cart_remove(*, store: Store, session_token: str, now=None) -> Cart:
    """Takes the open cart of a session out of the live view (sets removed_at); nothing is deleted.

    The cart keeps its items and contact, can still convert (storefronts remove the cart when
    checkout starts), and the next sync of the token starts a new cart."""
    now = now or timezone.now()
    with transaction.atomic():
        cart = Cart.objects.open().select_for_update().filter(store=store, session_token=session_token).first()
        if cart is None:
            raise NotFound("No open cart for this session")
        Cart.objects.filter(pk=cart.pk, removed_at__isnull=True).update(removed_at=now)
        cart.removed_at = now
    return cart
