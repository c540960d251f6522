from django.core.management.base import BaseCommand

from payments.services import checkout_reminders_send


class Command(BaseCommand):
    help = "E-mails one reminder per pending checkout session 6–24 h old with fewer than 3 attempts."

    def handle(self, *args, **options):
        result = checkout_reminders_send()
        self.stdout.write(
            f"payment reminders: {result.candidates} candidate(s), {result.sent} sent, {result.failed} failed"
        )
