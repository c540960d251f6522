from django.core.management.base import BaseCommand, CommandError

from carts.models import Store
from carts.names import store_name_normalise
from cartsite.commands import text
from cartsite.errors import DomainError
from payments.models import Plan
from payments.services import plan_create


class Command(BaseCommand):
    help = "Creates a plan: create_plan STORE CODE --name N --price 9.99 [--currency EUR] [--interval month]"

    def add_arguments(self, parser):
        parser.add_argument("store", type=text)
        parser.add_argument("code", type=text)
        parser.add_argument("--name", type=text, required=True)
        parser.add_argument("--price", required=True)
        parser.add_argument("--currency", type=text, default=None, help="ISO 4217 (default: the store's currency)")
        parser.add_argument(
            "--interval",
            default=Plan.Interval.ONE_OFF,
            choices=[*Plan.Interval.values, "one-off"],
            help="one_off (default), day, week, month or year",
        )
        parser.add_argument("--stripe-price", type=text, default="", help="An existing Stripe Price id (price_…)")

    def handle(self, *args, **options):
        try:
            store = Store.objects.filter(name=store_name_normalise(options["store"], field="store")).first()
            if store is None:
                raise CommandError(f"No store named {options['store']}")
            plan = plan_create(
                store=store,
                code=options["code"],
                name=options["name"],
                price=options["price"],
                currency=options["currency"],
                interval=options["interval"],
                stripe_price_id=options["stripe_price"],
            )
        except DomainError as exc:
            raise CommandError(exc.message)
        self.stdout.write(
            f"plan {plan.code} created in {store.name}: {plan.name}, {plan.price} {plan.currency}, "
            f"{plan.get_interval_display().lower()}"
        )
