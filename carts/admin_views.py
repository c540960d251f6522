"""Admin pages beyond the model admins: the abandoned-carts report and the live carts.

Both are mounted through `admin.site.admin_view` (login, staff, CSRF) and only ever show the
stores the user may see.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from carts.auth import stores_visible_to
from carts.charts import abandonment_by_day_svg
from carts.selectors import abandoned_report

REPORT_DEFAULT_DAYS = 30
REPORT_MAX_DAYS = 366


class StoreChoiceForm(forms.Form):
    store = forms.ModelChoiceField(queryset=None, to_field_name="name", empty_label=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores_visible_to(user).order_by("name")


class ReportFilterForm(StoreChoiceForm):
    date_from = forms.DateField(label="Created from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="to (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days >= REPORT_MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {REPORT_MAX_DAYS} days.")
        return cleaned


def _initial_store(request):
    return stores_visible_to(request.user).order_by("name").values_list("name", flat=True).first()


def abandoned_report_view(request):
    """Seed 000 phase 4: abandoned carts, average cart size, abandonment by category, tag and day."""
    today = timezone.now().date()
    params = {
        "store": request.GET.get("store") or _initial_store(request),
        "date_from": request.GET.get("date_from") or (today - timedelta(days=REPORT_DEFAULT_DAYS - 1)).isoformat(),
        "date_to": request.GET.get("date_to") or today.isoformat(),
    }
    form = ReportFilterForm(params, user=request.user)
    report = chart = None
    if form.is_valid():
        report = abandoned_report(
            store=form.cleaned_data["store"],
            date_from=form.cleaned_data["date_from"],
            date_to=form.cleaned_data["date_to"],
        )
        chart = abandonment_by_day_svg(report.by_day)
    context = {
        **admin.site.each_context(request),
        "title": "Abandoned carts report",
        "form": form,
        "report": report,
        "chart": chart,
        "abandoned_after_hours": settings.ABANDONED_AFTER_HOURS,
    }
    return TemplateResponse(request, "carts/abandoned_report.html", context)


def live_carts_view(request):
    """Seed 002's live carts: the page polls GET /api/carts/active every 5 seconds."""
    form = StoreChoiceForm({"store": request.GET.get("store") or _initial_store(request)}, user=request.user)
    store = form.cleaned_data["store"] if form.is_valid() else None
    context = {
        **admin.site.each_context(request),
        "title": "Live carts",
        "form": form,
        "store": store,
        "window_minutes": settings.CART_LIVE_WINDOW_MINUTES,
        "poll_seconds": 5,
    }
    return TemplateResponse(request, "carts/live_carts.html", context)
