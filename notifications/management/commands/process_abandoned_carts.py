"""manage.py process_abandoned_carts: the abandonment sweep by hand, with the API's options."""

import argparse

from django.core.management.base import BaseCommand, CommandError

from carts.models import Store
from carts.names import store_name_normalise
from cartsite.errors import DomainError
from notifications.services import sweep_run, sweep_run_exclusive


class Command(BaseCommand):
    help = "Sends the abandoned-cart reminders that are due (same options as POST /admin/cart-abandonment/process)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--first-notification-delay-hours", type=float, default=24)
        parser.add_argument("--second-notification-delay-hours", type=float, default=48)
        parser.add_argument("--enable-whatsapp", action=argparse.BooleanOptionalAction, default=True)
        parser.add_argument("--enable-email", action=argparse.BooleanOptionalAction, default=True)
        parser.add_argument("--cursor", default=None)
        parser.add_argument("--single-batch", action="store_true")
        parser.add_argument("--store", default=None, help="Only this store (default: every store)")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be sent; send nothing")
        parser.add_argument(
            "--no-lock", action="store_true", help="Run even while another sweep holds the lock (claims still hold)"
        )

    def handle(self, *args, **options):
        stores = None
        if options["store"]:
            try:
                name = store_name_normalise(options["store"], field="store")
            except DomainError as exc:
                raise CommandError(exc.message) from None
            store = Store.objects.filter(name=name).first()
            if store is None:
                raise CommandError(f"No store named {name}")
            stores = [store.pk]

        def progress(summary):
            self.stdout.write(
                f"batch {summary.batches}: processed {summary.processed}, first sent {summary.first_sent}, "
                f"second sent {summary.second_sent}, skipped {summary.skipped}, errors {summary.errors}"
            )

        run = sweep_run if options["no_lock"] or options["dry_run"] else sweep_run_exclusive
        try:
            summary = run(
                batch_size=options["batch_size"],
                first_delay_hours=options["first_notification_delay_hours"],
                second_delay_hours=options["second_notification_delay_hours"],
                enable_whatsapp=options["enable_whatsapp"],
                enable_email=options["enable_email"],
                cursor=options["cursor"],
                single_batch=options["single_batch"],
                stores=stores,
                dry_run=options["dry_run"],
                on_batch=progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if summary is None:
            self.stdout.write("Another sweep is running; nothing was done.")
            return
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped_by_reason.items())) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Dry run: ' if summary.dry_run else ''}processed {summary.processed} carts in {summary.batches} "
                f"batches: first sent {summary.first_sent}, second sent {summary.second_sent}, "
                f"whatsapp {summary.by_channel['whatsapp']}, email {summary.by_channel['email']}, "
                f"skipped {summary.skipped} ({reasons}), errors {summary.errors}, {summary.duration_seconds}s"
            )
        )
        if summary.next_cursor:
            self.stdout.write(f"next cursor: {summary.next_cursor}")
