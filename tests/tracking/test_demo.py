"""The demo seed: events for both demo stores, idempotent."""

from io import StringIO

from carts.demo import DEMO_SECOND_STORE_NAME, DEMO_STORE_NAME
from tracking.demo import DEMO_EVENTS_PER_STORE, demo_seed
from tracking.models import EVENT_ID_PATTERN, CartTrackingEvent


def test_demo_seed_creates_events_for_both_stores_once(db):
    out = StringIO()

    demo_seed(stdout=out)
    first_ids = set(CartTrackingEvent.objects.values_list("id", flat=True))
    demo_seed(stdout=out)

    counts = {
        name: CartTrackingEvent.objects.filter(store_name=name).count()
        for name in (DEMO_STORE_NAME, DEMO_SECOND_STORE_NAME)
    }
    assert counts == {DEMO_STORE_NAME: DEMO_EVENTS_PER_STORE, DEMO_SECOND_STORE_NAME: DEMO_EVENTS_PER_STORE}
    assert all(EVENT_ID_PATTERN.match(i) for i in CartTrackingEvent.objects.values_list("id", flat=True))
    assert first_ids.isdisjoint(CartTrackingEvent.objects.values_list("id", flat=True))
    assert out.getvalue().count("demo tracking events") == 4
