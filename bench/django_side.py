"""The harness's work that needs Django: setup, data building, in-process probes, the sweep.

Run by bench/harness.py as `python -m bench.django_side <command> [json arguments]` with the bench
environment (its own database, Redis key prefix, DJANGO_SETTINGS_MODULE=bench.settings_probe);
prints one JSON object on its last line. Each command runs in a fresh process, so a probe's peak
memory is its own.
"""

import importlib
import inspect
import json
import os
import resource
import statistics
import sys
import time
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_probe")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.plan import _default_spec, ceiling_plan, tracking_model, writable_fields  # noqa: E402

STORE_COUNT = 10
ADMIN_USERNAME = "bench-admin"


def store_name(index: int) -> str:
    return f"bench-{index}.example.com"


# --- setup ------------------------------------------------------------------------------------


def cmd_setup(args):
    """Stores with keys, a superuser, and the ceiling's plan (written to args['plan'])."""
    from carts.models import Store
    from carts.services import store_create

    stores = []
    for index in range(STORE_COUNT):
        origin = f"https://www.{store_name(index)}"
        keys = store_create(name=store_name(index), currency="EUR", origins=[origin])
        stores.append(
            {
                "id": keys.store.pk,
                "name": keys.store.name,
                "pk": keys.publishable_key,
                "sk": keys.secret_key,
                "origin": origin,
            }
        )
    user_model = get_user_model()
    user_model.objects.create_superuser(ADMIN_USERNAME, "bench@example.com", "bench-password-not-secret")
    with open(args["plan"], "w") as plan_file:
        json.dump(ceiling_plan(dsn=args["dsn"], store=Store.objects.get(pk=stores[0]["id"])), plan_file)
    return {"stores": stores}


# --- data -------------------------------------------------------------------------------------


def _literal(spec) -> str:
    kind, *rest = spec
    if kind == "now":
        return "now()"
    value = rest[0]
    if value is None:
        return "NULL"
    if kind == "const_json":
        return "'" + json.dumps(value).replace("'", "''") + "'::jsonb"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _rebuildable_indexes(table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(indexes no constraint owns, constraints worth rebuilding) of `table`.

    The primary key is rebuilt too when no foreign key points at the table: a btree built by one
    sort after the load is much faster than one grown by random-order inserts."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename = %s AND i.indexname NOT IN (
                 SELECT c.conindid::regclass::text FROM pg_constraint c WHERE c.conrelid = %s::regclass)""",
            [table, table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
               WHERE c.conrelid = %s::regclass AND c.contype = 'p'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = %s::regclass)""",
            [table, table],
        )
        constraints = cursor.fetchall()
    return indexes, constraints


def _user_triggers(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table])
        return [name for (name,) in cursor.fetchall()]


def _insert_chunk(sql: str, low: int, high: int, skip_triggers: bool) -> int:
    from django.db import connection as thread_connection

    try:
        with thread_connection.cursor() as cursor:
            if skip_triggers:
                cursor.execute("SET session_replication_role = replica")
            cursor.execute("SET synchronous_commit = off")
            cursor.execute(sql.replace("@LOW@", str(low)).replace("@HIGH@", str(high)))
            return cursor.rowcount
    finally:
        thread_connection.close()


def _load(table: str, insert_sql: str, total: int) -> dict:
    """Runs a set-based INSERT over generate_series(@LOW@, @HIGH@) with the indexes dropped, in
    one session per core, then rebuilds the indexes exactly as the migrations made them and runs
    VACUUM ANALYZE (as autovacuum would, so the planner and index-only scans see a settled table).

    FK checks are skipped for the load (session_replication_role = replica: the data is consistent
    by construction) unless the table has triggers of its own, which must fire (e.g. a column a
    trigger derives from another): then every trigger runs, the FK checks too."""
    from concurrent.futures import ThreadPoolExecutor

    timings = {}
    started = time.perf_counter()
    indexes, constraints = _rebuildable_indexes(table)
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        for name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    sessions = max(1, min(os.cpu_count() or 1, 4)) if total >= 100_000 else 1
    step = -(-total // sessions)
    bounds = [(low, min(low + step - 1, total)) for low in range(1, total + 1, step)]
    triggers = _user_triggers(table)
    timings["triggers_fired"] = triggers
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        rows = sum(pool.map(lambda bound: _insert_chunk(insert_sql, *bound, skip_triggers=not triggers), bounds))
    timings["insert_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {quoted} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")
        for _name, definition in indexes:
            cursor.execute(definition)
        timings["indexes_s"] = round(time.perf_counter() - started - timings["insert_s"], 1)
        vacuum_started = time.perf_counter()
        cursor.execute(f"VACUUM ANALYZE {quoted}")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - vacuum_started, 1)
    timings["rows"] = rows
    timings["sessions"] = sessions
    timings["total_s"] = round(time.perf_counter() - started, 1)
    timings["rows_per_s"] = round(rows / max(timings["total_s"], 1e-9))
    return timings


def cart_segments(total: int, live: int) -> dict[str, int]:
    """How the carts of a dataset divide up (fractions of `total`, plus `live` in store 0)."""
    segments = {
        "live": live,
        "due": total // 10,  # abandoned 50–70 h ago, e-mail with consent: stage 1 due in any reading
        "converted": total * 3 // 10,
        "removed": total // 10,
        "abandoned_no_contact": total * 29 // 100,
        "abandoned_no_consent": total // 10,
    }
    segments["recent"] = total - sum(segments.values())  # idle 1–20 h, consent: not yet due
    return segments


def cmd_build_carts(args):
    """`total` carts over STORE_COUNT stores with generate_series (see cart_segments)."""
    from carts.models import Cart, Store

    total, live = args["total"], args["live"]
    segments = cart_segments(total, live)
    store_ids = list(Store.objects.filter(name__startswith="bench-").order_by("name").values_list("id", flat=True))
    bounds, upper = {}, 0
    for name, count in segments.items():
        bounds[name] = (upper, upper + count)
        upper += count

    def segment(name):
        low, high = bounds[name]
        return f"(g > {low} AND g <= {high})"

    idle = (
        f"CASE WHEN {segment('live')} THEN interval '1 second' * (g % 1500) "
        f"WHEN {segment('due')} THEN interval '1 hour' * 50 + interval '1 second' * (g * 7919 % 72000) "
        f"WHEN {segment('recent')} THEN interval '1 hour' + interval '1 second' * (g * 7919 % 68400) "
        "ELSE interval '25 hours' + interval '1 second' * (g * 7919 % 7776000) END"
    )
    with_contact = (
        f"({segment('live')} OR {segment('due')} OR {segment('recent')} OR {segment('abandoned_no_consent')})"
    )
    with_consent = f"({segment('due')} OR {segment('recent')} OR ({segment('live')} AND g % 2 = 0))"
    expressions = {
        "id": "md5('bench-cart-' || g)::uuid",
        "store_id": f"CASE WHEN {segment('live')} THEN {store_ids[0]} "
        f"ELSE (ARRAY{store_ids})[1 + g % {len(store_ids)}] END",
        "session_token": "'bench-session-' || g",
        "items": "jsonb_build_array(jsonb_build_object('productId', 'prod-' || (g % 500), 'quantity', 1 + g % 3, "
        "'price', 19.9, 'title', 'Product ' || (g % 500), 'category', 'category-' || (g % 12), "
        "'tags', jsonb_build_array('tag-' || (g % 7))), jsonb_build_object('productId', 'prod-' || (g % 37), "
        "'quantity', 1, 'price', 5, 'title', 'Accessory ' || (g % 37)))",
        "total": "(1 + g % 3) * 19.9 + 5",
        "item_count": "2 + g % 3",
        "currency": "'EUR'",
        "email": f"CASE WHEN {with_contact} THEN 'customer-' || g || '@example.com' ELSE '' END",
        "first_name": f"CASE WHEN {with_contact} THEN 'Customer' ELSE '' END",
        "email_consent": with_consent,
        "email_consent_at": f"CASE WHEN {with_consent} THEN now() - interval '100 days' END",
        "email_consent_source": f"CASE WHEN {with_consent} THEN 'storefront' ELSE '' END",
        "last_activity_at": "now() - idle",
        "created_at": "now() - idle - interval '1 second' * (g % 7200)",
        "converted_at": f"CASE WHEN {segment('converted')} THEN now() - idle + interval '10 minutes' END",
        "order_reference": f"CASE WHEN {segment('converted')} THEN 'order-' || g ELSE '' END",
        "order_amount": f"CASE WHEN {segment('converted')} THEN (1 + g % 3) * 19.9 + 5 END",
        "removed_at": f"CASE WHEN {segment('removed')} THEN now() - idle END",
    }
    columns, values = [], []
    for field in writable_fields(Cart):
        columns.append(connection.ops.quote_name(field.column))
        values.append(expressions.get(field.column) or _literal(_default_spec(field)))
    sql = (
        f"INSERT INTO {Cart._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM (SELECT g, {idle} AS idle FROM generate_series(@LOW@::bigint, @HIGH@::bigint) g) s"
    )
    result = _load(Cart._meta.db_table, sql, total)
    result["segments"] = segments
    return result


def cmd_build_events(args):
    """`total` tracking events over 365 days with generate_series; store 0 holds 40 % of them."""
    from carts.models import Store

    model = tracking_model()
    total = args["total"]
    stores = list(Store.objects.filter(name__startswith="bench-").order_by("name").values_list("id", "name"))
    store_ids = [s[0] for s in stores[:7]]
    store_names = [s[1] for s in stores[:7]]
    store_index = "(CASE WHEN g % 10 < 4 THEN 1 ELSE g % 10 - 2 END)"
    expressions = {
        "id": "'cart-event-' || lpad(((extract(epoch FROM ts) * 1000)::bigint)::text, 13, '0') || '-' "
        "|| lpad(to_hex(g), 7, '0')",
        "store_id": f"(ARRAY{store_ids})[{store_index}]",
        "store_name": f"(ARRAY{store_names}::text[])[{store_index}]",
        "product_id": "'prod-' || (g * 31 % 2000)",
        "product_title": "'Product ' || (g * 31 % 2000)",
        "product_url": "'https://shop.example.com/products/prod-' || (g * 31 % 2000)",
        "customer_email": "CASE WHEN g % 4 = 0 THEN 'customer-' || (g / 7) || '@example.com' END",
        "generated_image_url": "CASE WHEN g % 3 = 0 THEN 'https://img.example.com/g/' || g || '.png' END",
        "user_agent": "'Mozilla/5.0 (X11; Linux x86_64) bench'",
        "session_id": "'session-' || (g / 5)",
        "ip_address": "('198.18.' || ((g / 256) % 256) || '.' || (g % 256))::inet",
        "created_at": "ts",
        "updated_at": "ts",
    }
    columns, values = [], []
    for field in writable_fields(model):
        columns.append(connection.ops.quote_name(field.column))
        values.append(expressions.get(field.column) or _literal(_default_spec(field)))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM "
        f"(SELECT g, now() - interval '1 second' * (g::bigint * 7919 % 31536000) AS ts "
        f"FROM generate_series(@LOW@, @HIGH@) g) s"
    )
    return _load(model._meta.db_table, sql, total)


# --- in-process probes ------------------------------------------------------------------------


def _time_requests(client: Client, url: str, repeat: int, **headers) -> dict:
    """Server time of `repeat` GETs after one warm-up (the Django test client runs the whole stack
    in this process: middleware, view, template, queries); the answer must be 200."""
    try:
        response = client.get(url, **headers)
    except Exception as exc:  # the page is broken: say how, and let the other probes run
        return {"available": False, "reason": f"{url} raised {type(exc).__name__}: {str(exc)[:200]}"}
    if response.status_code == 404:
        return {"available": False, "reason": f"{url} answers 404"}
    if response.status_code != 200:
        return {"available": False, "reason": f"{url} answers {response.status_code}: {response.content[:200]!r}"}
    timings, queries = [], []
    counter = QueryCounter()
    for _ in range(repeat):
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            response = client.get(url, **headers)
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(counter.count)
        assert response.status_code == 200, response.status_code
    return {
        "available": True,
        "url": url,
        "ms": timings,
        "median_ms": round(statistics.median(timings), 1),
        "min_ms": round(min(timings), 1),
        "max_ms": round(max(timings), 1),
        "queries": queries[-1],
        "bytes": len(response.content),
        "slowest": counter.report(),
    }


class QueryCounter:
    """Counts the statements and keeps the slowest few, to explain where the time went."""

    KEEP = 3

    def __init__(self):
        self.count = 0
        self.slowest: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.slowest.append((time.perf_counter() - started, sql, params))
            self.slowest = sorted(self.slowest, key=lambda item: item[0], reverse=True)[: self.KEEP]

    def report(self, explain: bool = True) -> list[dict]:
        """The slowest statements, with plans: the slowest SELECT with EXPLAIN ANALYZE (run once
        more), the slowest statement overall, when it writes, with a plain EXPLAIN (not run)."""
        rows, analysed = [], False
        for position, (seconds, sql, params) in enumerate(self.slowest):
            row = {"ms": round(seconds * 1000, 1), "sql": " ".join(sql.split())[:600]}
            is_select = sql.lstrip().upper().startswith("SELECT")  # WITH … may write: never ANALYZE it
            if explain and is_select and not analysed:
                analysed = True
                row["plan"] = self._explain("EXPLAIN (ANALYZE, BUFFERS) ", sql, params)
            elif explain and position == 0 and not is_select:
                row["plan"] = self._explain("EXPLAIN ", sql, params)
            rows.append(row)
        return rows

    @staticmethod
    def _explain(prefix: str, sql: str, params) -> list[str]:
        try:
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql, params)
                return [line for (line,) in cursor.fetchall()][:60]
        except Exception as exc:  # a plan is a bonus: never lose the measurement for it
            return [f"EXPLAIN failed: {type(exc).__name__}: {exc}"]


def cmd_probe(args):
    """Admin changelist, abandoned report, active carts, analytics: server time in-process."""
    from carts.models import Store

    repeat = args.get("repeat", 5)
    staff = Client()
    staff.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
    store = Store.objects.get(name=store_name(0))
    results = {}
    wanted = args.get("what") or ["admin_changelist", "abandoned_report", "carts_active", "analytics"]
    if "admin_changelist" in wanted:
        results["admin_changelist"] = _time_requests(staff, "/admin/carts/cart/", repeat)
    if "abandoned_report" in wanted:
        results["abandoned_report"] = _time_requests(staff, "/admin/carts/abandoned-report/", repeat)
    if "carts_active" in wanted:
        results["carts_active"] = _time_requests(staff, f"/api/carts/active?store={store.name}", repeat)
        if results["carts_active"].get("available"):
            body = staff.get(f"/api/carts/active?store={store.name}").json()
            results["carts_active"]["rows"] = len(body) if isinstance(body, list) else None
    if "analytics" in wanted:
        today = timezone.now().date()
        url = f"/api/cart-tracking/analytics?from={today - timedelta(days=29)}&to={today}"
        results["analytics"] = _time_requests(Client(), url, repeat, HTTP_AUTHORIZATION=f"Bearer {args['secret_key']}")
    return results


# --- the abandonment sweep --------------------------------------------------------------------


def _sweep_function():
    try:
        services = importlib.import_module("notifications.services")
    except ImportError as exc:
        return None, f"notifications.services does not import: {exc}"
    sweep_run = getattr(services, "sweep_run", None)
    if sweep_run is None:
        return None, "notifications.services.sweep_run does not exist"
    return sweep_run, ""


def _stub_delivery() -> list[str]:
    """Makes every reminder channel's send() succeed at once; returns the stubbed class names."""
    channels = importlib.import_module("notifications.channels")
    result_class = getattr(channels, "SendResult", None)
    if result_class is None:
        return []
    stubbed = []
    for name, value in vars(channels).items():
        if inspect.isclass(value) and callable(getattr(value, "send", None)) and value.__module__ == channels.__name__:
            value.send = lambda self, reminder, _result=result_class: _result(
                provider_message_id=f"bench-{getattr(reminder, 'message_id', '')}"
            )
            stubbed.append(name)
    return stubbed


def cmd_sweep(args):
    """One sweep over the whole dataset: time, carts claimed, queries, batches, peak memory.

    mode "scan_claim": the sweep as the hourly task runs it, claiming only (`deliver=False`; the
    task queues the delivery per batch): scan + claim + the sweep's own bookkeeping. Then, apart,
    the delivery step over up to 10,000 of the claimed messages, with `send()` of every channel
    class in notifications.channels answering success at once ("delivery": links, result rows).
    mode "send": the real delivery of one claimed batch (the first batch that claims messages),
    e-mail through Django's dummy backend and WhatsApp off: the cost per message of rendering and
    handing over a reminder."""
    sweep_run, reason = _sweep_function()
    if sweep_run is None:
        return {"available": False, "reason": reason}
    if args.get("mode", "scan_claim") == "scan_claim":
        stubbed = _stub_delivery()
        if not stubbed:
            return {"available": False, "reason": "no channel with a send() in notifications.channels to stub"}
    parameters = inspect.signature(sweep_run).parameters
    kwargs = {name: value for name, value in (args.get("kwargs") or {}).items() if name in parameters}
    # The sweep claims; delivery is a step of its own (the beat task queues a delivery task per
    # batch). scan_claim measures the claim as production runs it, and the delivery apart below.
    separate_delivery = args.get("mode", "scan_claim") == "scan_claim" and "deliver" in parameters
    if separate_delivery:
        kwargs["deliver"] = False
    if args.get("mode") == "send" and "deliver" in parameters:
        return _sweep_send_batch(sweep_run, kwargs)
    baseline_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = sweep_run(**kwargs)
    elapsed = time.perf_counter() - started
    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from notifications.models import ReminderMessage

    claimed = ReminderMessage.objects.count()
    delivery = None
    if separate_delivery:
        # Delivery of claimed messages (send() answering at once), on up to 10,000 of them.
        deliver_pending = importlib.import_module("notifications.services").reminders_deliver_pending
        delivery_started = time.perf_counter()
        delivered = deliver_pending(batch_size=kwargs.get("batch_size", 1000), limit=10_000)
        delivery_seconds = time.perf_counter() - delivery_started
        sent = delivered.first_sent + delivered.second_sent
        delivery = {
            "messages": sent,
            "seconds": round(delivery_seconds, 3),
            "per_s": round(sent / delivery_seconds) if delivery_seconds else None,
        }
    processed = getattr(result, "processed", None)
    batches = getattr(result, "batches", None)
    return {
        "available": True,
        "mode": args.get("mode", "scan_claim"),
        "kwargs": kwargs,
        "seconds": round(elapsed, 3),
        "claimed_rows": claimed,
        "claimed_per_s": round(claimed / elapsed) if elapsed else None,
        "processed": processed,
        "processed_per_s": round(processed / elapsed) if processed and elapsed else None,
        "batches": batches,
        "queries": counter.count,
        "queries_per_batch": round(counter.count / batches, 1) if batches else None,
        "slowest": counter.report(explain=args.get("explain", False)),
        "sent": (getattr(result, "first_sent", 0) or 0) + (getattr(result, "second_sent", 0) or 0),
        "errors": getattr(result, "errors", None),
        "baseline_rss_mb": round(baseline_rss_kb / 1024, 1),
        "peak_rss_mb": round(peak_rss_kb / 1024, 1),
        "rss_growth_mb": round((peak_rss_kb - baseline_rss_kb) / 1024, 1),
        "delivery": delivery,
    }


def _sweep_send_batch(sweep_run, kwargs) -> dict:
    """mode "send" when the sweep claims and delivery sends apart: claim-only batches (not timed)
    until one claims messages, then the real delivery of that batch, timed (rendering, e-mail to
    Django's dummy backend)."""
    services = importlib.import_module("notifications.services")
    claimed: list[int] = []
    cursor = None
    while not claimed:
        options = {**kwargs, "deliver": False, "on_claimed": claimed.extend, "single_batch": True, "cursor": cursor}
        cursor = sweep_run(**options).next_cursor
        if cursor is None:
            break
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = services.reminders_deliver(message_ids=claimed)
    elapsed = time.perf_counter() - started
    return {
        "available": True,
        "mode": "send",
        "kwargs": kwargs,
        "seconds": round(elapsed, 3),
        "claimed_rows": len(claimed),
        "sent": result.first_sent + result.second_sent,
        "errors": result.errors,
        "queries": counter.count,
    }


def cmd_versions(args):
    import gunicorn

    return {"django": django.get_version(), "gunicorn": gunicorn.__version__, "settings": settings.SETTINGS_MODULE}


def cmd_setup_all(args):
    """setup + versions in one process (each Django start costs seconds on a busy machine)."""
    return {**cmd_setup(args), "versions": cmd_versions(args)}


def cmd_carts_and_probes(args):
    return {"build": cmd_build_carts(args), "probes": cmd_probe(args) if args.get("what") else {}}


def cmd_events_and_probe(args):
    return {"build": cmd_build_events(args), "probes": cmd_probe(args)}


COMMANDS = {
    "setup": cmd_setup,
    "build-carts": cmd_build_carts,
    "build-events": cmd_build_events,
    "probe": cmd_probe,
    "sweep": cmd_sweep,
    "versions": cmd_versions,
    "setup-all": cmd_setup_all,
    "carts-and-probes": cmd_carts_and_probes,
    "events-and-probe": cmd_events_and_probe,
}

if __name__ == "__main__":
    command = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(COMMANDS[command](arguments), default=str))
