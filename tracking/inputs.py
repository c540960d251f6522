"""Seed 001 §2.2: the fields of one tracking event, their validation and truncation.

One function turns a posted JSON object into an `EventInput` or raises `ValidationFailed` with
the field and reason; the single and the bulk endpoint both use it, so the rules live once.

- `storeName` is required and non-empty (the seed's exact 400 body), then normalised;
- `customerEmail` must be an e-mail address; it is stored lower-cased;
- `productUrl` and the three image URLs must be absolute http(s) URLs of at most 2,048 characters
  (a truncated URL would point somewhere else, so a longer one is rejected, not cut);
- free text is trimmed, NUL characters dropped (PostgreSQL cannot store them), a lone surrogate
  (half of a character, as a storefront script cutting a string at a fixed length can leave; it
  cannot be encoded) replaced by U+FFFD, and cut to its maximum (`productTitle` 500, see
  `MAX_LENGTHS`): an event is kept, not refused, for a broken character;
- `productId` / `variantId` may be strings or integers and are stored as strings;
- `productTitle` is also cut so that it, `productId` and `sessionId` together stay within
  `INDEXED_TEXT_MAX_BYTES` of UTF-8: the analytics index carries all three, and PostgreSQL
  refuses an index entry over 2,704 bytes (only ids of hundreds of multi-byte characters get
  there; ordinary events are never cut by this rule);
- empty strings and `null` mean "not given"; unknown fields are ignored.
"""

import re
from dataclasses import asdict, dataclass
from functools import lru_cache

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
_FIELD_RULES = [(api, model, MAX_LENGTHS[model]) for api, model in FIELD_NAMES.items()]
URL_FIELDS = {"productUrl", "generatedImageUrl", "personImageUrl", "clothingImageUrl"}
IDENTIFIER_FIELDS = {"productId", "variantId"}
_email_validator = EmailValidator()
# Django's own patterns as plain compiled regexes: the common address is checked by two matches,
# anything unusual (literal IPs, allow-listed hosts) by the full validator. Bulk calls validate
# 1,000 addresses at a time, so this is on the hot path.
_EMAIL_USER = re.compile(EmailValidator.user_regex.pattern, re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(EmailValidator.domain_regex.pattern, re.IGNORECASE)
# An absolute http(s) URL: scheme, optional credentials, a host (name or [IPv6]), optional port,
# then path/query/fragment; no whitespace anywhere.
_HTTP_URL = re.compile(
    r"^https?://(?:[^\s/?#@]*@)?(?:\[[0-9a-f:.]+\]|[^\s/?#:@\[\]]+)(?::\d{1,5})?(?:[/?#]\S*)?\Z", re.IGNORECASE
)
_store_name_cached = lru_cache(maxsize=1024)(store_name_normalise)
# Half of a UTF-16 pair with no other half: JSON can carry one (an escaped \ud83d), UTF-8 cannot.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# What idx_store_created may carry of session id, product id and title together; the rest of
# its entry (store name up to 253 bytes, id, time, flag, headers) stays under 400 bytes.
INDEXED_TEXT_MAX_BYTES = 2200
# No text of these limits can go over the budget while it is this short in characters.
_INDEXED_TEXT_SAFE_CHARS = INDEXED_TEXT_MAX_BYTES // 4


@dataclass(slots=True)
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


def _storable(value: str) -> str:
    """`value` without what PostgreSQL cannot take: NUL dropped, lone surrogates as U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    # isascii() is O(1) on a str: the common, all-ASCII value costs no search.
    if not value.isascii():
        value = _LONE_SURROGATE.sub("\ufffd", value)
    return value


def _text(field: str, value) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        if field in IDENTIFIER_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        else:
            kind = "a string or an integer" if field in IDENTIFIER_FIELDS else "a string"
            raise _invalid(field, f"Must be {kind}", f"{field} must be {kind}")
    return _storable(value).strip() or None


def _url(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise _invalid(field, f"URL is longer than {limit} characters", f"{field} is too long")
    if _HTTP_URL.match(value) is None:
        raise _invalid(field, "Must be an http(s) URL", f"{field} must be a valid http(s) URL")
    return value


def _email(field: str, value: str) -> str:
    if len(value) <= MAX_LENGTHS["customer_email"]:
        user, _, domain = value.rpartition("@")
        if user and _EMAIL_USER.match(user) and _EMAIL_DOMAIN.match(domain):
            return value.lower()
        try:
            _email_validator(value)
            return value.lower()
        except DjangoValidationError:
            pass
    raise _invalid(field, "Invalid email format", f"{field} must be a valid email address")


_TEXT, _URL, _EMAIL = 0, 1, 2
# API name -> (model field, maximum length, kind): one dict lookup per posted key.
_RULES = {
    api: (model, limit, _URL if api in URL_FIELDS else _EMAIL if api == "customerEmail" else _TEXT)
    for api, model, limit in _FIELD_RULES
}


def _fields_in_seed_order(payload: dict, values: dict) -> None:
    """Every field checked in seed 001's order: the first invalid field is the one reported."""
    for api_name, model_name, limit in _FIELD_RULES:
        value = payload.get(api_name)
        if value is None:
            continue
        value = _text(api_name, value)
        if value is None:
            continue
        if api_name in URL_FIELDS:
            value = _url(api_name, value, limit)
        elif api_name == "customerEmail":
            value = _email(api_name, value)
        elif len(value) > limit:
            value = value[:limit]
        values[model_name] = value


def event_input_clean(payload) -> EventInput:
    """Validates and normalises one posted event (the module docstring lists the rules)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("Request body must be a JSON object", field="body", reason="Must be an object")
    raw_store = payload.get("storeName")
    if raw_store is None or (isinstance(raw_store, str) and not raw_store.strip()):
        raise ValidationFailed("storeName is required", field="storeName", reason="Field is required")
    if not isinstance(raw_store, str):
        raise _invalid("storeName", "Must be a string", "storeName must be a string")
    values = {"store_name": _store_name_cached(raw_store)}
    # Hot path (bulk calls clean 1,000 events): only the keys posted, plain strings inline. An
    # invalid event is checked again in seed order, so the reported field never depends on the
    # order of the keys in the JSON object.
    try:
        for api_name, value in payload.items():
            rule = _RULES.get(api_name)
            if rule is None or value is None:
                continue
            if type(value) is str:
                # _storable, inline: a bulk call cleans some 10,000 values.
                if "\x00" in value:
                    value = value.replace("\x00", "")
                if not value.isascii():
                    value = _LONE_SURROGATE.sub("\ufffd", value)
                value = value.strip()
                if not value:
                    continue
            else:
                value = _text(api_name, value)
                if value is None:
                    continue
            model_name, limit, kind = rule
            if kind == _TEXT:
                if len(value) > limit:
                    value = value[:limit]
            elif kind == _URL:
                if len(value) > limit or _HTTP_URL.match(value) is None:
                    value = _url(api_name, value, limit)
            else:
                value = _email(api_name, value)
            values[model_name] = value
    except ValidationFailed:
        _fields_in_seed_order(payload, {})
        raise
    title = values.get("product_title")
    if title is not None:
        values["product_title"] = _title_within_index_budget(title, values.get("product_id"), values.get("session_id"))
    return EventInput(**values)


def _title_within_index_budget(title: str, product_id: str | None, session_id: str | None) -> str | None:
    """`title`, cut (at a character boundary) so that the three indexed texts fit the budget."""
    lengths = len(title) + len(product_id or "") + len(session_id or "")
    if lengths <= _INDEXED_TEXT_SAFE_CHARS:
        return title
    room = INDEXED_TEXT_MAX_BYTES - len((product_id or "").encode()) - len((session_id or "").encode())
    encoded = title.encode()
    if len(encoded) <= room:
        return title
    return encoded[: max(room, 0)].decode("utf-8", errors="ignore").rstrip() or None
