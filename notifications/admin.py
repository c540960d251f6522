"""Back office: the message log (read-only), unsubscribes, outcomes and per-cart reminder status."""

import json

from django.contrib import admin
from django.db.models import Exists, Min, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils.html import format_html

from carts.auth import stores_visible_to
from notifications.models import CartOutcome, RemindedCart, ReminderMessage, Suppression
from notifications.selectors import cart_reminder_metadata


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(store__in=stores_visible_to(request.user))


@admin.register(ReminderMessage)
class ReminderMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "store",
        "cart_id",
        "stage",
        "channel",
        "status",
        "skip_reason",
        "attempts",
        "error_kind",
        "sent_at",
        "click_count",
    )
    list_filter = ("status", "stage", "channel", "store", "error_kind", "skip_reason")
    search_fields = ("cart__id", "provider_message_id")
    list_select_related = ("store",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ReminderMessage._meta.fields]
    change_list_template = "notifications/admin/remindermessage_change_list.html"

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "stats_url": reverse("notifications-stats")}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    """Only hashes are stored; deleting a row re-subscribes that contact."""

    list_display = ("created_at", "store", "kind", "value_hash", "reason")
    list_filter = ("kind", "store", "reason")
    search_fields = ("value_hash",)
    readonly_fields = ("store", "kind", "value_hash", "reason", "created_at")


@admin.register(CartOutcome)
class CartOutcomeAdmin(ReadOnlyAdmin):
    list_display = (
        "cart_id",
        "store",
        "holdout",
        "holdout_converted",
        "recovered",
        "recovered_at",
        "credited_stage",
        "credited_channel",
        "revenue",
    )
    list_filter = ("recovered", "holdout", "holdout_converted", "credited_channel", "store")
    readonly_fields = [f.name for f in CartOutcome._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False


def _sent_at(stage: int):
    return Min("reminder_messages__sent_at", filter=Q(reminder_messages__stage=stage, reminder_messages__status="sent"))


def _last_error(stage: int):
    return Subquery(
        ReminderMessage.objects.filter(cart=OuterRef("pk"), stage=stage, status=ReminderMessage.Status.FAILED)
        .order_by("-updated_at")
        .values("last_error")[:1]
    )


@admin.register(RemindedCart)
class RemindedCartAdmin(ReadOnlyAdmin):
    """The seed's metadata (firstSent, firstSentAt, firstError …) per cart, derived from the log."""

    list_display = ("id", "store", "last_activity_at", "first_sent_at", "first_error", "second_sent_at", "second_error")
    list_filter = ("store",)
    search_fields = ("id", "session_token")
    fields = ("id", "store", "session_token", "last_activity_at", "converted_at", "removed_at", "notifications")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(Exists(ReminderMessage.objects.filter(cart=OuterRef("pk"))))
            .annotate(
                first_sent_at=_sent_at(1),
                second_sent_at=_sent_at(2),
                first_error=_last_error(1),
                second_error=_last_error(2),
            )
            .select_related("store")
        )

    @admin.display(description="firstSentAt", ordering="first_sent_at")
    def first_sent_at(self, obj):
        return obj.first_sent_at

    @admin.display(description="secondSentAt", ordering="second_sent_at")
    def second_sent_at(self, obj):
        return obj.second_sent_at

    @admin.display(description="firstError")
    def first_error(self, obj):
        return "" if obj.first_sent_at else (obj.first_error or "")

    @admin.display(description="secondError")
    def second_error(self, obj):
        return "" if obj.second_sent_at else (obj.second_error or "")

    @admin.display(description="notifications (seed metadata)")
    def notifications(self, obj):
        metadata = cart_reminder_metadata(cart_ids=[obj.pk])[obj.pk]
        return format_html("<pre>{}</pre>", json.dumps(metadata, indent=2))
