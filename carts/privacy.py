"""Erasure of one customer's data from carts (API.md "Erasure"), set-based.

A customer is named by e-mail address or by the shop's own user id, inside one store. Their carts
lose every contact field (e-mail, phone, names, user id, consent records) in one UPDATE; items,
totals and timestamps stay, so aggregate reports (abandoned value, recovered revenue) still add up.

`customer_carts()` is the one definition of "this customer's carts": the other apps' erasure
services read it before this module clears the fields it matches on, so `cartsite.privacy` runs
them first and this one last.
"""

from django.db.models import Q, QuerySet

from carts.models import Cart, Store

ERASED_CONTACT = {
    "email": "",
    "phone": "",
    "first_name": "",
    "last_name": "",
    "user_id": "",
    "email_consent": False,
    "email_consent_at": None,
    "email_consent_source": "",
    "whatsapp_consent": False,
    "whatsapp_consent_at": None,
    "whatsapp_consent_source": "",
}


def customer_email_normalise(email: str | None) -> str:
    """E-mail addresses are stored lower-cased and trimmed by every door; match them the same way."""
    return (email or "").strip().lower()


def customer_carts(*, store: Store, email: str | None = None, user_id: str | None = None) -> QuerySet[Cart]:
    """The customer's carts in `store`: those with this e-mail address or this user id.

    Neither given: no carts (an erasure request must name the customer)."""
    email = customer_email_normalise(email)
    user_id = (user_id or "").strip()
    match = Q()
    if email:
        match |= Q(email=email)
    if user_id:
        match |= Q(user_id=user_id)
    if not match:
        return Cart.objects.none()
    return Cart.objects.filter(match, store=store)


def customer_carts_lock(*, store: Store, email: str | None = None, user_id: str | None = None) -> list:
    """Locks the customer's carts (FOR UPDATE, in id order so two erasures cannot deadlock) until
    the surrounding transaction ends: a concurrent sync of one of them waits for the erasure and
    then writes on top of the cleared row, never the other way round. Returns their ids."""
    carts = customer_carts(store=store, email=email, user_id=user_id).order_by("id").select_for_update()
    return list(carts.values_list("id", flat=True))


def cart_erase_customer(*, store: Store, email: str | None = None, user_id: str | None = None) -> int:
    """Clears every contact field of the customer's carts in `store`; returns how many carts.

    Items, totals, currency, timestamps and conversion data are kept: they describe the shop's
    sales, not the person, once the contact fields are gone."""
    return customer_carts(store=store, email=email, user_id=user_id).update(**ERASED_CONTACT)
