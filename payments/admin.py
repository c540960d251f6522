"""Back office for payments: checkout sessions (links to the cart and the Stripe session), Stripe
events (read-only, "reprocess" for failed ones), plans, subscriptions, and the report page."""

from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from carts.auth import stores_visible_to
from payments.events import stripe_event_reprocess
from payments.models import CheckoutSession, Plan, StripeEvent, Subscription
from payments.selectors import checkout_report


class StoreScopedAdmin(admin.ModelAdmin):
    """Staff see the rows of the stores they are members of (superusers: all)."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store__in=stores_visible_to(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store" and not request.user.is_superuser:
            kwargs["queryset"] = stores_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Plan)
class PlanAdmin(StoreScopedAdmin):
    list_display = ("code", "name", "store", "price", "currency", "interval", "stripe_price_id", "active")
    list_filter = ("active", "interval", "store")
    search_fields = ("code", "name", "stripe_price_id")
    list_select_related = ("store",)


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(StoreScopedAdmin):
    change_list_template = "payments/admin/checkoutsession_change_list.html"
    list_display = (
        "id",
        "status",
        "plan_or_cart",
        "store",
        "amount",
        "currency",
        "created_at",
        "completed_at",
        "attempts",
        "reminder_sent_at",
        "stripe_list_link",
    )
    list_filter = ("status", "store", "subscription_plan", "payment_provider", "created_at")
    search_fields = ("=id", "user_id", "email", "=stripe_session_id", "subscription_plan")
    list_select_related = ("store", "plan", "cart")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "store",
        "cart_link",
        "plan",
        "subscription_plan",
        "plan_price",
        "user_id",
        "email",
        "amount",
        "currency",
        "payment_provider",
        "status",
        "stripe_link",
        "stripe_session_url",
        "stripe_session_expires_at",
        "stripe_customer_id",
        "created_at",
        "expires_at",
        "completed_at",
        "attempts",
        "reminder_sent_at",
        "metadata",
    )
    exclude = ("cart", "stripe_session_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Status moves through services only (PATCH /api/payments/checkout-session, Stripe).
        return False

    @admin.display(description="Plan / cart")
    def plan_or_cart(self, obj):
        if obj.subscription_plan:
            return obj.subscription_plan
        if obj.cart_id:
            return format_html('<a href="{}">cart</a>', reverse("admin:carts_cart_change", args=[obj.cart_id]))
        return "—"

    @admin.display(description="Cart")
    def cart_link(self, obj):
        if not obj.cart_id:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:carts_cart_change", args=[obj.cart_id]), obj.cart_id)

    @admin.display(description="Stripe")
    def stripe_list_link(self, obj):
        if not obj.stripe_session_id:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">dashboard</a>', stripe_dashboard_url(obj.stripe_session_id)
        )

    @admin.display(description="Stripe session")
    def stripe_link(self, obj):
        if not obj.stripe_session_id:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            stripe_dashboard_url(obj.stripe_session_id),
            obj.stripe_session_id,
        )


def stripe_dashboard_url(stripe_session_id: str) -> str:
    test_mode = settings.STRIPE_SECRET_KEY.startswith("sk_test_")
    return f"{settings.STRIPE_DASHBOARD_URL}{'/test' if test_mode else ''}/checkout/sessions/{stripe_session_id}"


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("stripe_id", "type", "status", "attempts", "received_at", "processed_at", "short_error")
    list_filter = ("status", "type", "livemode")
    search_fields = ("=stripe_id", "type")
    actions = ("reprocess",)
    readonly_fields = [f.name for f in StripeEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Events carry customers of every store: only superusers read them.
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.none()

    @admin.display(description="Error")
    def short_error(self, obj):
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.action(description="Reprocess the selected failed events")
    def reprocess(self, request, queryset):
        counts = {}
        for event_id in queryset.filter(status=StripeEvent.Status.FAILED).values_list("id", flat=True):
            outcome = stripe_event_reprocess(event_id=event_id)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if not counts:
            self.message_user(request, "None of the selected events has failed.", messages.WARNING)
            return
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        level = messages.ERROR if counts.get("failed") else messages.SUCCESS
        self.message_user(request, f"Reprocessed: {summary}.", level)


@admin.register(Subscription)
class SubscriptionAdmin(StoreScopedAdmin):
    list_display = ("user_id", "email", "plan", "store", "status", "started_at", "checkout_session")
    list_filter = ("status", "store", "plan")
    search_fields = ("user_id", "email", "stripe_customer_id")
    list_select_related = ("store", "plan")
    raw_id_fields = ("checkout_session",)


def _bar_chart(rows) -> dict:
    """Geometry of an inline SVG bar chart (sessions per day, completed part darker): no CDN."""
    width, height, gap = 560, 160, 10
    bar_width = (width - gap * (len(rows) + 1)) // max(len(rows), 1)
    peak = max([row.total for row in rows] + [1])
    bars = []
    for index, row in enumerate(reversed(rows)):
        x = gap + index * (bar_width + gap)
        total_height = round(row.total / peak * (height - 30))
        completed_height = round(row.completed / peak * (height - 30))
        bars.append(
            {
                "x": x,
                "width": bar_width,
                "total_y": height - 20 - total_height,
                "total_height": total_height,
                "completed_y": height - 20 - completed_height,
                "completed_height": completed_height,
                "label_x": x + bar_width // 2,
                "label": row.day.strftime("%a %d"),
                "row": row,
            }
        )
    return {"width": width, "height": height, "bars": bars, "axis_y": height - 20}


def checkout_report_view(request):
    """admin/payments/report/: seed 004's analytics for the stores the user may see."""
    stores = stores_visible_to(request.user)
    report = checkout_report(stores=stores)
    context = {
        **admin.site.each_context(request),
        "title": "Checkout report",
        "report": report,
        "chart": _bar_chart(report.by_day),
        "store_names": ", ".join(stores.values_list("name", flat=True)[:10]),
        "opts": CheckoutSession._meta,
    }
    return TemplateResponse(request, "payments/admin/report.html", context)
