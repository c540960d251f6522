from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cartsite.errors import DomainError
from payments.services import checkout_sessions_cleanup


class Command(BaseCommand):
    help = "Deletes completed checkout sessions completed more than CHECKOUT_RETENTION_DAYS (90) days ago."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override CHECKOUT_RETENTION_DAYS")

    def handle(self, *args, **options):
        days = options["days"] if options["days"] is not None else settings.CHECKOUT_RETENTION_DAYS
        try:
            deleted = checkout_sessions_cleanup(older_than_days=days)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"deleted {deleted} completed checkout session(s) older than {days} days")
