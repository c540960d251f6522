from django.core.management.base import BaseCommand

from payments.services import checkout_sessions_expire_old


class Command(BaseCommand):
    help = "Expires pending checkout sessions past their expires_at (the hourly job)."

    def handle(self, *args, **options):
        expired = checkout_sessions_expire_old()
        self.stdout.write(f"expired {expired} checkout session(s)")
