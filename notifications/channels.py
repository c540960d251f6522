"""The two reminder channels behind one small interface.

A channel knows the cart's contact and consent for it and sends one reminder. A send either
returns the provider's message id or raises `ChannelError` with a kind the sweep acts on:

- `retry`: transient (throttling, 5xx, timeouts): the message is tried again on a later run;
- `final`: the message can never be delivered as it is (undeliverable number, template missing or
  not approved, refused recipient): never retried;
- `alert`: our configuration is broken (bad or expired token): logged as an error for operators,
  and retried on a later run once someone fixes it.
"""

import json
import logging
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from email.utils import make_msgid
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from carts.models import Cart
from notifications.models import Channel, Suppression, contact_hash

logger = logging.getLogger("notifications.channels")

RETRY = "retry"
FINAL = "final"
ALERT = "alert"

WHATSAPP_TEMPLATES = {1: "cart_abandonment_first", 2: "cart_abandonment_second"}

# Graph API / Cloud API error codes (developers.facebook.com … whatsapp/support/error-codes).
WHATSAPP_RETRY_CODES = {
    1,  # API unknown: temporary
    2,  # API service: temporary downtime or overload
    4,  # API too many calls (app-level throttling)
    17,  # API user too many calls
    341,  # application limit reached
    80007,  # WhatsApp Business Account rate limit
    130429,  # Cloud API throughput reached
    131000,  # something went wrong
    131016,  # service unavailable
    131048,  # spam rate limit hit
    131056,  # (business, consumer) pair rate limit hit
    133004,  # server temporarily unavailable
}
WHATSAPP_ALERT_CODES = {
    0,  # AuthException: token expired or invalidated
    3,  # capability or permission issue
    10,  # permission denied
    190,  # access token has expired
}
WHATSAPP_FINAL_CODES = {
    100,  # invalid parameter (also: recipient is not a WhatsApp number)
    131008,  # required parameter missing
    131009,  # parameter value invalid
    131026,  # message undeliverable
    131047,  # re-engagement message (outside the 24 h window)
    131049,  # not delivered to keep ecosystem engagement healthy
    131051,  # unsupported message type
    132000,  # template parameter count mismatch
    132001,  # template does not exist (in that language) or not approved
    132005,  # template hydrated text too long
    132007,  # template format character policy violated
    132012,  # template parameter format mismatch
    132015,  # template paused
    132016,  # template disabled
    368,  # temporarily blocked for policy violations
}


@dataclass(frozen=True)
class Reminder:
    """What a channel needs to send one reminder."""

    message_id: int
    stage: int
    cart: Cart
    recovery_url: str
    unsubscribe_url: str


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class ChannelError(Exception):
    def __init__(self, message: str, *, kind: str, code: int | str | None = None):
        super().__init__(message)
        self.kind = kind
        self.code = code

    def __str__(self):
        prefix = f"[{self.code}] " if self.code is not None else ""
        return f"{prefix}{self.args[0]}"[:1000]


class ReminderChannel(Protocol):
    name: str
    suppression_kind: str

    def contact(self, cart: Cart) -> str: ...

    def consented(self, cart: Cart) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(self, reminder: Reminder) -> SendResult: ...


def customer_first_name(cart: Cart) -> str:
    return (cart.first_name or "").strip() or "there"


class WhatsAppChannel:
    """WhatsApp Cloud API template messages: POST {WHATSAPP_API_BASE}/{phone number id}/messages."""

    name = Channel.WHATSAPP
    suppression_kind = Suppression.Kind.PHONE

    def contact(self, cart: Cart) -> str:
        return cart.phone

    def consented(self, cart: Cart) -> bool:
        return cart.whatsapp_consent

    def recipient_hash(self, cart: Cart) -> str:
        return contact_hash(Suppression.Kind.PHONE, cart.phone)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    @staticmethod
    def payload(reminder: Reminder) -> dict:
        cart = reminder.cart
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": cart.phone,
            "type": "template",
            "template": {
                "name": WHATSAPP_TEMPLATES[reminder.stage],
                "language": {"code": settings.WHATSAPP_TEMPLATE_LANGUAGE},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": customer_first_name(cart)},
                            {"type": "text", "text": str(cart.id)},
                            {"type": "text", "text": reminder.recovery_url},
                        ],
                    }
                ],
            },
        }

    def send(self, reminder: Reminder) -> SendResult:
        if not settings.WHATSAPP_PHONE_NUMBER_ID or not settings.WHATSAPP_ACCESS_TOKEN:
            raise ChannelError("WhatsApp is not configured (WHATSAPP_PHONE_NUMBER_ID / ACCESS_TOKEN)", kind=ALERT)
        url = f"{settings.WHATSAPP_API_BASE.rstrip('/')}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
        request = urllib.request.Request(
            url,
            data=json.dumps(self.payload(reminder)).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.WHATSAPP_TIMEOUT_SECONDS) as response:
                body = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise whatsapp_error_classify(exc.code, exc.read()) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            raise ChannelError(f"WhatsApp API unreachable: {exc}", kind=RETRY) from None
        except ValueError:
            raise ChannelError("WhatsApp API answered invalid JSON", kind=RETRY) from None
        messages = body.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise ChannelError("WhatsApp API answered without a message id", kind=RETRY)
        return SendResult(provider_message_id=messages[0]["id"])


def whatsapp_error_classify(http_status: int, raw_body: bytes) -> ChannelError:
    """A Graph API error answer as a ChannelError of the right kind."""
    try:
        error = json.loads(raw_body or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {http_status}")
    if isinstance(code, int):
        if code in WHATSAPP_ALERT_CODES or 200 <= code <= 299:
            logger.error("whatsapp credentials rejected", extra={"code": code, "http_status": http_status})
            return ChannelError(message, kind=ALERT, code=code)
        if code in WHATSAPP_RETRY_CODES:
            return ChannelError(message, kind=RETRY, code=code)
        if code in WHATSAPP_FINAL_CODES:
            return ChannelError(message, kind=FINAL, code=code)
    if http_status >= 500 or http_status == 429:
        return ChannelError(message, kind=RETRY, code=code if code is not None else http_status)
    if http_status == 401:
        logger.error("whatsapp credentials rejected", extra={"code": code, "http_status": http_status})
        return ChannelError(message, kind=ALERT, code=code if code is not None else http_status)
    # Any other 4xx: the request itself is wrong; repeating it would only fail again.
    return ChannelError(message, kind=FINAL, code=code if code is not None else http_status)


class EmailChannel:
    """E-mail through Django's configured backend, HTML and text, with RFC 8058 one-click headers."""

    name = Channel.EMAIL
    suppression_kind = Suppression.Kind.EMAIL

    def __init__(self):
        self.connection = None

    def contact(self, cart: Cart) -> str:
        return cart.email

    def consented(self, cart: Cart) -> bool:
        return cart.email_consent

    def recipient_hash(self, cart: Cart) -> str:
        return contact_hash(Suppression.Kind.EMAIL, cart.email)

    def open(self) -> None:
        # One connection per batch rather than one per message.
        self.connection = get_connection()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing a broken SMTP connection must not fail the batch
                logger.warning("closing the e-mail connection failed")
            self.connection = None

    @staticmethod
    def context(reminder: Reminder) -> dict:
        cart = reminder.cart
        items = []
        for item in cart.items or []:
            quantity = item.get("quantity") or 0
            price = Decimal(str(item.get("price") or 0))
            items.append(
                {
                    "title": item.get("title") or item.get("productId") or "Item",
                    "quantity": quantity,
                    "price": price,
                    "line_total": price * quantity,
                    "image_url": item.get("imageUrl") or "",
                }
            )
        return {
            "stage": reminder.stage,
            "first_name": customer_first_name(cart),
            "store_name": cart.store.name,
            "cart_id": str(cart.id),
            "items": items,
            "total": cart.total,
            "currency": cart.currency,
            "recovery_url": reminder.recovery_url,
            "unsubscribe_url": reminder.unsubscribe_url,
        }

    def build(self, reminder: Reminder) -> EmailMultiAlternatives:
        context = self.context(reminder)
        subject = " ".join(render_to_string("notifications/email/reminder_subject.txt", context).split())
        message_id = make_msgid(domain="cartsite")
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("notifications/email/reminder.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[reminder.cart.email],
            headers={
                "Message-ID": message_id,
                "List-Unsubscribe": f"<{reminder.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            connection=self.connection,
        )
        message.attach_alternative(render_to_string("notifications/email/reminder.html", context), "text/html")
        return message

    def send(self, reminder: Reminder) -> SendResult:
        message = self.build(reminder)
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPAuthenticationError as exc:
            logger.error("smtp credentials rejected", extra={"code": exc.smtp_code})
            raise ChannelError(f"SMTP authentication failed: {exc.smtp_code}", kind=ALERT, code=exc.smtp_code) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = RETRY if codes and all(400 <= code < 500 for code in codes) else FINAL
            raise ChannelError("recipient refused", kind=kind, code=codes[0] if codes else None) from None
        except smtplib.SMTPResponseException as exc:
            kind = RETRY if 400 <= exc.smtp_code < 500 else FINAL
            raise ChannelError(f"SMTP error {exc.smtp_code}", kind=kind, code=exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            self.open()
            raise ChannelError(f"SMTP unavailable: {type(exc).__name__}", kind=RETRY) from None
        return SendResult(provider_message_id=message.extra_headers["Message-ID"].strip("<>"))


def channels_enabled(*, enable_whatsapp: bool, enable_email: bool) -> list[ReminderChannel]:
    channels: list[ReminderChannel] = []
    if enable_whatsapp:
        channels.append(WhatsAppChannel())
    if enable_email:
        channels.append(EmailChannel())
    return channels
