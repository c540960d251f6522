"""Bulk event ids: seed 001's format, one millisecond's prefix, random suffixes spread evenly over
the 36 characters (no character favoured by the byte-to-character mapping)."""

import re
from collections import Counter

from tracking.models import _id_chars, event_ids_new


def test_bulk_ids_have_the_seed_format_and_are_distinct():
    ids = event_ids_new(1000, 1_700_000_000_123)

    assert len(ids) == 1000 == len(set(ids))
    assert all(re.fullmatch(r"cart-event-1700000000123-[a-z0-9]{7}", event_id) for event_id in ids)


def test_suffix_characters_are_spread_evenly():
    counts = Counter(_id_chars(36 * 10_000))

    assert set(counts) == set("abcdefghijklmnopqrstuvwxyz0123456789")
    # 10,000 expected per character, standard deviation about 100: 6 sigma either way.
    assert all(9_400 < count < 10_600 for count in counts.values())


def test_exactly_as_many_characters_as_asked():
    assert [len(_id_chars(n)) for n in (0, 1, 7, 700, 7001)] == [0, 1, 7, 700, 7001]
