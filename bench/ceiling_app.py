"""The ceiling: the least a web process can do for the same work, with no framework.

A raw WSGI callable served by the same gunicorn settings as the project. It parses the same JSON
bodies and runs the same parameterised statements with psycopg against the same tables and
indexes, on one persistent connection per thread (autocommit: one statement, one transaction):

- `POST /track`: one INSERT into the tracking events table (id `cart-event-<ms>-<7 chars>`,
  server time, client IP), answering seed 001's success body;
- `POST /track/bulk`: the events of `{"events": [...]}` as one multi-row INSERT … SELECT FROM
  unnest() (one round trip, server-side binding);
- `POST /sync`: the cart upsert, `INSERT … ON CONFLICT (store_id, session_token) WHERE open DO
  UPDATE` on the partial unique index, answering 201 created / 200 updated.

It does no authentication, rate limiting, validation beyond `storeName`/`session_token`, logging
or metrics: that is the point of a ceiling. The statements are not written here by hand: the
harness derives them from the Django models (so they follow the schema) and passes them in the
JSON file named by `CEILING_PLAN`; see bench/plan.py.

With `CEILING_PRODUCT_ROUND_TRIPS=1` (bench/run's third server for track and sync) `/track` and
`/sync` also make the round trips the product's endpoints cannot do without, still with no
framework: the connection's health check as the product makes it on a connection in use (a
non-blocking poll of its socket, cartsite/db/postgresql/base.py; no round trip), for track the
per-IP rate limit (the product's Lua script, both windows, one Redis call), for a sync that
creates a cart the store's hourly count in Redis, and one JSON access line on stderr. The
difference with the plain ceiling is what those round trips cost; the rest of the gap to the
project is the framework and the product's Python.
"""

import json
import os
import random
import select
import string
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

with open(os.environ["CEILING_PLAN"]) as plan_file:
    PLAN = json.load(plan_file)

_local = threading.local()
ROUND_TRIPS = os.environ.get("CEILING_PRODUCT_ROUND_TRIPS") == "1"
_ALPHABET = string.ascii_lowercase + string.digits


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(PLAN["dsn"], autocommit=True)
        _local.conn = conn
    return conn


def _event_id(now_ms: int) -> str:
    return f"cart-event-{now_ms}-{''.join(random.choices(_ALPHABET, k=7))}"


def _client_ip(environ) -> str:
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.rsplit(",", 1)[-1].strip() if forwarded else environ.get("REMOTE_ADDR", "")


def _value(spec, body, context):
    kind = spec[0]
    if kind == "json":
        value = body.get(spec[1])
        if value is None:
            return spec[3] if len(spec) > 3 else None
        value = str(value)
        return value[: spec[2]] if spec[2] else value
    if kind == "const":
        return spec[1]
    if kind == "const_json":
        return Jsonb(spec[1])
    if kind == "jsonb":
        return Jsonb(context[spec[1]])
    return context[kind]  # now, event_id, uuid, ip, items, total, item_count, session_token


def _answer(start_response, status: str, payload) -> list[bytes]:
    data = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _read_json(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


def _redis():
    client = getattr(_local, "redis", None)
    if client is None:
        import redis

        client = _local.redis = redis.Redis.from_url(os.environ.get("CEILING_REDIS_URL", "redis://127.0.0.1:6379/15"))
    return client


def _redis_script():
    script = getattr(_local, "rate_script", None)
    if script is None:
        script = _local.rate_script = _redis().register_script(PLAN["rate_limit"]["script"])
    return script


def _health_check(connection: psycopg.Connection) -> None:
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN | select.POLLPRI)
    if connection.broken or poller.poll(0):
        connection.execute("SELECT 1")


def _product_round_trips(connection: psycopg.Connection, ip: str, now: datetime) -> None:
    _health_check(connection)
    seconds = int(now.timestamp())
    keys = [
        f"ceiling:rl:{limit}/{period}s:{ip}:{seconds - seconds % period}"
        for limit, period in PLAN["rate_limit"]["rates"]
    ]
    _redis_script()(keys=keys, args=[period + 5 for _, period in PLAN["rate_limit"]["rates"]])


def _access_line(environ, status: int, started: float) -> None:
    line = {"time": datetime.now(UTC).isoformat(), "level": "INFO", "logger": "ceiling.access", "method": "POST"}
    line.update(
        path=environ.get("PATH_INFO"), status=status, duration_ms=round((time.perf_counter() - started) * 1000, 2)
    )
    sys.stderr.write(json.dumps(line) + "\n")
    sys.stderr.flush()


def _track(environ, start_response):
    started = time.perf_counter()
    body = _read_json(environ)
    if not body.get("storeName"):
        return _answer(start_response, "400 Bad Request", {"status": "error", "message": "storeName is required"})
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    context = {"now": now, "event_id": _event_id(now_ms), "ip": _client_ip(environ), "uuid": uuid.uuid4()}
    plan = PLAN["track"]
    connection = _connection()
    if ROUND_TRIPS:
        _product_round_trips(connection, context["ip"], now)
    connection.execute(plan["sql"], [_value(spec, body, context) for spec in plan["values"]])
    if ROUND_TRIPS:
        _access_line(environ, 200, started)
    created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return _answer(
        start_response,
        "200 OK",
        {
            "status": "success",
            "message": "Cart event tracked successfully",
            "data": {"id": context["event_id"], "createdAt": created},
        },
    )


def _track_bulk(environ, start_response):
    events = _read_json(environ).get("events") or []
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    ip = _client_ip(environ)
    plan = PLAN["bulk"]
    columns = [[] for _ in plan["values"]]
    ids = []
    for event in events:
        context = {"now": now, "event_id": _event_id(now_ms), "ip": ip, "uuid": uuid.uuid4()}
        ids.append(context["event_id"])
        for column, spec in zip(columns, plan["values"], strict=True):
            value = _value(spec, event, context)
            column.append(value)
    _connection().execute(plan["sql"], columns)
    return _answer(
        start_response, "200 OK", {"status": "success", "data": {"accepted": len(ids), "ids": ids, "rejected": []}}
    )


def _sync(environ, start_response):
    started = time.perf_counter()
    body = _read_json(environ)
    token = body.get("session_token")
    items = body.get("items")
    if not token or not isinstance(items, list):
        return _answer(start_response, "400 Bad Request", {"status": "error", "message": "session_token is required"})
    total = sum((Decimal(str(item["price"])) * int(item["quantity"]) for item in items), Decimal("0"))
    context = {
        "now": datetime.now(UTC),
        "uuid": uuid.uuid4(),
        "session_token": token,
        "items": items,
        "total": total.quantize(Decimal("0.01")),
        "item_count": sum(int(item["quantity"]) for item in items),
    }
    plan = PLAN["sync"]
    connection = _connection()
    if ROUND_TRIPS:
        _health_check(connection)
    cart_id, created = connection.execute(
        plan["sql"], [_value(spec, body, context) for spec in plan["values"]]
    ).fetchone()
    if ROUND_TRIPS:
        if created:  # the store's hourly count of created carts: one Redis round trip
            hour = f"ceiling:carts:{int(time.time()) // 3600}"
            _redis().pipeline(transaction=False).set(hour, 0, ex=3660, nx=True).incr(hour).execute()
        _access_line(environ, 201 if created else 200, started)
    if created:
        return _answer(start_response, "201 Created", {"created": True, "cart_id": str(cart_id)})
    return _answer(start_response, "200 OK", {"updated": True, "cart_id": str(cart_id)})


ROUTES = {"/track": _track, "/track/bulk": _track_bulk, "/sync": _sync}


def application(environ, start_response):
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None or environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, "404 Not Found", {"status": "error"})
    try:
        return handler(environ, start_response)
    except psycopg.Error as exc:
        _local.conn = None
        return _answer(start_response, "503 Service Unavailable", {"status": "error", "message": type(exc).__name__})
