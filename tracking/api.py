"""The tracking endpoints of API.md "Tracking events" (seed 001): thin doors into tracking.services
and tracking.selectors.

Each request ends in one access line (cartsite.middleware) carrying the request id, the store and
the outcome this module sets; rejections and rate-limit hits also get their own line, and every
outcome is counted in `cartsite_tracking_events_total{store, outcome}`.
"""

import logging

from django.db import DatabaseError
from rest_framework import exceptions as drf
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.auth import IsMerchant, IsStorefront, KeyCheckedByTheWrite, is_store_client, request_store
from cartsite import metrics
from cartsite.client_ip import client_ip
from cartsite.errors import DomainError, Forbidden, RateLimited, ValidationFailed, database_is_unreachable
from cartsite.logging import store_var
from tracking import schema, selectors, services
from tracking.exports import events_csv_response
from tracking.inputs import event_input_clean
from tracking.ratelimit import tracking_rate_check

logger = logging.getLogger("tracking")

MAX_BULK_EVENTS = 1000


def outcome_for(exc: Exception) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, ValidationFailed | drf.ValidationError | drf.ParseError | drf.UnsupportedMediaType):
        return "invalid"
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return "unauthorized"
    if isinstance(exc, Forbidden | drf.PermissionDenied):
        return "forbidden"
    if isinstance(exc, DatabaseError):
        return "database_unavailable" if database_is_unreachable(exc) else "database_error"
    if isinstance(exc, DomainError):
        return "rejected"
    return "error"


class TrackingView(APIView):
    """Shared by the ingestion endpoints: the per-IP rate limit before anything else, and the
    outcome (log line + metric) of every request, failed ones included."""

    permission_classes = [IsStorefront]
    # Seed 001 §2.5 fixes these messages for the tracking endpoints.
    error_messages = {500: "Failed to track cart event", 503: "Database service unavailable"}

    client_ip: str | None = None

    def initial(self, request, *args, **kwargs):
        # Read once: the rate limit counts it, the stored event carries it.
        self.client_ip = client_ip(request)
        decision = tracking_rate_check(request, ip=self.client_ip)
        if not decision.available:
            self.limiter_unavailable = True
        if decision.limited:
            logger.warning(
                "rate limit exceeded",
                extra={"client_ip": self.client_ip, "rate": decision.rate, "retry_after": decision.retry_after},
            )
            raise RateLimited("Too many requests, retry later", headers={"Retry-After": str(decision.retry_after)})
        super().initial(request, *args, **kwargs)

    def store_label(self, request) -> str:
        user = getattr(request, "_user", None)
        if is_store_client(user):
            return user.store.name
        return store_var.get() or "unknown"

    def outcome(self, request, outcome: str, count: int = 1) -> None:
        request._request.log_outcome = outcome
        if count:
            metrics.TRACKING_EVENTS.labels(self.store_label(request), outcome).inc(count)

    def handle_exception(self, exc):
        outcome = outcome_for(exc)
        self.outcome(self.request, outcome)
        if outcome == "invalid" and isinstance(exc, DomainError):
            details = exc.details or {}
            logger.warning(
                "tracking event rejected",
                extra={"field": details.get("field"), "reason": details.get("reason") or exc.message},
            )
        elif outcome == "invalid":
            logger.warning("tracking event rejected", extra={"reason": type(exc).__name__})
        elif outcome.startswith("database"):
            logger.error("tracking event not stored", extra={"outcome": outcome, "error_type": type(exc).__name__})
        return super().handle_exception(exc)

    def succeeded(self, request, outcome: str, count: int = 1) -> None:
        if getattr(self, "limiter_unavailable", False):
            # Let the metric show how much got through unlimited while Redis was away.
            metrics.TRACKING_EVENTS.labels(self.store_label(request), "rate_limit_unavailable").inc()
        self.outcome(request, outcome, count)


class TrackView(KeyCheckedByTheWrite, TrackingView):
    """`POST /api/cart-tracking/track`: one event (seed 001 §2).

    With a store key, the key is checked by the insert itself (one round trip); staff, and a key
    the insert did not match (unknown, revoked, another store), take the usual path."""

    @schema.track_schema
    def post(self, request):
        event = event_input_clean(request.data)
        recorded = self.write_checked(
            request,
            by_key=lambda digest: services.event_record_by_key(
                key_digest=digest, event=event, ip_address=self.client_ip
            ),
            plain=lambda: self.record_checked(request, event),
        )
        self.succeeded(request, "tracked")
        return Response(
            {
                "status": "success",
                "message": "Cart event tracked successfully",
                "data": {"id": recorded.id, "createdAt": selectors.iso_ms(recorded.created_at)},
            }
        )

    def record_checked(self, request, event):
        user = request.user
        # A key acts on its own store; event_record answers another store name with the 403
        # request_store gives (the name is normalised already).
        store = user.store if is_store_client(user) else request_store(request, event.store_name, field="storeName")
        return services.event_record(store=store, event=event, ip_address=self.client_ip)


class TrackBulkView(TrackingView):
    """`POST /api/cart-tracking/track/bulk`: up to 1,000 events, each accepted or rejected."""

    @schema.bulk_schema
    def post(self, request):
        body = request.data
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ValidationFailed("events is required (a list of events)", field="events", reason="Field is required")
        if len(events) > MAX_BULK_EVENTS:
            raise ValidationFailed(
                f"events holds more than {MAX_BULK_EVENTS} events",
                field="events",
                reason=f"At most {MAX_BULK_EVENTS} events",
            )
        store = request_store(request)
        result = services.events_record_bulk(store=store, payloads=events, ip_address=self.client_ip)
        for rejection in result.rejected:
            logger.warning(
                "tracking event rejected",
                extra={"index": rejection.index, "field": rejection.field, "reason": rejection.reason},
            )
        if result.rejected:
            metrics.TRACKING_EVENTS.labels(store.name, "invalid").inc(len(result.rejected))
        self.succeeded(request, "tracked" if not result.rejected else "partially_tracked", result.accepted)
        return Response(
            {
                "status": "success",
                "data": {
                    "accepted": result.accepted,
                    "ids": result.ids,
                    "rejected": [{"index": r.index, "field": r.field, "reason": r.reason} for r in result.rejected],
                },
            }
        )


class CsvRenderer(BaseRenderer):
    """Lets DRF accept `?format=csv`; the view streams the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class EventsView(APIView):
    """`GET /api/cart-tracking/events`: filtered, newest first, keyset pages; `?format=csv`
    streams every matching event (no pages) in constant memory."""

    permission_classes = [IsMerchant]
    renderer_classes = [JSONRenderer, CsvRenderer]

    @schema.events_schema
    def get(self, request):
        store = request_store(request)
        filters = selectors.event_filters_parse(request.query_params)
        if request.query_params.get("format") == "csv":
            query = selectors.events_query(store=store, filters=filters)
            return events_csv_response(query, f"cart-events-{store.name}.csv")
        page = selectors.events_page(
            store=store,
            filters=filters,
            limit=selectors.limit_parse(request.query_params.get("limit")),
            cursor=request.query_params.get("cursor") or None,
        )
        return Response({"status": "success", "data": page.events, "nextCursor": page.next_cursor})


class AnalyticsView(APIView):
    """`GET /api/cart-tracking/analytics`: totals, by day, by product, generated-image share and
    tracked sessions whose cart converted, for one store and date range."""

    permission_classes = [IsMerchant]

    @schema.analytics_schema
    def get(self, request):
        store = request_store(request)
        filters = selectors.event_filters_parse(request.query_params)
        result = selectors.analytics(store=store, filters=filters)
        return Response({"status": "success", "data": result.as_api()})
