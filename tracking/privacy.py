"""Erasure of one customer's data from tracking events (API.md "Erasure"), set-based.

An event belongs to the customer when it carries their e-mail address or when it was recorded in
the session of one of their carts (events often carry no e-mail at all, but the session ties them
to the person). Such events keep what describes the product (product, variant, title, URL,
clothing image, store, time) and lose what describes the person: e-mail, names, IP address, user
agent, and the person's photo and the image generated from it (so `generatedImageShare` counts
erased events as events without a generated image).
"""

from django.db.models import Q

from carts.models import Store
from carts.privacy import customer_carts, customer_email_normalise
from tracking.models import CartTrackingEvent

ERASED_FIELDS = {
    "customer_email": None,
    "customer_first_name": None,
    "customer_last_name": None,
    "ip_address": None,
    "user_agent": None,
    "person_image_url": None,
    "generated_image_url": None,
}
PERSONAL = (
    Q(customer_email__isnull=False)
    | Q(customer_first_name__isnull=False)
    | Q(customer_last_name__isnull=False)
    | Q(ip_address__isnull=False)
    | Q(user_agent__isnull=False)
    | Q(person_image_url__isnull=False)
    | Q(generated_image_url__isnull=False)
)


def event_erase_customer(*, store: Store, email: str | None = None, user_id: str | None = None) -> int:
    """Clears the personal fields of the customer's events in `store`; returns how many events.

    Must run before `carts.privacy.cart_erase_customer` (it finds the sessions through the carts).
    Events already without personal fields are not counted twice."""
    email = customer_email_normalise(email)
    sessions = customer_carts(store=store, email=email, user_id=user_id).values("session_token")
    match = Q(session_id__in=sessions)
    if email:
        match |= Q(customer_email=email)
    events = CartTrackingEvent.objects.filter(match, store_name=store.name).filter(PERSONAL)
    return events.update(**ERASED_FIELDS)
