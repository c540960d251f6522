from django.core.management.base import BaseCommand, CommandError

from carts.services import store_key_revoke
from cartsite.commands import text
from cartsite.errors import DomainError


class Command(BaseCommand):
    help = "Revokes a publishable or secret key; it stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("key", type=text, help="The full pk_… or sk_… key")

    def handle(self, *args, **options):
        try:
            key = store_key_revoke(raw_key=options["key"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"revoked {key.get_kind_display().lower()} key {key.hint} of {key.store.name}")
