"""The analytics page of the admin (`admin/tracking/analytics/`): API.md's analytics as charts.

Mounted through `admin.site.admin_view` (staff login required); a staff user sees the stores they
belong to, a superuser every store. Default range: the last 30 days.
"""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from carts.auth import stores_visible_to
from cartsite.errors import ValidationFailed
from tracking import charts, selectors

DEFAULT_DAYS = 30


def _every_day(by_day, filters):
    """The range's days in order, days without events as zero bars (a chart needs no gaps)."""
    counts = {day.date: day.events for day in by_day}
    first, last = filters.start.date(), (filters.end - timedelta(microseconds=1)).date()
    if (last - first).days > 400:
        return by_day
    return [
        selectors.DayCount(date=first + timedelta(days=n), events=counts.get(first + timedelta(days=n), 0))
        for n in range((last - first).days + 1)
    ]


def analytics_view(request):
    if not request.user.has_perm("tracking.view_carttrackingevent"):
        raise PermissionDenied
    stores = list(stores_visible_to(request.user).order_by("name"))
    today = timezone.now().date()
    params = {
        "from": request.GET.get("from") or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "to": request.GET.get("to") or today.isoformat(),
    }
    store = next((s for s in stores if s.name == request.GET.get("store")), stores[0] if stores else None)
    context = {
        **admin.site.each_context(request),
        "title": "Tracking analytics",
        "stores": stores,
        "store": store,
        "params": params,
        "error": None,
        "result": None,
    }
    if store is not None:
        try:
            filters = selectors.event_filters_parse(params)
        except ValidationFailed as exc:
            context["error"] = exc.message
        else:
            result = selectors.analytics(store=store, filters=filters, product_limit=15)
            context.update(
                result=result,
                by_day_svg=charts.events_by_day_svg(_every_day(result.by_day, filters)),
                by_product_svg=charts.events_by_product_svg(result.by_product),
                share_svg=charts.share_svg(result.generated_image_share),
            )
    return render(request, "tracking/admin/analytics.html", context)
