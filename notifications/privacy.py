"""Erasure of one customer's data from the reminder log (API.md "Erasure"), set-based, and the
suppression that keeps them from ever getting a reminder again.

The reminder rows of the customer's carts keep what the statistics need (stage, channel, status,
attempts, times, clicks) and lose what points at the person: the recipient hash (the frequency
cap no longer needs it: the contact is suppressed) and the last error text (a provider's error
may quote the address or number). Every e-mail address and phone number of the customer (the
one named in the request and those on their carts) is added to the store's suppression list as a
hash, the same `contact_hash` the sweep and unsubscribe use: the sweep skips any cart with a
suppressed contact, also a new cart made later with the same address or number.
"""

from django.db.models import Q

from carts.models import Store
from carts.privacy import customer_carts, customer_email_normalise
from notifications.models import ReminderMessage, Suppression, contact_hash

ERASURE_REASON = "erasure"


def suppression_add_for_customer(*, store: Store, email: str | None = None, user_id: str | None = None) -> int:
    """Suppresses (by hash) the customer's e-mail addresses and phone numbers in `store`;
    idempotent. Returns how many distinct contacts were named (new or already suppressed)."""
    email = customer_email_normalise(email)
    contacts = set()
    if email:
        contacts.add((Suppression.Kind.EMAIL, contact_hash(Suppression.Kind.EMAIL, email)))
    for cart_email, cart_phone in customer_carts(store=store, email=email, user_id=user_id).values_list(
        "email", "phone"
    ):
        contacts.add((Suppression.Kind.EMAIL, contact_hash(Suppression.Kind.EMAIL, cart_email)))
        contacts.add((Suppression.Kind.PHONE, contact_hash(Suppression.Kind.PHONE, cart_phone)))
    rows = [
        Suppression(store=store, kind=kind, value_hash=value_hash, reason=ERASURE_REASON)
        for kind, value_hash in sorted(contacts)
        if value_hash
    ]
    Suppression.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def reminder_erase_customer(*, store: Store, email: str | None = None, user_id: str | None = None) -> int:
    """Suppresses the customer's contacts and clears the contact-bearing fields of the reminder
    messages of their carts in `store`; returns how many messages.

    Must run before `carts.privacy.cart_erase_customer` (it reads the contacts on the carts)."""
    suppression_add_for_customer(store=store, email=email, user_id=user_id)
    carts = customer_carts(store=store, email=email, user_id=user_id).values("id")
    messages = ReminderMessage.objects.filter(store=store, cart__in=carts).filter(
        ~Q(recipient_hash="") | ~Q(last_error="")
    )
    return messages.update(recipient_hash="", last_error="")
