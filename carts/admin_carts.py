"""Back office for carts: a read-only changelist that stays fast on a million rows, the cart page
with its items as a table, a streamed CSV export, and index entries for the report and live pages.

Carts are written by the storefront only; the admin never edits them (the raw data is shown as
it is). Staff see the carts of the stores they are members of; superusers see all.
"""

import csv
import json
import uuid
from decimal import Decimal

from django.contrib import admin
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from carts.auth import is_staff_user, stores_visible_to
from carts.models import AbandonedCartsReport, Cart, LiveCarts, StoreMembership
from cartsite.admin_pagination import EstimatedCountPaginator


def user_sees_carts(user) -> bool:
    return is_staff_user(user) and (user.is_superuser or StoreMembership.objects.filter(user_id=user.pk).exists())


class CartStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Cart.Status.choices

    def queryset(self, request, queryset):
        if self.value() in Cart.Status.values:
            return queryset.with_status(self.value())
        return queryset


class StoreFilter(admin.SimpleListFilter):
    title = "store"
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(store.pk, store.name) for store in stores_visible_to(request.user).order_by("name")]

    def queryset(self, request, queryset):
        if self.value() and str(self.value()).isdigit():
            return queryset.filter(store_id=int(self.value()))
        return queryset


CSV_COLUMNS = [
    "id",
    "store",
    "session_token",
    "user_id",
    "status",
    "item_count",
    "total",
    "currency",
    "email",
    "phone",
    "first_name",
    "last_name",
    "email_consent",
    "email_consent_at",
    "email_consent_source",
    "whatsapp_consent",
    "whatsapp_consent_at",
    "whatsapp_consent_source",
    "created_at",
    "last_activity_at",
    "converted_at",
    "order_reference",
    "order_amount",
    "removed_at",
    "items",
]


class _Echo:
    def write(self, value):
        return value


def _csv_cell(column: str, value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    value = str(value)
    # Spreadsheets run cells that start like a formula; a phone's leading + is expected data.
    if column != "phone" and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def carts_csv_rows(queryset, now):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for cart in queryset.select_related("store").order_by("created_at", "id").iterator(chunk_size=2000):
        row = []
        for column in CSV_COLUMNS:
            if column == "store":
                value = cart.store.name
            elif column == "status":
                value = cart.status_at(now)
            else:
                value = getattr(cart, column)
            row.append(_csv_cell(column, value))
        yield writer.writerow(row)


class CartsReadOnlyAccess:
    """Carts are the storefront's record: staff of a store read and export them, never add, edit
    or delete them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return user_sees_carts(request.user)

    def has_module_permission(self, request):
        return user_sees_carts(request.user)


@admin.register(Cart)
class CartAdmin(CartsReadOnlyAccess, admin.ModelAdmin):
    list_display = (
        "short_id",
        "store",
        "session_token",
        "status_label",
        "item_count",
        "total_display",
        "email",
        "last_activity_at",
        "created_at",
    )
    list_filter = (CartStatusFilter, StoreFilter)
    list_select_related = ("store",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    search_fields = ("email", "session_token", "id")
    search_help_text = "An e-mail address, a session token or a cart id (exact)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = ("export_csv",)
    fieldsets = (
        (None, {"fields": ("id", "store", "session_token", "user_id", "status_label", "currency")}),
        ("Items", {"fields": ("items_table",)}),
        ("Customer", {"fields": ("email", "phone", "first_name", "last_name", "consent_summary")}),
        (
            "Timeline",
            {
                "fields": (
                    "created_at",
                    "last_activity_at",
                    "converted_at",
                    "order_reference",
                    "order_amount",
                    "removed_at",
                )
            },
        ),
        ("Raw data", {"classes": ("collapse",), "fields": ("raw_items",)}),
    )
    readonly_fields = (
        "id",
        "store",
        "session_token",
        "user_id",
        "status_label",
        "currency",
        "items_table",
        "email",
        "phone",
        "first_name",
        "last_name",
        "consent_summary",
        "created_at",
        "last_activity_at",
        "converted_at",
        "order_reference",
        "order_amount",
        "removed_at",
        "raw_items",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store__in=stores_visible_to(request.user))

    def get_search_results(self, request, queryset, search_term):
        """Exact lookups only, each served by an index (no LIKE scan over a million rows)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        if "@" in term:
            return queryset.filter(email=term.lower()), False
        return queryset.filter(session_token=term), False

    @admin.display(description="cart", ordering="id")
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description="status")
    def status_label(self, obj):
        status = obj.status
        colours = {"active": "#2e7d32", "idle": "#777", "abandoned": "#c0392b", "converted": "#1f4e79"}
        return format_html('<span style="color:{}">{}</span>', colours.get(status, "#555"), Cart.Status(status).label)

    @admin.display(description="total", ordering="total")
    def total_display(self, obj):
        return f"{obj.total} {obj.currency}"

    @admin.display(description="items")
    def items_table(self, obj):
        rows, total = [], Decimal("0")
        for item in obj.items if isinstance(obj.items, list) else []:
            if not isinstance(item, dict):
                continue
            price = Decimal(str(item.get("price", 0)))
            quantity = int(item.get("quantity", 0))
            line = price * quantity
            total += line
            rows.append(
                (
                    item.get("productId", ""),
                    item.get("variantId", "") or "",
                    item.get("title", "") or "",
                    item.get("category", "") or "",
                    ", ".join(item.get("tags") or []),
                    quantity,
                    f"{price:.2f}",
                    f"{line:.2f}",
                )
            )
        if not rows:
            return "No items"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td style="text-align:right">{}</td><td style="text-align:right">{}</td>'
            '<td style="text-align:right">{}</td></tr>',
            rows,
        )
        return format_html(
            '<table class="cart-items"><thead><tr><th>Product</th><th>Variant</th><th>Title</th>'
            "<th>Category</th><th>Tags</th><th>Qty</th><th>Price</th><th>Line total</th></tr></thead>"
            '<tbody>{}</tbody><tfoot><tr><th colspan="5">Total ({} items, as stored: {} {})</th>'
            '<th style="text-align:right">{}</th><th></th><th style="text-align:right">{}</th></tr></tfoot></table>',
            body,
            obj.item_count,
            obj.total,
            obj.currency,
            obj.item_count,
            f"{total:.2f}",
        )

    @admin.display(description="marketing consent")
    def consent_summary(self, obj):
        lines = []
        for channel, label in (("email", "E-mail"), ("whatsapp", "WhatsApp")):
            given = getattr(obj, f"{channel}_consent")
            when = getattr(obj, f"{channel}_consent_at")
            source = getattr(obj, f"{channel}_consent_source")
            if when is None:
                lines.append((label, "not asked", ""))
            else:
                state = "given" if given else "refused or withdrawn"
                lines.append((label, state, f"on {when:%Y-%m-%d %H:%M} UTC via {source or 'unknown'}"))
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {} {}", lines)

    @admin.display(description="items (raw JSON)")
    def raw_items(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.items, indent=2, ensure_ascii=False))

    @admin.action(description="Export selected carts as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        stamp = timezone.now()
        response = StreamingHttpResponse(carts_csv_rows(queryset, stamp), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="carts-{stamp:%Y%m%d-%H%M%S}.csv"'
        return response


class _PageEntryAdmin(CartsReadOnlyAccess, admin.ModelAdmin):
    """An admin index entry that opens one of the cart pages (the proxy model holds no data)."""

    url_name = ""

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse(self.url_name))


@admin.register(AbandonedCartsReport)
class AbandonedCartsReportAdmin(_PageEntryAdmin):
    url_name = "carts-abandoned-report"


@admin.register(LiveCarts)
class LiveCartsAdmin(_PageEntryAdmin):
    url_name = "carts-live"
