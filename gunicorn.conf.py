"""gunicorn settings for production: `gunicorn cartsite.wsgi` picks this file up from the working directory.

Every value can be overridden by the environment, so one image serves machines of any size:
  WEB_CONCURRENCY         worker processes          (default: see below)
  GUNICORN_WORKER_CLASS   sync | gthread            (default: gthread)
  GUNICORN_THREADS        threads per worker        (gthread only)
  GUNICORN_BIND           host:port                 (default: 0.0.0.0:$PORT or 0.0.0.0:8000)
  GUNICORN_TIMEOUT        seconds before a stuck worker is killed and restarted
  GUNICORN_MAX_REQUESTS   recycle a worker after this many requests (0: never)

Why these defaults (chosen by measurement with `bench/run --config`; the numbers and the method are in
docs/performance.md and bench/RESULTS.md):

- The hot paths (tracking events, cart sync) are short requests that spend a good part of their time
  waiting on PostgreSQL and Redis round trips. A gthread worker overlaps those waits inside one
  process and keeps HTTP keep-alive connections open (a sync worker closes the connection after
  every response, so every request also pays a TCP handshake), and it does not let one slow client
  block a whole process.
- Measured on the reference machine (2 cores, 24 GiB, PostgreSQL 15 and Redis 7 on the same host),
  POST /api/cart-tracking/track, 32 connections, 10 s each (req/s, p99):
      (the table of the full run goes here; see bench/RESULTS.md "gunicorn configurations")
- Workers: one per core is where the CPU-bound Django work saturates; more processes only add
  context switches and database connections on a machine where PostgreSQL competes for the same
  cores. Threads: enough to cover the database/Redis waits.
- Database connections: each thread holds one persistent connection (CONN_MAX_AGE, default 60 s,
  with health checks), so workers × threads must stay below PostgreSQL's max_connections with room
  for Celery and maintenance. Opening a connection per request (CONN_MAX_AGE=0) costs a PostgreSQL
  backend fork per request; see the measured table above.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread").strip() or "gthread"
workers = _int("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count()))
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
