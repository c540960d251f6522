"""gunicorn settings for production: `gunicorn cartsite.wsgi` picks this file up from the working directory.

Every value can be overridden by the environment, so one image serves machines of any size:
  WEB_CONCURRENCY         worker processes          (default: 2 × cores)
  GUNICORN_WORKER_CLASS   sync | gthread            (default: sync)
  GUNICORN_THREADS        threads per worker        (gthread only; default 4)
  GUNICORN_BIND           host:port                 (default: 0.0.0.0:$PORT or 0.0.0.0:8000)
  GUNICORN_TIMEOUT        seconds before a stuck worker is killed and restarted
  GUNICORN_MAX_REQUESTS   recycle a worker after this many requests (0: never)

Why these defaults: chosen by measurement (`bench/run --only config`; method in docs/performance.md,
the run's table in bench/RESULTS.md). Reference machine: 2 cores, 24 GiB, PostgreSQL 15 and Redis 7
on the same host; POST /api/cart-tracking/track, 32 connections, 10 s a run, each configuration
three times in alternating order, 2026-11-22 07:09 UTC (one PostgreSQL statement, prepared, and
one Redis call per event); median (min-max):

    configuration                              req/s              p99 ms
    sync, 2 workers                              537 (487-648)        89
    sync, 4 workers                              643 (597-667)        76   <- the default
    gthread, 2 workers x 4 threads               521 (340-774)       137
    gthread, 2 workers x 8 threads               477 (466-544)       184
    gthread, 4 workers x 4 threads               586 (572-625)       218
    gthread 2x4, CONN_MAX_AGE=0                  145 (135-148)       414
    gthread 2x4, Django's psycopg pool           563 (556-600)       139
    sync 4, no CONN_HEALTH_CHECKS                711 (634-781)        63

- Sync with 4 workers has the best median of the configurations the product runs, and the lowest
  p99 with the narrowest spread. Single runs had ranked gthread 2 x 4 first (06:51: 979 against
  685; 05:13: 949 against 917) or sync 2 (2026-11-21 21:11): single 10 s runs move by 15-35 %,
  which is why the comparison now repeats them. Two sync workers per core keep a core busy while
  another worker waits on PostgreSQL or Redis, and the ceiling's ratio is measured under the same
  setting. More threads only queue: a request spends most of its time on CPU (Django, DRF, the
  JSON), and threads wait on the GIL.
- Sync workers must sit behind a buffering reverse proxy (nginx, a cloud load balancer), as
  gunicorn's documentation says: a slow client would otherwise hold a whole worker. Without one,
  run GUNICORN_WORKER_CLASS=gthread with WEB_CONCURRENCY=cores (2 x 4 here).
- Database connections: persistent (CONN_MAX_AGE=60, the settings' default): a connection per
  request costs three quarters of the throughput; Django's psycopg pool measured within the
  spread of one persistent connection per worker thread (563 against 521 under gthread 2x4, p99
  139 against 137 ms; 825 against 949 in the single runs of 05:13) and below sync 4. The per-request health check
  (CONN_HEALTH_CHECKS) stays on: a broken connection is then replaced before it fails a request.
  The project's backend skips Django's `SELECT 1` on a connection in use (a poll of its socket,
  cartsite/db/postgresql/base.py): under load it sends none. The row without it measured ~10 %
  ahead here and in a separate A/B, with no query and about 5 us of CPU a request to account
  for it, where an A/A of the same script put identical servers 5 % apart (bench/findings.md,
  "Server configuration"). Workers x threads connections must stay
  below PostgreSQL's max_connections, with room for Celery and maintenance.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync").strip() or "sync"
workers = _int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count())
threads = _int("GUNICORN_THREADS", 4) if worker_class == "gthread" else 1

# Kill a worker that is stuck for this long (a request that hangs on a dead dependency).
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Keep-alive between a load balancer and gunicorn (gthread only; sync workers always close).
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Many queued connections when bursts arrive; the kernel caps it at net.core.somaxconn.
backlog = _int("GUNICORN_BACKLOG", 2048)
# Recycle workers now and then, so a slow leak in a dependency never grows without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)

# The app writes one JSON access line per request itself (cartsite.middleware); gunicorn's own
# access log would only duplicate it. Errors go to stderr.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Behind a proxy, the app decides whom to believe (TRUSTED_PROXIES); gunicorn must not rewrite.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in RAM, not on a possibly slow disk (as gunicorn's docs advise in containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_worker_init(worker):
    """Do before the first request what Django and its libraries otherwise do lazily during it.

    Measured with cProfile on the reference machine: the first request of a fresh worker took
    0.85-1.8 s against 15-50 ms for the next ones, spent importing the URLconf (every app's views,
    DRF, the schema tooling), importing the Redis client behind the cache (redis-py pulls in its
    asyncio half), and compiling the e-mail/URL validators' regular expressions. Without this, every
    new or recycled worker makes its first clients wait that long. Nothing here opens a connection
    (a socket made before the request threads exist would only sit idle)."""
    import sys
    import time

    if "django.core.handlers.wsgi" not in sys.modules:
        return  # not a Django app (the benchmark's raw WSGI ceiling runs under this file too)
    started = time.perf_counter()
    try:
        from django.core import validators
        from django.core.cache import caches
        from django.urls import get_resolver
        from rest_framework.settings import api_settings

        get_resolver().url_patterns  # noqa: B018 - the attribute access is the import
        caches["default"]  # imports the cache backend; it connects lazily, on first use
        validators.validate_email("warm-up@example.com")
        validators.URLValidator()("https://example.com/warm-up")
        for name in ("DEFAULT_AUTHENTICATION_CLASSES", "DEFAULT_PERMISSION_CLASSES", "DEFAULT_RENDERER_CLASSES"):
            getattr(api_settings, name)
        getattr(api_settings, "DEFAULT_PARSER_CLASSES")  # noqa: B009
        getattr(api_settings, "EXCEPTION_HANDLER")  # noqa: B009
    except Exception as exc:  # a warm-up must never keep a worker from serving
        worker.log.warning("warm-up skipped: %s: %s", type(exc).__name__, exc)
        return
    worker.log.info("worker warmed up in %.2f s", time.perf_counter() - started)


def child_exit(server, worker):
    """Prometheus multi-process mode: drop the gauges of a worker that is gone."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
