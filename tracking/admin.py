"""Back office for tracking events: a read-only list (raw data is never edited by hand), filters by
store and date, exact search by session, product and e-mail (index lookups, fast on big tables),
a streamed CSV export, and a link to the analytics page (tracking/admin_views.py)."""

from datetime import UTC, datetime, time

from django.contrib import admin
from django.db.models import Q
from django.utils.dateparse import parse_date

from carts.auth import stores_visible_to
from cartsite.admin_pagination import EstimatedCountPaginator
from tracking.exports import events_csv_response
from tracking.models import CartTrackingEvent


class StoreFilter(admin.SimpleListFilter):
    title = "store"
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(name, name) for name in stores_visible_to(request.user).values_list("name", flat=True)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(store_name=self.value())
        return queryset


class CreatedAtFilter(admin.DateFieldListFilter):
    """Django's date filter, with a bare date in the URL (`created_at__lt=2026-03-11`, as typed or
    bookmarked) read as that day's start in UTC: an aware datetime, like the filter's own links."""

    def queryset(self, request, queryset):
        for name, values in self.used_parameters.items():
            if isinstance(values, list):
                self.used_parameters[name] = [_aware_day_start(value) for value in values]
            else:
                self.used_parameters[name] = _aware_day_start(values)
        return super().queryset(request, queryset)


def _aware_day_start(value):
    day = parse_date(value) if isinstance(value, str) and len(value.strip()) == 10 else None
    return datetime.combine(day, time.min, tzinfo=UTC) if day else value


@admin.register(CartTrackingEvent)
class CartTrackingEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "store_name",
        "product_id",
        "product_title",
        "session_id",
        "customer_email",
        "has_generated_image",
        "ip_address",
    )
    list_filter = (StoreFilter, ("created_at", CreatedAtFilter))
    search_fields = ("session_id", "product_id", "customer_email")
    search_help_text = "Exact session id, product id or e-mail address."
    show_full_result_count = False
    # A 10M-row table is never COUNT(*)ed: estimate unfiltered, cap filtered counts.
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ("-created_at", "-id")
    actions = ["export_csv"]
    change_list_template = "tracking/admin/change_list.html"
    fields = [
        "id",
        "store",
        "store_name",
        "product_id",
        "variant_id",
        "product_title",
        "product_url",
        "customer_email",
        "customer_first_name",
        "customer_last_name",
        "generated_image_url",
        "person_image_url",
        "clothing_image_url",
        "user_agent",
        "session_id",
        "ip_address",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store_name__in=stores_visible_to(request.user).values("name"))

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on indexed columns (idx_session_id, idx_product_id, idx_customer_email):
        a substring search would scan the whole table."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(session_id=term) | Q(product_id=term) | Q(customer_email=term.lower())
        return queryset.filter(match), False

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request, queryset):
        return events_csv_response(queryset, "cart-events.csv")
