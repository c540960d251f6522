"""Every write to plans, checkout sessions and subscriptions (seed 004's four functions, the
create-checkout flow, the jobs) and the reconciliation with Stripe.

Status moves only forward: pending → completed | expired | failed | cancelled, each by an
`UPDATE … WHERE status = 'pending'`, so whichever of two racing writers comes second changes
nothing. The partial unique constraints decide which of two racing creators wins.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.template.loader import render_to_string
from django.utils import timezone

from carts.models import Cart, Store
from carts.services import cart_mark_converted
from cartsite.errors import Conflict, NotFound, UpstreamFailed, ValidationFailed
from cartsite.retention import retention_days_check
from payments import stripe_gateway
from payments.models import CheckoutSession, Plan, Subscription
from payments.selectors import (  # noqa: F401 (checkout_session_latest: seed 004's fourth function, re-exported)
    checkout_session_for_stripe,
    checkout_session_latest,
    plan_for_purchase,
)

logger = logging.getLogger("payments")

Status = CheckoutSession.Status
PENDING_CONSTRAINTS = ("payments_one_pending_per_user_plan", "payments_one_pending_per_cart")
PAID_STATUSES = ("paid", "no_payment_required")
COMPLETING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
# A plan's price column holds 10 digits, 2 of them decimals.
_PRICE = Plan._meta.get_field("price")
PLAN_PRICE_LIMIT = Decimal(10) ** (_PRICE.max_digits - _PRICE.decimal_places)
PLAN_CODE = re.compile(r"[-a-zA-Z0-9_]+")
# Stripe accepts expires_at between 30 minutes and 24 hours from now; keep clear of both edges.
STRIPE_MIN_LIFETIME = timedelta(minutes=31)
STRIPE_MAX_LIFETIME = timedelta(hours=23, minutes=59)
# A still-open Stripe session is reused only if the customer has this long left to pay.
STRIPE_REUSE_MARGIN = timedelta(minutes=10)


# --- plans --------------------------------------------------------------------------------


def _plan_text_check(field: str, value: str) -> None:
    """What the plan's column can hold: its length, and printable text (no NUL, no control
    character, no lone surrogate). A code is a slug, as clients send it."""
    limit = Plan._meta.get_field(field).max_length
    if len(value) > limit:
        raise ValidationFailed(f"{field} must be at most {limit} characters", field=field, reason="Too long")
    if not value.isprintable():
        raise ValidationFailed(f"{field} must be printable text", field=field, reason="Invalid characters")
    if field == "code" and not PLAN_CODE.fullmatch(value):
        raise ValidationFailed(
            "code must be letters, digits, hyphens or underscores", field="code", reason="Invalid code"
        )


def plan_create(
    *,
    store: Store,
    code: str,
    name: str,
    price,
    currency: str | None = None,
    interval: str = Plan.Interval.ONE_OFF,
    stripe_price_id: str = "",
) -> Plan:
    """Creates a plan; its code is unique within the store (409 otherwise)."""
    try:
        price = Decimal(str(price))
    except InvalidOperation:
        raise ValidationFailed("price must be a number", field="price", reason="Invalid number")
    if not price.is_finite():
        raise ValidationFailed("price must be a number", field="price", reason="Invalid number")
    if price < 0 or price.as_tuple().exponent < -2:
        raise ValidationFailed("price must be ≥ 0 with at most 2 decimals", field="price", reason="Invalid price")
    if price >= PLAN_PRICE_LIMIT:
        raise ValidationFailed(f"price must be below {PLAN_PRICE_LIMIT:,}", field="price", reason="Invalid price")
    for field, value in (("code", code), ("name", name), ("stripe_price_id", stripe_price_id)):
        _plan_text_check(field, value)
    interval = {"one-off": Plan.Interval.ONE_OFF, "oneoff": Plan.Interval.ONE_OFF}.get(interval, interval)
    if interval not in Plan.Interval.values:
        raise ValidationFailed(
            f"interval must be one of {', '.join(Plan.Interval.values)}", field="interval", reason="Invalid choice"
        )
    currency = (currency or store.currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationFailed("currency must be an ISO 4217 code", field="currency", reason="Invalid currency")
    try:
        with transaction.atomic():
            return Plan.objects.create(
                store=store,
                code=code,
                name=name,
                price=price,
                currency=currency,
                interval=interval,
                stripe_price_id=stripe_price_id,
            )
    except IntegrityError:
        raise Conflict(f"Plan {code} exists already in {store.name}", field="code", reason="Already exists")


# --- seed 004: get or create, complete, expire, latest -----------------------------------


@dataclass(frozen=True)
class SessionResult:
    session: CheckoutSession
    created: bool


def _violates_pending_constraint(exc: IntegrityError) -> bool:
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    return name in PENDING_CONSTRAINTS if name else any(c in str(exc) for c in PENDING_CONSTRAINTS)


def checkout_session_get_or_create(
    *,
    store: Store,
    plan: Plan | None = None,
    cart: Cart | None = None,
    user_id: str = "",
    email: str = "",
    count_attempt: bool = False,
    metadata: dict | None = None,
    now: datetime | None = None,
) -> SessionResult:
    """The pending session of this customer and plan (or of this cart), else a new one.

    Rule: at most one pending session per (store, user, plan) and per cart. When two requests race,
    the partial unique constraint lets one insert win; the other reads the winner's row. A pending
    session already past its `expires_at` is expired first and never reused. With `count_attempt`
    a new session starts at attempt 1 and a reused one counts one more (`F('attempts') + 1`).
    A cart purchase is re-priced from the cart each time (the cart may have changed).
    """
    if (plan is None) == (cart is None):
        raise ValidationFailed("Either a plan or a cart is required", field="plan")
    now = now or timezone.now()
    if cart is not None:
        lookup = {"cart": cart}
        fields = {
            "store": store,
            "cart": cart,
            "user_id": cart.user_id or user_id,
            "email": email or cart.email,
            "amount": cart.total,
            "currency": cart.currency,
        }
    else:
        if not user_id:
            raise ValidationFailed("userId is required", field="userId", reason="Field is required")
        lookup = {"store": store, "user_id": user_id, "plan": plan}
        fields = {
            "store": store,
            "plan": plan,
            "user_id": user_id,
            "email": email,
            "subscription_plan": plan.code,
            "plan_price": plan.price,
            "amount": plan.price,
            "currency": plan.currency,
        }
    for _ in range(3):
        with transaction.atomic():
            CheckoutSession.objects.filter(status=Status.PENDING, expires_at__lte=now, **lookup).update(
                status=Status.EXPIRED
            )
            existing = CheckoutSession.objects.select_for_update().filter(status=Status.PENDING, **lookup).first()
            if existing is not None:
                updates = {"amount": fields["amount"], "currency": fields["currency"]}
                if email:
                    updates["email"] = email
                if metadata:
                    updates["metadata"] = {**existing.metadata, **metadata}
                if count_attempt:
                    updates["attempts"] = F("attempts") + 1
                CheckoutSession.objects.filter(pk=existing.pk).update(**updates)
                existing.refresh_from_db()
                return SessionResult(session=existing, created=False)
            try:
                with transaction.atomic():
                    session = CheckoutSession.objects.create(
                        **fields,
                        created_at=now,
                        expires_at=now + timedelta(hours=settings.CHECKOUT_SESSION_TTL_HOURS),
                        attempts=1 if count_attempt else 0,
                        metadata=metadata or {},
                    )
                return SessionResult(session=session, created=True)
            except IntegrityError as exc:
                if not _violates_pending_constraint(exc):
                    raise
                # Another request created it a moment ago: the next round reads it.
    raise Conflict("The checkout session is being created by another request; retry")


def subscription_activate(
    *, session: CheckoutSession, activated_at: datetime, stripe_subscription_id: str = ""
) -> Subscription:
    """Seed 004's "update user subscription to active": one row per (store, user, plan)."""
    subscription, created = Subscription.objects.get_or_create(
        store_id=session.store_id,
        user_id=session.user_id,
        plan_id=session.plan_id,
        defaults={
            "email": session.email,
            "status": Subscription.Status.ACTIVE,
            "started_at": activated_at,
            "checkout_session": session,
            "stripe_customer_id": session.stripe_customer_id,
            "stripe_subscription_id": stripe_subscription_id,
            "updated_at": activated_at,
        },
    )
    if not created:
        Subscription.objects.filter(pk=subscription.pk).update(
            status=Subscription.Status.ACTIVE,
            started_at=activated_at,
            checkout_session=session,
            email=session.email or subscription.email,
            stripe_customer_id=session.stripe_customer_id or subscription.stripe_customer_id,
            stripe_subscription_id=stripe_subscription_id or subscription.stripe_subscription_id,
            updated_at=activated_at,
        )
    return subscription


def checkout_session_complete(
    *,
    session_id,
    stripe_session_id: str | None = None,
    stripe_customer_id: str = "",
    amount: Decimal | None = None,
    completed_at: datetime | None = None,
    stripe_subscription_id: str = "",
) -> bool:
    """pending → completed, once. The completing call also flags the cart converted (through
    carts' `cart_mark_converted`, order reference = the Stripe session id, amount = what was paid)
    and activates the plan's subscription; every later call changes nothing and returns False."""
    completed_at = completed_at or timezone.now()
    updates = {"status": Status.COMPLETED, "completed_at": completed_at}
    if stripe_session_id:
        updates["stripe_session_id"] = stripe_session_id
    if stripe_customer_id:
        updates["stripe_customer_id"] = stripe_customer_id
    with transaction.atomic():
        if not CheckoutSession.objects.filter(pk=session_id, status=Status.PENDING).update(**updates):
            return False
        session = CheckoutSession.objects.get(pk=session_id)
        if session.cart_id:
            cart_mark_converted(
                cart_id=session.cart_id,
                order_reference=session.stripe_session_id or str(session.id),
                amount=amount if amount is not None else session.amount,
                converted_at=completed_at,
            )
        if session.plan_id and session.user_id:
            subscription_activate(
                session=session, activated_at=completed_at, stripe_subscription_id=stripe_subscription_id
            )
    logger.info("checkout completed", extra={"checkout_session": str(session_id), "cart": str(session.cart_id)})
    return True


def checkout_session_close(*, session_id, status: str, stripe_session_id: str | None = None) -> bool:
    """pending → expired | failed | cancelled (conditional UPDATE). With `stripe_session_id`, only
    while that is still the session's current Stripe session: the expiry of an earlier attempt's
    Stripe session must not close the session the customer is paying right now."""
    if status not in (Status.EXPIRED, Status.FAILED, Status.CANCELLED):
        raise ValueError(f"not a closing status: {status}")
    queryset = CheckoutSession.objects.filter(pk=session_id, status=Status.PENDING)
    if stripe_session_id:
        queryset = queryset.filter(stripe_session_id=stripe_session_id)
    return queryset.update(status=status) == 1


def checkout_sessions_expire_old(*, now: datetime | None = None) -> int:
    """Seed 004's expire_old_checkout_sessions(): pending sessions past `expires_at` become
    expired (one set-based UPDATE). Returns how many."""
    now = now or timezone.now()
    return CheckoutSession.objects.filter(status=Status.PENDING, expires_at__lt=now).update(status=Status.EXPIRED)


def checkout_session_transition(*, store: Store, session_id, status: str) -> CheckoutSession:
    """PATCH: only pending → completed | expired | failed | cancelled; anything else is a 409.
    Completing here has the same effects as a Stripe completion (cart converted, subscription)."""
    session = CheckoutSession.objects.filter(store=store, pk=session_id).first()
    if session is None:
        raise NotFound("Checkout session not found")
    if status == Status.COMPLETED:
        changed = checkout_session_complete(session_id=session.pk)
    elif status in CheckoutSession.TERMINAL:
        changed = checkout_session_close(session_id=session.pk, status=status)
    else:
        changed = False
    if not changed:
        session.refresh_from_db()
        raise Conflict(
            f"A {session.status} checkout session cannot become {status}", field="status", reason="Illegal transition"
        )
    session.refresh_from_db()
    return session


# Stripe subscription statuses → ours (https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
STRIPE_SUBSCRIPTION_STATUSES = {
    "active": Subscription.Status.ACTIVE,
    "trialing": Subscription.Status.ACTIVE,
    "past_due": Subscription.Status.PAST_DUE,
    "unpaid": Subscription.Status.PAST_DUE,
    "canceled": Subscription.Status.CANCELLED,
    "incomplete_expired": Subscription.Status.CANCELLED,
}


def subscription_apply_stripe(*, stripe_subscription: dict, deleted: bool = False) -> str:
    """Follows a Stripe subscription's status (`customer.subscription.updated` / `.deleted`).
    A cancelled subscription stays cancelled: a new purchase activates it again, not an update.
    Returns `updated`, `unchanged` or `unknown_subscription`."""
    rows = Subscription.objects.filter(stripe_subscription_id=stripe_subscription.get("id") or "-")
    if deleted:
        status = Subscription.Status.CANCELLED
    else:
        status = STRIPE_SUBSCRIPTION_STATUSES.get(stripe_subscription.get("status"))
    changed = 0
    if status is not None:
        changed = (
            rows.exclude(status=Subscription.Status.CANCELLED)
            .exclude(status=status)
            .update(status=status, updated_at=timezone.now())
        )
    if not changed and not rows.exists():
        return "unknown_subscription"
    return "updated" if changed else "unchanged"


# --- create-checkout ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    session: CheckoutSession
    stripe_session_id: str
    url: str
    expires_at: datetime
    reused_stripe_session: bool


def _checkout_cart(*, store: Store, cart_id=None, session_token: str | None = None) -> Cart:
    if cart_id:
        try:
            uuid.UUID(str(cart_id))
        except ValueError:
            raise ValidationFailed("cart_id must be a UUID", field="cart_id", reason="Invalid UUID")
        cart = Cart.objects.filter(store=store, pk=cart_id).first()
    else:
        cart = Cart.objects.open().filter(store=store, session_token=session_token).first()
    if cart is None:
        raise NotFound("Cart not found")
    if cart.converted_at is not None:
        raise Conflict("This cart has been converted already", field="cart_id", reason="Already converted")
    if cart.item_count == 0 or not cart.items:
        raise ValidationFailed("The cart is empty", field="items", reason="Cart is empty")
    return cart


def _line_items(session: CheckoutSession, plan: Plan | None, cart: Cart | None) -> list[dict]:
    currency = session.currency.lower()
    if cart is not None:
        items = []
        for item in cart.items:
            product = {"name": str(item.get("title") or item.get("productId") or "Item")[:250]}
            product["metadata"] = {
                key: str(item[key])[:500] for key in ("productId", "variantId") if item.get(key) not in (None, "")
            }
            items.append(
                {
                    "quantity": int(item.get("quantity") or 1),
                    "price_data": {
                        "currency": currency,
                        "unit_amount": stripe_gateway.to_minor_units(Decimal(str(item.get("price", 0))), currency),
                        "product_data": product,
                    },
                }
            )
        return items
    if plan.stripe_price_id:
        return [{"price": plan.stripe_price_id, "quantity": 1}]
    price_data = {
        "currency": currency,
        "unit_amount": stripe_gateway.to_minor_units(plan.price, currency),
        "product_data": {"name": plan.name[:250]},
    }
    if plan.is_recurring:
        price_data["recurring"] = {"interval": plan.interval}
    return [{"price_data": price_data, "quantity": 1}]


def _stripe_metadata(session: CheckoutSession) -> dict:
    metadata = {"checkoutSessionId": str(session.id)}
    if session.cart_id:
        metadata["cart_id"] = str(session.cart_id)
    else:
        metadata["userId"] = session.user_id
        metadata["plan"] = session.subscription_plan
    return metadata


def _line_items_total(line_items: list[dict]) -> int | None:
    """What Stripe will charge for these line items, in minor units (None: priced by Stripe)."""
    total = 0
    for item in line_items:
        if "price_data" not in item:
            return None
        total += item["price_data"]["unit_amount"] * item["quantity"]
    return total


def _reusable_stripe_session(session: CheckoutSession, now: datetime, expected_total: int | None) -> dict | None:
    """The session's Stripe Checkout Session if the customer can still pay it for the right
    amount. A stale one (amount changed, about to expire) is expired at Stripe first, so that
    the customer never holds two payable links."""
    if not session.stripe_session_id:
        return None
    current = stripe_gateway.checkout_stripe_retrieve(stripe_session_id=session.stripe_session_id)
    if current.get("status") == "complete":
        # Paid (or paying) while its webhook is still on the way: never offer a second payment.
        checkout_apply_stripe_session(stripe_session=current, event_type="checkout.session.completed")
        paid = current.get("payment_status") in PAID_STATUSES
        raise Conflict(
            "This checkout has been paid already" if paid else "The payment of this checkout is being processed",
            field="checkoutSessionId",
            reason="Already paid" if paid else "Payment processing",
        )
    if current.get("status") != "open":
        return None
    amount_matches = expected_total is None or current.get("amount_total") == expected_total
    expires_at = datetime.fromtimestamp(int(current.get("expires_at") or 0), tz=UTC)
    if amount_matches and expires_at - now >= STRIPE_REUSE_MARGIN:
        return current
    stripe_gateway.checkout_stripe_expire(stripe_session_id=session.stripe_session_id)
    return None


def checkout_create(
    *,
    store: Store,
    plan_code: str | None = None,
    user_id: str = "",
    email: str = "",
    cart_id=None,
    session_token: str | None = None,
    success_url: str = "",
    cancel_url: str = "",
) -> CheckoutResult:
    """POST /api/payments/create-checkout: the pending session of this user and plan (or this
    cart) with this attempt counted, else a new one (attempt 1); the same Stripe session while it
    is still open, else a new Stripe Checkout Session. The session and its attempt are committed
    before Stripe is called, so a Stripe failure (502 STRIPE_ERROR) loses nothing."""
    now = timezone.now()
    plan = cart = None
    if plan_code:
        plan = plan_for_purchase(store=store, code=plan_code)
        success_url = success_url or settings.CHECKOUT_SUCCESS_URL
        cancel_url = cancel_url or settings.CHECKOUT_CANCEL_URL
    else:
        cart = _checkout_cart(store=store, cart_id=cart_id, session_token=session_token)
    urls = {"successUrl": success_url, "cancelUrl": cancel_url}
    result = checkout_session_get_or_create(
        store=store, plan=plan, cart=cart, user_id=user_id, email=email, count_attempt=True, metadata=urls, now=now
    )
    session = result.session
    line_items = _line_items(session, plan, cart)
    if not result.created:
        reusable = _reusable_stripe_session(session, now, _line_items_total(line_items))
        if reusable is not None:
            return CheckoutResult(
                session=session,
                stripe_session_id=reusable["id"],
                url=reusable.get("url") or session.stripe_session_url,
                expires_at=datetime.fromtimestamp(int(reusable["expires_at"]), tz=UTC),
                reused_stripe_session=True,
            )

    stripe_expires_at = min(max(session.expires_at, now + STRIPE_MIN_LIFETIME), now + STRIPE_MAX_LIFETIME)
    stripe_expires_at = stripe_expires_at.replace(microsecond=0)
    metadata = _stripe_metadata(session)
    recurring = plan is not None and plan.is_recurring
    params = {
        "mode": "subscription" if recurring else "payment",
        "line_items": line_items,
        "metadata": metadata,
        "client_reference_id": str(session.id),
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(stripe_expires_at.timestamp()),
    }
    if session.email:
        params["customer_email"] = session.email
    params["subscription_data" if recurring else "payment_intent_data"] = {"metadata": metadata}
    created = stripe_gateway.checkout_stripe_create(
        params=params, idempotency_key=f"cartsite-checkout-{session.id}-{session.attempts}"
    )
    # Compare-and-set on the Stripe session we decided to replace: when two requests for the same
    # checkout race, the first one stored wins and the loser's Stripe session is expired at once,
    # so the customer never holds two payable links.
    stored = CheckoutSession.objects.filter(pk=session.pk, stripe_session_id=session.stripe_session_id).update(
        stripe_session_id=created["id"],
        stripe_session_url=created.get("url") or "",
        stripe_session_expires_at=stripe_expires_at,
        # Never let our session expire before the Stripe session the customer holds.
        expires_at=Greatest(F("expires_at"), stripe_expires_at),
    )
    session.refresh_from_db()
    if not stored:
        try:
            stripe_gateway.checkout_stripe_expire(stripe_session_id=created["id"])
        except UpstreamFailed:
            logger.warning("could not expire a duplicate Stripe session", extra={"stripe_session": created["id"]})
        return CheckoutResult(
            session=session,
            stripe_session_id=session.stripe_session_id or "",
            url=session.stripe_session_url,
            expires_at=session.stripe_session_expires_at or session.expires_at,
            reused_stripe_session=True,
        )
    return CheckoutResult(
        session=session,
        stripe_session_id=created["id"],
        url=created.get("url") or "",
        expires_at=stripe_expires_at,
        reused_stripe_session=False,
    )


def checkout_resume(*, session_id) -> CheckoutResult:
    """The resume link of a reminder: the same checkout again (counted as an attempt)."""
    session = CheckoutSession.objects.select_related("store", "plan").filter(pk=session_id).first()
    if session is None:
        raise NotFound("Checkout session not found")
    if session.status != Status.PENDING:
        raise Conflict(f"This checkout is {session.status}")
    return checkout_create(
        store=session.store,
        plan_code=session.plan.code if session.plan_id else None,
        user_id=session.user_id,
        email=session.email,
        cart_id=session.cart_id,
        success_url=session.metadata.get("successUrl", ""),
        cancel_url=session.metadata.get("cancelUrl", ""),
    )


# --- Stripe Checkout Session outcomes (webhook handlers and reconciliation share these) ---


def checkout_apply_stripe_session(*, stripe_session: dict, event_type: str) -> str:
    """Moves our session forward according to a Stripe Checkout Session; returns what happened
    (`completed`, `expired`, `failed`, `awaiting_payment`, `unchanged`, `unknown_session`).

    - completed / async_payment_succeeded with payment_status paid (or no_payment_required):
      complete; unpaid: wait for the async outcome;
    - async_payment_failed: failed; expired: expired (only the current Stripe session's expiry).
    """
    session = checkout_session_for_stripe(stripe_session=stripe_session)
    if session is None:
        cart_id = (stripe_session.get("metadata") or {}).get("cart_id")
        paid = stripe_session.get("payment_status") in PAID_STATUSES
        if cart_id and paid and _is_uuid(cart_id) and event_type in COMPLETING_EVENTS:
            # A checkout created outside cartsite that still names our cart (seed 000's metadata).
            cart_mark_converted(
                cart_id=cart_id, order_reference=stripe_session.get("id", ""), amount=_paid_amount(stripe_session)
            )
            return "completed"
        return "unknown_session"
    stripe_session_id = stripe_session.get("id")
    if event_type in COMPLETING_EVENTS:
        if stripe_session.get("payment_status") not in PAID_STATUSES:
            if stripe_session.get("customer"):
                CheckoutSession.objects.filter(pk=session.pk, stripe_customer_id="").update(
                    stripe_customer_id=stripe_session["customer"]
                )
            return "awaiting_payment"
        if session.status not in (Status.PENDING, Status.COMPLETED):
            logger.warning(
                "payment for a closed checkout session",
                extra={"checkout_session": str(session.pk), "status": session.status},
            )
        changed = checkout_session_complete(
            session_id=session.pk,
            stripe_session_id=stripe_session_id,
            stripe_customer_id=stripe_session.get("customer") or "",
            amount=_paid_amount(stripe_session),
            stripe_subscription_id=stripe_session.get("subscription") or "",
        )
        return "completed" if changed else "unchanged"
    if event_type == "checkout.session.async_payment_failed":
        changed = checkout_session_close(
            session_id=session.pk, status=Status.FAILED, stripe_session_id=stripe_session_id
        )
        return "failed" if changed else "unchanged"
    if event_type == "checkout.session.expired":
        changed = checkout_session_close(
            session_id=session.pk, status=Status.EXPIRED, stripe_session_id=stripe_session_id
        )
        return "expired" if changed else "unchanged"
    return "unchanged"


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _paid_amount(stripe_session: dict) -> Decimal | None:
    if stripe_session.get("amount_total") is None or not stripe_session.get("currency"):
        return None
    return stripe_gateway.from_minor_units(stripe_session["amount_total"], stripe_session["currency"])


@dataclass(frozen=True)
class ReconcileResult:
    seen: int
    completed: int
    expired: int
    failed: int


def checkout_sessions_reconcile(*, now: datetime | None = None, lookback_hours: float | None = None) -> ReconcileResult:
    """Lists the Stripe Checkout Sessions created in the last STRIPE_RECONCILE_LOOKBACK_HOURS and
    applies each one's outcome as its webhook would have: a completion or expiry whose webhook
    never arrived is repaired; one that did arrive changes nothing (forward-only updates)."""
    now = now or timezone.now()
    hours = settings.STRIPE_RECONCILE_LOOKBACK_HOURS if lookback_hours is None else lookback_hours
    since = int((now - timedelta(hours=hours)).timestamp())
    seen = completed = expired = failed = 0
    for stripe_session in stripe_gateway.checkout_stripe_list_since(created_gte=since):
        seen += 1
        if stripe_session.get("status") == "complete":
            outcome = checkout_apply_stripe_session(
                stripe_session=stripe_session, event_type="checkout.session.completed"
            )
        elif stripe_session.get("status") == "expired":
            outcome = checkout_apply_stripe_session(
                stripe_session=stripe_session, event_type="checkout.session.expired"
            )
        else:
            continue
        completed += outcome == "completed"
        expired += outcome == "expired"
        failed += outcome == "failed"
    return ReconcileResult(seen=seen, completed=completed, expired=expired, failed=failed)


# --- jobs: reminders, cleanup ------------------------------------------------------------


@dataclass(frozen=True)
class ReminderResult:
    candidates: int
    sent: int
    failed: int


def checkout_reminder_link(session: CheckoutSession) -> str:
    """Where a reminder sends the customer: the Stripe session while it is open, else our
    resume page (which opens a fresh Stripe session)."""
    if session.stripe_session_is_open:
        return session.stripe_session_url
    return f"{settings.SITE_URL}/payments/resume/{session.pk}"


def _reminder_send(session: CheckoutSession) -> None:
    context = {
        "session": session,
        "link": checkout_reminder_link(session),
        "store_name": session.store.name,
        "item_name": session.plan.name if session.plan_id else "your cart",
        "amount": session.amount,
        "currency": session.currency,
    }
    message = EmailMultiAlternatives(
        subject=render_to_string("payments/email/reminder_subject.txt", context).strip(),
        body=render_to_string("payments/email/reminder.txt", context),
        to=[session.email],
    )
    message.attach_alternative(render_to_string("payments/email/reminder.html", context), "text/html")
    message.send()


def checkout_reminders_send(*, now: datetime | None = None, batch_size: int = 200) -> ReminderResult:
    """Seed 004's reminder rule: pending sessions created between CHECKOUT_REMINDER_AFTER_HOURS
    (6) and CHECKOUT_REMINDER_UNTIL_HOURS (24) ago, with fewer than CHECKOUT_REMINDER_MAX_ATTEMPTS
    (3) attempts and an e-mail address, get one reminder, ever. Each is claimed by a conditional
    UPDATE of `reminder_sent_at` before sending, so two runs never send twice; a failed send
    releases the claim for the next run."""
    now = now or timezone.now()
    candidates = (
        CheckoutSession.objects.filter(
            status=Status.PENDING,
            created_at__lte=now - timedelta(hours=settings.CHECKOUT_REMINDER_AFTER_HOURS),
            created_at__gte=now - timedelta(hours=settings.CHECKOUT_REMINDER_UNTIL_HOURS),
            attempts__lt=settings.CHECKOUT_REMINDER_MAX_ATTEMPTS,
            reminder_sent_at__isnull=True,
        )
        .exclude(email="")
        .order_by("id")
    )
    seen = sent = failed = 0
    last_id = None
    while True:
        page = candidates if last_id is None else candidates.filter(id__gt=last_id)
        batch = list(page.select_related("store", "plan")[:batch_size])
        if not batch:
            break
        last_id = batch[-1].id
        for session in batch:
            seen += 1
            claimed = CheckoutSession.objects.filter(
                pk=session.pk, status=Status.PENDING, reminder_sent_at__isnull=True
            ).update(reminder_sent_at=now)
            if not claimed:
                continue
            try:
                _reminder_send(session)
            except Exception:
                logger.exception("payment reminder failed", extra={"checkout_session": str(session.pk)})
                CheckoutSession.objects.filter(pk=session.pk, reminder_sent_at=now).update(reminder_sent_at=None)
                failed += 1
            else:
                sent += 1
    return ReminderResult(candidates=seen, sent=sent, failed=failed)


def checkout_sessions_cleanup(
    *, now: datetime | None = None, older_than_days: int | None = None, batch_size: int = 1000
) -> int:
    """Deletes completed sessions completed more than CHECKOUT_RETENTION_DAYS (90) ago, in
    keyset batches. Returns how many."""
    now = now or timezone.now()
    days = settings.CHECKOUT_RETENTION_DAYS if older_than_days is None else older_than_days
    retention_days_check(days)
    old = CheckoutSession.objects.filter(status=Status.COMPLETED, completed_at__lt=now - timedelta(days=days))
    deleted = 0
    last_id = None
    while True:
        page = old if last_id is None else old.filter(id__gt=last_id)
        ids = list(page.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        last_id = ids[-1]
        deleted += old.filter(id__in=ids).delete()[1].get(CheckoutSession._meta.label, 0)
    return deleted
