"""cartsite.settings with Django's psycopg pool, for bench/run's configuration comparison.

- BENCH_DB_POOL=1: Django's psycopg pool instead of persistent per-thread connections; each
  worker process keeps as many connections as it has threads (GUNICORN_THREADS) and every
  request borrows one (Django requires CONN_MAX_AGE=0 with a pool). Needs psycopg-pool.

(Persistent connections without the per-request health check need no variant: the production
settings read CONN_HEALTH_CHECKS from the environment.)
"""

import os

from cartsite.settings import *  # noqa: F403

if os.environ.get("BENCH_DB_POOL") == "1":
    _size = int(os.environ.get("GUNICORN_THREADS") or 4)
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": _size, "max_size": _size, "timeout": 10}  # noqa: F405
