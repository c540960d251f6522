"""manage.py process_abandoned_carts: the API's options as flags, a progress line per batch."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from notifications.models import ReminderMessage
from notifications.services import SWEEP_LOCK_KEY

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("process_abandoned_carts", *args, stdout=out)
    return out.getvalue()


def test_command_prints_a_progress_line_per_batch_and_a_summary(due_cart):
    for i in range(5):
        due_cart(email=f"c{i}@example.com", phone="")

    output = run("--batch-size", "2", "--no-enable-whatsapp")

    lines = output.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("batch ")] == ["batch 1", "batch 2", "batch 3"]
    assert lines[2] == "batch 3: processed 5, first sent 5, second sent 0, skipped 0, errors 0"
    assert "processed 5 carts in 3 batches: first sent 5" in lines[-1]
    assert ReminderMessage.objects.filter(status="sent").count() == 5


def test_command_single_batch_prints_the_next_cursor_and_continues_from_it(due_cart):
    for i in range(3):
        due_cart(email=f"c{i}@example.com", phone="")

    first = run("--batch-size", "2", "--single-batch", "--no-enable-whatsapp")
    cursor = first.split("next cursor: ")[1].strip()
    second = run("--batch-size", "2", "--cursor", cursor, "--no-enable-whatsapp")

    assert "processed 2 carts" in first
    assert "processed 1 carts" in second
    assert "next cursor" not in second


def test_command_dry_run_delays_and_store(due_cart, store, other_store):
    due_cart(hours=13, phone="")

    output = run(
        "--dry-run",
        "--first-notification-delay-hours",
        "12",
        "--second-notification-delay-hours",
        "36",
        "--store",
        "MyShop",
        "--no-enable-whatsapp",
    )

    assert output.splitlines()[-1].startswith("Dry run: processed 1 carts in 1 batches: first sent 1")
    assert ReminderMessage.objects.count() == 0


def test_command_rejects_a_forged_cursor_and_an_unknown_store():
    with pytest.raises(CommandError, match="cursor is not valid"):
        run("--cursor", "Zm9yZ2Vk")
    with pytest.raises(CommandError, match="No store named nowhere.myshopify.com"):
        run("--store", "nowhere")


def test_command_skips_while_another_sweep_holds_the_lock(due_cart):
    due_cart(phone="")
    cache.add(SWEEP_LOCK_KEY, "running", timeout=60)

    assert run("--no-enable-whatsapp").strip() == "Another sweep is running; nothing was done."
    assert ReminderMessage.objects.count() == 0


def test_demo_seed_is_idempotent(settings):
    from notifications.demo import demo_seed

    settings.DEMO_MODE = True
    first, second = StringIO(), StringIO()
    demo_seed(stdout=first)
    demo_seed(stdout=second)

    assert first.getvalue().strip() == "notifications: 6 demo reminder messages created"
    assert second.getvalue().strip() == "notifications: 0 demo reminder messages created"
    assert ReminderMessage.objects.filter(status="failed").count() == 1
