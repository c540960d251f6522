"""HTTP doors of API.md "Checkout sessions and Stripe": create-checkout, the checkout-session API
and the Stripe webhook. Thin: parse, call one service, shape the answer."""

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.auth import IsSecretKeyOnly, request_store
from cartsite.errors import NotFound, ValidationFailed
from payments import events, services
from payments.models import CheckoutSession
from payments.selectors import checkout_session_latest, plan_for_purchase


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def checkout_session_body(session: CheckoutSession) -> dict:
    """The session as API.md shows it."""
    return {
        "id": str(session.id),
        "userId": session.user_id or None,
        "email": session.email or None,
        "plan": session.subscription_plan or None,
        "planPrice": float(session.plan_price) if session.plan_price is not None else None,
        "paymentProvider": session.payment_provider,
        "stripeSessionId": session.stripe_session_id,
        "cartId": str(session.cart_id) if session.cart_id else None,
        "status": session.status,
        "createdAt": _iso(session.created_at),
        "expiresAt": _iso(session.expires_at),
        "completedAt": _iso(session.completed_at),
        "attempts": session.attempts,
        "metadata": session.metadata,
        "amount": float(session.amount),
        "currency": session.currency,
    }


class CheckoutSessionSerializer(serializers.Serializer):
    """Documentation of the session body (the view builds it with checkout_session_body)."""

    id = serializers.UUIDField()
    userId = serializers.CharField(allow_null=True)
    email = serializers.EmailField(allow_null=True)
    plan = serializers.CharField(allow_null=True)
    planPrice = serializers.FloatField(allow_null=True)
    paymentProvider = serializers.CharField()
    stripeSessionId = serializers.CharField(allow_null=True)
    cartId = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=CheckoutSession.Status.choices)
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    completedAt = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    metadata = serializers.DictField()
    amount = serializers.FloatField()
    currency = serializers.CharField()


class CreateCheckoutRequest(serializers.Serializer):
    userId = serializers.CharField(required=False, max_length=255)
    email = serializers.EmailField(required=False, max_length=255)
    plan = serializers.SlugField(required=False, max_length=50)
    session_token = serializers.CharField(required=False, max_length=128)
    cart_id = serializers.CharField(required=False, max_length=64)
    successUrl = serializers.URLField(required=False, max_length=2000)
    cancelUrl = serializers.URLField(required=False, max_length=2000)

    def validate(self, attrs):
        if attrs.get("plan"):
            if attrs.get("session_token") or attrs.get("cart_id"):
                raise ValidationFailed("Give either plan or a cart, not both", field="plan", reason="Ambiguous")
            for name in ("userId", "email"):
                if not attrs.get(name):
                    raise ValidationFailed(f"{name} is required", field=name, reason="Field is required")
            return attrs
        if not attrs.get("session_token") and not attrs.get("cart_id"):
            raise ValidationFailed(
                "plan, session_token or cart_id is required", field="session_token", reason="Field is required"
            )
        for name in ("successUrl", "cancelUrl"):
            if not attrs.get(name):
                raise ValidationFailed(f"{name} is required", field=name, reason="Field is required")
        return attrs


CreateCheckoutResponse = inline_serializer(
    "CreateCheckoutResponse",
    {
        "checkoutSessionId": serializers.UUIDField(),
        "stripeSessionId": serializers.CharField(),
        "url": serializers.URLField(),
        "expiresAt": serializers.DateTimeField(),
    },
)


class CreateCheckoutView(APIView):
    permission_classes = [IsSecretKeyOnly]
    error_messages = {500: "Failed to create checkout"}

    @extend_schema(
        summary="Create (or resume) a Stripe Checkout for a plan or a cart",
        request=CreateCheckoutRequest,
        responses={200: CreateCheckoutResponse},
        tags=["payments"],
    )
    def post(self, request):
        store = request_store(request)
        serializer = CreateCheckoutRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.checkout_create(
            store=store,
            plan_code=data.get("plan"),
            user_id=data.get("userId", ""),
            email=data.get("email", ""),
            cart_id=data.get("cart_id"),
            session_token=data.get("session_token"),
            success_url=data.get("successUrl", ""),
            cancel_url=data.get("cancelUrl", ""),
        )
        request._request.log_outcome = "reused" if result.reused_stripe_session else "created"
        return Response(
            {
                "checkoutSessionId": str(result.session.id),
                "stripeSessionId": result.stripe_session_id,
                "url": result.url,
                "expiresAt": _iso(result.expires_at),
            }
        )


class CheckoutSessionQuery(serializers.Serializer):
    userId = serializers.CharField(max_length=255)


class CheckoutSessionCreateRequest(serializers.Serializer):
    userId = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=255)
    plan = serializers.SlugField(max_length=50)


class CheckoutSessionPatchRequest(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=CheckoutSession.Status.choices)


class CheckoutSessionView(APIView):
    permission_classes = [IsSecretKeyOnly]

    @extend_schema(
        summary="The customer's latest checkout session",
        parameters=[OpenApiParameter("userId", OpenApiTypes.STR, required=True)],
        responses={200: CheckoutSessionSerializer},
        tags=["payments"],
    )
    def get(self, request):
        store = request_store(request)
        query = CheckoutSessionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        session = checkout_session_latest(store=store, user_id=query.validated_data["userId"])
        if session is None:
            raise NotFound("No checkout session for this user")
        return Response(checkout_session_body(session))

    @extend_schema(
        summary="Get or create the pending checkout session of a user and plan (no Stripe call)",
        request=CheckoutSessionCreateRequest,
        responses={200: CheckoutSessionSerializer, 201: CheckoutSessionSerializer},
        tags=["payments"],
    )
    def post(self, request):
        store = request_store(request)
        serializer = CheckoutSessionCreateRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.checkout_session_get_or_create(
            store=store,
            plan=plan_for_purchase(store=store, code=data["plan"]),
            user_id=data["userId"],
            email=data["email"],
        )
        return Response(checkout_session_body(result.session), status=201 if result.created else 200)

    @extend_schema(
        summary="Move a pending checkout session to completed, expired, failed or cancelled",
        request=CheckoutSessionPatchRequest,
        responses={200: CheckoutSessionSerializer},
        tags=["payments"],
    )
    def patch(self, request):
        store = request_store(request)
        serializer = CheckoutSessionPatchRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.checkout_session_transition(
            store=store, session_id=serializer.validated_data["id"], status=serializer.validated_data["status"]
        )
        return Response(checkout_session_body(session))


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(APIView):
    """Stripe's door: no API credentials, the Stripe-Signature header proves the sender."""

    authentication_classes = []
    permission_classes = [AllowAny]
    error_messages = {500: "Webhook processing failed"}

    @extend_schema(
        summary="Stripe webhook (signed with STRIPE_WEBHOOK_SECRET)",
        request=OpenApiTypes.OBJECT,
        responses={200: inline_serializer("WebhookReceived", {"received": serializers.BooleanField()})},
        tags=["payments"],
    )
    def post(self, request):
        # The raw bytes: the signature covers exactly what Stripe sent, never a re-serialisation.
        outcome = events.stripe_event_receive(payload=request.body, signature=request.META.get("HTTP_STRIPE_SIGNATURE"))
        request._request.log_outcome = outcome.status
        if outcome.status == "failed":
            raise events.WebhookProcessingFailed()
        return Response({"received": True, "status": outcome.status})
