"""bench/loadmix/run: mixed traffic against the real stack, then count what was lost or doubled.

Everything on 127.0.0.1 and bounded in time: a database of its own (created, migrated, dropped),
a Redis database of its own, gunicorn with the production settings (DEBUG off), one Celery
worker on every queue, a fake Stripe API and a fake WhatsApp Cloud API (the test suite's), and a
real SMTP sink (aiosmtpd). Client threads send a weighted mix for `--duration` seconds:

    cart syncs (first syncs and updates, some with contact and consent), and erasure requests
    single tracking events and bulk calls of 10
    checkouts for synced carts, each completed by a signed webhook (some delivered twice)
    reads: a session's cart and the staff live view
    abandonment sweeps: on the Celery worker every `--sweep-every` seconds, and one at a time
    through the staff endpoint, racing it, over carts prepared to be due

At the end it counts, from the database and the fakes: 5xx answers, events acknowledged (200 with
ids) against rows stored, carts created (201) against cart rows and open-cart duplicates, Stripe
events and conversions against webhooks sent, reminders recorded against messages the fake
providers received. Results go to bench/loadmix/.work/result.json and stdout.

    bench/loadmix/run [--duration 180] [--clients 8] [--keep]
"""

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(__file__).resolve().parent / ".work"
sys.path.insert(0, str(ROOT))

DB_NAME = "cartsite_loadmix"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own: the run flushes it
WEBHOOK_SECRET = "whsec_loadmix"
STORE = "loadmix.example.com"

MIX = [  # (kind, weight)
    ("sync", 40),
    ("track", 30),
    ("bulk", 8),
    ("checkout", 5),
    ("cart_get", 7),
    ("active", 3),
    ("sync_customer", 7),
    ("erase", 1),
]


def log(message: str) -> None:
    print(f"[loadmix {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_recreate() -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB_NAME}")


def database_drop() -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


class Fakes:
    """The fake Stripe and WhatsApp APIs and a real SMTP sink, in this process."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        from tests.fakes.stripe_server import FakeStripe
        from tests.fakes.whatsapp_server import FakeWhatsApp

        self.stripe = FakeStripe().start()
        self.whatsapp = FakeWhatsApp().start()
        self.mail_recipients: list[str] = []
        self.mail_lock = threading.Lock()
        fakes = self

        class Sink:
            async def handle_DATA(self, server, session, envelope):
                with fakes.mail_lock:
                    fakes.mail_recipients.extend(envelope.rcpt_tos)
                return "250 OK"

        self.smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
        self.smtp.start()

    def stop(self):
        self.stripe.stop()
        self.whatsapp.stop()
        self.smtp.stop()


def environment(port: int, fakes: Fakes) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cartsite.settings",
        "DEBUG": "false",
        "DEMO_MODE": "false",
        "SECRET_KEY": "loadmix-" + secrets.token_hex(16),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": "loadmix",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SITE_URL": f"http://127.0.0.1:{port}",
        # The load comes from 127.0.0.1 on behalf of many shoppers (X-Forwarded-For), as from a proxy.
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "STRIPE_SECRET_KEY": "sk_test_loadmix",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fakes.stripe.base_url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "WHATSAPP_API_BASE": fakes.whatsapp.base_url,
        "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
        "WHATSAPP_ACCESS_TOKEN": "EAALOADMIX",
        "EMAIL_URL": f"smtp://127.0.0.1:{fakes.smtp.port}",
        "LOG_LEVEL": "WARNING",
        "CARTS_PER_STORE_PER_HOUR": "0",
        "MESSAGES_PER_STORE_PER_DAY": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_LOGLEVEL": "warning",
    }


def setup_data(env: dict, due_carts: int) -> dict:
    """Migrates, makes the store, a staff token and carts already due for stage 1 reminders."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)  # this process reads the same settings, to prepare and to count
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from carts.models import Cart, StoreMembership
    from carts.services import store_create

    cache.clear()
    keys = store_create(name=STORE, currency="EUR")
    staff = get_user_model().objects.create_user("loadmix-staff", password=secrets.token_hex(8), is_staff=True)
    StoreMembership.objects.create(user=staff, store=keys.store)
    token = Token.objects.create(user=staff).key
    now = timezone.now()
    Cart.objects.bulk_create(
        [
            Cart(
                store=keys.store,
                session_token=f"due-{i}",
                items=[{"productId": "sku-due", "quantity": 1, "price": 20}],
                total=20,
                item_count=1,
                currency="EUR",
                email=f"due{i}@example.com",
                phone=f"+49151{i:08d}",
                first_name="Due",
                email_consent=True,
                whatsapp_consent=True,
                created_at=now - timedelta(hours=31),
                last_activity_at=now - timedelta(hours=30),
            )
            for i in range(due_carts)
        ]
    )
    return {"pk": keys.publishable_key, "sk": keys.secret_key, "staff": token}


def wait_for(port: int, path: str = "/readyz", timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{path} did not answer 200 within {timeout} s")


class Ledger:
    """What the clients saw, shared by all client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()  # (kind, status)
        self.errors: Counter = Counter()  # transport errors by kind
        self.event_ids: list[str] = []
        self.carts_created: list[str] = []
        self.synced_sessions: list[str] = []
        self.webhooks_sent: Counter = Counter()  # event id -> deliveries
        self.webhook_statuses: Counter = Counter()
        self.completed_checkouts: set[str] = set()
        self.latencies: defaultdict = defaultdict(list)
        self.server_errors: list[tuple] = []


class Client(threading.Thread):
    def __init__(self, index, port, keys, fakes, ledger, stop_at, sessions):
        super().__init__(daemon=True)
        self.port, self.keys, self.fakes, self.ledger = port, keys, fakes, ledger
        self.stop_at, self.sessions = stop_at, sessions
        self.random = random.Random(index)
        self.connection = None
        self.kinds = [kind for kind, weight in MIX for _ in range(weight)]

    def request(self, kind, method, path, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes | str) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        headers["X-Forwarded-For"] = f"10.{self.random.randrange(256)}.{self.random.randrange(256)}.7"
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = HTTPConnection("127.0.0.1", self.port, timeout=30)
                started = time.perf_counter()
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                break
            except (OSError, ConnectionError) as exc:
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                if attempt == 1:
                    with self.ledger.lock:
                        self.ledger.errors[(kind, type(exc).__name__)] += 1
                    return None, None
        with self.ledger.lock:
            self.ledger.statuses[(kind, response.status)] += 1
            self.ledger.latencies[kind].append(elapsed)
            if response.status >= 500:
                self.ledger.server_errors.append((kind, response.status, payload[:300].decode(errors="replace")))
        try:
            return response.status, json.loads(payload or b"null")
        except ValueError:
            return response.status, None

    def storefront(self):
        return {"X-Store-Key": self.keys["pk"]}

    def merchant(self):
        return {"Authorization": f"Bearer {self.keys['sk']}"}

    def item(self):
        n = self.random.randrange(1, 50)
        return {"productId": f"sku-{n}", "quantity": self.random.randrange(1, 4), "price": n + 0.5, "title": "Thing"}

    def run(self):
        while time.time() < self.stop_at:
            getattr(self, "do_" + self.random.choice(self.kinds))()

    def do_sync(self, customer=None):
        session = self.random.choice(self.sessions)
        body = {"session_token": session, "items": [self.item() for _ in range(self.random.randrange(1, 5))]}
        if customer:
            body["customer"] = customer
        status, answer = self.request("sync", "POST", "/cart/sync", body, self.storefront())
        if status == 201:
            with self.ledger.lock:
                self.ledger.carts_created.append(answer["cart_id"])
        if status in (200, 201):
            with self.ledger.lock:
                self.ledger.synced_sessions.append(session)

    def do_sync_customer(self):
        n = self.random.randrange(100000)
        self.do_sync(
            {
                "email": f"shopper{n}@example.com",
                "phone": f"+49160{n:07d}",
                "first_name": "Sam",
                "marketing_consent": {"email": True, "whatsapp": self.random.random() < 0.5},
            }
        )

    def event(self):
        return {
            "storeName": STORE,
            "productId": f"sku-{self.random.randrange(50)}",
            "productTitle": "Thing",
            "sessionId": self.random.choice(self.sessions),
        }

    def do_track(self):
        status, answer = self.request("track", "POST", "/api/cart-tracking/track", self.event(), self.storefront())
        if status == 200:
            with self.ledger.lock:
                self.ledger.event_ids.append(answer["data"]["id"])

    def do_bulk(self):
        body = {"events": [self.event() for _ in range(10)]}
        status, answer = self.request("bulk", "POST", "/api/cart-tracking/track/bulk", body, self.storefront())
        if status == 200:
            with self.ledger.lock:
                self.ledger.event_ids.extend(answer["data"]["ids"])

    def do_erase(self):
        """A merchant's erasure request for a shopper who may be syncing at this moment."""
        n = self.random.randrange(100000)
        self.request("erase", "POST", "/api/privacy/erasure", {"email": f"shopper{n}@example.com"}, self.merchant())

    def do_cart_get(self):
        self.request("cart_get", "GET", f"/api/carts/{self.random.choice(self.sessions)}", None, self.storefront())

    def do_active(self):
        self.request("active", "GET", "/api/carts/active", None, {"Authorization": f"Token {self.keys['staff']}"})

    def do_checkout(self):
        with self.ledger.lock:
            if not self.ledger.synced_sessions:
                return
            session = self.random.choice(self.ledger.synced_sessions[-200:])
        body = {
            "session_token": session,
            "successUrl": "https://shop.example/ok",
            "cancelUrl": "https://shop.example/x",
        }
        status, answer = self.request("checkout", "POST", "/api/payments/create-checkout", body, self.merchant())
        if status != 200:
            return
        from tests.fakes.stripe_server import sign_webhook

        stripe_session_id = answer["stripeSessionId"]
        try:
            self.fakes.stripe.complete_session(stripe_session_id)
        except KeyError:
            return
        event = self.fakes.stripe.event_for("checkout.session.completed", stripe_session_id)
        payload = json.dumps(event)
        deliveries = 2 if self.random.random() < 0.25 else 1  # Stripe delivers some events twice
        for _ in range(deliveries):
            headers = {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET)}
            status, _answer = self.request("webhook", "POST", "/api/payments/webhook", payload, headers)
            with self.ledger.lock:
                self.ledger.webhooks_sent[event["id"]] += 1
                self.ledger.webhook_statuses[status] += 1
                if status == 200:
                    self.ledger.completed_checkouts.add(answer["checkoutSessionId"])


def sweeper(port, keys, stop_at, every, outcomes):
    """Sweeps on the Celery worker every `every` seconds, and one through the staff endpoint."""
    from cartsite.celery import app

    results = []
    http_done = False
    next_at = time.time() + 5
    while time.time() < stop_at:
        if time.time() >= next_at:
            results.append(app.send_task("notifications.tasks.abandonment_sweep", queue="notifications"))
            if not http_done:  # a second sweep at the same moment, through the API
                http_done = True
                connection = HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request(
                    "POST",
                    "/admin/cart-abandonment/process",
                    body=json.dumps({"batchSize": 50, "singleBatch": True}),
                    headers={"Authorization": f"Token {keys['staff']}", "Content-Type": "application/json"},
                )
                response = connection.getresponse()
                outcomes.append({"via": "http", "status": response.status, "body": json.loads(response.read())})
            next_at = time.time() + every
        time.sleep(0.5)
    for result in results:
        try:
            outcomes.append({"via": "celery", "result": result.get(timeout=120)})
        except Exception as exc:
            outcomes.append({"via": "celery", "error": f"{type(exc).__name__}: {exc}"})


def count(keys, ledger: Ledger, fakes: Fakes, sweeps: list) -> dict:
    from django.db import connection
    from django.db.models import Count

    from carts.models import Cart
    from notifications.models import ReminderMessage
    from payments.models import CheckoutSession, StripeEvent
    from tracking.models import CartTrackingEvent

    connection.close()
    acknowledged = set(ledger.event_ids)
    stored = set(CartTrackingEvent.objects.values_list("id", flat=True))
    carts = Cart.objects.exclude(session_token__startswith="due-")
    duplicate_open = (
        Cart.objects.open().values("store_id", "session_token").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    sent = ReminderMessage.objects.filter(status="sent")
    whatsapp_to = Counter(r.body.get("to") for r in fakes.whatsapp.requests)
    mail_to = Counter(fakes.mail_recipients)
    server_errors = sum(n for (_kind, status), n in ledger.statuses.items() if status >= 500)
    by_status: Counter = Counter()
    for (_kind, status), n in ledger.statuses.items():
        by_status[str(status)] += n
    return {
        "requests": sum(ledger.statuses.values()),
        "by_status": dict(sorted(by_status.items())),
        "by_kind": {
            kind: {str(status): n for (k, status), n in sorted(ledger.statuses.items()) if k == kind}
            for kind in sorted({k for k, _ in ledger.statuses})
        },
        "latency_p50_p99_ms": {
            kind: [round(1000 * sorted(v)[len(v) // 2], 1), round(1000 * sorted(v)[int(len(v) * 0.99) - 1], 1)]
            for kind, v in ledger.latencies.items()
            if v
        },
        "transport_errors": {f"{k}:{e}": n for (k, e), n in ledger.errors.items()},
        "server_errors": server_errors,
        "server_error_samples": ledger.server_errors[:10],
        "events_acknowledged": len(ledger.event_ids),
        "events_acknowledged_unique": len(acknowledged),
        "events_stored": len(stored),
        "events_lost": len(acknowledged - stored),
        "events_unacknowledged_rows": len(stored - acknowledged),
        "carts_created_201": len(ledger.carts_created),
        "cart_rows": carts.count(),
        "cart_ids_unique": len(set(ledger.carts_created)),
        "duplicate_open_carts": duplicate_open,
        "webhook_deliveries": sum(ledger.webhooks_sent.values()),
        "webhook_events_unique": len(ledger.webhooks_sent),
        "webhook_statuses": {str(k): v for k, v in ledger.webhook_statuses.items()},
        "stripe_events_stored": StripeEvent.objects.count(),
        "checkouts_completed": CheckoutSession.objects.filter(status="completed").count(),
        "carts_converted": Cart.objects.filter(converted_at__isnull=False).count(),
        "reminders_sent": {channel: sent.filter(channel=channel).count() for channel in ("email", "whatsapp")},
        "reminder_rows_by_status": dict(
            ReminderMessage.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        ),
        "whatsapp_received": sum(whatsapp_to.values()),
        "whatsapp_recipients_twice": sum(1 for n in whatsapp_to.values() if n > 1),
        "mail_received": sum(mail_to.values()),
        "mail_recipients_twice": sum(1 for n in mail_to.values() if n > 1),
        "sweeps": sweeps,
    }


def markdown(result: dict, verdict: dict, args) -> str:
    """bench/RELIABILITY.md from one run's result."""
    by_kind = result["by_kind"]
    lines = [
        "# Reliability under load",
        "",
        'Written by `bench/loadmix/run` (method: docs/reliability.md "Load"; code: bench/loadmix/loadmix.py).',
        f"Run finished {result['finished_at']} on {os.cpu_count()} cores shared with PostgreSQL, Redis, the",
        "Celery worker, the fakes and the load generator itself (all on 127.0.0.1).",
        "",
        f"    bench/loadmix/run --duration {args.duration} --clients {args.clients} --due-carts {args.due_carts}"
        f" --sweep-every {args.sweep_every}",
        "",
        "Stack: gunicorn (2 gthread workers x 4 threads, production settings, DEBUG off), PostgreSQL,",
        "Redis (cache, rate limits, broker), one Celery worker on every queue, the test suite's fake",
        "Stripe and WhatsApp APIs, an aiosmtpd SMTP sink.",
        "",
        "## Verdict",
        "",
        "| property | holds |",
        "| --- | --- |",
        *[f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in verdict.items()],
        "",
        "## Traffic",
        "",
        f"{result['requests']} requests in {result['duration_s']} s ({result['requests_per_s']} req/s) from"
        f" {result['clients']} client threads; transport errors: {sum(result['transport_errors'].values())}.",
        "",
        "| request | answers | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
    ]
    for kind, statuses in by_kind.items():
        p50, p99 = result["latency_p50_p99_ms"].get(kind, ["-", "-"])
        answers = ", ".join(f"{n} x {status}" for status, n in statuses.items())
        lines.append(f"| {kind} | {answers} | {p50} | {p99} |")
    sweeps = result["sweeps"]
    lines += [
        "",
        "`sync` includes syncs carrying contact and consent; `checkout` is create-checkout for a",
        "synced cart, each completed at the fake Stripe and announced by a signed webhook, a quarter of",
        "them delivered twice. 404s are reads of sessions with no open cart (converted or never synced).",
        "",
        "## Counts",
        "",
        "| what | count |",
        "| --- | --- |",
        f"| 5xx answers | {result['server_errors']} |",
        f"| tracking events acknowledged (200, ids) | {result['events_acknowledged']}"
        f" ({result['events_acknowledged_unique']} distinct ids) |",
        f"| tracking event rows stored | {result['events_stored']} |",
        f"| acknowledged events missing / rows never acknowledged | {result['events_lost']}"
        f" / {result['events_unacknowledged_rows']} |",
        f"| carts created (201) / cart rows / distinct cart ids | {result['carts_created_201']}"
        f" / {result['cart_rows']} / {result['cart_ids_unique']} |",
        f"| sessions with two open carts | {result['duplicate_open_carts']} |",
        f"| webhook deliveries / distinct events / events stored | {result['webhook_deliveries']}"
        f" / {result['webhook_events_unique']} / {result['stripe_events_stored']} |",
        f"| checkout sessions completed / carts converted | {result['checkouts_completed']}"
        f" / {result['carts_converted']} |",
        f"| reminders recorded sent (e-mail / WhatsApp) | {result['reminders_sent']['email']}"
        f" / {result['reminders_sent']['whatsapp']} |",
        f"| messages the SMTP sink / fake WhatsApp received | {result['mail_received']}"
        f" / {result['whatsapp_received']} |",
        f"| recipients messaged twice (e-mail / WhatsApp) | {result['mail_recipients_twice']}"
        f" / {result['whatsapp_recipients_twice']} |",
        f"| reminder rows by status | {result['reminder_rows_by_status']} |",
        "",
        "## Sweeps",
        "",
        f"{len(sweeps)} sweeps ran during the traffic: on the Celery worker every {args.sweep_every} s, and one",
        "through `POST /admin/cart-abandonment/process` at the same moment as the first Celery sweep,",
        f"over {args.due_carts} carts prepared to be due for stage 1 on both channels.",
        "",
        "| via | outcome |",
        "| --- | --- |",
    ]
    for sweep in sweeps:
        body = sweep.get("body") or sweep.get("result") or {}
        if sweep.get("error"):
            outcome = sweep["error"]
        elif "skipped" in body and isinstance(body["skipped"], str):
            outcome = body["skipped"]
        else:
            outcome = (
                f"processed {body.get('processed')}, sent {body.get('firstSent')} + {body.get('secondSent')},"
                f" errors {body.get('errors')}"
            )
        lines.append(f"| {sweep['via']} | {outcome} |")
    if result["server_error_samples"]:
        lines += ["", "## 5xx samples", ""] + [f"- `{sample}`" for sample in result["server_error_samples"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=180, help="seconds of traffic (default 180)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--sessions", type=int, default=3000, help="storefront sessions to draw from")
    parser.add_argument("--due-carts", type=int, default=300, help="carts due for a reminder at the start")
    parser.add_argument("--sweep-every", type=int, default=45, help="seconds between Celery sweeps")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--write", action="store_true", help="write the figures to bench/RELIABILITY.md")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    port = free_port()
    fakes = Fakes()
    env = environment(port, fakes)
    processes = []
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    database_recreate()
    try:
        log(f"database {DB_NAME}: migrate, store, {args.due_carts} due carts")
        keys = setup_data(env, args.due_carts)
        log(f"gunicorn on 127.0.0.1:{port} (2 workers x 4 threads), one Celery worker")
        with (WORK / "gunicorn.log").open("w") as gunicorn_log, (WORK / "celery.log").open("w") as celery_log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "cartsite.wsgi"],
                    cwd=ROOT,
                    env=env,
                    stdout=gunicorn_log,
                    stderr=subprocess.STDOUT,
                )
            )
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "cartsite", "worker", "-c", "1", "-l", "WARNING"]
                    + ["-Q", "default,tracking,payments,notifications", "--without-gossip", "--without-mingle"],
                    cwd=ROOT,
                    env=env,
                    stdout=celery_log,
                    stderr=subprocess.STDOUT,
                )
            )
            wait_for(port)
            ledger = Ledger()
            sessions = [f"lm-{uuid.uuid4().hex[:16]}" for _ in range(args.sessions)]
            started = time.time()
            stop_at = started + args.duration
            log(f"traffic: {args.clients} clients for {args.duration} s")
            clients = [Client(i, port, keys, fakes, ledger, stop_at, sessions) for i in range(args.clients)]
            sweeps: list = []
            sweep_thread = threading.Thread(target=sweeper, args=(port, keys, stop_at, args.sweep_every, sweeps))
            for thread in [*clients, sweep_thread]:
                thread.start()
            for thread in clients:
                thread.join()
            elapsed = time.time() - started
            sweep_thread.join(timeout=180)
            log("traffic done; counting")
            result = count(keys, ledger, fakes, sweeps)
            result.update(
                {
                    "duration_s": round(elapsed, 1),
                    "clients": args.clients,
                    "requests_per_s": round(result["requests"] / elapsed, 1),
                    "finished_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                }
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        fakes.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database_drop()
    (WORK / "result.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    verdict = {
        "zero 5xx": result["server_errors"] == 0,
        "zero lost events": result["events_lost"] == 0 and result["events_unacknowledged_rows"] == 0,
        "zero duplicate carts": result["duplicate_open_carts"] == 0
        and result["cart_rows"] == result["carts_created_201"] == result["cart_ids_unique"],
        "zero duplicate messages": result["whatsapp_recipients_twice"] == 0
        and result["mail_recipients_twice"] == 0
        and result["whatsapp_received"] == result["reminders_sent"]["whatsapp"]
        and result["mail_received"] == result["reminders_sent"]["email"],
        "webhooks stored once": result["stripe_events_stored"] == result["webhook_events_unique"],
    }
    log("verdict: " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in verdict.items()))
    (WORK / "RELIABILITY.md").write_text(markdown(result, verdict, args))
    if args.write:
        (ROOT / "bench" / "RELIABILITY.md").write_text(markdown(result, verdict, args))
        log("wrote bench/RELIABILITY.md")
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
