from django.core.management.base import BaseCommand, CommandError

from carts.services import store_create
from cartsite.errors import DomainError


class Command(BaseCommand):
    help = "Creates a store and prints its publishable and secret keys (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Store name or handle; normalised (MyShop -> myshop.myshopify.com)")
        parser.add_argument("--currency", default="EUR", help="ISO 4217 currency (default EUR)")
        parser.add_argument(
            "--recovery-url", default="", help="Where recovery links lead (default https://<name>/cart)"
        )
        parser.add_argument("--origin", action="append", default=[], help="Allowed browser origin (repeatable)")

    def handle(self, *args, **options):
        try:
            issued = store_create(
                name=options["name"],
                currency=options["currency"],
                recovery_url=options["recovery_url"],
                origins=options["origin"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"store: {issued.store.name} ({issued.store.currency})")
        self.stdout.write(f"publishable key: {issued.publishable_key}")
        self.stdout.write(f"secret key: {issued.secret_key}")
        self.stdout.write("The secret key is stored hashed and cannot be shown again.")
