"""The cart endpoints of API.md "Carts" (seeds 000 and 002): thin doors into carts.services.

Serializers validate; errors reach the client through the one exception handler as the envelope
(`details.field` like `items[0].quantity`). The two cart writes (sync, update) are the hottest
requests there are: a plain function checks their bodies first (`cart_sync_body_clean`,
`cart_update_body_clean`) and the serializers run only for a body it does not accept outright,
so every 400 is still the serializer's own, field path and message alike.
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
from carts.auth import IsStorefront, IsStoreStaff, KeyCheckedByTheWrite, request_store
from carts.models import Cart
from cartsite.errors import NotFound
from cartsite.logging import mask_email, mask_text

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def validated(serializer_class, data, fast_clean=None) -> dict:
    """Validates a request body; the first error becomes a 400 naming its field.

    `fast_clean(data)` may return the validated data of a body it can vouch for (the same the
    serializer would give) or None, and then the serializer decides."""
    if fast_clean is not None:
        clean = fast_clean(data)
        if clean is not None:
            return clean
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


# --- the fast path of the cart writes -----------------------------------------------------------
#
# Each function below accepts only what the serializers above accept and returns what they would
# return; anything else (an error, a numeric string, a boolean "true", surrounding whitespace
# where it matters …) answers None, and the serializer runs. tests/carts/test_sync_validation.py
# holds both to the same answers.

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_ID = settings.CART_MAX_ID_LENGTH


def _plain_text(value: str) -> bool:
    """No NUL and no lone surrogate: what every DRF CharField refuses."""
    return "\x00" not in value and (value.isascii() or _SURROGATE.search(value) is None)


def _text(value, max_length: int, *, allow_blank: bool, trim: bool = True):
    """A CharField's value (stripped), or `_REFUSE`; None stays None (allow_null fields only)."""
    if value is None:
        return None
    if type(value) is not str or not _plain_text(value):
        return _REFUSE
    if trim:
        value = value.strip()
    if (not value and not allow_blank) or len(value) > max_length:
        return _REFUSE
    return value


def _identifier(value):
    """IdentifierField: a non-blank string (stripped) or an integer."""
    kind = type(value)
    if kind is str:
        value = value.strip()
        if value and len(value) <= _MAX_ID and _plain_text(value):
            return value
    elif kind is int and len(str(value)) <= _MAX_ID:
        return value
    return _REFUSE


_REFUSE = object()
_ITEM_FIELDS = CartItemSerializer._declared_fields
_PRICE = _ITEM_FIELDS["price"]
_IMAGE_URL = _ITEM_FIELDS["imageUrl"]
_EMAIL = CustomerSerializer._declared_fields["email"]
_MAX_QUANTITY = settings.CART_MAX_ITEM_QUANTITY
_MAX_TITLE = settings.CART_MAX_TITLE_LENGTH
_MAX_TAGS = settings.CART_MAX_TAGS_PER_ITEM
_MAX_ITEMS = settings.CART_MAX_ITEMS


def _item_clean(data):
    if type(data) is not dict:
        return _REFUSE
    if "productId" not in data and "id" in data:
        data = {**data, "productId": data["id"]}  # seed 002's item shape, as CartItemSerializer
        if "title" not in data and "name" in data:
            data["title"] = data["name"]
    product_id = _identifier(data.get("productId"))
    quantity = data.get("quantity")
    if product_id is _REFUSE or type(quantity) is not int or not 1 <= quantity <= _MAX_QUANTITY:
        return _REFUSE
    price = data.get("price")
    if type(price) not in (int, float):
        return _REFUSE
    try:
        price = _PRICE.run_validation(price)
    except serializers.ValidationError:
        return _REFUSE
    item = {"productId": product_id, "quantity": quantity, "price": price}
    if "title" in data:
        item["title"] = _text(data["title"], _MAX_TITLE, allow_blank=False)
    if "variantId" in data:
        variant = data["variantId"]
        item["variantId"] = None if variant is None else _identifier(variant)
    if "category" in data:
        item["category"] = _text(data["category"], _MAX_ID, allow_blank=False)
    if "tags" in data:
        tags = data["tags"]
        if tags is not None:
            if type(tags) is not list or len(tags) > _MAX_TAGS:
                return _REFUSE
            tags = [_text(tag, _MAX_ID, allow_blank=False) for tag in tags]
            if _REFUSE in tags or None in tags:
                return _REFUSE
        item["tags"] = tags
    if "imageUrl" in data:
        url = data["imageUrl"]
        if url is not None:
            if type(url) is not str or not url.lower().startswith(("http://", "https://")):
                return _REFUSE
            try:
                url = _IMAGE_URL.run_validation(url)
            except serializers.ValidationError:
                return _REFUSE
            if not url.lower().startswith(("http://", "https://")):
                return _REFUSE
        item["imageUrl"] = url
    if _REFUSE in item.values():
        return _REFUSE
    return item


def _items_clean(data) -> list | None:
    if type(data) is not list or len(data) > _MAX_ITEMS:
        return None
    items = [_item_clean(item) for item in data]
    return None if _REFUSE in items else items


def _customer_clean(data):
    if data is None:
        return None
    if type(data) is not dict:
        return _REFUSE
    customer = {}
    if "email" in data:
        email = data["email"]
        if email is not None and email != "":
            if type(email) is not str:
                return _REFUSE
            try:
                email = _EMAIL.run_validation(email)
            except serializers.ValidationError:
                return _REFUSE
        customer["email"] = email
    if "phone" in data:
        phone = _text(data["phone"], 16, allow_blank=True)
        if phone is _REFUSE or (phone and not E164.match(phone)):
            return _REFUSE
        customer["phone"] = phone
    for key in ("first_name", "last_name"):
        if key in data:
            customer[key] = _text(data[key], 100, allow_blank=True)
    if "marketing_consent" in data:
        consent = data["marketing_consent"]
        if consent is not None:
            if type(consent) is not dict:
                return _REFUSE
            consent = {channel: consent.get(channel) for channel in ("email", "whatsapp")}
            if any(value is not None and type(value) is not bool for value in consent.values()):
                return _REFUSE
        customer["marketing_consent"] = consent
    if _REFUSE in customer.values():
        return _REFUSE
    return customer


def cart_sync_body_clean(data) -> dict | None:
    """CartSyncRequestSerializer's validated data for a body it accepts; None: ask it."""
    if type(data) is not dict:
        return None
    token = data.get("session_token")
    if type(token) is not str or not token.strip() or len(token) > 128 or not _plain_text(token):
        return None
    items = _items_clean(data.get("items"))
    if items is None:
        return None
    clean = {"session_token": token, "items": items}
    if "user_id" in data:
        clean["user_id"] = _text(data["user_id"], 255, allow_blank=True)
    if "currency" in data:
        currency = data["currency"]
        if currency is not None and not (
            type(currency) is str and len(currency) == 3 and currency.isascii() and currency.isalpha()
        ):
            return None
        clean["currency"] = currency
    if "customer" in data:
        clean["customer"] = _customer_clean(data["customer"])
    if _REFUSE in clean.values():
        return None
    return clean


def cart_update_body_clean(data) -> dict | None:
    """CartUpdateRequestSerializer's validated data for a body it accepts; None: ask it."""
    if type(data) is not dict:
        return None
    session_id, cart = data.get("sessionId"), data.get("cart")
    if type(session_id) is not str or not session_id or len(session_id) > 128 or not _plain_text(session_id):
        return None
    if type(cart) is not dict:
        return None
    items = _items_clean(cart.get("items"))
    if items is None:
        return None
    clean_cart = {"items": items}
    for key in ("total", "itemCount"):
        if key in cart:
            value = cart[key]
            if type(value) not in (int, float):
                return None
            clean_cart[key] = value
    return {"sessionId": session_id, "cart": clean_cart}


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


class CartSyncView(KeyCheckedByTheWrite, APIView):
    """Seed 000's upsert of the storefront cart.

    With a store key, the key is checked by the write itself (one round trip); a store named
    with `?store=`, staff credentials or a key that matched nothing take the usual path."""

    permission_classes = [IsStorefront]

    @extend_schema(
        tags=["carts"],
        summary="Save the storefront cart (first sync 201, later 200)",
        parameters=[STORE_PARAMETER],
        request=CartSyncRequestSerializer,
        responses={201: CartSyncCreatedSerializer, 200: CartSyncUpdatedSerializer, **ERRORS},
    )
    def post(self, request):
        store = self.acting_store(request)
        data = validated(CartSyncRequestSerializer, request.data, cart_sync_body_clean)
        arguments = {
            "session_token": data["session_token"],
            "items": data["items"],
            "user_id": data.get("user_id"),
            "currency": data.get("currency"),
            "customer": data.get("customer"),
            "source": "storefront:cart_sync",
        }
        result = self.write_checked(
            request,
            by_key=lambda digest: services.cart_sync_by_key(key_digest=digest, **arguments),
            plain=lambda: services.cart_sync(store=store or request_store(request), **arguments),
        )
        if result.created:
            return Response({"created": True, "cart_id": str(result.cart_id)}, status=status.HTTP_201_CREATED)
        return Response({"updated": True, "cart_id": str(result.cart_id)})


class CartUpdateView(KeyCheckedByTheWrite, APIView):
    """Seed 002's live-cart update: the same cart as /cart/sync, sessionId = session token
    (the key checked by the write, as for CartSyncView)."""

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
        store = self.acting_store(request)
        data = validated(CartUpdateRequestSerializer, request.data, cart_update_body_clean)
        arguments = {
            "session_token": data["sessionId"],
            "items": data["cart"]["items"],
            "source": "storefront:cart_update",
        }
        self.write_checked(
            request,
            by_key=lambda digest: services.cart_sync_by_key(key_digest=digest, **arguments),
            plain=lambda: services.cart_sync(store=store or request_store(request), **arguments),
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
