"""The cart endpoints of API.md "Carts" (seeds 000 and 002): thin doors into carts.services.

Serializers validate; errors reach the client through the one exception handler as the envelope
(`details.field` like `items[0].quantity`).
"""

import re
from datetime import datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from carts import schema, selectors, services  # noqa: F401 (schema registers the key scheme)
from carts.auth import IsStorefront, IsStoreStaff, request_store
from carts.models import Cart
from cartsite.errors import NotFound
from cartsite.logging import mask_email, mask_text

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def validated(serializer_class, data) -> dict:
    """Validates a request body; the first error becomes a 400 naming its field."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- request serializers ------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class IdentifierField(serializers.Field):
    """A product or variant id: a non-empty string or an integer, stored as given."""

    default_error_messages = {
        "invalid": "Must be a string or a number",
        "blank": "Must not be blank",
        "max_length": "Must be at most {max_length} characters",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        if isinstance(data, float):
            if not data.is_integer():
                self.fail("invalid")
            data = int(data)
        if isinstance(data, str):
            data = data.strip()
            if not data:
                self.fail("blank")
        if len(str(data)) > settings.CART_MAX_ID_LENGTH:
            self.fail("max_length", max_length=settings.CART_MAX_ID_LENGTH)
        return data

    def to_representation(self, value):
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer, not a numeric string or a fraction: quantities are counted, not parsed."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (isinstance(data, int) or (isinstance(data, float) and data.is_integer())):
            self.fail("invalid")
        return super().to_internal_value(int(data))


class StrictDecimalField(serializers.DecimalField):
    """A JSON number (strings are refused: money is a number in the API)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class CartItemSerializer(serializers.Serializer):
    productId = IdentifierField()
    quantity = StrictIntegerField(min_value=1, max_value=settings.CART_MAX_ITEM_QUANTITY)
    price = StrictDecimalField(
        max_digits=18, decimal_places=4, min_value=0, max_value=settings.CART_MAX_ITEM_PRICE, rounding="ROUND_HALF_UP"
    )
    title = serializers.CharField(required=False, allow_null=True, max_length=settings.CART_MAX_TITLE_LENGTH)
    variantId = IdentifierField(required=False, allow_null=True)
    category = serializers.CharField(required=False, allow_null=True, max_length=settings.CART_MAX_ID_LENGTH)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=settings.CART_MAX_ID_LENGTH),
        required=False,
        allow_null=True,
        max_length=settings.CART_MAX_TAGS_PER_ITEM,
    )
    imageUrl = serializers.URLField(required=False, allow_null=True, max_length=settings.CART_MAX_URL_LENGTH)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "productId" not in data and "id" in data:
            # Seed 002's storefront sends its own item shape: `id` and `name`.
            data = {**data, "productId": data["id"]}
            if "title" not in data and "name" in data:
                data["title"] = data["name"]
        return super().to_internal_value(data)

    def validate_imageUrl(self, value):
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Must be an http(s) URL")
        return value


class ItemsField(serializers.ListField):
    child = CartItemSerializer()

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty", True)
        kwargs.setdefault("max_length", settings.CART_MAX_ITEMS)
        super().__init__(**kwargs)


class MarketingConsentSerializer(serializers.Serializer):
    email = serializers.BooleanField(required=False, allow_null=True, default=None)
    whatsapp = serializers.BooleanField(required=False, allow_null=True, default=None)


class CustomerSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_null=True, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=16)
    first_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    marketing_consent = MarketingConsentSerializer(required=False, allow_null=True)

    def validate_phone(self, value):
        if value and not E164.match(value.strip()):
            raise serializers.ValidationError("Must be an E.164 phone number, e.g. +4915112345678")
        return value


class CartSyncRequestSerializer(serializers.Serializer):
    session_token = serializers.CharField(max_length=128, trim_whitespace=False)
    items = ItemsField()
    user_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, allow_null=True)
    customer = CustomerSerializer(required=False, allow_null=True)

    def validate_session_token(self, value):
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class SeedTwoCartSerializer(serializers.Serializer):
    items = ItemsField()
    total = serializers.JSONField(required=False, help_text="Ignored: the server computes the total")
    itemCount = serializers.JSONField(required=False, help_text="Ignored: the server counts the items")


class CartUpdateRequestSerializer(serializers.Serializer):
    sessionId = serializers.CharField(max_length=128, trim_whitespace=False)
    cart = SeedTwoCartSerializer()


# --- response serializers (for the schema; bodies are built by the views) ------------------

CartSyncCreatedSerializer = inline_serializer(
    "CartSyncCreated", {"created": serializers.BooleanField(), "cart_id": serializers.UUIDField()}
)
CartSyncUpdatedSerializer = inline_serializer(
    "CartSyncUpdated", {"updated": serializers.BooleanField(), "cart_id": serializers.UUIDField()}
)
SuccessSerializer = inline_serializer("Success", {"success": serializers.BooleanField()})
ErrorSerializer = inline_serializer(
    "ErrorEnvelope",
    {
        "status": serializers.CharField(),
        "error": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.DictField(required=False),
    },
)


class CartItemOutSerializer(serializers.Serializer):
    productId = serializers.JSONField()
    quantity = serializers.IntegerField()
    price = serializers.FloatField()
    title = serializers.CharField(required=False)
    variantId = serializers.JSONField(required=False)
    category = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    imageUrl = serializers.URLField(required=False)


class CartOutSerializer(serializers.Serializer):
    sessionId = serializers.CharField()
    cartId = serializers.UUIDField()
    items = CartItemOutSerializer(many=True)
    total = serializers.FloatField()
    itemCount = serializers.IntegerField()
    currency = serializers.CharField()
    lastUpdated = serializers.IntegerField(help_text="Milliseconds since the epoch")
    createdAt = serializers.IntegerField(help_text="Milliseconds since the epoch")


class MaskedCustomerSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)


class ActiveCartSerializer(serializers.Serializer):
    sessionId = serializers.CharField()
    items = CartItemOutSerializer(many=True)
    total = serializers.FloatField()
    itemCount = serializers.IntegerField()
    lastUpdated = serializers.IntegerField(help_text="Milliseconds since the epoch")
    createdAt = serializers.IntegerField(help_text="Milliseconds since the epoch")
    shopId = serializers.CharField(help_text="The store's normalised name")
    cartId = serializers.UUIDField()
    currency = serializers.CharField()
    customer = MaskedCustomerSerializer(allow_null=True)


ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}
STORE_PARAMETER = OpenApiParameter(
    "store", OpenApiTypes.STR, description="Store name (staff of several stores only; keys act on their own store)"
)


# --- bodies ---------------------------------------------------------------------------------


def cart_body(cart: Cart) -> dict:
    return {
        "sessionId": cart.session_token,
        "cartId": str(cart.id),
        "items": cart.items,
        "total": float(cart.total),
        "itemCount": cart.item_count,
        "currency": cart.currency,
        "lastUpdated": epoch_ms(cart.last_activity_at),
        "createdAt": epoch_ms(cart.created_at),
    }


def masked_customer(cart: Cart) -> dict | None:
    """Enough to recognise a returning customer on the live page, not enough to contact them."""
    if not (cart.email or cart.phone or cart.first_name or cart.last_name):
        return None
    name = " ".join(part for part in (cart.first_name, cart.last_name[:1] + "." if cart.last_name else "") if part)
    return {
        "name": name,
        "email": mask_email(cart.email) if cart.email else "",
        "phone": mask_text(cart.phone) if cart.phone else "",
    }


def active_cart_body(cart: Cart) -> dict:
    return {
        "sessionId": cart.session_token,
        "items": cart.items,
        "total": float(cart.total),
        "itemCount": cart.item_count,
        "lastUpdated": epoch_ms(cart.last_activity_at),
        "createdAt": epoch_ms(cart.created_at),
        "shopId": cart.store.name,
        "cartId": str(cart.id),
        "currency": cart.currency,
        "customer": masked_customer(cart),
    }


# --- views ----------------------------------------------------------------------------------


class CartSyncView(APIView):
    """Seed 000's upsert of the storefront cart."""

    permission_classes = [IsStorefront]

    @extend_schema(
        tags=["carts"],
        summary="Save the storefront cart (first sync 201, later 200)",
        parameters=[STORE_PARAMETER],
        request=CartSyncRequestSerializer,
        responses={201: CartSyncCreatedSerializer, 200: CartSyncUpdatedSerializer, **ERRORS},
    )
    def post(self, request):
        store = request_store(request)
        data = validated(CartSyncRequestSerializer, request.data)
        result = services.cart_sync(
            store=store,
            session_token=data["session_token"],
            items=data["items"],
            user_id=data.get("user_id"),
            currency=data.get("currency"),
            customer=data.get("customer"),
            source="storefront:cart_sync",
        )
        if result.created:
            return Response({"created": True, "cart_id": str(result.cart.id)}, status=status.HTTP_201_CREATED)
        return Response({"updated": True, "cart_id": str(result.cart.id)})


class CartUpdateView(APIView):
    """Seed 002's live-cart update: the same cart as /cart/sync, sessionId = session token."""

    permission_classes = [IsStorefront]

    @extend_schema(
        operation_id="cart_update",
        tags=["carts"],
        summary="Save the storefront cart (seed 002 shape); totals sent are ignored",
        parameters=[STORE_PARAMETER],
        request=CartUpdateRequestSerializer,
        responses={200: SuccessSerializer, **ERRORS},
    )
    def post(self, request):
        store = request_store(request)
        data = validated(CartUpdateRequestSerializer, request.data)
        services.cart_sync(
            store=store,
            session_token=data["sessionId"],
            items=data["cart"]["items"],
            source="storefront:cart_update",
        )
        return Response({"success": True})


class ActiveCartsView(APIView):
    """The live view: open carts active within CART_LIVE_WINDOW_MINUTES, newest first."""

    permission_classes = [IsStoreStaff]

    @extend_schema(
        operation_id="carts_active",
        tags=["carts"],
        summary="Carts of the last 30 minutes (staff)",
        parameters=[STORE_PARAMETER],
        responses={200: ActiveCartSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        store = request_store(request)
        carts = selectors.carts_active(store=store)
        return Response([active_cart_body(cart) for cart in carts])


class CartDetailView(APIView):
    """Read (to restore from a recovery link) or remove the open cart of a session."""

    permission_classes = [IsStorefront]

    @extend_schema(
        operation_id="cart_get",
        tags=["carts"],
        summary="The open cart of a session",
        parameters=[STORE_PARAMETER],
        responses={200: CartOutSerializer, 404: ErrorSerializer, **ERRORS},
    )
    def get(self, request, session_id):
        store = request_store(request)
        cart = selectors.cart_get_open(store=store, session_token=session_id)
        if cart is None:
            raise NotFound("No open cart for this session")
        return Response(cart_body(cart))

    @extend_schema(
        operation_id="cart_remove",
        tags=["carts"],
        summary="Take the open cart of a session out of the live view (nothing is deleted)",
        parameters=[STORE_PARAMETER],
        responses={200: SuccessSerializer, 404: ErrorSerializer, **ERRORS},
    )
    def delete(self, request, session_id):
        store = request_store(request)
        services.cart_remove(store=store, session_token=session_id)
        return Response({"success": True})
