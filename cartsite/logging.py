"""JSON log lines (one object a line) with the request id, and no customer contact data.

E-mail addresses and phone numbers are masked wherever they appear: in the message, in its
arguments and in any extra field, so a careless `logger.info("sent to %s", email)` is safe too.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
store_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("store", default=None)

EMAIL_PATTERN = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
# Phone numbers as customers write them: with a leading + (E.164, spaced or dashed) or an area
# code in parentheses. Bare digit runs are left alone: they are ids, timestamps and amounts.
PHONE_PATTERN = re.compile(
    r"(?<![\w+])(?:\+\d{1,4}(?:[ .\-]?\(?\d{1,5}\)?){1,6}|\(\d{2,5}\)[ .\-]?\d{3,4}[ .\-]?\d{3,4})(?!\w)"
)
SENSITIVE_KEYS = {"email", "phone", "customer_email", "customeremail", "customer_phone", "to"}

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_email(value: str) -> str:
    return EMAIL_PATTERN.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_phone_match(match: re.Match) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7:
        return text
    return ("+" if text.startswith("+") else "") + "*" * (len(digits) - 2) + digits[-2:]


def mask_text(value: str) -> str:
    """Masks every e-mail address and phone number inside free text."""
    # Every e-mail address has an "@" and every phone number the patterns match starts with "+"
    # or "(": text with none of them (most of every log line) skips both regular expressions.
    if "@" not in value and "+" not in value and "(" not in value:
        return value
    return PHONE_PATTERN.sub(mask_phone_match, mask_email(value))


def mask_value(value, key: str | None = None):
    if key is not None and key.lower() in SENSITIVE_KEYS and isinstance(value, str) and value:
        return mask_text(value) if "@" in value else "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [mask_value(v) for v in value]
    return value


class RequestContextFilter(logging.Filter):
    def filter(self, record):
        record.request_id = getattr(record, "request_id", None) or request_id_var.get()
        if not getattr(record, "store", None):
            record.store = store_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRIBUTES or key.startswith("_") or value is None:
                continue
            payload[key] = mask_value(value, key)
        if record.exc_info:
            payload["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)
