"""An event whose ids and title are long in multi-byte characters is stored (its title cut),
never refused by the analytics index's entry-size limit with a 500."""

import json
import random

import pytest

from tracking.inputs import INDEXED_TEXT_MAX_BYTES, event_input_clean
from tracking.models import CartTrackingEvent

TRACK = "/api/cart-tracking/track"
WIDE = "\U0001f6d2"  # 4 bytes in UTF-8


def wide_text(length: int, seed: int) -> str:
    """Random 4-byte characters: text PostgreSQL cannot compress into a smaller index entry."""
    chance = random.Random(seed)
    return "".join(chr(chance.randrange(0x20000, 0x2A6DF)) for _ in range(length))


def widest_event() -> dict:
    return {
        "storeName": "myshop",
        "productId": wide_text(255, 1),
        "sessionId": wide_text(255, 2),
        "productTitle": wide_text(500, 3),
    }


def test_ordinary_titles_are_left_whole():
    event = event_input_clean({"storeName": "myshop", "productId": "p1", "productTitle": "é" * 500})

    assert event.product_title == "é" * 500


def test_the_title_is_cut_to_the_budget_at_a_character_boundary():
    event = event_input_clean(
        {"storeName": "myshop", "productId": WIDE * 255, "sessionId": WIDE * 255, "productTitle": "ab" + WIDE * 498}
    )

    size = sum(len(text.encode()) for text in (event.product_id, event.session_id, event.product_title))
    assert size <= INDEXED_TEXT_MAX_BYTES
    assert event.product_title.startswith("ab" + WIDE)
    assert event.product_title.encode().decode() == event.product_title


@pytest.mark.django_db(transaction=True)
def test_the_widest_event_the_rules_allow_is_stored(storefront_client):
    body = widest_event()

    response = storefront_client.post(TRACK, data=json.dumps(body), content_type="application/json")

    assert response.status_code == 200
    row = CartTrackingEvent.objects.get(pk=response.json()["data"]["id"])
    assert (row.product_id, row.session_id) == (body["productId"], body["sessionId"])
    assert body["productTitle"].startswith(row.product_title)
    assert 0 < len(row.product_title) < 500


@pytest.mark.django_db(transaction=True)
def test_the_widest_events_are_stored_in_bulk(storefront_client):
    event = widest_event()

    response = storefront_client.post(
        f"{TRACK}/bulk", data=json.dumps({"events": [event, event]}), content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["data"]["accepted"] == 2
    assert CartTrackingEvent.objects.count() == 2
