"""Reads of checkout sessions: the latest one of a customer, and seed 004's analytics."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from carts.models import Store
from cartsite.errors import ValidationFailed
from payments.models import CheckoutSession, Plan

Status = CheckoutSession.Status


def plan_for_purchase(*, store: Store, code: str) -> Plan:
    """The active plan `code` of the store; an unknown or retired plan is a 400 on `plan`."""
    plan = Plan.objects.filter(store=store, code=code, active=True).first()
    if plan is None:
        raise ValidationFailed(f"Unknown plan {code}", field="plan", reason="Unknown plan")
    return plan


def checkout_session_latest(*, store: Store, user_id: str) -> CheckoutSession | None:
    """The customer's most recent session in this store (seed 004's get_latest_checkout_session)."""
    return (
        CheckoutSession.objects.filter(store=store, user_id=user_id)
        .select_related("plan")
        .order_by("-created_at", "-id")
        .first()
    )


def checkout_session_for_stripe(*, stripe_session: dict) -> CheckoutSession | None:
    """Our session behind a Stripe Checkout Session: by metadata `checkoutSessionId`, then by
    `client_reference_id`, then by the stored Stripe session id."""
    metadata = stripe_session.get("metadata") or {}
    queryset = CheckoutSession.objects.select_related("plan")
    for candidate in (metadata.get("checkoutSessionId"), stripe_session.get("client_reference_id")):
        try:
            session_id = uuid.UUID(str(candidate)) if candidate else None
        except ValueError:  # not ours: another integration's reference
            session_id = None
        found = queryset.filter(pk=session_id).first() if session_id else None
        if found is not None:
            return found
    if stripe_session.get("id"):
        return queryset.filter(stripe_session_id=stripe_session["id"]).first()
    return None


@dataclass(frozen=True)
class PlanAbandonment:
    plan: str
    total: int
    abandoned: int
    completed: int

    @property
    def abandonment_rate(self) -> float:
        return round(self.abandoned / self.total, 4) if self.total else 0.0


@dataclass(frozen=True)
class DayRow:
    day: date
    total: int
    completed: int
    pending: int
    expired: int

    @property
    def conversion_rate(self) -> float:
        return round(self.completed / self.total, 4) if self.total else 0.0


@dataclass(frozen=True)
class CheckoutReport:
    since: date
    total_30d: int
    completed_30d: int
    conversion_rate_30d: float
    by_plan: list[PlanAbandonment]
    by_day: list[DayRow]
    average_minutes_to_complete: float | None
    retried_sessions: int
    retry_completed: int
    revenue_30d: dict[str, Decimal]  # by currency


def checkout_report(*, stores, now=None) -> CheckoutReport:
    """Seed 004's monitoring queries over `stores`: conversion rate over 30 days, abandonment
    (still pending or expired) by plan, the last 7 days by day, average time to completion and how
    many sessions needed more than one attempt."""
    now = now or timezone.now()
    base = CheckoutSession.objects.filter(store__in=stores)
    last_30 = base.filter(created_at__gt=now - timedelta(days=30))
    totals = last_30.aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(status=Status.COMPLETED)),
        retried=Count("id", filter=Q(attempts__gt=1)),
        retry_completed=Count("id", filter=Q(attempts__gt=1, status=Status.COMPLETED)),
        average=Avg(F("completed_at") - F("created_at"), filter=Q(status=Status.COMPLETED)),
    )
    revenue = {
        row["currency"]: row["amount"]
        for row in last_30.filter(status=Status.COMPLETED)
        .values("currency")
        .annotate(amount=Sum("amount"))
        .order_by("currency")
    }
    by_plan = [
        PlanAbandonment(
            plan=row["label"] or "(cart)",
            total=row["total"],
            abandoned=row["abandoned"],
            completed=row["completed"],
        )
        for row in last_30.annotate(label=F("subscription_plan"))
        .values("label")
        .annotate(
            total=Count("id"),
            abandoned=Count("id", filter=Q(status__in=[Status.PENDING, Status.EXPIRED])),
            completed=Count("id", filter=Q(status=Status.COMPLETED)),
        )
        .order_by("-total", "label")
    ]
    day_rows = {
        row["day"]: row
        for row in base.filter(created_at__gt=now - timedelta(days=7))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            total=Count("id"),
            completed=Count("id", filter=Q(status=Status.COMPLETED)),
            pending=Count("id", filter=Q(status=Status.PENDING)),
            expired=Count("id", filter=Q(status=Status.EXPIRED)),
        )
    }
    today = now.date()
    by_day = []
    for offset in range(7):
        day = today - timedelta(days=offset)
        row = day_rows.get(day, {})
        by_day.append(
            DayRow(
                day=day,
                total=row.get("total", 0),
                completed=row.get("completed", 0),
                pending=row.get("pending", 0),
                expired=row.get("expired", 0),
            )
        )
    average = totals["average"]
    total = totals["total"]
    return CheckoutReport(
        since=(now - timedelta(days=30)).date(),
        total_30d=total,
        completed_30d=totals["completed"],
        conversion_rate_30d=round(totals["completed"] / total, 4) if total else 0.0,
        by_plan=by_plan,
        by_day=by_day,
        average_minutes_to_complete=round(average.total_seconds() / 60, 1) if average is not None else None,
        retried_sessions=totals["retried"],
        retry_completed=totals["retry_completed"],
        revenue_30d=revenue,
    )
