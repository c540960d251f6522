"""DRF content negotiation with a shortcut for what API clients send on every request.

Storefronts and merchant backends send no `Accept` header, `*/*` or `application/json`; for those
the answer is the first renderer's own media type, exactly what DRF's negotiation would choose,
without parsing and ranking the header. Anything else (another media type, `?format=`, several
types with q-values) goes through DRF's negotiation unchanged, so a client that accepts only
HTML still gets 406.
"""

from rest_framework.negotiation import DefaultContentNegotiation

_PLAIN_ACCEPTS = frozenset({"", "*/*", "application/json"})


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.GET
            and renderers[0].media_type == "application/json"
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
