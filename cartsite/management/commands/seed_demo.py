"""Demo data across every app, for the README's run command. Idempotent; DEMO_MODE only."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carts.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, demo_stores_ensure


class Command(BaseCommand):
    help = "Creates demo stores, carts, events, checkout sessions and reminders (DEMO_MODE only)."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo runs only with DEMO_MODE (or DEBUG) on: its keys are public.")
        main_store, second_store = demo_stores_ensure()
        self.stdout.write(f"demo store: {main_store.name}")
        self.stdout.write(f"publishable key: {DEMO_PUBLISHABLE_KEY}")
        self.stdout.write(f"secret key: {DEMO_SECRET_KEY}")
