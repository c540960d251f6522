"""Domain errors and the one place that turns any error into the API.md error envelope.

Services raise the domain errors below; DRF calls `api_exception_handler` for everything a view
raises; `ApiErrorEnvelopeMiddleware` uses `error_response` for what never reaches a DRF view
(unknown paths, oversize bodies). No view builds an error body by hand.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

logger = logging.getLogger("cartsite.errors")

ERROR_TITLES = {
    400: "Validation Error",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class DomainError(Exception):
    """An error a service raises on purpose; its status and code are part of the contract."""

    status = 400
    code: str | None = None
    default_message = "Invalid request"

    def __init__(self, message=None, *, field=None, reason=None, code=None, details=None, headers=None):
        self.message = message or self.default_message
        self.code = code or self.code
        self.details = details if details is not None else ({"field": field, "reason": reason} if field else None)
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401
    default_message = "Authentication credentials were not provided or are not valid"


class Forbidden(DomainError):
    status = 403
    default_message = "You do not have permission to perform this action"


class NotFound(DomainError):
    status = 404
    default_message = "Not found"


class Conflict(DomainError):
    status = 409
    default_message = "The request conflicts with the current state"


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Request body is too large"


class RateLimited(DomainError):
    status = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests"


class UpstreamFailed(DomainError):
    status = 502
    default_message = "An upstream service failed"


class ServiceUnavailable(DomainError):
    status = 503
    default_message = "Service unavailable"


def error_body(status, message, *, code=None, details=None) -> dict:
    body = {"status": "error", "error": ERROR_TITLES.get(status, "Server Error"), "message": message}
    if code:
        body["code"] = code
    if details:
        body["details"] = details
    return body


def error_response(status, message, *, code=None, details=None, headers=None) -> JsonResponse:
    response = JsonResponse(error_body(status, message, code=code, details=details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def database_is_unreachable(exc: Exception) -> bool:
    """True when the database cannot be reached at all, as opposed to a failing statement.

    psycopg reports connection failures without an SQLSTATE or with class 08 (connection
    exception), 57P0x (server shutting down) or 53300 (too many connections). Deadlocks and
    serialisation failures are OperationalErrors too, but the database is there: those are 500s.
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate is None:
        # No SQLSTATE: the server never answered (refused, timed out, connection dropped).
        return True
    return sqlstate.startswith(("08", "57P0")) or sqlstate == "53300"


def _first_validation_error(detail, prefix: str = "") -> tuple[str, str] | None:
    """The first (field path, reason) in DRF's error detail, with paths like `items[0].quantity`.

    DRF reports list items as dicts keyed by index (ListField) or as lists with an empty entry
    per valid item (ListSerializer); both become `[index]`, and empty entries are skipped."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(value, dict | list) and not value:
                continue
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            return _first_validation_error(value, path)
        return None
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                if value:
                    return _first_validation_error(value, f"{prefix}[{index}]")
                continue
            return prefix, str(value)
        return None
    return prefix, str(detail)


def describe_validation_error(detail) -> tuple[str, dict | None]:
    """The envelope's message and details for a DRF ValidationError detail."""
    field, reason = _first_validation_error(detail) or ("", "Invalid request body")
    if not field:
        return reason, None
    if reason == "This field is required.":
        return f"{field} is required", {"field": field, "reason": "Field is required"}
    return f"{field}: {reason}", {"field": field, "reason": reason}


def api_exception_handler(exc, context):
    """DRF's exception handler: every error raised inside an API view becomes the envelope."""
    headers = {}
    if isinstance(exc, DomainError):
        status, message, code, details = exc.status, exc.message, exc.code, exc.details
        headers.update(exc.headers)
    elif isinstance(exc, drf.ValidationError):
        status, code = 400, None
        message, details = describe_validation_error(exc.detail)
    elif isinstance(exc, drf.ParseError):
        detail = str(exc.detail)
        message = detail if detail.startswith("JSON nesting") else "Malformed JSON in request body"
        status, code, details = 400, None, None
    elif isinstance(exc, drf.UnsupportedMediaType):
        status, message, code, details = 400, "Request body must be application/json", None, None
    elif isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        status, message, code, details = 401, str(exc.detail), None, None
    elif isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        status, message, code, details = 403, str(getattr(exc, "detail", "") or Forbidden.default_message), None, None
    elif isinstance(exc, drf.NotFound | Http404):
        status, message, code, details = 404, "Not found", None, None
    elif isinstance(exc, drf.MethodNotAllowed):
        status, message, code, details = 405, str(exc.detail), None, None
    elif isinstance(exc, drf.Throttled):
        status, message, code, details = 429, "Too many requests", "RATE_LIMITED", None
        if exc.wait:
            headers["Retry-After"] = str(int(exc.wait) + 1)
    elif isinstance(exc, RequestDataTooBig):
        status, message, code, details = 413, PayloadTooLarge.default_message, "PAYLOAD_TOO_LARGE", None
    elif isinstance(exc, DatabaseError):
        if database_is_unreachable(exc):
            logger.error("database unavailable", extra={"error_type": type(exc).__name__})
            status, message, code = 503, "Database service unavailable", "DATABASE_UNAVAILABLE"
        else:
            logger.error("database error", extra={"error_type": type(exc).__name__, "error": str(exc)[:300]})
            status, message, code = 500, "Database error", "DATABASE_ERROR"
        details = None
    elif isinstance(exc, drf.APIException):
        status, message, code, details = exc.status_code, str(exc.detail), None, None
    else:
        logger.exception("unhandled error in API view")
        status, message, code, details = 500, "Internal server error", None, None
    view = context.get("view") if context else None
    if view is not None and getattr(view, "error_messages", None) and status in view.error_messages:
        # Seed 001 fixes some messages per endpoint ("Failed to track cart event").
        message = view.error_messages[status]
    response = error_response(status, message, code=code, details=details, headers=headers)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="cartsite"'
    return response
