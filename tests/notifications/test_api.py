"""The doors of API.md "Abandonment notifications": staff API, recovery and unsubscribe pages."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from carts.services import cart_mark_converted
from notifications import links
from notifications.models import ReminderMessage, Suppression
from notifications.services import sweep_run

pytestmark = pytest.mark.django_db

PROCESS = "/admin/cart-abandonment/process"
STATS = "/admin/cart-abandonment"


def test_process_answers_the_summary(staff_client, due_cart, fake_whatsapp):
    # given two due carts, one without WhatsApp consent
    due_cart(email="a@example.com", phone="+4915100000001")
    due_cart(email="b@example.com", phone="+4915100000002", whatsapp_consent=False)

    # when staff run the sweep with the defaults
    response = staff_client.post(PROCESS, {}, format="json")

    # then three messages went out and the body says so
    assert response.status_code == 200
    assert response.json() == {
        "processed": 2,
        "firstSent": 3,
        "secondSent": 0,
        "skipped": 1,
        "errors": 0,
        "nextCursor": None,
        "byChannel": {"whatsapp": {"sent": 1, "failed": 0}, "email": {"sent": 2, "failed": 0}},
        "skippedByReason": {"no_consent": 1},
        "batches": 1,
        "dryRun": False,
    }
    assert len(fake_whatsapp.requests) == 1


def test_process_without_a_body_uses_the_defaults(staff_client, due_cart, fake_whatsapp):
    due_cart(hours=23)

    response = staff_client.post(PROCESS)

    assert response.status_code == 200
    assert (response.json()["processed"], response.json()["firstSent"]) == (0, 0)


def test_process_options_delays_channels_and_dry_run(staff_client, due_cart, fake_whatsapp):
    # given a cart idle for 13 hours
    due_cart(hours=13)

    # when staff dry-run with 12/36 h delays, e-mail only
    response = staff_client.post(
        PROCESS,
        {
            "firstNotificationDelayHours": 12,
            "secondNotificationDelayHours": 36,
            "enableWhatsApp": False,
            "enableEmail": True,
            "dryRun": True,
        },
        format="json",
    )

    # then one e-mail would go out, and nothing was written or sent
    assert response.status_code == 200
    assert (response.json()["firstSent"], response.json()["dryRun"]) == (1, True)
    assert ReminderMessage.objects.count() == 0
    assert fake_whatsapp.requests == []


def test_single_batch_and_cursor_walk_the_carts(staff_client, due_cart, fake_whatsapp):
    for i in range(3):
        due_cart(email=f"c{i}@example.com", phone=f"+491510000000{i}", whatsapp_consent=False)

    first = staff_client.post(PROCESS, {"batchSize": 2, "singleBatch": True}, format="json").json()
    second = staff_client.post(PROCESS, {"batchSize": 2, "cursor": first["nextCursor"]}, format="json").json()

    assert (first["processed"], first["firstSent"], second["processed"], second["firstSent"]) == (2, 2, 1, 1)
    assert isinstance(first["nextCursor"], str)
    assert second["nextCursor"] is None


def test_a_forged_cursor_is_a_400(staff_client):
    forged = links.cursor_encode(after="00000000-0000-0000-0000-000000000001")
    forged = forged[:10] + ("A" if forged[10] != "A" else "B") + forged[11:]

    response = staff_client.post(PROCESS, {"cursor": forged}, format="json")
    garbage = staff_client.post(PROCESS, {"cursor": "not base64 at all!"}, format="json")

    expected = {
        "status": "error",
        "error": "Validation Error",
        "message": "cursor is not valid",
        "details": {"field": "cursor", "reason": "Invalid or forged cursor"},
    }
    assert (response.status_code, response.json()) == (400, expected)
    assert (garbage.status_code, garbage.json()) == (400, expected)


def test_delays_in_the_wrong_order_are_a_400(staff_client):
    response = staff_client.post(
        PROCESS, {"firstNotificationDelayHours": 48, "secondNotificationDelayHours": 24}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "error": "Validation Error",
        "message": "secondNotificationDelayHours must be greater than firstNotificationDelayHours",
        "details": {
            "field": "secondNotificationDelayHours",
            "reason": "Must be greater than firstNotificationDelayHours",
        },
    }


def test_malformed_json_is_a_400(staff_client):
    response = staff_client.generic("POST", PROCESS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "Validation Error"


@pytest.mark.parametrize("path", [PROCESS, STATS])
def test_only_staff_may_call(path, anonymous_client, storefront_client, merchant_client):
    call = "post" if path == PROCESS else "get"
    assert getattr(anonymous_client, call)(path).status_code == 401
    assert getattr(storefront_client, call)(path).status_code == 403
    assert getattr(merchant_client, call)(path).status_code == 403


def test_staff_act_on_their_own_stores_only(staff_client, due_cart, make_cart, other_store, fake_whatsapp, now):
    # given a due cart in the staff's store and one in another store
    mine = due_cart(email="mine@example.com")
    theirs = make_cart(
        store=other_store,
        email="theirs@example.com",
        email_consent=True,
        last_activity_at=now - timedelta(hours=30),
    )

    # when staff run the sweep without a store, and name the other store
    response = staff_client.post(PROCESS, {"enableWhatsApp": False}, format="json")
    forbidden = staff_client.post(PROCESS, {"store": other_store.name}, format="json")

    # then only their store's cart is served, and the other store is a 403
    assert response.json()["firstSent"] == 1
    assert ReminderMessage.objects.filter(cart=mine).count() == 1
    assert not ReminderMessage.objects.filter(cart=theirs).exists()
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "Forbidden"


def test_statistics_answer_the_documented_body(staff_client, store, due_cart, make_cart, fake_whatsapp, now):
    # given two reminded carts (one recovered with 30.00), a failed WhatsApp send, a click, a fresh cart
    # (the sweep goes by last activity, oldest first: the recovered cart's WhatsApp send is the first)
    recovered = due_cart(hours=31, email="r@example.com", phone="+4915100000001")
    due_cart(hours=30, email="n@example.com", phone="+4915100000002", email_consent=False)
    make_cart(idle=timedelta(minutes=5))
    fake_whatsapp.fail_next(131026)
    sweep_run(now=now - timedelta(hours=2))
    message = ReminderMessage.objects.filter(cart=recovered, status="sent").order_by("channel").first()
    Client().get(f"/r/{links.recovery_token(message_id=message.id)}")
    cart_mark_converted(cart_id=recovered.id, amount=Decimal("30.00"), converted_at=now - timedelta(hours=1))

    # when staff read the statistics
    response = staff_client.get(STATS)

    # then every number matches
    assert response.status_code == 200
    body = response.json()
    whatsapp_sent = ReminderMessage.objects.filter(channel="whatsapp", status="sent").count()
    assert body == {
        "totalCarts": 3,
        "abandonedCarts": 1,
        "firstSent": 2,
        "secondSent": 0,
        "byChannel": {
            "whatsapp": {"sent": whatsapp_sent, "failed": 1},
            "email": {"sent": 1, "failed": 0},
        },
        "errors": 1,
        "clicks": 1,
        "recoveredCarts": 1,
        "recoveryRate": 0.5,
        "recoveredRevenue": 30.0,
        "holdout": {"carts": 0, "converted": 0},
        "remindedCarts": 2,
        "lift": None,
    }


def test_cart_metadata_in_the_seed_shape(staff_client, due_cart, fake_whatsapp, now, other_store, make_cart):
    cart = due_cart(email_consent=False)
    fake_whatsapp.fail_next(130429)
    sweep_run(now=now)

    response = staff_client.get(f"/admin/cart-abandonment/carts/{cart.id}")
    other = make_cart(store=other_store)
    hidden = staff_client.get(f"/admin/cart-abandonment/carts/{other.id}")

    assert response.status_code == 200
    assert response.json()["notifications"] == {
        "firstSent": False,
        "secondSent": False,
        "firstSentAt": None,
        "secondSentAt": None,
        "firstError": "[130429] (#130429) fake Graph error",
        "secondError": None,
    }
    assert response.json()["messages"][0]["status"] == "failed"
    assert hidden.status_code == 404


# --- recovery and unsubscribe pages -------------------------------------------------------


def test_recovery_link_counts_the_click_and_redirects_with_the_session_token(store, due_cart, now):
    # given a store whose recovery URL has its own query, and a sent reminder
    store.recovery_url = "https://shop.example/cart?utm_source=reminder&lang=de"
    store.save()
    cart = due_cart(session_token="sess-123", phone="")
    sweep_run(now=now, enable_whatsapp=False)
    message = ReminderMessage.objects.get(cart=cart)
    token = links.recovery_token(message_id=message.id)

    # when the customer clicks twice
    first = Client().get(f"/r/{token}")
    second = Client().get(f"/r/{token}")

    # then 302 to the recovery URL with cart_session added, both clicks counted, first time kept
    assert first.status_code == 302
    assert first["Location"] == "https://shop.example/cart?utm_source=reminder&lang=de&cart_session=sess-123"
    assert second.status_code == 302
    message.refresh_from_db()
    assert message.click_count == 2
    assert message.clicked_at is not None


def test_recovery_link_defaults_to_the_store_cart_page(store, due_cart, now):
    cart = due_cart(session_token="abc def", phone="")
    sweep_run(now=now, enable_whatsapp=False)
    message = ReminderMessage.objects.get(cart=cart)

    response = Client().get(f"/r/{links.recovery_token(message_id=message.id)}")

    assert response["Location"] == "https://myshop.myshopify.com/cart?cart_session=abc+def"


def test_forged_or_expired_recovery_links_are_a_404_page(due_cart, now, settings):
    cart = due_cart(phone="")
    sweep_run(now=now, enable_whatsapp=False)
    token = links.recovery_token(message_id=ReminderMessage.objects.get(cart=cart).id)

    forged = Client().get(f"/r/{token[:-3]}xyz")
    settings.RECOVERY_LINK_MAX_AGE_DAYS = -1
    expired = Client().get(f"/r/{token}")

    for response in (forged, expired):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        assert b"This link is not valid" in response.content
    assert ReminderMessage.objects.get(cart=cart).click_count == 0


def test_the_link_in_the_email_is_the_recovery_link(due_cart, now):
    from django.core import mail

    cart = due_cart(phone="", session_token="from-mail")
    sweep_run(now=now, enable_whatsapp=False)

    link = next(word for word in mail.outbox[0].body.split() if word.startswith("http://testserver/r/"))
    response = Client().get(link.removeprefix("http://testserver"))

    assert response["Location"] == "https://myshop.myshopify.com/cart?cart_session=from-mail"
    assert ReminderMessage.objects.get(cart=cart).click_count == 1


def test_unsubscribe_page_and_one_click_post_are_idempotent(due_cart, now, store):
    # given a cart and its unsubscribe link
    cart = due_cart()
    path = f"/u/{links.unsubscribe_token(cart_id=cart.id)}"
    client = Client(enforce_csrf_checks=True)

    # when the customer opens the page, then mail providers one-click POST twice
    page = client.get(path)
    first = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    second = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    # then a confirm page, two successes, and both contacts suppressed once
    assert page.status_code == 200
    assert b'<form method="post"' in page.content
    assert (first.status_code, second.status_code) == (200, 200)
    assert b"You are unsubscribed" in second.content
    assert Suppression.objects.filter(store=store).count() == 2
    summary = sweep_run(now=now, enable_whatsapp=True)
    assert summary.first_sent == 0
    assert summary.skipped_by_reason == {"unsubscribed": 2}


def test_forged_unsubscribe_link_is_a_404_page(due_cart):
    cart = due_cart()
    token = links.unsubscribe_token(cart_id=cart.id)

    assert Client().get(f"/u/{token}x").status_code == 404
    assert Client().post(f"/u/{token}x").status_code == 404
    assert Client().get(f"/u/{links.recovery_token(message_id=1)}").status_code == 404
    assert Suppression.objects.count() == 0


def test_unsubscribe_get_changes_nothing(due_cart):
    cart = due_cart()
    Client().get(f"/u/{links.unsubscribe_token(cart_id=cart.id)}")
    assert Suppression.objects.count() == 0


def test_a_malformed_cart_id_is_an_envelope_404(staff_client):
    response = staff_client.get("/admin/cart-abandonment/carts/not-a-uuid")

    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "Not Found", "message": "No such cart"}


@pytest.mark.parametrize("hours", [-1, 8785, 6.9e307])
def test_delays_out_of_range_are_a_400(staff_client, hours):
    response = staff_client.post(
        PROCESS, {"firstNotificationDelayHours": 0, "secondNotificationDelayHours": hours}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["details"]["field"] == "secondNotificationDelayHours"


@pytest.mark.parametrize(
    ("store_name", "status", "reason"),
    [
        # A NUL anywhere in a URL is refused before the view (cartsite.middleware.NulInUrlMiddleware).
        ("a\x00b", 400, "Must not contain NUL characters"),
        ("", 200, None),
        ("x" * 300, 400, "Invalid store name"),
    ],
)
def test_odd_store_names_are_a_400_not_a_server_error(staff_client, store_name, status, reason):
    response = staff_client.get(STATS, {"store": store_name})

    assert response.status_code == status
    if status == 400:
        assert response.json()["details"] == {"field": "store", "reason": reason}
