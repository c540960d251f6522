"""Staff API of API.md "Abandonment notifications": run the sweep, statistics, per-cart metadata."""

import uuid

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.auth import IsStoreStaff, request_store, stores_visible_to
from carts.models import Cart
from cartsite.errors import NotFound
from notifications import selectors, services


def stores_for_request(request, requested: str | None):
    """Store ids a staff request acts on: the named store, else every store the user may see
    (None for a superuser: all stores, without listing them)."""
    if requested:
        return [request_store(request, requested).pk]
    if request.user.is_superuser:
        return None
    return list(stores_visible_to(request.user).values_list("pk", flat=True))


class ProcessOptionsSerializer(serializers.Serializer):
    batchSize = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    firstNotificationDelayHours = serializers.FloatField(min_value=0, max_value=services.MAX_DELAY_HOURS, default=24)
    secondNotificationDelayHours = serializers.FloatField(min_value=0, max_value=services.MAX_DELAY_HOURS, default=48)
    enableWhatsApp = serializers.BooleanField(default=True)
    enableEmail = serializers.BooleanField(default=True)
    cursor = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    singleBatch = serializers.BooleanField(default=False)
    store = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=300)
    dryRun = serializers.BooleanField(default=False)


class ChannelCountsSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()


class ByChannelSerializer(serializers.Serializer):
    whatsapp = ChannelCountsSerializer()
    email = ChannelCountsSerializer()


class SweepSummarySerializer(serializers.Serializer):
    processed = serializers.IntegerField()
    firstSent = serializers.IntegerField(help_text="Stage-1 messages sent")
    secondSent = serializers.IntegerField(help_text="Stage-2 messages sent")
    skipped = serializers.IntegerField()
    errors = serializers.IntegerField()
    nextCursor = serializers.CharField(allow_null=True)
    byChannel = ByChannelSerializer()
    skippedByReason = serializers.DictField(child=serializers.IntegerField())
    batches = serializers.IntegerField()
    dryRun = serializers.BooleanField()


class HoldoutSerializer(serializers.Serializer):
    carts = serializers.IntegerField()
    converted = serializers.IntegerField()


class StatisticsSerializer(serializers.Serializer):
    totalCarts = serializers.IntegerField()
    abandonedCarts = serializers.IntegerField()
    firstSent = serializers.IntegerField()
    secondSent = serializers.IntegerField()
    byChannel = ByChannelSerializer()
    errors = serializers.IntegerField()
    clicks = serializers.IntegerField()
    recoveredCarts = serializers.IntegerField()
    recoveryRate = serializers.FloatField()
    recoveredRevenue = serializers.FloatField()
    holdout = HoldoutSerializer()
    remindedCarts = serializers.IntegerField()
    lift = serializers.FloatField(allow_null=True)


class NotificationMetadataSerializer(serializers.Serializer):
    firstSent = serializers.BooleanField()
    secondSent = serializers.BooleanField()
    firstSentAt = serializers.DateTimeField(allow_null=True)
    secondSentAt = serializers.DateTimeField(allow_null=True)
    firstError = serializers.CharField(allow_null=True)
    secondError = serializers.CharField(allow_null=True)


class CartReminderSerializer(serializers.Serializer):
    cartId = serializers.UUIDField()
    store = serializers.CharField()
    notifications = NotificationMetadataSerializer()
    messages = serializers.ListField(child=serializers.DictField())


class SweepProcessView(APIView):
    """POST /admin/cart-abandonment/process: runs the sweep now (all batches, or one)."""

    permission_classes = [IsStoreStaff]

    @extend_schema(request=ProcessOptionsSerializer, responses=SweepSummarySerializer, tags=["notifications"])
    def post(self, request):
        options = ProcessOptionsSerializer(data=request.data if isinstance(request.data, dict) else {})
        options.is_valid(raise_exception=True)
        data = options.validated_data
        stores = stores_for_request(request, data.get("store") or request.query_params.get("store"))
        summary = services.sweep_run(
            batch_size=data["batchSize"],
            first_delay_hours=data["firstNotificationDelayHours"],
            second_delay_hours=data["secondNotificationDelayHours"],
            enable_whatsapp=data["enableWhatsApp"],
            enable_email=data["enableEmail"],
            cursor=data.get("cursor") or None,
            single_batch=data["singleBatch"],
            stores=stores,
            dry_run=data["dryRun"],
        )
        request.log_outcome = "dry_run" if summary.dry_run else "processed"
        return Response(summary.as_api())


class SweepStatisticsView(APIView):
    """GET /admin/cart-abandonment: reminder, recovery and holdout statistics."""

    permission_classes = [IsStoreStaff]

    @extend_schema(responses=StatisticsSerializer, tags=["notifications"])
    def get(self, request):
        stores = stores_for_request(request, request.query_params.get("store"))
        now = timezone.now()
        services.attribution_refresh(now=now, stores=stores)
        return Response(selectors.reminder_statistics(store_ids=stores, now=now).as_api())


class CartReminderView(APIView):
    """GET /admin/cart-abandonment/carts/<cart id>: the seed's notification metadata of one cart."""

    permission_classes = [IsStoreStaff]

    @extend_schema(responses=CartReminderSerializer, tags=["notifications"])
    def get(self, request, cart_id: str):
        try:
            cart_id = uuid.UUID(cart_id)
        except ValueError:
            raise NotFound("No such cart") from None
        cart = (
            Cart.objects.filter(pk=cart_id, store__in=stores_visible_to(request.user)).select_related("store").first()
        )
        if cart is None:
            raise NotFound("No such cart")
        metadata = selectors.cart_reminder_metadata(cart_ids=[cart.id])[cart.id]
        return Response(
            {
                "cartId": str(cart.id),
                "store": cart.store.name,
                "notifications": metadata,
                "messages": selectors.cart_reminder_messages(cart_id=cart.id),
            }
        )
