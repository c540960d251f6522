from django.core.management.base import BaseCommand, CommandError

from cartsite.errors import UpstreamFailed
from payments.services import checkout_sessions_reconcile


class Command(BaseCommand):
    help = "Lists recent Stripe Checkout Sessions and repairs completions and expiries the webhook missed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours", type=float, default=None, help="How far back to look (default STRIPE_RECONCILE_LOOKBACK_HOURS)"
        )

    def handle(self, *args, **options):
        try:
            result = checkout_sessions_reconcile(lookback_hours=options["hours"])
        except UpstreamFailed as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            f"reconciled {result.seen} Stripe session(s): {result.completed} completed, "
            f"{result.expired} expired, {result.failed} failed"
        )
