"""Every write to stores, keys, memberships and carts."""

import secrets
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from carts.auth import keyed_store_sql
from carts.caps import store_cart_creation_check
from carts.models import Cart, Store, StoreKey, StoreMembership, StoreOrigin
from carts.names import store_name_normalise
from cartsite.db import prepared_cursor
from cartsite.errors import Conflict, NotFound, RateLimited, ValidationFailed
from cartsite.logging import store_var


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
    """What a sync did: the id of the open cart it wrote, and whether it created that cart."""

    cart_id: uuid.UUID
    created: bool


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


_OPTIONAL_ITEM_KEYS = ("title", "variantId", "category", "tags", "imageUrl")
_CENT = Decimal("0.01")


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
        price = item["price"]
        if not isinstance(price, Decimal):
            price = Decimal(str(price))
        quantity = int(item["quantity"])
        total += price * quantity
        count += quantity
        line = {"productId": item["productId"], "quantity": quantity, "price": _json_number(price)}
        for key in _OPTIONAL_ITEM_KEYS:
            value = item.get(key)
            if value is not None and value != "":
                line[key] = value
        stored.append(line)
    total = total.quantize(_CENT, rounding=ROUND_HALF_UP)
    if total > CART_TOTAL_MAX:
        raise ValidationFailed("The cart total is too large", field="items", reason="Total too large")
    return stored, total, count


CONTACT_FIELDS = ("email", "phone", "first_name", "last_name")


def _contact_fields(customer: dict | None) -> dict:
    """Contact fields the sync sets; a key the client left out (or sent as null) is left alone."""
    fields = {}
    if customer:
        for key in CONTACT_FIELDS:
            value = customer.get(key)
            if value is not None:
                value = value.strip()
                fields[key] = value.lower() if key == "email" else value
    return fields


def _consent_given(customer: dict | None) -> dict[str, bool]:
    consent = (customer or {}).get("marketing_consent") or {}
    return {channel: bool(consent[channel]) for channel in CONSENT_CHANNELS if consent.get(channel) is not None}


def _cart_sync_values(
    *, store: Store, session_token: str, sync: dict, user_id, currency, contact: dict, consent: dict, source, now
) -> dict:
    """The columns of a new cart for this sync (attname → value), before defaults."""
    row = {
        "id": uuid.uuid4(),
        "store_id": store.pk,
        "session_token": session_token,
        "user_id": user_id or "",
        "currency": (currency or store.currency).upper(),
        "created_at": now,
        **sync,
        **contact,
    }
    for channel, given in consent.items():
        row[f"{channel}_consent"] = given
        row[f"{channel}_consent_at"] = now
        row[f"{channel}_consent_source"] = source
    return row


# The one statement of a sync on PostgreSQL. The partial unique index (one open cart per store
# and session token) is the arbiter: of many racing first syncs exactly one inserts, the others
# wait for it and update its row; `xmax = 0` only on the row version an INSERT wrote. A conflicting
# cart that converts or is removed meanwhile makes PostgreSQL retry the insert, which then wins.
_UPSERT_CONFLICT = "ON CONFLICT (store_id, session_token) WHERE converted_at IS NULL AND removed_at IS NULL"
_cart_upsert_sql_cache: dict[tuple, str] = {}


def _cart_upsert_sql(set_fields: tuple[str, ...], consent_channels: tuple[str, ...], keyed: str = "") -> str:
    """INSERT … ON CONFLICT DO UPDATE … RETURNING id, created, for one shape of sync (which fields
    the client sent), built once per shape from the model's fields.

    `keyed`: "" writes the parameters as VALUES. "store" or "store+currency" reads the store from
    carts.auth.keyed_store_sql (first parameter: the key's digest), writes nothing when the key is
    not active, and returns the store's id and name too; with "+currency" the cart takes the
    store's currency (the client sent none)."""
    key = (set_fields, consent_channels, keyed)
    sql = _cart_upsert_sql_cache.get(key)
    if sql is not None:
        return sql
    quote = connection.ops.quote_name
    meta = Cart._meta
    table = quote(meta.db_table)

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    columns = ", ".join(quote(f.column) for f in meta.concrete_fields)
    assignments = [f"{column(name)} = EXCLUDED.{column(name)}" for name in set_fields]
    for channel in consent_channels:
        # A repeated answer keeps when and how consent was first given; a change records anew.
        given = column(f"{channel}_consent")
        same = f"{table}.{given} = EXCLUDED.{given}"
        for suffix in ("_consent_at", "_consent_source"):
            target = column(f"{channel}{suffix}")
            assignments.append(f"{target} = CASE WHEN {same} THEN {table}.{target} ELSE EXCLUDED.{target} END")
        assignments.append(f"{given} = EXCLUDED.{given}")
    upsert = (
        f"{_UPSERT_CONFLICT} DO UPDATE SET {', '.join(assignments)} RETURNING {column('id')}, (xmax = 0) AS created"
    )
    if not keyed:
        placeholders = ", ".join(["%s"] * len(meta.concrete_fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) {upsert}"
    else:
        sources = {"store_id": "keyed.store_id"}
        if keyed == "store+currency":
            sources["currency"] = "UPPER(keyed.store_currency)"
        expressions = ", ".join(sources.get(f.attname, "%s") for f in meta.concrete_fields)
        sql = (
            f"WITH keyed AS ({keyed_store_sql(connection.vendor)}), "
            f"written AS (INSERT INTO {table} ({columns}) SELECT {expressions} FROM keyed {upsert}) "
            "SELECT written.id, written.created, keyed.store_id, keyed.store_name FROM written, keyed"
        )
    _cart_upsert_sql_cache[key] = sql
    return sql


_cart_constant_defaults: dict[str, object] = {}


def _cart_row_values(row: dict) -> list:
    """The INSERT's parameters in the order of the model's fields: `row`'s values, else the
    field's default (the constant ones prepared once)."""
    if not _cart_constant_defaults:
        for field in Cart._meta.concrete_fields:
            if not (field.has_default() and callable(field.default)):
                _cart_constant_defaults[field.attname] = field.get_db_prep_save(field.get_default(), connection)
    values = []
    for field in Cart._meta.concrete_fields:
        name = field.attname
        if name in row:
            values.append(field.get_db_prep_save(row[name], connection))
        elif name in _cart_constant_defaults:
            values.append(_cart_constant_defaults[name])
        else:
            values.append(field.get_db_prep_save(field.get_default(), connection))
    return values


def _cart_upsert_execute(sql: str, values: list) -> tuple | None:
    try:
        with prepared_cursor() as cursor:
            cursor.execute(sql, values)
            return cursor.fetchone()
    except (OperationalError, InterfaceError):
        # As an atomic block's failed rollback would: a connection that died mid-statement is
        # dropped now, so that the next use (the client's retry) connects afresh.
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        raise


def _cart_upsert(row: dict, set_fields: tuple[str, ...], consent_channels: tuple[str, ...]) -> tuple[uuid.UUID, bool]:
    cart_id, created = _cart_upsert_execute(_cart_upsert_sql(set_fields, consent_channels), _cart_row_values(row))
    return cart_id, created


def _cart_discard(cart_id) -> None:
    """Deletes a cart this sync has just created, if it is still open (the creation cap refused it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(Cart._meta.db_table)} "
            "WHERE id = %s AND converted_at IS NULL AND removed_at IS NULL",
            [cart_id],
        )


@dataclass(frozen=True)
class _SyncWrite:
    """What one sync writes, for both doors of cart_sync: the synced fields (items, totals,
    activity), the contact fields and consent given, and the fields an update overwrites."""

    sync: dict
    contact: dict
    consent: dict
    set_fields: tuple[str, ...]


def _sync_write(*, items: list[dict], customer: dict | None, user_id, currency, now) -> _SyncWrite:
    stored_items, total, item_count = cart_items_normalise(items)
    sync = {"items": stored_items, "total": total, "item_count": item_count, "last_activity_at": now}
    contact = _contact_fields(customer)
    set_fields = (*sync, *contact)
    if user_id:
        set_fields += ("user_id",)
    if currency:
        set_fields += ("currency",)
    return _SyncWrite(sync=sync, contact=contact, consent=_consent_given(customer), set_fields=set_fields)


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
    A creation over the store's hourly cap (carts.caps) leaves no cart and raises RateLimited.

    On PostgreSQL this is one INSERT … ON CONFLICT DO UPDATE in autocommit (a savepoint only
    inside an outer transaction); elsewhere (SQLite for local use) an insert, and on the
    constraint error an update.
    """
    now = now or timezone.now()
    write = _sync_write(items=items, customer=customer, user_id=user_id, currency=currency, now=now)
    sync, contact, consent, set_fields = write.sync, write.contact, write.consent, write.set_fields
    if connection.vendor != "postgresql":
        return _cart_sync_portable(
            store=store, session_token=session_token, sync=sync, user_id=user_id, currency=currency,
            contact=contact, consent=consent, source=source, now=now,
        )  # fmt: skip
    row = _cart_sync_values(
        store=store, session_token=session_token, sync=sync, user_id=user_id, currency=currency,
        contact=contact, consent=consent, source=source, now=now,
    )  # fmt: skip
    consent_channels = tuple(consent)
    if connection.in_atomic_block:
        # Inside an outer transaction: a savepoint, so that a refused creation leaves no row.
        with transaction.atomic():
            cart_id, created = _cart_upsert(row, set_fields, consent_channels)
            if created:
                store_cart_creation_check(store=store)
        return CartSyncResult(cart_id=cart_id, created=created)
    cart_id, created = _cart_upsert(row, set_fields, consent_channels)
    if created:
        try:
            store_cart_creation_check(store=store)
        except RateLimited:
            _cart_discard(cart_id)
            raise
    return CartSyncResult(cart_id=cart_id, created=created)


def cart_sync_by_key(
    *,
    key_digest: str,
    session_token: str,
    items: list[dict],
    user_id: str | None = None,
    currency: str | None = None,
    customer: dict | None = None,
    source: str = "storefront",
    now=None,
) -> CartSyncResult | None:
    """cart_sync for the store of an active store key, the key check and the write in one
    statement (carts.auth.KeyCheckedByTheWrite): the storefront's sync costs one round trip.

    None, with nothing written, when the key is unknown or revoked, and also when this cannot be
    one statement (not PostgreSQL, or inside a transaction): the caller then checks the key the
    usual way and calls cart_sync. Same rules as cart_sync otherwise, the creation cap included."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    now = now or timezone.now()
    write = _sync_write(items=items, customer=customer, user_id=user_id, currency=currency, now=now)
    consent, set_fields = write.consent, write.set_fields
    placeholder_store = Store(pk=0, currency=currency or "")
    row = _cart_sync_values(
        store=placeholder_store, session_token=session_token, sync=write.sync, user_id=user_id, currency=currency,
        contact=write.contact, consent=consent, source=source, now=now,
    )  # fmt: skip
    keyed = "store" if currency else "store+currency"
    skipped = {"store_id"} if currency else {"store_id", "currency"}
    values = [
        value
        for field, value in zip(Cart._meta.concrete_fields, _cart_row_values(row), strict=True)
        if field.attname not in skipped
    ]
    answer = _cart_upsert_execute(_cart_upsert_sql(set_fields, tuple(consent), keyed), [key_digest, *values])
    if answer is None:
        return None
    cart_id, created, store_id, store_name = answer
    store_var.set(store_name)
    if created:
        try:
            store_cart_creation_check(store=Store(pk=store_id, name=store_name))
        except RateLimited:
            _cart_discard(cart_id)
            raise
    return CartSyncResult(cart_id=cart_id, created=created)


def _cart_sync_portable(
    *, store: Store, session_token: str, sync: dict, user_id, currency, contact: dict, consent: dict, source, now
) -> CartSyncResult:
    """cart_sync without INSERT … ON CONFLICT: insert, and when the partial unique index refuses
    it (an open cart exists) update that cart instead."""
    for _attempt in range(_CART_SYNC_ATTEMPTS):
        with transaction.atomic():
            row = _cart_sync_values(
                store=store, session_token=session_token, sync=sync, user_id=user_id, currency=currency,
                contact=contact, consent=consent, source=source, now=now,
            )  # fmt: skip
            new_cart = Cart(**row)
            try:
                with transaction.atomic():
                    new_cart.save(force_insert=True)
                # Inside the transaction: a creation over the store's hourly cap leaves no row.
                store_cart_creation_check(store=store)
                return CartSyncResult(cart_id=new_cart.id, created=True)
            except IntegrityError:
                pass

            changes = {**sync, **contact}
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
                return CartSyncResult(cart_id=cart_id, created=False)
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
