"""Prometheus metrics: the names every app increments, and the /metrics exposition.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (an empty directory per deployment) so that the
counters of every worker process are summed on /metrics; without it, one process is reported.
"""

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

HTTP_REQUESTS = Counter("cartsite_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_ERRORS = Counter("cartsite_http_errors_total", "HTTP requests answered with 5xx", ["route", "status"])
HTTP_LATENCY = Histogram(
    "cartsite_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TRACKING_EVENTS = Counter(
    "cartsite_tracking_events_total", "Tracking events by store and outcome", ["store", "outcome"]
)
SWEEP_RESULTS = Counter(
    "cartsite_sweep_messages_total",
    "Abandonment sweep outcomes by stage, channel and outcome",
    ["stage", "channel", "outcome"],
)
STRIPE_EVENTS = Counter(
    "cartsite_stripe_events_total", "Stripe webhook events by type and outcome", ["type", "outcome"]
)


def metrics_exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
