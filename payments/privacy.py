"""Erasure of one customer's data from checkout sessions (API.md "Erasure"), set-based.

The customer's sessions in the store (by e-mail, by user id, or for one of their carts) keep what
the shop must keep about a sale (amount, currency, plan, status, times, Stripe ids) and lose who
bought it: the e-mail address is cleared, the user id is replaced by `erased:<session id>` (unique,
so the "one pending session per user and plan" constraint still holds), `userId`/`email` leave
the metadata. Subscriptions of the customer lose their e-mail address too, and the stored Stripe
events of those sessions lose the customer details Stripe sent (e-mail, name, phone, address).
"""

from django.db import connection
from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat

from carts.models import Store
from carts.privacy import customer_carts, customer_email_normalise
from payments.models import CheckoutSession, Subscription

ERASED_USER_PREFIX = "erased:"

# Stripe's checkout.session object carries the customer here (data.object.*).
STRIPE_EVENT_SCRUB_SQL = """
UPDATE payments_stripeevent
SET payload = jsonb_set(
        jsonb_set(payload, '{data,object,customer_details}', 'null'::jsonb, false),
        '{data,object,customer_email}', 'null'::jsonb, false)
WHERE payload #>> '{data,object,id}' = ANY(%s)
"""


def checkout_erase_customer(*, store: Store, email: str | None = None, user_id: str | None = None) -> int:
    """Anonymises the customer's checkout sessions in `store`; returns how many sessions.

    Must run before `carts.privacy.cart_erase_customer` (cart purchases are found through the
    customer's carts)."""
    email = customer_email_normalise(email)
    user_id = (user_id or "").strip()
    match = Q(cart__in=customer_carts(store=store, email=email, user_id=user_id).values("id"))
    if email:
        match |= Q(email__iexact=email)
    if user_id:
        match |= Q(user_id=user_id)
    sessions = CheckoutSession.objects.filter(match, store=store).exclude(
        email="", user_id__startswith=ERASED_USER_PREFIX
    )
    stripe_ids = [sid for sid in sessions.values_list("stripe_session_id", flat=True) if sid]
    session_ids = list(sessions.values_list("id", flat=True))
    if not session_ids:
        return 0

    subscriptions = Subscription.objects.filter(store=store).filter(
        Q(checkout_session_id__in=session_ids) | (Q(user_id=user_id) if user_id else Q(pk__in=[]))
    )
    subscriptions.update(email="")
    erased = CheckoutSession.objects.filter(pk__in=session_ids)
    changes = {"email": "", "user_id": Concat(Value(ERASED_USER_PREFIX), Cast("id", output_field=CharField()))}
    count = erased.update(**changes)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payments_checkoutsession SET metadata = metadata - 'userId' - 'email' WHERE id = ANY(%s)",
                [session_ids],
            )
            if stripe_ids:
                cursor.execute(STRIPE_EVENT_SCRUB_SQL, [stripe_ids])
    else:
        for session in erased.only("id", "metadata"):
            metadata = {k: v for k, v in (session.metadata or {}).items() if k not in ("userId", "email")}
            CheckoutSession.objects.filter(pk=session.pk).update(metadata=metadata)
    return count
