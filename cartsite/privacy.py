"""Erasure of one customer's data across every app (API.md "Erasure"): the service and its door.

`POST /api/privacy/erasure {"email": …}` or `{"user_id": …}` (or both), secret key only, acts on
the key's store. In one transaction, with the customer's carts locked first so that a sync
racing the erasure waits for it:

1. notifications: their e-mail addresses and phone numbers are suppressed (hashes only), and the
   reminder log of their carts loses its contact-bearing fields;
2. payments: their checkout sessions lose e-mail and user id (amounts and statuses stay);
3. tracking: their events lose e-mail, names, IP address, user agent and personal images;
4. carts: their carts lose every contact field and consent record (items and totals stay).

Carts go last because the other apps find the customer's data through the carts' contact fields.
The call is idempotent: a repeated erasure finds nothing left and answers zeros. This module is
the orchestration layer (like cartsite/urls.py), the one place that imports every app.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.auth import IsSecretKeyOnly, request_store
from carts.models import Store
from carts.privacy import cart_erase_customer, customer_carts_lock
from cartsite.errors import ValidationFailed
from notifications.privacy import reminder_erase_customer
from payments.privacy import checkout_erase_customer
from tracking.privacy import event_erase_customer

logger = logging.getLogger("cartsite.privacy")


@dataclass(frozen=True)
class ErasureResult:
    carts: int
    events: int
    checkout_sessions: int
    messages: int

    def as_api(self) -> dict:
        return {
            "carts": self.carts,
            "events": self.events,
            "checkoutSessions": self.checkout_sessions,
            "messages": self.messages,
        }


def customer_erase(*, store: Store, email: str | None = None, user_id: str | None = None) -> ErasureResult:
    """Removes or anonymises one customer's data in `store` in every app (see the module docstring).

    The customer is named by e-mail address, by the shop's user id, or both (the union is erased).
    Nothing named is a 400."""
    email = (email or "").strip() or None
    user_id = (user_id or "").strip() or None
    if not email and not user_id:
        raise ValidationFailed("email or user_id is required", field="email", reason="Field is required")
    with transaction.atomic():
        customer_carts_lock(store=store, email=email, user_id=user_id)
        messages = reminder_erase_customer(store=store, email=email, user_id=user_id)
        checkout_sessions = checkout_erase_customer(store=store, email=email, user_id=user_id)
        events = event_erase_customer(store=store, email=email, user_id=user_id)
        carts = cart_erase_customer(store=store, email=email, user_id=user_id)
    result = ErasureResult(carts=carts, events=events, checkout_sessions=checkout_sessions, messages=messages)
    # An audit line without the person: who asked (the store) and how much went.
    logger.info("customer data erased", extra={"erased": result.as_api(), "by": "email" if email else "user_id"})
    return result


class StrictCharField(serializers.CharField):
    """A JSON string: a number is not silently turned into a user id."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErasureRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_null=True, allow_blank=True, max_length=254)
    user_id = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=255)


ErasureResponseSerializer = inline_serializer(
    "ErasureResponse",
    {
        "status": serializers.CharField(),
        "data": inline_serializer(
            "ErasureCounts",
            {
                "carts": serializers.IntegerField(),
                "events": serializers.IntegerField(),
                "checkoutSessions": serializers.IntegerField(),
                "messages": serializers.IntegerField(),
            },
        ),
    },
)
ErrorSerializer = inline_serializer(
    "PrivacyErrorEnvelope",
    {
        "status": serializers.CharField(),
        "error": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.DictField(required=False),
    },
)


class ErasureView(APIView):
    """The merchant's backend asks to forget a customer (GDPR art. 17)."""

    permission_classes = [IsSecretKeyOnly]

    @extend_schema(
        operation_id="privacy_erasure",
        tags=["privacy"],
        summary="Erase a customer's data in this store (secret key)",
        request=ErasureRequestSerializer,
        responses={200: ErasureResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request):
        store = request_store(request)
        serializer = ErasureRequestSerializer(data=request.data if isinstance(request.data, dict) else None)
        serializer.is_valid(raise_exception=True)
        result = customer_erase(
            store=store, email=serializer.validated_data.get("email"), user_id=serializer.validated_data.get("user_id")
        )
        request._request.log_outcome = "erased"
        return Response({"status": "success", "data": result.as_api()})


# Included by cartsite/urls.py: path("", include("cartsite.privacy")).
urlpatterns = [path("api/privacy/erasure", ErasureView.as_view(), name="privacy-erasure")]
