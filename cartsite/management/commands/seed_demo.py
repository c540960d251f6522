"""Demo data across every app, for the README's run command. Idempotent; DEMO_MODE only."""

import importlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from carts.demo import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, demo_stores_ensure

# Each app that has demo data offers <app>.demo.demo_seed(stdout=...); carts first, the rest build on it.
DEMO_MODULES = ("carts.demo", "tracking.demo", "payments.demo", "notifications.demo")


class Command(BaseCommand):
    help = "Creates demo stores, carts, events, checkout sessions and reminders (DEMO_MODE only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin", action="store_true", help="Create the 'admin' superuser with a fresh password and print it"
        )

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo runs only with DEMO_MODE (or DEBUG) on: its keys are public.")
        main_store, _ = demo_stores_ensure()
        for module_name in DEMO_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            seed = getattr(module, "demo_seed", None)
            if seed is not None:
                seed(stdout=self.stdout)
        if options["admin"]:
            password = secrets.token_urlsafe(12)
            user, _ = get_user_model().objects.get_or_create(
                username="admin", defaults={"email": "admin@localhost", "is_staff": True, "is_superuser": True}
            )
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"admin login: admin / {password}")
        self.stdout.write(f"demo store: {main_store.name}")
        self.stdout.write(f"publishable key: {DEMO_PUBLISHABLE_KEY}")
        self.stdout.write(f"secret key: {DEMO_SECRET_KEY}")
