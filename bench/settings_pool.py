"""cartsite.settings with Django's psycopg connection pool instead of persistent connections.

Only for the configuration comparison of bench/run (`"pool": True`): each worker process keeps a
pool of as many connections as it has threads (GUNICORN_THREADS) and every request borrows one
(Django requires CONN_MAX_AGE=0 with a pool). Needs the psycopg-pool package.
"""

import os

from cartsite.settings import *  # noqa: F403

_size = int(os.environ.get("GUNICORN_THREADS") or 4)
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": _size, "max_size": _size, "timeout": 10}  # noqa: F405
