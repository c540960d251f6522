"""Cross-cutting request handling: request ids and access lines, body limits, API envelopes."""

import io
import logging
import re
import time
import uuid

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponseBadRequest

from cartsite import metrics
from cartsite.errors import ERROR_TITLES, api_exception_handler, error_response
from cartsite.logging import request_id_var, store_var

access_logger = logging.getLogger("cartsite.access")
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_api_path(path: str) -> bool:
    return path.startswith(settings.API_PATH_PREFIXES)


class RequestContextMiddleware:
    """Takes `X-Request-ID` (or makes one), echoes it, and writes one access line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        request_token = request_id_var.set(request_id)
        store_token = store_var.set(None)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self.record(request, response, time.perf_counter() - started)
            return response
        finally:
            request_id_var.reset(request_token)
            store_var.reset(store_token)

    def record(self, request, response, elapsed):
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None and match.route else "unmatched"
        status = response.status_code
        metrics.HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route).observe(elapsed)
        if status >= 500:
            metrics.HTTP_ERRORS.labels(route, str(status)).inc()
        if route in ("/healthz", "/metrics"):
            return
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        access_logger.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "outcome": getattr(request, "log_outcome", None) or ("ok" if status < 400 else "error"),
            },
        )


class ApiErrorEnvelopeMiddleware:
    """On API paths, every error answer is the JSON envelope, never Django's HTML pages.

    DRF views already answer the envelope; this covers what happens around them: unknown paths,
    Django-level 404/405/403 (CSRF), and exceptions from non-DRF views.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code if response.status_code in ERROR_TITLES else 500
            message = {404: "Not found", 405: "Method not allowed", 403: "Forbidden"}.get(status, ERROR_TITLES[status])
            replacement = error_response(status, message)
            if "Allow" in response:
                replacement["Allow"] = response["Allow"]
            return replacement
        return response

    def process_exception(self, request, exception):
        if is_api_path(request.path):
            return api_exception_handler(exception, {})
        return None


class BodySizeLimitMiddleware:
    """Refuses bodies over the path's limit with 413 before anything reads them.

    A declared Content-Length is checked directly. A chunked body (no Content-Length, as gunicorn
    passes it on) is read up to the limit plus one byte: over the limit is a 413, within it the
    body is handed on as if it had been sent with a Content-Length.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def limit_for(path: str) -> int:
        for prefix, limit in settings.REQUEST_BODY_LIMITS:
            if path.startswith(prefix):
                return limit
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            limit = self.limit_for(request.path)
            declared = request.META.get("CONTENT_LENGTH")
            if declared:
                try:
                    too_large = int(declared) > limit
                except ValueError:
                    return error_response(400, "Invalid Content-Length header")
                if too_large:
                    return self.too_large(limit)
            elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
                raw = request.META["wsgi.input"].read(limit + 1)
                if len(raw) > limit:
                    return self.too_large(limit)
                request.META["CONTENT_LENGTH"] = str(len(raw))
                request._stream = LimitedStream(io.BytesIO(raw), len(raw))
        return self.get_response(request)

    @staticmethod
    def too_large(limit):
        return error_response(413, f"Request body is larger than {limit} bytes", code="PAYLOAD_TOO_LARGE")


class NulInUrlMiddleware:
    """Refuses a URL whose path or query string holds a NUL character (`%00`) with 400.

    PostgreSQL can neither store nor compare text holding NUL: such a value reaching a query (a
    `?productId=` filter, a session token in the path, a `?store=` of an admin page) made the
    database refuse the statement, and the client got a 500. No identifier, filter or token of
    this service can hold a NUL (ingestion drops it from free text, keys and tokens never have
    one), so the URL is refused here, once for every path, before anything reads it. A NUL in a
    header never gets this far: gunicorn answers it with 400 itself.
    """

    REASON = "Must not contain NUL characters"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query or "\x00" in request.path:
            return self.refused(request)
        return self.get_response(request)

    def refused(self, request):
        field = "path"
        if "\x00" not in request.path:
            field = next(
                (
                    name.replace("\x00", "") or "query"
                    for name, values in request.GET.lists()
                    if "\x00" in name or any("\x00" in value for value in values)
                ),
                "query",
            )
        if not is_api_path(request.path):
            return HttpResponseBadRequest(
                f"Bad request: {field} must not contain a NUL character (%00).", content_type="text/plain"
            )
        return error_response(
            400, f"{field} must not contain a NUL character", details={"field": field, "reason": self.REASON}
        )
