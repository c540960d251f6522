"""The admin statistics page: inline SVG charts (no CDN) and a "process now" button."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from carts.auth import stores_visible_to
from notifications import selectors, services

CHART_WIDTH = 600
CHART_HEIGHT = 140


def bar_chart(*, title: str, points: list, values: list[float], unit: str = "") -> dict:
    """Bars laid out for the template (coordinates only, so the template escapes nothing raw)."""
    highest = max(values) if values else 0
    peak = highest if highest > 0 else 1  # the scale; an empty chart draws no bars
    slot = CHART_WIDTH / max(len(values), 1)
    bars = []
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        height = round(value / peak * (CHART_HEIGHT - 20), 2)
        bars.append(
            {
                "x": round(index * slot + 1, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "width": round(max(slot - 2, 1), 2),
                "height": height,
                "label": f"{point.date}: {value:g}{unit}",
            }
        )
    return {
        "title": title,
        "bars": bars,
        "total": round(sum(values), 2),
        "peak": highest,
        "first_date": points[0].date if points else "",
        "last_date": points[-1].date if points else "",
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "unit": unit,
    }


def _visible_store_ids(request, chosen: str | None):
    visible = stores_visible_to(request.user)
    if chosen:
        visible = visible.filter(name=chosen)
        return list(visible.values_list("pk", flat=True))
    return None if request.user.is_superuser else list(visible.values_list("pk", flat=True))


@require_http_methods(["GET", "POST"])
def statistics_view(request):
    chosen = request.GET.get("store") or request.POST.get("store") or None
    store_ids = _visible_store_ids(request, chosen)
    if request.method == "POST":
        summary = services.sweep_run_exclusive(stores=store_ids)
        if summary is None:
            messages.warning(request, "Another sweep is running; nothing was sent.")
        else:
            messages.success(
                request,
                f"Processed {summary.processed} carts: {summary.first_sent} first and {summary.second_sent} "
                f"second reminders sent, {summary.skipped} skipped, {summary.errors} errors.",
            )
        return redirect(request.get_full_path())
    now = timezone.now()
    services.attribution_refresh(now=now, stores=store_ids)
    statistics = selectors.reminder_statistics(store_ids=store_ids, now=now)
    points = selectors.reminder_daily_series(store_ids=store_ids, days=30, now=now)
    charts = [
        bar_chart(title="Reminders sent", points=points, values=[p.sent for p in points]),
        bar_chart(title="Reminders clicked", points=points, values=[p.clicked for p in points]),
        bar_chart(title="Carts recovered", points=points, values=[p.recovered for p in points]),
        bar_chart(
            title="Recovery rate (recovered / sent, per day)",
            points=points,
            values=[round(p.recovered / p.sent * 100, 1) if p.sent else 0 for p in points],
            unit="%",
        ),
        bar_chart(title="Recovered revenue", points=points, values=[p.revenue for p in points]),
    ]
    reminded_rate = statistics.recovery_rate * 100
    holdout_rate = statistics.holdout_conversion_rate * 100
    peak = max(reminded_rate, holdout_rate, 1)
    lift_chart = {
        "rows": [
            {"label": label, "value": round(value, 2), "width": round(value / peak * 400, 2)}
            for label, value in (("Reminded carts", reminded_rate), ("Held-out carts", holdout_rate))
        ],
        "lift": None if statistics.lift is None else round(statistics.lift * 100, 2),
    }
    context = {
        **admin.site.each_context(request),
        "title": "Abandoned-cart reminders: statistics",
        "statistics": statistics,
        "charts": charts,
        "lift_chart": lift_chart,
        "stores": stores_visible_to(request.user).order_by("name"),
        "chosen_store": chosen or "",
    }
    return TemplateResponse(request, "notifications/admin/stats.html", context)
