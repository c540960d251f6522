"""Seed 001 §2.2: the fields of one tracking event, their validation and truncation.

One function turns a posted JSON object into an `EventInput` or raises `ValidationFailed` with
the field and reason; the single and the bulk endpoint both use it, so the rules live once.

- `storeName` is required and non-empty (the seed's exact 400 body), then normalised;
- `customerEmail` must be an e-mail address; it is stored lower-cased;
- `productUrl` and the three image URLs must be absolute http(s) URLs of at most 2,048 characters
  (a truncated URL would point somewhere else, so a longer one is rejected, not cut);
- free text is trimmed, NUL characters dropped (PostgreSQL cannot store them) and cut to its
  maximum (`productTitle` 500, see `MAX_LENGTHS`);
- `productId` / `variantId` may be strings or integers and are stored as strings;
- empty strings and `null` mean "not given"; unknown fields are ignored.
"""

from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator

from carts.names import store_name_normalise
from cartsite.errors import ValidationFailed
from tracking.models import MAX_LENGTHS

# camelCase API name -> model field, in seed 001's order.
FIELD_NAMES = {
    "productId": "product_id",
    "productTitle": "product_title",
    "productUrl": "product_url",
    "variantId": "variant_id",
    "customerEmail": "customer_email",
    "customerFirstName": "customer_first_name",
    "customerLastName": "customer_last_name",
    "generatedImageUrl": "generated_image_url",
    "personImageUrl": "person_image_url",
    "clothingImageUrl": "clothing_image_url",
    "userAgent": "user_agent",
    "sessionId": "session_id",
}
URL_FIELDS = {"productUrl", "generatedImageUrl", "personImageUrl", "clothingImageUrl"}
IDENTIFIER_FIELDS = {"productId", "variantId"}
_email_validator = EmailValidator()


@dataclass(frozen=True)
class EventInput:
    """One validated event, ready to store (model field names)."""

    store_name: str
    product_id: str | None = None
    product_title: str | None = None
    product_url: str | None = None
    variant_id: str | None = None
    customer_email: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    generated_image_url: str | None = None
    person_image_url: str | None = None
    clothing_image_url: str | None = None
    user_agent: str | None = None
    session_id: str | None = None

    def fields(self) -> dict:
        return asdict(self)


def _invalid(field: str, reason: str, message: str | None = None) -> ValidationFailed:
    return ValidationFailed(message or f"{field}: {reason}", field=field, reason=reason)


def _text(field: str, value) -> str | None:
    if value is None:
        return None
    if field in IDENTIFIER_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        kind = "a string or an integer" if field in IDENTIFIER_FIELDS else "a string"
        raise _invalid(field, f"Must be {kind}", f"{field} must be {kind}")
    value = value.replace("\x00", "").strip()
    return value or None


def _url(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise _invalid(field, f"URL is longer than {limit} characters", f"{field} is too long")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
        raise _invalid(field, "Must be an http(s) URL", f"{field} must be a valid http(s) URL")
    return value


def _email(field: str, value: str) -> str:
    try:
        if len(value) > MAX_LENGTHS["customer_email"]:
            raise DjangoValidationError("too long")
        _email_validator(value)
    except DjangoValidationError:
        raise _invalid(field, "Invalid email format", f"{field} must be a valid email address")
    return value.lower()


def event_input_clean(payload) -> EventInput:
    """Validates and normalises one posted event (the module docstring lists the rules)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("Request body must be a JSON object", field="body", reason="Must be an object")
    raw_store = payload.get("storeName")
    if raw_store is None or (isinstance(raw_store, str) and not raw_store.strip()):
        raise ValidationFailed("storeName is required", field="storeName", reason="Field is required")
    if not isinstance(raw_store, str):
        raise _invalid("storeName", "Must be a string", "storeName must be a string")
    values = {"store_name": store_name_normalise(raw_store, field="storeName")}
    for api_name, model_name in FIELD_NAMES.items():
        value = _text(api_name, payload.get(api_name))
        if value is None:
            continue
        limit = MAX_LENGTHS[model_name]
        if api_name in URL_FIELDS:
            value = _url(api_name, value, limit)
        elif api_name == "customerEmail":
            value = _email(api_name, value)
        else:
            value = value[:limit]
        values[model_name] = value
    return EventInput(**values)
