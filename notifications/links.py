"""Signed tokens: recovery links, unsubscribe links and the sweep's opaque cursor.

All three are `django.core.signing` tokens with their own salt, so a token of one kind is never
accepted as another. Nothing secret is inside (ids only), but nothing can be forged either.
"""

import base64
import binascii
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing

from cartsite.errors import ValidationFailed

RECOVERY_SALT = "notifications.recovery"
UNSUBSCRIBE_SALT = "notifications.unsubscribe"
CURSOR_SALT = "notifications.sweep-cursor"


class InvalidLink(Exception):
    """A forged, damaged or expired link token."""


def recovery_token(*, message_id: int) -> str:
    return signing.dumps({"m": message_id}, salt=RECOVERY_SALT, compress=True)


def recovery_url(*, message_id: int) -> str:
    return f"{settings.SITE_URL}/r/{recovery_token(message_id=message_id)}"


def recovery_token_read(token: str) -> int:
    """The message id of a recovery token not older than RECOVERY_LINK_MAX_AGE_DAYS."""
    try:
        data = signing.loads(token, salt=RECOVERY_SALT, max_age=timedelta(days=settings.RECOVERY_LINK_MAX_AGE_DAYS))
        return int(data["m"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidLink(str(exc)) from exc


def unsubscribe_token(*, cart_id) -> str:
    """Deterministic (no timestamp): the same cart always has the same unsubscribe link."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"c": str(cart_id)}, compress=True)


def unsubscribe_url(*, cart_id) -> str:
    return f"{settings.SITE_URL}/u/{unsubscribe_token(cart_id=cart_id)}"


def unsubscribe_token_read(token: str) -> uuid.UUID:
    """The cart id of an unsubscribe token; these never expire (RFC 8058 one-click must keep working)."""
    try:
        return uuid.UUID(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidLink(str(exc)) from exc


def cursor_encode(*, after: uuid.UUID, at: datetime | None = None) -> str:
    """An opaque, signed, base64 cursor: the scan position (last activity, cart id) of the last
    cart of a batch. A cursor without the position's time is not accepted back."""
    payload = {"after": str(after)}
    if at is not None:
        payload["at"] = at.isoformat()
    signed = signing.dumps(payload, salt=CURSOR_SALT)
    return base64.urlsafe_b64encode(signed.encode()).decode()


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The scan position (last activity, cart id) a cursor continues after; a forged or damaged
    cursor is a 400."""
    try:
        signed = base64.urlsafe_b64decode(cursor.encode()).decode()
        data = signing.loads(signed, salt=CURSOR_SALT)
        at = datetime.fromisoformat(data["at"])
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, uuid.UUID(data["after"])
    except (signing.BadSignature, binascii.Error, UnicodeError, KeyError, TypeError, ValueError, AttributeError):
        raise ValidationFailed("cursor is not valid", field="cursor", reason="Invalid or forged cursor") from None
