"""Per-IP rate limits of the tracking endpoints (seed 001 §3.2): 100 a minute and 1,000 an hour.

Counted with django-ratelimit in the shared cache (Redis), so every process and host counts
together. The subject is the client IP of `cartsite.client_ip` (trusted proxies only), an IPv6
client by its /64. The single and the bulk endpoint share one budget: a bulk call counts as one
call, and alternating between them does not double the allowance.

Redis down: fail open. Tracking is best-effort analytics that must never break a storefront
(seed 001 "Notes"); the key check and body limits still apply, every skipped check is logged
(`rate limiter unavailable`) and counted as outcome `rate_limit_unavailable`, and the short
socket timeouts of the cache settings bound the cost to one failed call per request.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage

from cartsite.client_ip import client_ip, rate_limit_subject

logger = logging.getLogger("tracking.ratelimit")

GROUP = "cart-tracking"
RATES = ("100/m", "1000/h")


@dataclass(frozen=True)
class LimitDecision:
    limited: bool
    available: bool = True  # False: the counter store could not be reached (fail open)
    rate: str | None = None
    retry_after: int = 0


def _subject(group, request) -> str:
    return rate_limit_subject(client_ip(request))


def tracking_rate_check(request, *, rates: tuple[str, ...] | None = None) -> LimitDecision:
    """Counts this request against every rate and says whether it is over any of them."""
    decision = LimitDecision(limited=False)
    for rate in rates or RATES:
        try:
            usage = get_usage(request, group=GROUP, key=_subject, rate=rate, increment=True)
        except Exception as exc:  # any cache failure means "cannot count"
            if not getattr(settings, "RATELIMIT_FAIL_OPEN", False):
                raise
            logger.warning("rate limiter unavailable", extra={"error_type": type(exc).__name__})
            return LimitDecision(limited=False, available=False)
        if usage is None:
            # django-ratelimit's own fail-open path (cache answered nothing) or limits disabled.
            if getattr(settings, "RATELIMIT_ENABLE", True):
                return LimitDecision(limited=False, available=False)
            return decision
        if usage["should_limit"] and not decision.limited:
            decision = LimitDecision(limited=True, rate=rate, retry_after=max(1, int(usage["time_left"])))
    return decision
