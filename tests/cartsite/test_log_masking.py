"""cartsite.logging.mask_text: every e-mail address and phone number masked, other text untouched."""

import pytest

from cartsite.logging import mask_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail to ada@example.com now", "mail to a***@example.com now"),
        ("call +49 30 1234567 today", "call +*********67 today"),
        ("call (030) 123-4567", "call ********67"),
        ("POST /api/carts/ada%2Bshop@example.com", "POST /api/carts/a***@example.com"),
    ],
)
def test_contact_data_is_masked(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "POST /api/cart-tracking/track 200",
        "order 1234567890 paid 19.90",
        "price (incl. tax) +5",
        "",
    ],
)
def test_other_text_is_left_alone(text):
    assert mask_text(text) == text
