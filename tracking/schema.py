"""OpenAPI descriptions (drf-spectacular) of the tracking endpoints. Documentation only: the rules
live in tracking.inputs and the views never validate through these serializers."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers


def _text(**kwargs):
    return serializers.CharField(required=False, allow_null=True, **kwargs)


EVENT_FIELDS = {
    "productId": _text(help_text="String or integer"),
    "productTitle": _text(max_length=500, help_text="Cut to 500 characters"),
    "productUrl": _text(help_text="http(s) URL"),
    "variantId": _text(help_text="String or integer"),
    "customerEmail": _text(help_text="E-mail address"),
    "customerFirstName": _text(),
    "customerLastName": _text(),
    "generatedImageUrl": _text(help_text="http(s) URL"),
    "personImageUrl": _text(help_text="http(s) URL"),
    "clothingImageUrl": _text(help_text="http(s) URL"),
    "userAgent": _text(),
    "sessionId": _text(),
}
EventIn = inline_serializer(
    "TrackingEventIn", {"storeName": serializers.CharField(help_text="Normalised; the key's store"), **EVENT_FIELDS}
)
EventOut = inline_serializer(
    "TrackingEventOut",
    {
        "id": serializers.CharField(),
        "storeName": serializers.CharField(),
        **EVENT_FIELDS,
        "ipAddress": serializers.CharField(allow_null=True),
        "createdAt": serializers.CharField(),
    },
)
Error = inline_serializer(
    "TrackingError",
    {
        "status": serializers.CharField(),
        "error": serializers.CharField(),
        "message": serializers.CharField(),
        "code": serializers.CharField(required=False),
        "details": serializers.DictField(required=False),
    },
)
ERRORS = dict.fromkeys((400, 401, 403, 413, 429, 500, 503), Error)
FILTERS = [
    OpenApiParameter("from", OpenApiTypes.STR, description="ISO 8601 date or date-time (inclusive)"),
    OpenApiParameter("to", OpenApiTypes.STR, description="ISO 8601 date (whole day) or date-time (inclusive)"),
    OpenApiParameter("store", OpenApiTypes.STR, description="Staff of several stores only"),
]

track_schema = extend_schema(
    operation_id="cart_tracking_track",
    tags=["tracking"],
    summary="Record one cart tracking event (seed 001)",
    request=EventIn,
    responses={
        200: inline_serializer(
            "TrackingTracked",
            {
                "status": serializers.CharField(),
                "message": serializers.CharField(),
                "data": inline_serializer(
                    "TrackingTrackedData", {"id": serializers.CharField(), "createdAt": serializers.CharField()}
                ),
            },
        ),
        **ERRORS,
    },
)
bulk_schema = extend_schema(
    operation_id="cart_tracking_track_bulk",
    tags=["tracking"],
    summary="Record up to 1,000 events; invalid ones are reported by index",
    request=inline_serializer("TrackingBulkIn", {"events": serializers.ListField(child=EventIn, max_length=1000)}),
    responses={
        200: inline_serializer(
            "TrackingBulkOut",
            {
                "status": serializers.CharField(),
                "data": inline_serializer(
                    "TrackingBulkData",
                    {
                        "accepted": serializers.IntegerField(),
                        "ids": serializers.ListField(child=serializers.CharField()),
                        "rejected": serializers.ListField(
                            child=inline_serializer(
                                "TrackingRejection",
                                {
                                    "index": serializers.IntegerField(),
                                    "field": serializers.CharField(),
                                    "reason": serializers.CharField(),
                                },
                            )
                        ),
                    },
                ),
            },
        ),
        **ERRORS,
    },
)
events_schema = extend_schema(
    operation_id="cart_tracking_events",
    tags=["tracking"],
    summary="List events (keyset pages) or export them as CSV (?format=csv)",
    parameters=[
        *FILTERS,
        OpenApiParameter("productId", OpenApiTypes.STR),
        OpenApiParameter("sessionId", OpenApiTypes.STR),
        OpenApiParameter("customerEmail", OpenApiTypes.STR),
        OpenApiParameter("limit", OpenApiTypes.INT, description="1 to 1000, default 100"),
        OpenApiParameter("cursor", OpenApiTypes.STR, description="nextCursor of the previous page"),
        OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
    ],
    responses={
        200: inline_serializer(
            "TrackingEventsPage",
            {
                "status": serializers.CharField(),
                "data": serializers.ListField(child=EventOut),
                "nextCursor": serializers.CharField(allow_null=True),
            },
        ),
        **ERRORS,
    },
)
analytics_schema = extend_schema(
    operation_id="cart_tracking_analytics",
    tags=["tracking"],
    summary="Events by day and product, unique and converted sessions, generated-image share",
    parameters=FILTERS,
    responses={
        200: inline_serializer(
            "TrackingAnalytics",
            {
                "status": serializers.CharField(),
                "data": inline_serializer(
                    "TrackingAnalyticsData",
                    {
                        "totalEvents": serializers.IntegerField(),
                        "uniqueSessions": serializers.IntegerField(),
                        "byDay": serializers.ListField(child=serializers.DictField()),
                        "byProduct": serializers.ListField(child=serializers.DictField()),
                        "generatedImageShare": serializers.FloatField(),
                        "convertedSessions": serializers.IntegerField(),
                    },
                ),
            },
        ),
        **ERRORS,
    },
)
