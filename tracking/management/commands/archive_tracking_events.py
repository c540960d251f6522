"""`manage.py archive_tracking_events`: the retention run of the daily task, by hand, with progress."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cartsite.errors import DomainError
from tracking.services import events_archive_expired


class Command(BaseCommand):
    help = (
        "Archives tracking events older than TRACKING_RETENTION_DAYS to gzip JSON-lines files in "
        "TRACKING_ARCHIVE_DIR, then deletes them. Resumable: run it again after an interruption."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Retention in days (default: the setting).")
        parser.add_argument("--archive-dir", default=None, help="Directory for archive files (default: the setting).")
        parser.add_argument("--batch-size", type=int, default=5000, help="Events per archive file (default 5000).")
        parser.add_argument("--max-batches", type=int, default=None, help="Stop after this many batches.")

    def handle(self, *args, **options):
        days = options["days"] if options["days"] is not None else settings.TRACKING_RETENTION_DAYS
        archive_dir = options["archive_dir"] or settings.TRACKING_ARCHIVE_DIR
        self.stdout.write(f"archiving events older than {days} days to {archive_dir}")

        def progress(result, file_name):
            self.stdout.write(f"  {result.archived} archived, {result.deleted} deleted ({file_name})")

        try:
            result = events_archive_expired(
                retention_days=days,
                archive_dir=archive_dir,
                batch_size=options["batch_size"],
                max_batches=options["max_batches"],
                progress=progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except OSError as exc:
            raise CommandError(f"archive failed, nothing of the failed batch was deleted: {exc}")
        self.stdout.write(
            self.style.SUCCESS(
                f"done: {result.archived} events archived in {len(result.files)} files, {result.deleted} deleted "
                f"(cutoff {result.cutoff.isoformat()})"
            )
        )
