"""The sweep's rules: timing, eligibility, the cap, retries, holdout and attribution."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache

from carts.models import Cart
from carts.services import cart_mark_converted
from cartsite.errors import ValidationFailed
from notifications import links, services
from notifications.models import CartOutcome, ReminderMessage, Suppression, contact_hash
from notifications.selectors import cart_reminder_metadata, reminder_statistics
from notifications.services import (
    SWEEP_LOCK_KEY,
    attribution_refresh,
    cart_in_holdout,
    suppression_add_for_cart,
    sweep_run,
    sweep_run_exclusive,
)
from tests.fakes.redis_down import DEAD_REDIS

pytestmark = pytest.mark.django_db

EMAIL_ONLY = {"enable_whatsapp": False, "enable_email": True}


def sent_messages(cart, stage=None):
    rows = ReminderMessage.objects.filter(cart=cart, status=ReminderMessage.Status.SENT)
    return rows.filter(stage=stage) if stage else rows


# --- timing -------------------------------------------------------------------------------


def test_stage_one_is_due_exactly_at_the_first_delay_and_not_a_second_before(due_cart, now):
    # given one cart idle for exactly 24 h and one idle for 24 h minus one second
    inside = due_cart(hours=24, email="inside@example.com")
    outside = due_cart(last_activity_at=now - timedelta(hours=24) + timedelta(seconds=1), email="out@example.com")

    # when the sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then only the cart inside the delay got stage 1
    assert (summary.processed, summary.first_sent, summary.second_sent) == (1, 1, 0)
    assert sent_messages(inside, 1).count() == 1
    assert not ReminderMessage.objects.filter(cart=outside).exists()
    assert [m.to for m in mail.outbox] == [["inside@example.com"]]


def test_fractional_delays_are_hours(due_cart, now):
    # given a cart idle for 31 minutes and a first delay of half an hour
    cart = due_cart(last_activity_at=now - timedelta(minutes=31))

    # when the sweep runs with 0.5 h / 1.5 h
    summary = sweep_run(now=now, first_delay_hours=0.5, second_delay_hours=1.5, **EMAIL_ONLY)

    # then stage 1 went out
    assert summary.first_sent == 1
    assert sent_messages(cart, 1).get().sent_at == now


def test_stage_two_is_due_at_the_second_delay_once_stage_one_is_old_enough(due_cart, now):
    # given a cart that got stage 1 exactly at its first delay
    start = now - timedelta(hours=48)
    cart = due_cart(last_activity_at=start)
    assert sweep_run(now=start + timedelta(hours=24), **EMAIL_ONLY).first_sent == 1

    # when sweeps run a second before and exactly at the second delay
    early = sweep_run(now=start + timedelta(hours=48) - timedelta(seconds=1), **EMAIL_ONLY)
    on_time = sweep_run(now=start + timedelta(hours=48), **EMAIL_ONLY)

    # then stage 2 goes out only at the second delay, once
    assert (early.first_sent, early.second_sent) == (0, 0)
    assert (on_time.first_sent, on_time.second_sent) == (0, 1)
    assert sent_messages(cart, 2).get().sent_at == start + timedelta(hours=48)
    assert len(mail.outbox) == 2


def test_stage_two_needs_stage_one_sent_the_difference_of_the_delays_earlier(due_cart, now):
    # given a cart idle for 72 h whose stage 1 went out 24 h minus one second ago
    cart = due_cart(hours=72)
    stage_one_at = now - timedelta(hours=24) + timedelta(seconds=1)
    assert sweep_run(now=stage_one_at, **EMAIL_ONLY).first_sent == 1

    # when sweeps run now (gap not reached) and one second later (gap reached)
    too_soon = sweep_run(now=now, **EMAIL_ONLY)
    gap_reached = sweep_run(now=now + timedelta(seconds=1), **EMAIL_ONLY)

    # then stage 2 waits for the full gap
    assert too_soon.second_sent == 0
    assert gap_reached.second_sent == 1
    assert sent_messages(cart).count() == 2


def test_a_sweep_down_for_three_days_sends_stage_one_only_then_stage_two_a_day_later(due_cart, now):
    # given a cart idle for three days that never got a reminder (the sweep was down)
    cart = due_cart(hours=72, phone="")

    # when the sweep comes back, then runs again 23 h 59 min and 24 h later
    back = sweep_run(now=now, **EMAIL_ONLY)
    next_hours = sweep_run(now=now + timedelta(hours=23, minutes=59), **EMAIL_ONLY)
    next_day = sweep_run(now=now + timedelta(hours=24), **EMAIL_ONLY)

    # then stage 1 first, nothing in between, stage 2 a day later
    assert (back.first_sent, back.second_sent) == (1, 0)
    assert (next_hours.first_sent, next_hours.second_sent) == (0, 0)
    assert (next_day.first_sent, next_day.second_sent) == (0, 1)
    assert cart_reminder_metadata(cart_ids=[cart.id])[cart.id] == {
        "firstSent": True,
        "secondSent": True,
        "firstSentAt": now.isoformat().replace("+00:00", "Z"),
        "secondSentAt": (now + timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
        "firstError": None,
        "secondError": None,
    }


def test_second_delay_must_exceed_the_first():
    with pytest.raises(ValidationFailed) as error:
        sweep_run(first_delay_hours=24, second_delay_hours=24)
    assert error.value.details == {
        "field": "secondNotificationDelayHours",
        "reason": "Must be greater than firstNotificationDelayHours",
    }


# --- what blocks a send -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"email_consent": False}, "no_consent"),
        ({"email": ""}, "no_contact"),
    ],
)
def test_consent_and_contact_are_needed_per_channel(due_cart, now, fields, reason):
    # given a cart without e-mail consent or without an e-mail address
    cart = due_cart(**fields)

    # when the sweep runs for e-mail
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then nothing is sent and the reason is counted
    assert summary.first_sent == 0
    assert summary.skipped_by_reason == {reason: 1}
    assert not ReminderMessage.objects.filter(cart=cart).exists()
    assert mail.outbox == []


def test_whatsapp_consent_does_not_cover_email_and_the_reverse(due_cart, now, fake_whatsapp):
    # given a cart with WhatsApp consent only
    cart = due_cart(email_consent=False)

    # when the sweep runs for both channels
    summary = sweep_run(now=now)

    # then only WhatsApp is used
    assert summary.by_channel == {"whatsapp": {"sent": 1, "failed": 0}, "email": {"sent": 0, "failed": 0}}
    assert summary.skipped_by_reason == {"no_consent": 1}
    assert list(sent_messages(cart).values_list("channel", flat=True)) == ["whatsapp"]
    assert len(fake_whatsapp.requests) == 1
    assert mail.outbox == []


@pytest.mark.parametrize("kind", ["email", "phone"])
def test_an_unsubscribed_email_or_phone_blocks_every_channel(due_cart, now, fake_whatsapp, kind):
    # given a cart whose e-mail (or phone) was unsubscribed through another cart of the store
    cart = due_cart()
    other = due_cart(email="anna@example.com" if kind == "email" else "x@example.com", phone=cart.phone)
    if kind == "email":
        other.phone = "+4915199999999"
        other.save(update_fields=["phone"])
    suppression_add_for_cart(cart_id=other.id)
    ReminderMessage.objects.all().delete()

    # when the sweep runs
    summary = sweep_run(now=now)

    # then neither channel is used for the cart
    assert not sent_messages(cart).exists()
    assert summary.skipped_by_reason["unsubscribed"] >= 2
    assert [r.body["to"] for r in fake_whatsapp.requests if r.body["to"] == cart.phone] == []
    assert "anna@example.com" not in [m.to[0] for m in mail.outbox]


def test_converted_and_removed_carts_are_never_messaged(due_cart, now):
    # given a converted and a removed cart, both long abandoned
    converted = due_cart(hours=30, email="c@example.com")
    due_cart(hours=30, email="r@example.com", removed_at=now - timedelta(hours=2))
    cart_mark_converted(cart_id=converted.id, amount=Decimal("10"), converted_at=now - timedelta(hours=1))

    # when the sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then neither is even scanned
    assert (summary.processed, summary.first_sent) == (0, 0)
    assert ReminderMessage.objects.count() == 0


def test_a_conversion_after_stage_one_stops_stage_two(due_cart, now):
    # given a cart that got stage 1 and then converted
    cart = due_cart(hours=48)
    sweep_run(now=now - timedelta(hours=24), **EMAIL_ONLY)
    cart_mark_converted(cart_id=cart.id, amount=Decimal("24.50"), converted_at=now - timedelta(hours=1))

    # when the sweep runs when stage 2 would be due
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then no stage 2
    assert summary.second_sent == 0
    assert sent_messages(cart).count() == 1


def test_frequency_cap_one_message_per_customer_and_channel_per_day_across_carts(due_cart, now):
    # given two abandoned carts of the same customer (same e-mail, other case and spacing)
    first = due_cart(hours=30)
    second = due_cart(hours=26, email="Anna@Example.com ")

    # when the sweep runs, again 23 h later, and 24 h later
    today = sweep_run(now=now, **EMAIL_ONLY)
    within_a_day = sweep_run(now=now + timedelta(hours=23), **EMAIL_ONLY)
    next_day = sweep_run(now=now + timedelta(hours=24), **EMAIL_ONLY)

    # then one e-mail a day reaches the customer, the other cart is capped each time
    assert (today.first_sent, today.skipped_by_reason) == (1, {"frequency_cap": 1})
    assert (within_a_day.first_sent + within_a_day.second_sent, within_a_day.skipped) == (0, 1)
    assert (next_day.first_sent + next_day.second_sent, next_day.skipped_by_reason) == (1, {"frequency_cap": 1})
    sent_times = sorted(
        ReminderMessage.objects.filter(cart__in=[first, second], status="sent").values_list("sent_at", flat=True)
    )
    assert sent_times == [now, now + timedelta(hours=24)]
    assert len(mail.outbox) == 2


def test_the_cap_does_not_hold_back_another_stage_of_the_same_cart(due_cart, now):
    # given delays of 6 h and 12 h: the stage gap (6 h) is shorter than the cap (24 h)
    cart = due_cart(hours=6)

    first = sweep_run(now=now, first_delay_hours=6, second_delay_hours=12, **EMAIL_ONLY)
    second = sweep_run(now=now + timedelta(hours=6), first_delay_hours=6, second_delay_hours=12, **EMAIL_ONLY)

    # then the configured delays govern the stages of one cart
    assert (first.first_sent, second.second_sent) == (1, 1)
    assert sent_messages(cart).count() == 2


def test_never_both_stages_in_one_sweep(due_cart, now, fake_whatsapp):
    # given a cart with stage 1 on WhatsApp a day ago, and e-mail consent given only since
    cart = due_cart(hours=60, email_consent=False)
    sweep_run(now=now - timedelta(hours=24))
    cart.email_consent = True
    cart.save(update_fields=["email_consent"])

    # when the sweep runs (stage 2 WhatsApp due, stage 1 e-mail also "due")
    summary = sweep_run(now=now)
    later = sweep_run(now=now + timedelta(hours=1))

    # then this sweep sends stage 2 only; stage 1 by e-mail waits for the next run
    assert (summary.first_sent, summary.second_sent) == (0, 1)
    assert (later.first_sent, later.second_sent) == (1, 0)
    assert sorted(sent_messages(cart).values_list("stage", "channel")) == [
        (1, "email"),
        (1, "whatsapp"),
        (2, "whatsapp"),
    ]


# --- failures and retries -----------------------------------------------------------------


def test_failed_send_is_recorded_and_retried_at_most_three_times(due_cart, now, fake_whatsapp):
    # given a WhatsApp API that always fails with a server error
    cart = due_cart(email_consent=False)
    fake_whatsapp.fail_always(131000)

    # when four sweeps run
    summaries = [sweep_run(now=now + timedelta(hours=i)) for i in range(4)]

    # then three attempts in all, the error kept, then no more tries
    message = ReminderMessage.objects.get(cart=cart)
    assert (message.status, message.attempts, message.error_kind) == ("failed", 3, "retry")
    assert message.last_error == "[131000] (#131000) fake Graph error"
    assert len(fake_whatsapp.requests) == 3
    assert [s.errors for s in summaries] == [1, 1, 1, 0]
    assert cart_reminder_metadata(cart_ids=[cart.id])[cart.id]["firstError"] == message.last_error


def test_a_failure_then_success_counts_the_attempts(due_cart, now, fake_whatsapp):
    cart = due_cart(email_consent=False)
    fake_whatsapp.fail_next(130429)

    first = sweep_run(now=now)
    second = sweep_run(now=now + timedelta(hours=1))

    message = ReminderMessage.objects.get(cart=cart)
    assert (first.errors, second.first_sent) == (1, 1)
    assert (message.status, message.attempts, message.last_error, message.error_kind) == ("sent", 2, "", "")
    assert message.provider_message_id.startswith("wamid.FAKE")


@pytest.mark.parametrize(
    ("code", "kind", "retried"),
    [
        (4, "retry", True),
        (80007, "retry", True),
        (130429, "retry", True),
        (131048, "retry", True),
        (131056, "retry", True),
        (131000, "retry", True),
        (133004, "retry", True),
        (190, "alert", True),
        (131026, "final", False),
        (131047, "final", False),
        (131051, "final", False),
        (132000, "final", False),
        (132001, "final", False),
    ],
)
def test_each_whatsapp_error_code_has_its_documented_outcome(due_cart, now, fake_whatsapp, caplog, code, kind, retried):
    # given a Cloud API that answers one Graph error with its HTTP status
    cart = due_cart(email_consent=False)
    fake_whatsapp.fail_next(code)

    # when the sweep runs twice
    with caplog.at_level(logging.WARNING):
        sweep_run(now=now)
    after_first = ReminderMessage.objects.get(cart=cart)
    sweep_run(now=now + timedelta(hours=1))

    # then the error is classified; retry and alert try again, final never does
    assert (after_first.status, after_first.error_kind) == ("failed", kind)
    assert after_first.last_error.startswith(f"[{code}]")
    assert len(fake_whatsapp.requests) == (2 if retried else 1)
    final = ReminderMessage.objects.get(cart=cart)
    assert final.status == ("sent" if retried else "failed")
    alerts = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.getMessage() == "whatsapp credentials rejected"
    ]
    assert len(alerts) == (1 if kind == "alert" else 0)


def test_a_timeout_is_retried_later(due_cart, now, fake_whatsapp, settings):
    cart = due_cart(email_consent=False)
    fake_whatsapp.delay_seconds = 1.0
    settings.WHATSAPP_TIMEOUT_SECONDS = 0.2

    summary = sweep_run(now=now)

    message = ReminderMessage.objects.get(cart=cart)
    assert summary.errors == 1
    assert (message.status, message.error_kind) == ("failed", "retry")
    assert message.last_error.startswith("WhatsApp API unreachable")


def test_one_broken_cart_never_stops_the_batch(due_cart, now):
    # given a cart whose items cannot be rendered, and a healthy one
    broken = due_cart(email="b@example.com")
    Cart.objects.filter(pk=broken.pk).update(items=[{"productId": "x", "quantity": 1, "price": "not-a-number"}])
    healthy = due_cart(email="h@example.com")

    # when the sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then the healthy cart is served and the broken one recorded with its error
    assert (summary.first_sent, summary.errors) == (1, 1)
    assert sent_messages(healthy).count() == 1
    failed = ReminderMessage.objects.get(cart=broken)
    assert (failed.status, failed.error_kind) == ("failed", "retry")
    assert failed.last_error.startswith("InvalidOperation")


# --- batches, dry run, lock ---------------------------------------------------------------


def test_single_batch_returns_a_cursor_that_continues_after_it(due_cart, now):
    carts = sorted((due_cart(email=f"c{i}@example.com") for i in range(5)), key=lambda c: c.id)

    first = sweep_run(now=now, batch_size=2, single_batch=True, **EMAIL_ONLY)
    second = sweep_run(now=now, batch_size=2, cursor=first.next_cursor, **EMAIL_ONLY)
    third = sweep_run(now=now, batch_size=2, cursor=second.next_cursor, **EMAIL_ONLY)

    assert [first.processed, second.processed, third.processed] == [2, 2, 1]
    assert third.next_cursor is None
    assert links.cursor_decode(first.next_cursor)[1] == carts[1].id
    assert ReminderMessage.objects.filter(status="sent").count() == 5


def test_a_forged_cursor_is_a_validation_error():
    forged = links.cursor_encode(after="00000000-0000-0000-0000-000000000000")[:-6] + "AAAAAA"
    with pytest.raises(ValidationFailed):
        sweep_run(cursor=forged)


def test_dry_run_counts_and_writes_nothing(due_cart, now):
    due_cart(email="one@example.com")
    due_cart(email="two@example.com", email_consent=False)

    summary = sweep_run(now=now, dry_run=True, **EMAIL_ONLY)

    assert (summary.first_sent, summary.skipped_by_reason, summary.dry_run) == (1, {"no_consent": 1}, True)
    assert ReminderMessage.objects.count() == 0
    assert mail.outbox == []


def test_an_overlapping_run_skips_while_the_lock_is_held(due_cart, now):
    due_cart()
    cache.add(SWEEP_LOCK_KEY, "another-run", timeout=60)

    assert sweep_run_exclusive(now=now, **EMAIL_ONLY) is None
    assert ReminderMessage.objects.count() == 0

    cache.delete(SWEEP_LOCK_KEY)
    assert sweep_run_exclusive(now=now, **EMAIL_ONLY).first_sent == 1
    assert cache.get(SWEEP_LOCK_KEY) is None


# --- holdout and attribution --------------------------------------------------------------


def test_holdout_carts_are_never_messaged_and_recorded(due_cart, now, settings):
    settings.HOLDOUT_PERCENT = 100
    cart = due_cart()

    summary = sweep_run(now=now, **EMAIL_ONLY)
    again = sweep_run(now=now + timedelta(days=2), **EMAIL_ONLY)

    assert summary.skipped_by_reason == {"holdout": 1}
    assert again.first_sent + again.second_sent == 0
    row = ReminderMessage.objects.get(cart=cart)
    assert (row.status, row.skip_reason, row.stage, row.channel) == ("skipped", "holdout", 1, "email")
    outcome = CartOutcome.objects.get(cart=cart)
    assert (outcome.holdout, outcome.holdout_at) == (True, now)
    assert mail.outbox == []


def test_holdout_membership_is_deterministic(settings):
    settings.HOLDOUT_PERCENT = 30
    import uuid

    ids = [uuid.UUID(int=i * 7919) for i in range(1000)]
    members = [cart_in_holdout(i) for i in ids]
    assert members == [cart_in_holdout(i) for i in ids]
    assert 250 < sum(members) < 350


def test_attribution_and_lift_equal_a_recomputation_from_the_rows(due_cart, now, settings, store):
    # given 40 carts, half held out, reminded over two stages, some converting at various times
    settings.HOLDOUT_PERCENT = 50
    settings.ATTRIBUTION_WINDOW_DAYS = 7
    start = now - timedelta(days=20)
    carts = [due_cart(last_activity_at=start, email=f"c{i}@example.com", phone="") for i in range(40)]
    sweep_run(now=start + timedelta(hours=24), **EMAIL_ONLY)
    sweep_run(now=start + timedelta(hours=48), **EMAIL_ONLY)
    # conversions: 1 h after the last reminder, 6 days after, 8 days after (outside), none
    offsets = [timedelta(hours=1), timedelta(days=6), timedelta(days=8), None]
    for index, cart in enumerate(carts):
        offset = offsets[index % 4]
        if offset is not None:
            amount = None if index % 3 == 0 else Decimal(f"{10 + index}.50")
            cart_mark_converted(cart_id=cart.id, amount=amount, converted_at=start + timedelta(hours=48) + offset)

    # when attribution runs (twice: it is idempotent)
    attribution_refresh(now=now)
    attribution_refresh(now=now)
    statistics = reminder_statistics(now=now)

    # then the numbers equal a recomputation from the rows
    window = timedelta(days=7)
    reminded, recovered, revenue, credited = set(), set(), Decimal("0"), {}
    held_out, held_out_converted = set(), set()
    for cart in carts:
        cart.refresh_from_db()
        sent = list(ReminderMessage.objects.filter(cart=cart, status="sent").order_by("sent_at"))
        holdout_row = CartOutcome.objects.filter(cart=cart, holdout=True).first()
        if sent:
            reminded.add(cart.id)
            before = [m for m in sent if cart.converted_at and m.sent_at <= cart.converted_at]
            if before and cart.converted_at - before[-1].sent_at <= window:
                recovered.add(cart.id)
                revenue += cart.order_amount if cart.order_amount is not None else cart.total
                credited[cart.id] = (before[-1].stage, before[-1].channel)
        if holdout_row:
            held_out.add(cart.id)
            if cart.converted_at and timedelta(0) <= cart.converted_at - holdout_row.holdout_at <= window:
                held_out_converted.add(cart.id)
    assert len(reminded) + len(held_out) == 40
    assert 0 < len(held_out) < 40
    assert statistics.recovered_carts == len(recovered) > 0
    assert statistics.recovered_revenue == revenue
    assert statistics.holdout_carts == len(held_out)
    assert statistics.holdout_converted == len(held_out_converted)
    expected_rate = round(len(recovered) / len(reminded), 4)
    assert statistics.recovery_rate == expected_rate
    assert statistics.lift == round(expected_rate - round(len(held_out_converted) / len(held_out), 4), 4)
    assert {
        o.cart_id: (o.credited_stage, o.credited_channel) for o in CartOutcome.objects.filter(recovered=True)
    } == credited
    assert set(credited.values()) == {(2, "email")}


def test_a_conversion_before_any_reminder_is_not_recovered(due_cart, now):
    cart = due_cart(hours=30)
    sweep_run(now=now, **EMAIL_ONLY)
    cart_mark_converted(cart_id=cart.id, amount=Decimal("5"), converted_at=now - timedelta(minutes=1))

    attribution_refresh(now=now)

    assert not CartOutcome.objects.filter(recovered=True).exists()


def test_unsubscribe_stores_only_hashes_and_is_idempotent(due_cart):
    cart = due_cart()

    assert suppression_add_for_cart(cart_id=cart.id) == 2
    assert suppression_add_for_cart(cart_id=cart.id) == 2

    assert sorted(Suppression.objects.values_list("kind", "value_hash")) == [
        ("email", contact_hash("email", "anna@example.com")),
        ("phone", contact_hash("phone", "+4915112345678")),
    ]


def test_a_message_left_sending_by_a_dead_sweep_is_closed_and_never_resent(due_cart, now):
    # given a message claimed two hours ago by a sweep that died before recording the result
    cart = due_cart(hours=30, phone="")
    ReminderMessage.objects.create(
        cart=cart,
        store=cart.store,
        stage=1,
        channel="email",
        status="sending",
        attempts=1,
        attempted_at=now - timedelta(hours=2),
    )

    # when the next sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then the message is closed as failed/final and nothing is sent again
    message = ReminderMessage.objects.get(cart=cart)
    assert (message.status, message.error_kind) == ("failed", "final")
    assert message.last_error.startswith("interrupted")
    assert summary.first_sent == 0
    assert mail.outbox == []


def test_a_cart_converted_between_scan_and_claim_is_not_messaged(due_cart, now, monkeypatch):
    # given a cart that converts after the sweep read it but before the message is claimed
    from notifications import services

    cart = due_cart(phone="")
    read_recipients = services._recent_recipients

    def convert_then_read(candidates, at):
        cart_mark_converted(cart_id=cart.id, amount=Decimal("1"), converted_at=at)
        return read_recipients(candidates, at)

    monkeypatch.setattr(services, "_recent_recipients", convert_then_read)

    # when the sweep claims and sends
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then the claim saw the conversion: nothing claimed, nothing sent
    assert summary.first_sent == 0
    assert ReminderMessage.objects.count() == 0
    assert mail.outbox == []


# --- per-store daily budget ---------------------------------------------------------------


def test_the_store_daily_budget_holds_messages_back_until_the_next_day(due_cart, now, settings):
    settings.MESSAGES_PER_STORE_PER_DAY = 1
    first = due_cart(email="one@example.com")
    second = due_cart(email="two@example.com")

    options = {**EMAIL_ONLY, "second_delay_hours": 100}  # keep stage 2 out of this test

    # Five minutes later, but never past the UTC day's end (the budget's day), whatever the clock.
    later_today = min(now + timedelta(minutes=5), now.replace(hour=23, minute=59, second=59))

    today = sweep_run(now=now, **options)
    again_today = sweep_run(now=later_today, **options)
    tomorrow = sweep_run(now=now + timedelta(days=1), **options)

    assert (today.first_sent, today.skipped_by_reason.get("store_daily_cap")) == (1, 1)
    assert (again_today.first_sent, again_today.skipped_by_reason.get("store_daily_cap")) == (0, 1)
    assert tomorrow.first_sent == 1
    assert sent_messages(first).count() + sent_messages(second).count() == 2
    assert len(mail.outbox) == 2


# --- claim and delivery apart ---------------------------------------------------------------


def test_a_message_claimed_by_a_process_that_died_before_delivery_is_sent_by_the_next_sweep(due_cart, now):
    # given a message claimed (scheduled) an hour ago whose delivery never ran
    cart = due_cart(hours=30, phone="")
    ReminderMessage.objects.create(
        cart=cart,
        store=cart.store,
        stage=1,
        channel="email",
        status="scheduled",
        recipient_hash=contact_hash("email", cart.email),
        attempted_at=now - timedelta(hours=1),
    )

    # when the next sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then that message is delivered once, as its first attempt, and nothing else is claimed for it
    message = ReminderMessage.objects.get(cart=cart)
    assert (message.status, message.attempts) == ("sent", 1)
    assert summary.first_sent == 1
    assert len(mail.outbox) == 1


def test_a_sweep_that_only_claims_leaves_messages_for_delivery_and_they_go_out_once(due_cart, now):
    # given two due carts, and a sweep that claims without delivering (the hourly task's mode)
    carts = [due_cart(email=f"c{i}@example.com", phone="") for i in range(2)]
    handed = []
    summary = sweep_run(now=now, deliver=False, on_claimed=handed.extend, **EMAIL_ONLY)
    assert (summary.claimed, summary.first_sent, len(mail.outbox)) == (2, 0, 0)
    assert set(ReminderMessage.objects.values_list("status", flat=True)) == {"scheduled"}

    # when the claimed batch is delivered twice (a task retried)
    first = services.reminders_deliver(message_ids=handed, now=now)
    second = services.reminders_deliver(message_ids=handed, now=now)

    # then each message went out once
    assert (first.first_sent, second.first_sent) == (2, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in carts)
    assert ReminderMessage.objects.filter(status="sent", attempts=1).count() == 2


def test_a_cart_converted_between_claim_and_delivery_is_not_messaged(due_cart, now):
    cart = due_cart(phone="")
    handed = []
    sweep_run(now=now, deliver=False, on_claimed=handed.extend, **EMAIL_ONLY)
    cart_mark_converted(cart_id=cart.id, amount=Decimal("1"), converted_at=now)

    summary = services.reminders_deliver(message_ids=handed, now=now)

    message = ReminderMessage.objects.get(cart=cart)
    assert (message.status, message.skip_reason, summary.first_sent) == ("skipped", "converted", 0)
    assert mail.outbox == []


def test_claimed_messages_count_for_the_frequency_cap(due_cart, now):
    # given a customer's message claimed but not yet delivered, and another cart of the customer
    due_cart(hours=30, phone="")
    sweep_run(now=now, deliver=False, **EMAIL_ONLY)
    due_cart(hours=26, phone="", email="Anna@Example.com")

    # when a sweep runs an hour later
    summary = sweep_run(now=now + timedelta(hours=1), deliver=False, **EMAIL_ONLY)

    # then the second cart is capped
    assert summary.skipped_by_reason == {"frequency_cap": 1}
    assert summary.claimed == 0


def test_failed_and_held_out_messages_to_the_customer_do_not_count_for_the_frequency_cap(due_cart, now, store):
    # given messages of the customer's other carts that never reached them: one failed, one held out
    for status, skip_reason in (("failed", ""), ("skipped", "holdout")):
        other = due_cart(hours=30, phone="")
        ReminderMessage.objects.create(
            cart=other,
            store=store,
            stage=1,
            channel="email",
            status=status,
            skip_reason=skip_reason,
            error_kind="final" if status == "failed" else "",
            recipient_hash=contact_hash("email", "anna@example.com"),
            attempted_at=now - timedelta(hours=1),
        )
    cart = due_cart(hours=26, phone="")

    # when the sweep runs
    summary = sweep_run(now=now, **EMAIL_ONLY)

    # then only the statuses that reach the customer count: the new cart gets its e-mail
    assert (summary.first_sent, summary.skipped_by_reason) == (1, {})
    assert sent_messages(cart).count() == 1


# --- the message log's indexes --------------------------------------------------------------


def test_the_message_log_has_four_indexes_and_the_cap_index_serves_a_stores_reads(store):
    # given the message log's indexes
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notifications_remindermessage' "
            "ORDER BY indexname"
        )
        indexes = {name: definition.split(" USING ")[1] for name, definition in cursor.fetchall()}

        # when a store's messages are read with sequential scans ruled out (the table is tiny here)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT count(*) FILTER (WHERE status = 'sent'), sum(click_count) "
            "FROM notifications_remindermessage WHERE store_id = %s",
            [store.pk],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # then one index per query shape: the claim writes four entries per message, and the
    # frequency cap's index (not partial) also finds one store's messages
    assert indexes == {
        "notifications_cap_lookup": "btree (store_id, channel, recipient_hash, attempted_at)",
        "notifications_one_message_per_stage": "btree (cart_id, stage, channel)",
        "notifications_remindermessage_pkey": "btree (id)",
        "notifications_undelivered": "btree (attempted_at, id) WHERE ((status)::text = 'scheduled'::text)",
    }
    assert "notifications_cap_lookup" in plan


# --- the store's daily budget, one Redis round trip per batch --------------------------------


def test_the_budget_of_every_store_and_channel_of_a_batch_is_taken_at_once(store, other_store, settings, now):
    from notifications.caps import store_message_budget_left, store_message_budget_take_batch

    # given a budget of 3 messages per store and channel, one already taken for the store's e-mail
    settings.MESSAGES_PER_STORE_PER_DAY = 3
    store_message_budget_take_batch(wanted={(store.pk, "email"): 1}, now=now)

    # when a batch asks for several stores and channels at once
    granted = store_message_budget_take_batch(
        wanted={
            (store.pk, "email"): 4,
            (store.pk, "whatsapp"): 1,
            (other_store.pk, "email"): 2,
            (other_store.pk, "whatsapp"): 0,
        },
        now=now,
    )

    # then each gets what is left of its own budget, and what was over it went back at once
    assert granted == {(store.pk, "email"): 2, (store.pk, "whatsapp"): 1, (other_store.pk, "email"): 2}
    assert [
        store_message_budget_left(store=store, channel="email", now=now),
        store_message_budget_left(store=store, channel="whatsapp", now=now),
        store_message_budget_left(store=other_store, channel="email", now=now),
    ] == [0, 2, 1]


def test_the_batch_budget_fails_closed_without_redis_and_works_on_any_cache(store, settings, now):
    from django.test.utils import override_settings

    from notifications.caps import store_message_budget_take_batch

    settings.MESSAGES_PER_STORE_PER_DAY = 2
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "budget-test"}}

    # when Redis is down, and when the cache is another backend
    with override_settings(CACHES=DEAD_REDIS):
        down = store_message_budget_take_batch(wanted={(store.pk, "email"): 1, (store.pk, "whatsapp"): 1}, now=now)
    with override_settings(CACHES=local):
        first = store_message_budget_take_batch(wanted={(store.pk, "email"): 1}, now=now)
        second = store_message_budget_take_batch(wanted={(store.pk, "email"): 5}, now=now)

    # then nothing is granted without Redis (fail closed), and another cache counts the same way
    assert down == {(store.pk, "email"): 0, (store.pk, "whatsapp"): 0}
    assert (first, second) == ({(store.pk, "email"): 1}, {(store.pk, "email"): 1})
