"""Retention: archive events older than TRACKING_RETENTION_DAYS to gzip JSON lines, then delete them."""

import gzip
import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cartsite.schedules import PERIODIC_JOBS
from tracking import services
from tracking.models import CartTrackingEvent
from tracking.services import ATTNAMES, archive_read, events_archive_expired
from tracking.tasks import tracking_retention_run


@pytest.fixture
def archive_dir(tmp_path):
    return tmp_path / "archive"


@pytest.fixture
def aged_events(make_event, other_store):
    """Five events past a 365-day retention (one of another store), two within it."""
    now = timezone.now()
    old = [
        make_event(
            created_at=now - timedelta(days=400 + n),
            session_id=f"old-{n}",
            customer_email=f"c{n}@example.com",
            product_title=f"Title {n} ✓",
            ip_address="2001:db8::1" if n % 2 else "192.0.2.1",
        )
        for n in range(4)
    ]
    old.append(make_event(store=other_store, created_at=now - timedelta(days=366), session_id="old-other"))
    recent = [make_event(created_at=now - timedelta(days=364)), make_event(created_at=now)]
    return old, recent


def _as_archived(rows):
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]


def _archived_rows(directory: Path):
    rows = []
    for path in sorted(directory.glob("*.jsonl.gz")):
        rows.extend(archive_read(path))
    return rows


def test_archived_content_equals_the_deleted_rows(aged_events, archive_dir):
    # given expired and recent events
    old, recent = aged_events
    expected = _as_archived(
        CartTrackingEvent.objects.filter(id__in=[e.id for e in old]).order_by("created_at", "id").values(*ATTNAMES)
    )

    # when retention runs in batches of two
    result = events_archive_expired(retention_days=365, archive_dir=archive_dir, batch_size=2)

    # then the archive files hold exactly the deleted rows, column for column
    assert (result.archived, result.deleted, len(result.files)) == (5, 5, 3)
    assert _archived_rows(archive_dir) == expected
    assert set(CartTrackingEvent.objects.values_list("id", flat=True)) == {e.id for e in recent}
    # and the files are complete gzip streams (no temporary files left)
    assert sorted(p.name for p in archive_dir.iterdir()) == sorted(Path(f).name for f in result.files)
    for path in archive_dir.iterdir():
        with gzip.open(path, "rt") as lines:
            assert all(json.loads(line)["id"].startswith("cart-event-") for line in lines)


def test_an_unwritable_archive_directory_deletes_nothing(aged_events, tmp_path):
    # given an archive "directory" that is a regular file (unwritable even for root)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    before = CartTrackingEvent.objects.count()

    # when retention runs
    with pytest.raises(OSError):
        events_archive_expired(retention_days=365, archive_dir=blocker / "archive")

    # then no event was deleted
    assert CartTrackingEvent.objects.count() == before == 7


def test_a_failure_mid_run_keeps_the_failed_batch_and_a_rerun_resumes(aged_events, archive_dir, monkeypatch):
    # given the second archive write fails (disk full)
    real_write = services._archive_write
    calls = {"count": 0}

    def failing_write(directory, name, rows):
        calls["count"] += 1
        if calls["count"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(directory, name, rows)

    monkeypatch.setattr(services, "_archive_write", failing_write)

    # when retention runs
    with pytest.raises(OSError):
        events_archive_expired(retention_days=365, archive_dir=archive_dir, batch_size=2)

    # then only the first, archived batch is gone
    assert CartTrackingEvent.objects.count() == 5
    assert len(_archived_rows(archive_dir)) == 2

    # and a second run finishes the job without archiving anything twice
    monkeypatch.setattr(services, "_archive_write", real_write)
    events_archive_expired(retention_days=365, archive_dir=archive_dir, batch_size=2)
    archived_ids = [row["id"] for row in _archived_rows(archive_dir)]
    assert len(archived_ids) == len(set(archived_ids)) == 5
    assert CartTrackingEvent.objects.count() == 2


def test_a_run_interrupted_after_writing_rewrites_the_same_file(aged_events, archive_dir, monkeypatch):
    # given the delete fails after the batch's file was written (the process died, say)
    from django.db.models.query import QuerySet

    real_delete = QuerySet.delete

    def dying_delete(self):
        raise RuntimeError("killed")

    monkeypatch.setattr(QuerySet, "delete", dying_delete)
    with pytest.raises(RuntimeError):
        events_archive_expired(retention_days=365, archive_dir=archive_dir, batch_size=10)
    assert CartTrackingEvent.objects.count() == 7
    first_files = sorted(p.name for p in archive_dir.glob("*.jsonl.gz"))

    # when it runs again
    monkeypatch.setattr(QuerySet, "delete", real_delete)
    events_archive_expired(retention_days=365, archive_dir=archive_dir, batch_size=10)

    # then the same file name was written again (no duplicate archive) and the rows are gone
    assert sorted(p.name for p in archive_dir.glob("*.jsonl.gz")) == first_files
    assert len(_archived_rows(archive_dir)) == 5
    assert CartTrackingEvent.objects.count() == 2


def test_nothing_expired_writes_nothing(make_event, archive_dir):
    make_event()

    result = events_archive_expired(retention_days=365, archive_dir=archive_dir)

    assert (result.archived, result.deleted, result.files) == (0, 0, [])
    assert not archive_dir.exists()


def test_the_daily_task_uses_the_settings(aged_events, settings, archive_dir):
    settings.TRACKING_RETENTION_DAYS = 365
    settings.TRACKING_ARCHIVE_DIR = str(archive_dir)

    summary = tracking_retention_run.delay().get()

    assert {k: summary[k] for k in ("archived", "deleted", "files")} == {"archived": 5, "deleted": 5, "files": 1}
    assert CartTrackingEvent.objects.count() == 2


def test_the_task_is_scheduled_daily():
    [job] = [job for job in PERIODIC_JOBS if job.task == "tracking.tasks.tracking_retention_run"]

    assert job.crontab["hour"] == "2" and job.crontab["day_of_week"] == "*" and job.every is None


def test_the_command_prints_progress(aged_events, archive_dir):
    out = StringIO()

    call_command("archive_tracking_events", "--batch-size", "2", "--archive-dir", str(archive_dir), stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"archiving events older than 365 days to {archive_dir}"
    assert [line.split(" (")[0] for line in lines[1:4]] == [
        "  2 archived, 2 deleted",
        "  4 archived, 4 deleted",
        "  5 archived, 5 deleted",
    ]
    assert lines[4].startswith("done: 5 events archived in 3 files, 5 deleted")
    assert CartTrackingEvent.objects.count() == 2


def test_the_command_reports_an_archive_failure(aged_events, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")

    with pytest.raises(CommandError, match="nothing of the failed batch was deleted"):
        call_command("archive_tracking_events", "--archive-dir", str(blocker / "sub"), stdout=StringIO())

    assert CartTrackingEvent.objects.count() == 7


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--days", "0"], "days must be between 1 and 36500"),
        (["--days", "-30"], "days must be between 1 and 36500"),
        (["--days", "99999999999999999999"], "days must be between 1 and 36500"),
        (["--batch-size", "0"], "batch size must be between 1 and 100000"),
        (["--batch-size", "99999999999999999999"], "batch size must be between 1 and 100000"),
        (["--max-batches", "0"], "max batches must be at least 1"),
    ],
)
def test_the_command_refuses_values_that_would_take_every_event_or_cannot_run(
    aged_events, archive_dir, arguments, message
):
    # when the run is asked to keep no day, or for batches it cannot take
    with pytest.raises(CommandError, match=message):
        call_command("archive_tracking_events", *arguments, "--archive-dir", str(archive_dir), stdout=StringIO())

    # then no event is archived or deleted
    assert CartTrackingEvent.objects.count() == 7
    assert not archive_dir.exists()
