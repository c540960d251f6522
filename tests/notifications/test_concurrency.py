"""Two sweeps at the same moment, and a sweep over 10,000 carts (memory and queries)."""

import threading
import time
import tracemalloc
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import override_settings

from carts.models import Cart
from notifications.models import ReminderMessage
from notifications.services import sweep_run


def run_in_threads(target, count: int) -> list:
    """Starts `count` threads on a barrier so they begin at the same moment; returns results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def runner(index):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_started_at_the_same_moment_send_each_message_once(due_cart, now, fake_whatsapp):
    # given 30 due carts with both channels, a slow WhatsApp API and a shared customer on two carts
    fake_whatsapp.delay_seconds = 0.01
    carts = [due_cart(email=f"c{i}@example.com", phone=f"+49151000{i:05d}") for i in range(30)]
    twin = due_cart(email="c0@example.com", phone="+4915100000000")

    # when two sweeps start at the same moment
    summaries = run_in_threads(lambda: sweep_run(now=now, batch_size=7), 2)

    # then every message went out exactly once, and the shared customer got one message per channel
    assert sum(s.first_sent for s in summaries) == 60
    assert ReminderMessage.objects.filter(status="sent").count() == 60
    assert len(fake_whatsapp.requests) == 30
    assert sorted(r.body["to"] for r in fake_whatsapp.requests) == sorted(c.phone for c in carts)
    shared = ReminderMessage.objects.filter(cart__in=[carts[0], twin], status="sent")
    assert sorted(shared.values_list("channel", flat=True)) == ["email", "whatsapp"]
    assert shared.values("cart_id").distinct().count() == 1
    assert sum(s.skipped_by_reason.get("frequency_cap", 0) for s in summaries) >= 2


def bulk_due_carts(store, count: int, *, idle: timedelta, prefix: str) -> None:
    now = Cart._meta.get_field("created_at").default()
    rows = [
        Cart(
            store=store,
            session_token=f"{prefix}-{i}",
            items=[{"productId": "sku-1", "quantity": 1, "price": 9.5, "title": "Tea"}],
            total=Decimal("9.50"),
            item_count=1,
            currency="EUR",
            email=f"{prefix}-{i}@example.com",
            email_consent=True,
            first_name="Bulk",
            created_at=now - idle - timedelta(minutes=1),
            last_activity_at=now - idle,
        )
        for i in range(count)
    ]
    Cart.objects.bulk_create(rows, batch_size=2000)


def measured_sweep(store) -> tuple[int, int, int]:
    """(peak bytes, queries, first sent) of one sweep over `store` in batches of 100."""
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    tracemalloc.start()
    try:
        with connection.execute_wrapper(count):
            summary = sweep_run(batch_size=100, stores=[store.pk], enable_whatsapp=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, queries, summary.first_sent


@pytest.mark.slow
@pytest.mark.django_db
# No daily budget here: this measures the sweep's scaling, not the cap (tested in test_services).
@override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", MESSAGES_PER_STORE_PER_DAY=0)
def test_a_sweep_over_10000_carts_keeps_memory_flat_and_queries_proportional_to_batches(store, other_store):
    # given 1,000 due carts in one store and 10,000 in another
    bulk_due_carts(store, 1_000, idle=timedelta(hours=30), prefix=f"small-{uuid.uuid4().hex[:6]}")
    bulk_due_carts(other_store, 10_000, idle=timedelta(hours=30), prefix=f"large-{uuid.uuid4().hex[:6]}")

    # when each store is swept in batches of 100
    small_peak, small_queries, small_sent = measured_sweep(store)
    large_peak, large_queries, large_sent = measured_sweep(other_store)

    # then every cart got its e-mail, memory did not grow with the cart count, and the
    # queries grew with the number of batches (10 vs 100), not faster
    assert (small_sent, large_sent) == (1_000, 10_000)
    print(f"peak {small_peak} vs {large_peak} bytes; queries {small_queries} vs {large_queries}")
    assert large_peak < small_peak * 1.5 + 256 * 1024
    # (measured: 115 vs 1105 queries, about 11 per batch of 100 messages; peak about 0.76 MB both)
    per_batch_small = small_queries / 10
    per_batch_large = large_queries / 100
    assert abs(per_batch_large - per_batch_small) <= 1
    # claim: scan, message log, suppressions, savepoint, lock, cap, claim, release; delivery:
    # take, carts, results. Not per message.
    assert per_batch_large <= 12


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")
def test_a_sweep_reads_its_pages_ahead_on_a_connection_of_their_own_and_closes_it(due_cart, now):
    # given five due carts, swept in batches of two (three pages)
    carts = [due_cart(email=f"ahead-{i}@example.com", phone="") for i in range(5)]
    scans: list[int] = []  # the thread of each page's statement

    def record(execute, sql, params, many, context):
        if sql.lstrip().startswith("WITH page AS"):
            scans.append(threading.get_ident())
        return execute(sql, params, many, context)

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()

    # when the sweep runs outside any transaction (the case of the beat task)
    with connection.execute_wrapper(record):
        summary = sweep_run(now=now, batch_size=2, enable_whatsapp=False)

    # then every cart got its e-mail, the three pages were read by the reader's thread (which the
    # execute wrapper saw too), and the reader's connection is closed
    assert (summary.batches, summary.first_sent, summary.claimed) == (3, 5, 5)
    assert ReminderMessage.objects.filter(cart__in=carts, status="sent").count() == 5
    assert len(scans) == 3
    assert len(set(scans)) == 1 and scans[0] != threading.get_ident()
    deadline = time.monotonic() + 2  # a closed connection's backend takes a moment to exit
    while backends() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backends() == before


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")
def test_a_sweep_that_fails_mid_way_stops_its_reader_and_closes_its_connection(due_cart, now, monkeypatch):
    # given six due carts in pages of one, and a claim that fails on the second batch
    from notifications import services

    for i in range(6):
        due_cart(email=f"stop-{i}@example.com", phone="")
    real_claim, calls = services._claim, []

    def failing_claim(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_claim(**kwargs)

    monkeypatch.setattr(services, "_claim", failing_claim)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        before = cursor.fetchone()[0]

    # when the sweep runs
    with pytest.raises(RuntimeError, match="database went away"):
        sweep_run(now=now, batch_size=1, enable_whatsapp=False)

    # then the first batch's message went out, and the reader stopped and closed its connection
    assert ReminderMessage.objects.filter(status="sent").count() == 1
    assert not any(thread.name.startswith("sweep-scan") for thread in threading.enumerate())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            if cursor.fetchone()[0] == before:
                break
        time.sleep(0.01)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        assert cursor.fetchone()[0] == before


@pytest.mark.django_db(transaction=True)
def test_a_claim_only_sweep_hands_over_each_batch_once_committed_and_closes_its_claim_connections(
    due_cart, now, monkeypatch
):
    # given five due carts in pages of one, the two oldest of the same customer (consecutive
    # batches), and claims whose commit comes a while after what they claimed is known
    from notifications import services

    real_claim = services._claim

    def slow_commit_claim(*, before_commit=None, **kwargs):
        def decided(outcome):
            if before_commit is not None:
                before_commit(outcome)
            time.sleep(0.2)

        return real_claim(**kwargs, before_commit=decided)

    monkeypatch.setattr(services, "_claim", slow_commit_claim)
    first = due_cart(hours=30, email="same@example.com", phone="")
    due_cart(hours=29, email="Same@Example.com", phone="")
    others = [due_cart(hours=28 - i, email=f"claim-only-{i}@example.com", phone="") for i in range(3)]
    handed: list[tuple[list[int], int]] = []  # each batch's ids, and how many of them are committed

    def on_claimed(message_ids):
        committed = ReminderMessage.objects.filter(id__in=message_ids, status="scheduled").count()
        handed.append((message_ids, committed))

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()

    # when the sweep only claims (the beat task), outside any transaction
    summary = sweep_run(now=now, batch_size=1, enable_whatsapp=False, deliver=False, on_claimed=on_claimed)

    # then the second cart of the customer is held back by the cap, the first batch's claim
    # being seen; every claimed batch was handed over once, in the batches' order, after its commit
    assert (summary.batches, summary.claimed, summary.skipped_by_reason) == (5, 4, {"frequency_cap": 1})
    assert [len(ids) for ids, _ in handed] == [1, 1, 1, 1]
    assert all(committed == len(ids) for ids, committed in handed)
    cart_of = dict(ReminderMessage.objects.values_list("id", "cart_id"))
    assert [cart_of[ids[0]] for ids, _ in handed] == [first.id] + [cart.id for cart in others]
    assert not any(thread.name.startswith(("sweep-scan", "sweep-claim")) for thread in threading.enumerate())
    deadline = time.monotonic() + 2
    while backends() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backends() == before


@pytest.mark.django_db(transaction=True)
def test_a_claim_only_sweep_locks_each_batch_s_recipients_after_the_batch_before_it(due_cart, now, monkeypatch):
    # given two due carts of one customer in consecutive batches, and a first batch whose claim
    # starts only once the second batch's claim (on the other worker) has started, and a while after
    from notifications import services

    older = due_cart(hours=30, email="twice@example.com", phone="")
    newer = due_cart(hours=29, email="twice@example.com", phone="")
    real_claim, second_started = services._claim, threading.Event()

    def first_batch_late(**kwargs):
        if any(candidate.cart_id == str(older.id) for candidate in kwargs["candidates"]):
            second_started.wait(timeout=5)
            time.sleep(0.2)
        else:
            second_started.set()
        return real_claim(**kwargs)

    monkeypatch.setattr(services, "_claim", first_batch_late)

    # when the sweep only claims, a batch of one cart at a time
    summary = sweep_run(now=now, batch_size=1, enable_whatsapp=False, deliver=False, on_claimed=lambda ids: None)

    # then the older cart's batch got the message, as if the claims had run one after the other
    assert (summary.claimed, summary.skipped_by_reason) == (1, {"frequency_cap": 1})
    assert list(ReminderMessage.objects.values_list("cart_id", flat=True)) == [older.id]
    assert ReminderMessage.objects.filter(cart=newer).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_claim_only_sweep_grants_a_batch_the_budget_the_batch_before_it_gave_back(
    due_cart, now, monkeypatch, settings, caplog
):
    # given a budget of 2 messages a day, a first batch of two carts of one customer (one of them
    # capped, so one message of its budget goes back) whose claim is slow, and a second batch of
    # two other customers, which takes its budget before the first batch has given any back
    from notifications import services

    settings.MESSAGES_PER_STORE_PER_DAY = 2
    first = due_cart(hours=30, email="ann@example.com", phone="")
    due_cart(hours=29.5, email="ann@example.com", phone="")
    second = due_cart(hours=29, email="bob@example.com", phone="")
    due_cart(hours=28.5, email="cid@example.com", phone="")
    real_claim = services._claim

    def first_batch_slow(**kwargs):
        if any(candidate.cart_id == str(first.id) for candidate in kwargs["candidates"]):
            time.sleep(0.3)
        return real_claim(**kwargs)

    monkeypatch.setattr(services, "_claim", first_batch_slow)

    # when the sweep only claims, in batches of two
    with caplog.at_level("WARNING", logger="notifications"):
        summary = sweep_run(now=now, batch_size=2, enable_whatsapp=False, deliver=False, on_claimed=lambda ids: None)

    # then the second batch got the message the first gave back, and only one: the budget is spent
    # once, and said so once
    assert (summary.claimed, summary.skipped_by_reason) == (2, {"frequency_cap": 1, "store_daily_cap": 1})
    assert sorted(ReminderMessage.objects.values_list("cart_id", flat=True)) == sorted([first.id, second.id])
    assert [r.getMessage() for r in caplog.records].count("store daily message budget spent") == 1


@pytest.mark.django_db(transaction=True)
def test_a_claim_only_sweep_whose_claim_fails_leaves_no_claim_it_did_not_hand_over(due_cart, now, monkeypatch):
    # given three due carts in batches of one, and the second batch's claim failing (slowly) once
    # its recipients are locked, while the third batch's claim runs on the other worker
    from notifications import services

    carts = [due_cart(hours=30 - i, email=f"fails-{i}@example.com", phone="") for i in range(3)]
    real_recent = services._recent_recipients

    def recent_failing_for_the_second(candidates, now):
        if any(candidate.cart_id == str(carts[1].id) for candidate in candidates):
            time.sleep(0.3)
            raise RuntimeError("database went away")
        return real_recent(candidates, now)

    monkeypatch.setattr(services, "_recent_recipients", recent_failing_for_the_second)
    handed: list[list[int]] = []

    # when the sweep only claims
    with pytest.raises(RuntimeError, match="database went away"):
        sweep_run(now=now, batch_size=1, enable_whatsapp=False, deliver=False, on_claimed=handed.append)

    # then the first batch was claimed and handed over, and nothing else was claimed
    assert list(ReminderMessage.objects.values_list("cart_id", flat=True)) == [carts[0].id]
    assert handed == [list(ReminderMessage.objects.values_list("id", flat=True))]
    assert not any(thread.name.startswith(("sweep-scan", "sweep-claim")) for thread in threading.enumerate())


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", NOTIFICATIONS_SWEEP_READ_AHEAD=False)
def test_a_sweep_without_read_ahead_reads_every_page_on_its_own_connection(due_cart, now):
    # given five due carts, swept in batches of two, with the read-ahead turned off
    for i in range(5):
        due_cart(email=f"one-connection-{i}@example.com", phone="")
    scans: list[int] = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().startswith("WITH page AS"):
            scans.append(threading.get_ident())
        return execute(sql, params, many, context)

    # when the sweep runs outside any transaction
    with connection.execute_wrapper(record):
        summary = sweep_run(now=now, batch_size=2, enable_whatsapp=False)

    # then the same five e-mails went out, every page read by the sweep's own thread
    assert (summary.batches, summary.first_sent, summary.claimed) == (3, 5, 5)
    assert scans == [threading.get_ident()] * 3
