"""Reads: the seed's per-cart metadata derived from the message log, and the statistics."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from carts.models import Cart
from notifications.models import CartOutcome, ReminderMessage


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _empty_metadata() -> dict:
    return {
        "firstSent": False,
        "secondSent": False,
        "firstSentAt": None,
        "secondSentAt": None,
        "firstError": None,
        "secondError": None,
    }


def cart_reminder_metadata(*, cart_ids) -> dict:
    """Per cart id, the seed's `notifications` metadata derived from the message log.

    `<stage>Sent`: a message of that stage went out on any channel; `<stage>SentAt`: the first
    such send; `<stage>Error`: the last error of that stage when no message of it went out."""
    result = {cart_id: _empty_metadata() for cart_id in cart_ids}
    messages = (
        ReminderMessage.objects.filter(cart_id__in=list(result))
        .only("cart_id", "stage", "status", "sent_at", "last_error", "updated_at")
        .order_by("cart_id", "updated_at")
    )
    for message in messages:
        metadata = result[message.cart_id]
        name = "first" if message.stage == 1 else "second"
        if message.status == ReminderMessage.Status.SENT:
            metadata[f"{name}Sent"] = True
            current = metadata[f"{name}SentAt"]
            sent_at = iso(message.sent_at)
            metadata[f"{name}SentAt"] = min(current, sent_at) if current else sent_at
            metadata[f"{name}Error"] = None
        elif message.status == ReminderMessage.Status.FAILED and not metadata[f"{name}Sent"]:
            metadata[f"{name}Error"] = message.last_error
    return result


def cart_reminder_messages(*, cart_id) -> list[dict]:
    return [
        {
            "stage": m.stage,
            "channel": m.channel,
            "status": m.status,
            "skipReason": m.skip_reason or None,
            "attempts": m.attempts,
            "lastError": m.last_error or None,
            "sentAt": iso(m.sent_at),
            "clickedAt": iso(m.clicked_at),
            "clicks": m.click_count,
        }
        for m in ReminderMessage.objects.filter(cart_id=cart_id).order_by("stage", "channel")
    ]


def rate(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


@dataclass(frozen=True)
class ReminderStatistics:
    total_carts: int
    abandoned_carts: int
    first_sent: int
    second_sent: int
    by_channel: dict
    errors: int
    clicks: int
    reminded_carts: int
    recovered_carts: int
    recovered_revenue: Decimal
    holdout_carts: int
    holdout_converted: int

    @property
    def recovery_rate(self) -> float:
        """Recovered carts / carts that got at least one reminder."""
        return rate(self.recovered_carts, self.reminded_carts)

    @property
    def holdout_conversion_rate(self) -> float:
        return rate(self.holdout_converted, self.holdout_carts)

    @property
    def lift(self) -> float | None:
        """Conversion rate of reminded carts minus that of held-out carts (None without a holdout)."""
        if not self.holdout_carts:
            return None
        return round(self.recovery_rate - self.holdout_conversion_rate, 4)

    def as_api(self) -> dict:
        return {
            "totalCarts": self.total_carts,
            "abandonedCarts": self.abandoned_carts,
            "firstSent": self.first_sent,
            "secondSent": self.second_sent,
            "byChannel": self.by_channel,
            "errors": self.errors,
            "clicks": self.clicks,
            "recoveredCarts": self.recovered_carts,
            "recoveryRate": self.recovery_rate,
            "recoveredRevenue": float(self.recovered_revenue),
            "holdout": {"carts": self.holdout_carts, "converted": self.holdout_converted},
            "remindedCarts": self.reminded_carts,
            "lift": self.lift,
        }


def reminder_statistics(*, store_ids=None, now: datetime | None = None) -> ReminderStatistics:
    """Counts over the stores given (None: every store). Call `attribution_refresh` first."""
    now = now or timezone.now()
    carts = Cart.objects.all()
    messages = ReminderMessage.objects.all()
    outcomes = CartOutcome.objects.all()
    if store_ids is not None:
        carts = carts.filter(store_id__in=store_ids)
        messages = messages.filter(store_id__in=store_ids)
        outcomes = outcomes.filter(store_id__in=store_ids)
    sent, failed = ReminderMessage.Status.SENT, ReminderMessage.Status.FAILED
    counts = messages.aggregate(
        first_sent=Count("id", filter=Q(stage=1, status=sent)),
        second_sent=Count("id", filter=Q(stage=2, status=sent)),
        whatsapp_sent=Count("id", filter=Q(channel="whatsapp", status=sent)),
        whatsapp_failed=Count("id", filter=Q(channel="whatsapp", status=failed)),
        email_sent=Count("id", filter=Q(channel="email", status=sent)),
        email_failed=Count("id", filter=Q(channel="email", status=failed)),
        clicks=Sum("click_count"),
        reminded_carts=Count("cart_id", filter=Q(status=sent), distinct=True),
    )
    outcome_counts = outcomes.aggregate(
        recovered_count=Count("cart_id", filter=Q(recovered=True)),
        recovered_revenue=Sum("revenue", filter=Q(recovered=True)),
        holdout_count=Count("cart_id", filter=Q(holdout=True)),
        holdout_converted_count=Count("cart_id", filter=Q(holdout=True, holdout_converted=True)),
    )
    return ReminderStatistics(
        total_carts=carts.count(),
        abandoned_carts=carts.abandoned(now=now).count(),
        first_sent=counts["first_sent"],
        second_sent=counts["second_sent"],
        by_channel={
            "whatsapp": {"sent": counts["whatsapp_sent"], "failed": counts["whatsapp_failed"]},
            "email": {"sent": counts["email_sent"], "failed": counts["email_failed"]},
        },
        errors=counts["whatsapp_failed"] + counts["email_failed"],
        clicks=counts["clicks"] or 0,
        reminded_carts=counts["reminded_carts"],
        recovered_carts=outcome_counts["recovered_count"],
        recovered_revenue=outcome_counts["recovered_revenue"] or Decimal("0"),
        holdout_carts=outcome_counts["holdout_count"],
        holdout_converted=outcome_counts["holdout_converted_count"],
    )


@dataclass(frozen=True)
class DayPoint:
    date: str
    sent: int
    clicked: int
    recovered: int
    revenue: float


def reminder_daily_series(*, store_ids=None, days: int = 30, now: datetime | None = None) -> list[DayPoint]:
    """Per UTC day of the last `days`: messages sent, messages clicked, carts recovered, revenue."""
    now = now or timezone.now()
    start = (now - timedelta(days=days - 1)).date()
    messages = ReminderMessage.objects.all()
    outcomes = CartOutcome.objects.filter(recovered=True)
    if store_ids is not None:
        messages = messages.filter(store_id__in=store_ids)
        outcomes = outcomes.filter(store_id__in=store_ids)
    sent = dict(
        messages.filter(status=ReminderMessage.Status.SENT, sent_at__date__gte=start)
        .annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    clicked = dict(
        messages.filter(clicked_at__date__gte=start)
        .annotate(day=TruncDate("clicked_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    recovered = {
        row["day"]: (row["n"], row["revenue"] or 0)
        for row in outcomes.filter(recovered_at__date__gte=start)
        .annotate(day=TruncDate("recovered_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("cart_id"), revenue=Sum("revenue"))
    }
    points = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        n_recovered, revenue = recovered.get(day, (0, 0))
        points.append(
            DayPoint(
                date=day.isoformat(),
                sent=sent.get(day, 0),
                clicked=clicked.get(day, 0),
                recovered=n_recovered,
                revenue=float(revenue),
            )
        )
    return points
