from django.core.management.base import BaseCommand, CommandError

from carts.services import store_staff_add
from cartsite.commands import text
from cartsite.errors import DomainError


class Command(BaseCommand):
    help = "Gives a user staff access to a store (membership); idempotent."

    def add_arguments(self, parser):
        parser.add_argument("store", type=text)
        parser.add_argument("username", type=text)

    def handle(self, *args, **options):
        try:
            membership, created = store_staff_add(store_name=options["store"], username=options["username"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        state = "added to" if created else "already a member of"
        self.stdout.write(f"{membership.user.username} {state} {membership.store.name}")
