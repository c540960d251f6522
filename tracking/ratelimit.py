"""Per-IP rate limits of the tracking endpoints (seed 001 §3.2): 100 a minute and 1,000 an hour.

Counted in the shared cache (Redis), so every process and host counts together. The subject is
the client IP of `cartsite.client_ip` (trusted proxies only), an IPv6 client by its /64. The
single and the bulk endpoint share one budget: a bulk call counts as one call, and alternating
between them does not double the allowance.

Fixed windows, as django-ratelimit counts them (same window edges: each subject's windows are
offset by a CRC of the subject, so not every client's window ends at the same second). Every
window is counted on each call, all of them in one Redis round trip (`cartsite.counters`: one Lua
script, `INCR` each key, `EXPIRE` it when it is new). Without Redis (`REDIS_URL` unset: local
runserver) the same counters live in Django's cache API (per process).

Redis down: fail open. Tracking is best-effort analytics that must never break a storefront
(seed 001 "Notes"); the key check and body limits still apply, every skipped check is logged
(`rate limiter unavailable`) and counted as outcome `rate_limit_unavailable`, and the short
socket timeouts of the cache settings bound the cost to one failed call per request.
"""

import logging
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from cartsite.client_ip import client_ip, rate_limit_subject
from cartsite.counters import window_counts

logger = logging.getLogger("tracking.ratelimit")

GROUP = "cart-tracking"
RATES = ("100/m", "1000/h")
# A counter outlives its window by a few seconds (clock skew between hosts), as django-ratelimit's.
EXPIRATION_FUDGE = 5
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class LimitDecision:
    limited: bool
    available: bool = True  # False: the counter store could not be reached (fail open)
    rate: str | None = None
    retry_after: int = 0


@lru_cache(maxsize=16)
def rate_parse(rate: str) -> tuple[int, int]:
    """`"100/m"` -> (100, 60); `"5/10s"` -> (5, 10)."""
    count, _, per = rate.partition("/")
    unit = per[-1].lower()
    return int(count), _PERIODS[unit] * int(per[:-1] or 1)


def window_end(subject: str, period: int, now: int) -> int:
    """The end (epoch seconds) of `subject`'s current window of `period` seconds."""
    if period == 1:
        return now
    end = now - now % period + zlib.crc32(subject.encode()) % period
    return end + period if end < now else end


def _windows(subject: str, rates: tuple[str, ...], now: int) -> list[tuple[str, int, str, int, int]]:
    """(rate, limit, counter key, time to live, window end) of each rate for `subject` now."""
    windows = []
    for rate in rates:
        limit, period = rate_parse(rate)
        end = window_end(subject, period, now)
        windows.append((rate, limit, f"rl:{GROUP}:{limit}/{period}s:{subject}:{end}", period + EXPIRATION_FUDGE, end))
    return windows


def tracking_rate_check(request, *, rates: tuple[str, ...] | None = None, ip: str | None = None) -> LimitDecision:
    """Counts this request against every rate and says whether it is over any of them (the first
    such rate, in order, is the one reported). `ip`: the client IP, when the caller has it."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return LimitDecision(limited=False)
    address = ip if ip is not None else client_ip(request)
    # client_ip gives IPv4 in its canonical spelling: that is its own subject (IPv6 counts by /64).
    subject = address if address and ":" not in address else rate_limit_subject(address)
    now = int(time.time())
    windows = _windows(subject, rates or RATES, now)
    keys = [window[2] for window in windows]
    ttls = [window[3] for window in windows]
    try:
        counts = window_counts(getattr(settings, "RATELIMIT_USE_CACHE", "default"), keys, ttls)
    except Exception as exc:  # any cache failure means "cannot count"
        if not getattr(settings, "RATELIMIT_FAIL_OPEN", False):
            raise
        logger.warning("rate limiter unavailable", extra={"error_type": type(exc).__name__})
        return LimitDecision(limited=False, available=False)
    for (rate, limit, _key, _ttl, end), count in zip(windows, counts, strict=True):
        if count > limit:
            return LimitDecision(limited=True, rate=rate, retry_after=max(1, end - now))
    return LimitDecision(limited=False)
