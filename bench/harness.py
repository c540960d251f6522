"""bench/run: the project's hot paths against this machine's own ceiling, in one run.

Builds its own PostgreSQL database (created, migrated with the project's migrations, dropped),
starts gunicorn with the production settings (cartsite.settings, DEBUG off) and, under the same
gunicorn settings, the raw WSGI ceiling app (bench/ceiling_app.py), loads both from a separate
process (wrk, loopback only, bounded in time), builds the large datasets in SQL
(generate_series), times the admin pages, analytics and live carts in-process, runs the
abandonment sweep at two scales, and writes bench/RESULTS.md (or bench/.work/ for --smoke).

    bench/run                 the full run (about 15 minutes on 2 cores)
    bench/run --smoke         every benchmark once on tiny data, well under a minute (CI)
    bench/run --only track,sync,config --keep
"""

import argparse
import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.report import render

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# BENCH_WORK / BENCH_DATABASE: a separate work folder and database, so two runs can coexist
# (say, one engineer profiling the sweep while another measures the HTTP paths).
WORK = Path(os.environ.get("BENCH_WORK") or BENCH / ".work")
VENV_BIN = Path(sys.executable).parent
PG = {"host": os.environ.get("BENCH_PGHOST", "127.0.0.1"), "port": os.environ.get("BENCH_PGPORT", "5432")}
PG_USER = os.environ.get("BENCH_PGUSER", "postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

BENCHMARKS = [
    "track",
    "track_bulk",
    "cart_sync",
    "sweep",
    "admin_changelist",
    "abandoned_report",
    "analytics",
    "carts_active",
    "config",
]


@dataclass
class Profile:
    name: str
    database: str
    runs: int
    duration: int  # seconds of wrk load per run of the track benchmark (issue 8: 15 s)
    short_duration: int  # bulk, cart sync and COPY runs (issue 8 fixes no duration for them)
    warmup: int
    connections: int
    bulk_connections: int
    bulk_batch: int
    sync_tokens: int
    carts_total: int
    carts_small: int  # the smaller sweep dataset, for "memory the same at both scales"
    live_carts: int
    events_total: int
    probe_repeat: int
    config_duration: int
    cpu_requests: int  # requests per in-process CPU measurement (bench/cpu_probe.py)
    cpu_warmup: int
    configs: list = field(default_factory=list)


FULL = Profile(
    name="full",
    database="cartsite_bench",
    runs=3,
    duration=15,
    short_duration=10,
    warmup=2,
    connections=32,
    bulk_connections=4,
    bulk_batch=1000,
    sync_tokens=20_000,
    carts_total=1_000_000,
    carts_small=100_000,
    live_carts=10_000,
    events_total=10_000_000,
    probe_repeat=5,
    config_duration=10,
    cpu_requests=3000,
    cpu_warmup=300,
    configs=[
        {"worker_class": "sync", "workers": 2, "threads": 1, "conn_max_age": 60},
        {"worker_class": "sync", "workers": 4, "threads": 1, "conn_max_age": 60},
        {"worker_class": "gthread", "workers": 2, "threads": 4, "conn_max_age": 60},
        {"worker_class": "gthread", "workers": 2, "threads": 8, "conn_max_age": 60},
        {"worker_class": "gthread", "workers": 4, "threads": 4, "conn_max_age": 60},
        {"worker_class": "gthread", "workers": 2, "threads": 4, "conn_max_age": 0},
        {"worker_class": "gthread", "workers": 2, "threads": 4, "conn_max_age": 0, "pool": True},
        {"worker_class": "sync", "workers": 4, "threads": 1, "conn_max_age": 60, "health_checks": False},
    ],
)
SMOKE = Profile(
    name="smoke",
    database="cartsite_bench_smoke",
    runs=1,
    duration=1,
    short_duration=1,
    warmup=0,
    connections=8,
    bulk_connections=2,
    bulk_batch=100,
    sync_tokens=200,
    carts_total=4_000,
    carts_small=1_000,
    live_carts=100,
    events_total=20_000,
    probe_repeat=1,
    config_duration=1,
    cpu_requests=40,
    cpu_warmup=4,
    # A connection per request and Django's psycopg pool: the two variants whose settings differ
    # from production's, so CI proves they still start and answer.
    configs=[
        {"worker_class": "sync", "workers": 2, "threads": 1, "conn_max_age": 0},
        {"worker_class": "gthread", "workers": 1, "threads": 2, "conn_max_age": 0, "pool": True},
    ],
)

TARGETS = {
    "track": "≥ 0.75 × ceiling req/s; p99 ≤ 2 × ceiling p99; zero errors; every 200 a committed row",
    "track_bulk": "≥ 0.6 × raw COPY rows/s",
    "cart_sync": "≥ 0.75 × raw upsert req/s; zero duplicate open carts",
    "sweep": "scan + claim ≥ 20,000 carts/s; peak memory equal (±10 %) at both scales; queries ∝ batches",
    "admin_changelist": "< 300 ms server time on 1,000,000 carts",
    "abandoned_report": "< 1 s server time on 1,000,000 carts",
    "analytics": "< 1 s (30 days, one store, 10,000,000 events)",
    "carts_active": "< 100 ms with 10,000 live carts in one store",
    "config": "choose gunicorn sync/gthread, workers, threads, CONN_MAX_AGE by measurement",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- environment ------------------------------------------------------------------------------


def ensure_tools() -> None:
    subprocess.run([str(ROOT / "scripts" / "services")], check=True)
    if shutil.which("wrk") is None:
        log("installing wrk (Debian package)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL)


def dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG['host']}:{PG['port']}/{database}"


def admin_execute(sql: str) -> None:
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, profile: Profile, only: set[str], keep: bool):
        self.profile = profile
        self.only = only
        self.keep = keep
        self.results: dict = {"benchmarks": {}, "data": {}, "errors": {}}
        self.output: Path | None = None
        self.deadline: dt.datetime | None = None
        self.processes: list[subprocess.Popen] = []
        self.prefix = f"bench-{secrets.token_hex(4)}"
        WORK.mkdir(parents=True, exist_ok=True)
        self.plan_path = WORK / f"ceiling-plan-{profile.name}.json"
        self.logs = WORK / f"logs-{profile.name}"
        self.logs.mkdir(exist_ok=True)
        self.env = self._env()
        self.ip_offset = 0

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only

    def _env(self, conn_max_age: int = 60) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TEST_DATABASE", "PYTEST", "GUNICORN_", "WEB_CONCURRENCY", "DJANGO_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "cartsite.settings",
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
                "DATABASE_URL": dsn(self.profile.database),
                "CONN_MAX_AGE": str(conn_max_age),
                "REDIS_URL": REDIS_URL,
                "CACHE_KEY_PREFIX": self.prefix,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
                "TRUSTED_PROXIES": "127.0.0.1/32",
                "SITE_URL": "http://127.0.0.1:8000",
                "EMAIL_URL": "dummymail://",
                # A closed port: a WhatsApp send fails at once instead of leaving the machine.
                "WHATSAPP_API_BASE": "http://127.0.0.1:9/v21.0",
                "WHATSAPP_PHONE_NUMBER_ID": "bench",
                "WHATSAPP_ACCESS_TOKEN": "bench",
                "LOG_LEVEL": "INFO",
                # One store takes all the load: its hourly cap on created carts (an abuse guard,
                # 10,000 by default) would answer 429 once a fast run passes it. It is still
                # counted in Redis on every creation, as in production; it just never binds.
                "CARTS_PER_STORE_PER_HOUR": str(10**9),
                "PYTHONPATH": str(ROOT),
            }
        )
        return env

    # --- processes ----------------------------------------------------------------------------

    def django(
        self, command: str, arguments: dict | None = None, timeout: int = 1800, extra_env: dict | None = None
    ) -> dict:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "bench.settings_probe", **(extra_env or {})}
        completed = subprocess.run(
            [sys.executable, "-m", "bench.django_side", command, json.dumps(arguments or {})],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (self.logs / f"django-{command}.log").write_text(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            raise RuntimeError(f"bench.django_side {command} failed:\n{completed.stderr[-3000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def gunicorn(self, name: str, app: str, config: dict, extra_env: dict | None = None):
        """Starts gunicorn on a free loopback port; `ready()` waits until it answers."""
        port = free_port()
        env = {
            **self._env(config.get("conn_max_age", 60)),
            **(extra_env or {}),
            "GUNICORN_WORKER_CLASS": config["worker_class"],
            "WEB_CONCURRENCY": str(config["workers"]),
            "GUNICORN_THREADS": str(config["threads"]),
            "GUNICORN_LOGLEVEL": "warning",
        }
        if config.get("pool"):
            env["DJANGO_SETTINGS_MODULE"] = "bench.settings_variant"
            env["BENCH_DB_POOL"] = "1"
        if config.get("health_checks") is False:
            env["CONN_HEALTH_CHECKS"] = "false"
        env["SECRET_KEY"] = self.env["SECRET_KEY"]
        # Production runs with a multi-process metrics directory (see cartsite/metrics.py): one per server.
        prometheus = WORK / f"prometheus-{self.profile.name}-{name}"
        shutil.rmtree(prometheus, ignore_errors=True)
        prometheus.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prometheus)
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", app],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.bench_name = name
        self.processes.append(process)
        return process, f"http://127.0.0.1:{port}"

    def ready(self, process: subprocess.Popen, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{process.bench_name} exited at start; see {self.logs}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # the ceiling answers 404 for GET /healthz: it is up
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{process.bench_name} did not answer within 60 s")

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            started = time.perf_counter()
            process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: nothing is in flight
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the master and its workers
                process.wait()
            log(f"stopped {process.bench_name} in {time.perf_counter() - started:.1f} s")
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)

    # --- load ---------------------------------------------------------------------------------

    def wrk(
        self,
        url: str,
        mode: str,
        path: str,
        *,
        key: str,
        connections: int,
        duration: int,
        prefix: str = "",
        origin: str = "",
    ) -> dict:
        threads = 2
        env = {
            **os.environ,
            "BENCH_MODE": mode,
            "BENCH_PATH": path,
            "BENCH_KEY": key,
            "BENCH_STORE": self.store["name"],
            "BENCH_THREADS": str(threads),
            "BENCH_TOKENS": str(self.profile.sync_tokens),
            "BENCH_PREFIX": prefix or self.prefix,
            "BENCH_IP_OFFSET": str(self.ip_offset),
            "BENCH_BATCH": str(self.profile.bulk_batch),
            "BENCH_ORIGIN": origin,
        }
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
        command += ["-s", str(BENCH / "load.lua"), url + path]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")]
        if completed.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
        data = json.loads(lines[-1].removeprefix("BENCH_JSON "))
        self.ip_offset += data["requests"] + connections
        seconds = data["duration_us"] / 1e6
        statuses = {int(k): v for k, v in data["statuses"].items()}
        ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
        errors = data["errors"]
        return {
            "requests": data["requests"],
            "seconds": round(seconds, 3),
            "req_per_s": round(data["requests"] / seconds, 1),
            "ok": ok,
            "statuses": statuses,
            "non_2xx": data["requests"] - ok,
            "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
            "p50_ms": round(data["latency_us"]["p50"] / 1000, 2),
            "p90_ms": round(data["latency_us"]["p90"] / 1000, 2),
            "p99_ms": round(data["latency_us"]["p99"] / 1000, 2),
            "max_ms": round(data["latency_us"]["max"] / 1000, 2),
        }

    # --- database -----------------------------------------------------------------------------

    @contextmanager
    def db(self):
        with psycopg.connect(dsn(self.profile.database), autocommit=True) as conn:
            yield conn

    def scalar(self, sql: str, params=None):
        with self.db() as conn:
            return conn.execute(sql, params).fetchone()[0]

    def truncate(self, table: str) -> None:
        with self.db() as conn:
            conn.execute(f'TRUNCATE "{table}" CASCADE')

    def create_database(self) -> None:
        """The bench database as a copy of a migrated template, kept while the migrations (and
        what migrate writes besides them) are unchanged: migrating from scratch takes 10-30 s."""
        fingerprint = hashlib.sha256()
        sources = sorted(ROOT.glob("*/migrations/*.py")) + [
            ROOT / "cartsite" / "schedules.py",
            ROOT / "requirements.txt",
        ]
        for path in sources:
            fingerprint.update(path.name.encode() + path.read_bytes())
        template = f"cartsite_bench_template_{fingerprint.hexdigest()[:12]}"
        with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'cartsite_bench_template_%'"
                )
            ]
            for stale in set(names) - {template}:
                conn.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
        started = time.perf_counter()
        if template not in names:
            log(f"migrating a new template database {template}")
            admin_execute(f'CREATE DATABASE "{template}"')
            try:
                subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                    cwd=ROOT,
                    env={**self.env, "DATABASE_URL": dsn(template)},
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            except subprocess.CalledProcessError:
                admin_execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                raise
        log(f"database {self.profile.database}: a copy of {template}")
        admin_execute(f'DROP DATABASE IF EXISTS "{self.profile.database}" WITH (FORCE)')
        admin_execute(f'CREATE DATABASE "{self.profile.database}" TEMPLATE "{template}"')
        self.results["data"]["migrate_s"] = round(time.perf_counter() - started, 1)

    def drop_database(self) -> None:
        admin_execute(f'DROP DATABASE IF EXISTS "{self.profile.database}" WITH (FORCE)')

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict:
        started = time.perf_counter()
        self.results["machine"] = machine_facts()
        self.results["profile"] = self.profile.__dict__ | {"configs": self.profile.configs}
        self.create_database()
        setup = self.django("setup-all", {"plan": str(self.plan_path), "dsn": dsn(self.profile.database)})
        self.stores = setup["stores"]
        self.store = self.stores[0]
        self.plan = json.loads(self.plan_path.read_text())
        self.results["versions"] = versions(self, setup["versions"])
        # The full run measures the configurations first and runs the HTTP benchmarks under the
        # best one that gunicorn.conf.py and the environment can express (see http_config).
        phases = [
            (("config",), self.config_comparison),
            (("track", "track_bulk", "cart_sync"), self.http_benchmarks),
            (("sweep", "admin_changelist", "abandoned_report", "carts_active"), self.cart_benchmarks),
            (("analytics",), self.analytics_benchmark),
        ]
        try:
            for names, phase in phases:
                if not any(self.wanted(n) for n in names):
                    continue
                try:
                    phase()
                except Exception as exc:  # one broken phase must not cost the others' results
                    log(f"{phase.__name__} failed: {type(exc).__name__}: {exc}")
                    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                    summary = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]
                    for name in names:
                        self.results["errors"][name] = summary
                    self.stop_all()
                self.checkpoint(started)
        finally:
            self.stop_all()
            cleanup_redis(self.prefix)
            if not self.keep:
                self.drop_database()
        self.results["elapsed_s"] = round(time.perf_counter() - started, 1)
        return self.results

    def checkpoint(self, started: float) -> None:
        """Writes what is measured so far, so a run cut short still leaves its results."""
        self.results["elapsed_s"] = round(time.perf_counter() - started, 1)
        (WORK / f"results-{self.profile.name}.json").write_text(json.dumps(self.results, indent=2, default=str))
        if self.output is not None:
            self.output.write_text(render(self.results, TARGETS, self.only))

    def http_benchmarks(self) -> None:
        profile = self.profile
        config = self.http_config()
        log(f"HTTP benchmarks: project and ceiling under gunicorn {config}")
        project, project_url = self.gunicorn("project", "cartsite.wsgi:application", config)
        ceiling, ceiling_url = self.gunicorn(
            "ceiling", "bench.ceiling_app:application", config, {"CEILING_PLAN": str(self.plan_path)}
        )
        servers = [project, ceiling]
        self.ready(project, project_url)
        self.ready(ceiling, ceiling_url)
        worker = self.celery_worker_if_needed()
        key = self.store["pk"]
        targets = {
            "project": (
                project_url,
                key,
                {"track": "/api/cart-tracking/track", "bulk": "/api/cart-tracking/track/bulk", "sync": "/cart/sync"},
            ),
            "ceiling": (ceiling_url, "", {"track": "/track", "bulk": "/track/bulk", "sync": "/sync"}),
        }
        if self.wanted("track") or self.wanted("cart_sync"):
            # The ceiling plus the round trips the product's endpoints need (health check, Redis,
            # access line): how much of the gap those are (bench/ceiling_app.py).
            round_trips, round_trips_url = self.gunicorn(
                "ceiling_round_trips",
                "bench.ceiling_app:application",
                config,
                {
                    "CEILING_PLAN": str(self.plan_path),
                    "CEILING_PRODUCT_ROUND_TRIPS": "1",
                    "CEILING_REDIS_URL": REDIS_URL,
                },
            )
            servers.append(round_trips)
            self.ready(round_trips, round_trips_url)
            targets["ceiling_round_trips"] = (round_trips_url, "", {"track": "/track", "sync": "/sync"})
            # The project as a browser calls it: from the shop's page, so with an Origin header
            # (CORS), which the store has configured.
            targets["project_origin"] = (
                project_url,
                key,
                {"track": "/api/cart-tracking/track", "sync": "/cart/sync"},
                self.store["origin"],
            )
        events_table = self.plan["track"]["table"] if "table" in self.plan["track"] else self.plan["bulk"]["table"]
        carts_table = self.plan["sync"]["table"]
        available = {name: self.path_available(*target) for name, target in targets.items()}
        self.results["config_used"] = config

        if self.wanted("track"):
            self.results["benchmarks"]["track"] = self.http_pair(
                "track", targets, available, events_table, connections=profile.connections, duration=profile.duration
            )
        if self.wanted("track_bulk"):
            result = self.http_pair(
                "bulk",
                targets,
                available,
                events_table,
                connections=profile.bulk_connections,
                duration=profile.short_duration,
            )
            result["copy"] = self.copy_ceiling(events_table)
            self.results["benchmarks"]["track_bulk"] = result
        if self.wanted("cart_sync"):
            self.results["benchmarks"]["cart_sync"] = self.http_pair(
                "sync",
                targets,
                available,
                carts_table,
                connections=profile.connections,
                duration=profile.short_duration,
            )
        for name, mode in (("track", "track"), ("cart_sync", "sync")):
            if self.wanted(name) and self.results["benchmarks"][name]["available"].get("project"):
                self.results["benchmarks"][name]["cpu"] = self.cpu_per_request(mode, targets, available)
        for server in servers:
            self.stop(server)
        if worker is not None:
            self.stop(worker)

    def cpu_per_request(self, mode: str, targets: dict, available: dict) -> dict:
        """CPU of one request in the web process, in-process (bench/cpu_probe.py): the project,
        the ceiling and the ceiling with the product's round trips, alternating as the loads do,
        each run a fresh process in the environment its gunicorn workers get."""
        plan = {"CEILING_PLAN": str(self.plan_path)}
        apps = {
            "project": ("cartsite.wsgi:application", {}),
            "ceiling": ("bench.ceiling_app:application", plan),
            "ceiling_round_trips": (
                "bench.ceiling_app:application",
                {**plan, "CEILING_PRODUCT_ROUND_TRIPS": "1", "CEILING_REDIS_URL": REDIS_URL},
            ),
        }
        names = [name for name in apps if name in targets and available.get(name, {}).get(mode)]
        result = {"requests": self.profile.cpu_requests, "runs": {name: [] for name in names}}
        for round_index in range(self.profile.runs):
            for name in names if round_index % 2 == 0 else list(reversed(names)):
                app, extra_env = apps[name]
                _url, key, paths, *_origin = targets[name]
                log(f"{mode} CPU per request, {name}, run {round_index + 1}/{self.profile.runs}")
                arguments = {
                    "app": app,
                    "mode": mode,
                    "path": paths[mode],
                    "key": key,
                    "store": self.store["name"],
                    "prefix": f"{self.prefix}-cpu-{name}-{round_index}",
                    "requests": self.profile.cpu_requests,
                    "warmup": self.profile.cpu_warmup,
                }
                result["runs"][name].append(self.cpu_probe(name, arguments, extra_env))
        return result

    def cpu_probe(self, name: str, arguments: dict, extra_env: dict) -> dict:
        prometheus = WORK / f"prometheus-{self.profile.name}-cpu-{name}"
        shutil.rmtree(prometheus, ignore_errors=True)
        prometheus.mkdir(parents=True)
        env = {**self.env, **extra_env, "PROMETHEUS_MULTIPROC_DIR": str(prometheus)}
        with open(self.logs / f"cpu-{name}.log", "ab") as errors:
            completed = subprocess.run(
                [sys.executable, "-m", "bench.cpu_probe", json.dumps(arguments)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                timeout=600,
                check=False,
            )
        if completed.returncode != 0:
            raise RuntimeError(f"bench.cpu_probe {name} failed; see {self.logs / f'cpu-{name}.log'}")
        return json.loads(completed.stdout.decode().strip().splitlines()[-1])

    def celery_worker_if_needed(self) -> subprocess.Popen | None:
        """A Celery worker, as production runs one, when an app queues work from a request
        (a `.delay(`, `apply_async(` or `on_commit(` in its code); else none (it would only take CPU)."""
        queues = []
        for app in ("carts", "tracking", "payments", "notifications"):
            for path in (ROOT / app).rglob("*.py"):
                text = path.read_text(errors="replace")
                if any(marker in text for marker in (".delay(", "apply_async(", "on_commit(")):
                    queues.append(app)
                    break
        self.results["celery_worker"] = bool(queues)
        if not queues:
            log("no app queues Celery work from a request: no worker started")
            return None
        out = open(self.logs / "celery.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "cartsite",
                "worker",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                "default,tracking,payments,notifications",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.bench_name = "celery"
        self.processes.append(process)
        log(f"Celery worker started (work queued by: {', '.join(queues)})")
        return process

    def http_config(self) -> dict:
        """gunicorn.conf.py's defaults: the HTTP benchmarks measure the production configuration.

        The comparison that chose those defaults runs first (full run) and is reported next to
        them; a default changes when it loses clearly (the medians of the rounds, beyond their
        spread) and in more than one full run, not on one run's ranking."""
        config = default_config()
        comparison = self.results["benchmarks"].get("config", {}).get("runs", [])
        measured = [
            row
            for row in comparison
            if row.get("available")
            and row.get("runs")
            and all(run["non_2xx"] + run["socket_errors"] == 0 for run in row["runs"])
            and {key: row["config"].get(key) for key in config} == config
            and not row["config"].get("pool")
            and row["config"].get("health_checks") is not False
        ]
        self.results["config_reason"] = "the defaults of gunicorn.conf.py" + (
            f" ({statistics.median(run['req_per_s'] for run in measured[0]['runs']):,.0f} req/s, the median"
            " of this run's comparison)"
            if measured
            else ""
        )
        return config

    def path_available(self, url: str, key: str, paths: dict, origin: str = "") -> dict:
        """Which paths exist: a 404 (or 405) to a well-formed request means "not built yet". With
        an origin, the answer must also allow it (CORS), or the runs would measure a refusal."""
        bodies = {
            "track": {"storeName": self.store["name"], "productId": "probe"},
            "bulk": {"events": [{"storeName": self.store["name"], "productId": "probe"}]},
            "sync": {"session_token": f"{self.prefix}-probe", "items": []},
        }
        found = {}
        for mode, path in paths.items():
            headers = {"Content-Type": "application/json", "X-Store-Key": key, "X-Forwarded-For": "198.19.255.254"}
            if origin:
                headers["Origin"] = origin
            request = urllib.request.Request(
                url + path, data=json.dumps(bodies[mode]).encode(), headers=headers, method="POST"
            )
            try:
                response = urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as exc:
                response = exc
            status = response.status if hasattr(response, "status") else response.code
            found[mode] = status not in (404, 405)
            if found[mode] and origin and response.headers.get("Access-Control-Allow-Origin") != origin:
                log(f"{url}{path}: Origin {origin} not allowed, not measured")
                found[mode] = False
            if not found[mode]:
                log(f"{url}{path}: {status}, not available")
        return found

    def http_pair(
        self, mode: str, targets: dict, available: dict, table: str, *, connections: int, duration: int
    ) -> dict:
        """Project and ceiling (and for track and sync the ceiling with the product's round trips),
        alternating (reversed order in odd rounds), each run on an empty table."""
        profile = self.profile
        order = ("ceiling", "ceiling_round_trips", "project", "project_origin")
        result = {"connections": connections, "duration_s": duration, "runs": {name: [] for name in order}}
        names = [name for name in order if available.get(name, {}).get(mode)]
        result["available"] = {name: available[name].get(mode, False) for name in targets}
        if not names:
            return result

        def load(name: str, seconds: int, prefix: str = "") -> dict:
            url, key, paths, *origin = targets[name]
            return self.wrk(
                url,
                mode,
                paths[mode],
                key=key,
                origin=next(iter(origin), ""),
                connections=connections,
                duration=seconds,
                prefix=prefix,
            )

        for name in names:
            if profile.warmup:
                load(name, profile.warmup)
        if profile.warmup:
            # The warm-up's requests in flight at its stop must not commit into the first run's
            # emptied table (they would count as rows no 200 answered).
            time.sleep(0.5)
        for round_index in range(profile.runs):
            order = names if round_index % 2 == 0 else list(reversed(names))
            for name in order:
                self.truncate(table)
                prefix = f"{self.prefix}-{name}-{round_index}"
                log(f"{mode} {name} run {round_index + 1}/{profile.runs}")
                run = load(name, duration, prefix)
                time.sleep(0.5)  # let requests in flight at wrk's stop commit
                if mode == "sync":
                    run.update(self.sync_checks(prefix, run, connections))
                else:
                    rows = self.scalar(f'SELECT count(*) FROM "{table}"')
                    per_request = profile.bulk_batch if mode == "bulk" else 1
                    run["rows"] = rows
                    run["rows_per_s"] = round(rows / run["seconds"], 1)
                    # wrk stops with up to `connections` requests in flight: those may commit unseen.
                    surplus = rows - run["ok"] * per_request
                    run["every_2xx_committed"] = 0 <= surplus <= connections * per_request
                result["runs"][name].append(run)
        return result

    def sync_checks(self, prefix: str, run: dict, connections: int) -> dict:
        with self.db() as conn:
            carts = conn.execute(
                "SELECT count(*) FROM carts_cart WHERE store_id = %s AND session_token LIKE %s "
                "AND converted_at IS NULL AND removed_at IS NULL",
                [self.store["id"], prefix + "-%"],
            ).fetchone()[0]
            duplicates = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM carts_cart WHERE converted_at IS NULL AND removed_at IS NULL "
                "GROUP BY store_id, session_token HAVING count(*) > 1) d"
            ).fetchone()[0]
        created = run["statuses"].get(201, 0)
        return {
            "open_carts": carts,
            "created_201": created,
            "duplicate_open_carts": duplicates,
            "every_201_committed": 0 <= carts - created <= connections,
        }

    def copy_ceiling(self, table: str) -> dict:
        """Raw COPY into the same table and indexes: `bulk_connections` sessions, each COPYing
        chunks of `bulk_batch` rows (one transaction per chunk, as one bulk request is)."""
        profile = self.profile
        columns = self.plan["bulk"]["columns"]
        specs = self.plan["bulk"]["values"]
        template = copy_chunk_template(specs, self.store, profile.bulk_batch)
        column_list = ", ".join(f'"{c}"' for c in columns)
        runs = []
        for round_index in range(profile.runs):
            self.truncate(table)
            rows = [0] * profile.bulk_connections
            stop_at = time.perf_counter() + profile.short_duration

            def worker(index: int, rows=rows, stop_at=stop_at) -> None:
                with psycopg.connect(dsn(profile.database)) as conn:
                    chunk = 0
                    while time.perf_counter() < stop_at:
                        stamp = str(10**12 + index * 10**9 + chunk)  # 13 digits, one per chunk
                        data = template.replace("@@@@@@@@@@@@@", stamp)
                        with conn.cursor() as cursor, cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
                            copy.write(data)
                        conn.commit()
                        rows[index] += profile.bulk_batch
                        chunk += 1

            started = time.perf_counter()
            workers = [threading.Thread(target=worker, args=(i,)) for i in range(profile.bulk_connections)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join()
            elapsed = time.perf_counter() - started
            committed = self.scalar(f'SELECT count(*) FROM "{table}"')
            runs.append({"rows": committed, "seconds": round(elapsed, 2), "rows_per_s": round(committed / elapsed, 1)})
            log(f"COPY run {round_index + 1}: {runs[-1]['rows_per_s']} rows/s")
        return {"connections": profile.bulk_connections, "batch": profile.bulk_batch, "runs": runs}

    def config_comparison(self) -> None:
        """Every candidate configuration under the track load, `runs` rounds, the order reversed
        every other round (as project and ceiling alternate), each run a fresh gunicorn on an
        emptied table. A single 10-second run moves by 15-35 % with the host; the median of the
        rounds is what a default is chosen by."""
        log("gunicorn configurations on POST /api/cart-tracking/track")
        events_table = self.plan["bulk"]["table"]
        rows = []
        for config in self.profile.configs:
            if config.get("pool") and importlib.util.find_spec("psycopg_pool") is None:
                rows.append({"config": config, "available": False, "reason": "psycopg-pool is not installed"})
            else:
                rows.append({"config": config, "available": True, "runs": []})
        candidates = [row for row in rows if row["available"]]
        for round_index in range(self.profile.runs):
            for row in candidates if round_index % 2 == 0 else list(reversed(candidates)):
                if not row["available"]:  # its path was missing in an earlier round
                    continue
                run = self.config_run(row["config"], events_table)
                if run is None:
                    row["available"] = False
                    continue
                run_number = f"{round_index + 1}/{self.profile.runs}"
                log(f"{row['config']} run {run_number}: {run['req_per_s']} req/s, p99 {run['p99_ms']} ms")
                row["runs"].append(run)
        self.results["benchmarks"]["config"] = {"runs": rows, "default": default_config()}

    def config_run(self, config: dict, events_table: str) -> dict | None:
        """One run of the track load under `config`; None when the track path is not there."""
        process, url = self.gunicorn("config", "cartsite.wsgi:application", config)
        try:
            self.ready(process, url)
            if not self.path_available(url, self.store["pk"], {"track": "/api/cart-tracking/track"})["track"]:
                return None
            if self.profile.warmup:
                self.wrk(
                    url,
                    "track",
                    "/api/cart-tracking/track",
                    key=self.store["pk"],
                    connections=self.profile.connections,
                    duration=2,
                )
            self.truncate(events_table)
            return self.wrk(
                url,
                "track",
                "/api/cart-tracking/track",
                key=self.store["pk"],
                connections=self.profile.connections,
                duration=self.profile.config_duration,
            )
        finally:
            self.stop(process)

    SWEEP_REPEAT_LIMIT_S = 45
    SWEEP_KWARGS = {
        "batch_size": 1000,
        "first_delay_hours": 24,
        "second_delay_hours": 48,
        "enable_whatsapp": False,
        "enable_email": True,
    }

    def sweep_env(self, round_index: int) -> dict:
        """The store's daily message budget (counted in Redis) stays on, as in production, so its
        cost is measured; set high enough not to bind, and counted afresh for every run (a key
        prefix of its own), so the second run is not refused what the first one took."""
        return {
            "MESSAGES_PER_STORE_PER_DAY": str(10**9),
            "CACHE_KEY_PREFIX": f"{self.prefix}-sweep-{round_index}",
        }

    def reset_messages(self) -> None:
        with self.db() as conn:
            conn.execute(
                "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename LIKE 'notifications\\_%' LOOP "
                "EXECUTE format('TRUNCATE %I CASCADE', t); END LOOP; END $$"
            )

    def sweep_rounds(self, label: str) -> list[dict]:
        runs = []
        for round_index in range(self.profile.runs):
            self.reset_messages()
            log(f"sweep (scan + claim) on {label} carts, run {round_index + 1}/{self.profile.runs}")
            runs.append(
                self.django(
                    "sweep",
                    {"mode": "scan_claim", "kwargs": self.SWEEP_KWARGS, "explain": True},
                    extra_env=self.sweep_env(round_index),
                )
            )
            if not runs[-1].get("available"):
                break
            if runs[-1]["seconds"] > self.SWEEP_REPEAT_LIMIT_S and round_index + 1 < self.profile.runs:
                # Three runs of a slow sweep would not fit the run's time; one run says enough.
                runs[-1]["note"] = f"one run only: it took over {self.SWEEP_REPEAT_LIMIT_S} s"
                log(runs[-1]["note"])
                break
        return runs

    def cart_benchmarks(self) -> None:
        profile = self.profile
        carts_table = self.plan["sync"]["table"]
        sweep = {}
        if self.wanted("sweep"):
            self.truncate(carts_table)
            log(f"building {profile.carts_small:,} carts")
            build = self.django("build-carts", {"total": profile.carts_small, "live": profile.live_carts // 10})
            self.results["data"]["carts_small"] = build
            sweep["small"] = {"carts": profile.carts_small, "runs": self.sweep_rounds(f"{profile.carts_small:,}")}
        self.truncate(carts_table)
        wanted = [n for n in ("admin_changelist", "abandoned_report", "carts_active") if self.wanted(n)]
        log(f"building {profile.carts_total:,} carts, then probes: {', '.join(wanted) or 'none'}")
        done = self.django(
            "carts-and-probes",
            {"total": profile.carts_total, "live": profile.live_carts, "what": wanted, "repeat": profile.probe_repeat},
        )
        self.results["data"]["carts"] = done["build"]
        self.results["benchmarks"].update(done["probes"])
        if self.wanted("sweep"):
            sweep["large"] = {"carts": profile.carts_total, "runs": self.sweep_rounds(f"{profile.carts_total:,}")}
            self.reset_messages()
            log("sweep with sending (one batch, e-mail to the dummy backend)")
            batch = 1000 if profile.name == "full" else 100
            kwargs = {**self.SWEEP_KWARGS, "batch_size": batch, "single_batch": True}
            sweep["send"] = self.django("sweep", {"mode": "send", "kwargs": kwargs}, extra_env=self.sweep_env(99))
            self.results["benchmarks"]["sweep"] = sweep

    def events_to_build(self) -> int:
        """The events wanted, or fewer when --deadline would not leave time for them: then a
        scale that fits (whole millions), and the report extrapolates to the wanted scale."""
        wanted = self.profile.events_total
        if self.deadline is None:
            return wanted
        remaining = (self.deadline - dt.datetime.now(dt.UTC)).total_seconds() - 90  # probe, report
        # Rows per second of this run's own carts build (similar rows, same machine, same method).
        rate = (self.results["data"].get("carts") or {}).get("rows_per_s") or 30_000
        if wanted / rate <= remaining:
            return wanted
        fitting = max(1_000_000, int(remaining * rate * 0.8) // 1_000_000 * 1_000_000)
        fitting = min(fitting, wanted)
        self.results["data"]["events_scaled"] = {
            "wanted": wanted,
            "built": fitting,
            "reason": f"{wanted:,} events at {rate:,.0f} rows/s would not finish before the deadline "
            f"({self.deadline:%H:%M} UTC)",
        }
        log(self.results["data"]["events_scaled"]["reason"] + f": building {fitting:,}")
        return fitting

    def analytics_benchmark(self) -> None:
        profile = self.profile
        total = self.events_to_build()
        log(f"building {total:,} tracking events, then probe: analytics")
        self.truncate(self.plan["bulk"]["table"])
        done = self.django(
            "events-and-probe",
            {
                "total": total,
                "what": ["analytics"],
                "repeat": profile.probe_repeat,
                "secret_key": self.store["sk"],
            },
        )
        self.results["data"]["events"] = done["build"]
        self.results["benchmarks"].update(done["probes"])
        scaled = self.results["data"].get("events_scaled")
        if scaled and self.results["benchmarks"].get("analytics", {}).get("available"):
            self.results["benchmarks"]["analytics"]["scaled"] = scaled


def copy_chunk_template(specs: list, store: dict, batch: int) -> str:
    """COPY text for `batch` events shaped like the bulk requests' events; the 13 `@` of each id are
    replaced per chunk (so every chunk has fresh primary keys) without rebuilding the text."""
    now = dt.datetime.now(dt.UTC).isoformat()
    lines = []
    for i in range(batch):
        event = {
            "storeName": store["name"],
            "productId": f"prod-{i % 2000}",
            "productTitle": f"Bench product {i % 2000}",
            "productUrl": f"https://{store['name']}/products/prod-{i % 2000}",
            "variantId": f"v-{i % 7}",
            "sessionId": f"copy-s-{i % 5000}",
            "customerEmail": f"customer{i % 1000}@example.com",
            "customerFirstName": "Ada",
            "generatedImageUrl": f"https://img.example.com/g/{i}.png",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) wrk",
        }
        values = []
        for spec in specs:
            kind = spec[0]
            if kind == "event_id":
                value = f"cart-event-@@@@@@@@@@@@@-{i:07d}"
            elif kind == "now":
                value = now
            elif kind == "ip":
                value = f"198.18.{i // 256 % 256}.{i % 256}"
            elif kind == "json":
                value = event.get(spec[1])
            elif kind == "const_json":
                value = json.dumps(spec[1])
            elif kind == "const":
                value = spec[1]
            else:
                raise ValueError(f"COPY cannot fill {spec}")
            if value is None:
                values.append("\\N")
            elif isinstance(value, bool):
                values.append("t" if value else "f")
            else:
                text = str(value)
                values.append(text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
        lines.append("\t".join(values))
    return "\n".join(lines) + "\n"


def default_config() -> dict:
    """The production defaults of gunicorn.conf.py, read the way gunicorn reads them."""
    namespace: dict = {}
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("GUNICORN_") or k == "WEB_CONCURRENCY"}
    try:
        exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    finally:
        os.environ.update(saved)
    conn_max_age = 60
    return {
        "worker_class": namespace["worker_class"],
        "workers": namespace["workers"],
        "threads": namespace["threads"],
        "conn_max_age": conn_max_age,
    }


def merge_results(previous: dict, new: dict, only: set) -> dict:
    """The last run's figures with the benchmarks of this (partial) run put in, noted as such."""
    merged = dict(previous)
    merged["benchmarks"] = {**previous.get("benchmarks", {}), **new["benchmarks"]}
    merged["data"] = {**previous.get("data", {}), **new.get("data", {})}
    errors = {k: v for k, v in previous.get("errors", {}).items() if k not in only}
    merged["errors"] = {**errors, **new.get("errors", {})}
    merged.setdefault("reruns", []).append(
        {"benchmarks": sorted(only), "date": new["machine"]["date"], "commit": new["machine"]["commit"]}
    )
    merged["elapsed_s"] = round(previous.get("elapsed_s", 0) + new.get("elapsed_s", 0), 1)
    return merged


def cleanup_redis(prefix: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    except Exception as exc:  # a leftover rate-limit counter is harmless; say so and go on
        log(f"redis cleanup skipped: {exc}")


# --- facts ------------------------------------------------------------------------------------


def machine_facts() -> dict:
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
    }


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        # The results file is what this run rewrites: an older copy of it is not a code change.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/RESULTS.md"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def versions(bench: Bench, facts: dict) -> dict:
    with bench.db() as conn:
        facts["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        facts["pg_settings"] = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("shared_buffers", "work_mem", "max_connections", "synchronous_commit")
        }
    try:
        import redis

        facts["redis"] = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    except Exception:
        facts["redis"] = "unknown"
    facts["python"] = platform.python_version()
    facts["psycopg"] = psycopg.__version__
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    facts["wrk"] = (wrk.stdout or wrk.stderr).split("Copyright")[0].strip()
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="every benchmark once on tiny data (CI)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--output", default="", help="where to write the Markdown results")
    parser.add_argument("--events", type=int, default=0, help="tracking events for analytics (default 10,000,000)")
    parser.add_argument("--carts", type=int, default=0, help="carts for the pages and the sweep (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=0, help="runs per benchmark (default 3)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: fold this run's benchmarks into the last run's figures instead of replacing them",
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the Markdown from the last run's JSON (bench/.work/)"
    )
    parser.add_argument(
        "--deadline", default="", help="HH:MM UTC the run must end by: the events dataset shrinks to fit"
    )
    args = parser.parse_args(argv)
    profile = dataclasses.replace(SMOKE if args.smoke else FULL)
    if os.environ.get("BENCH_DATABASE"):
        profile.database = os.environ["BENCH_DATABASE"]
    if args.events:
        profile.events_total = args.events
    if args.carts:
        profile.carts_total, profile.carts_small = args.carts, max(args.carts // 10, 1000)
    if args.runs:
        profile.runs = args.runs
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    output = Path(args.output) if args.output else (WORK / "RESULTS-smoke.md" if args.smoke else BENCH / "RESULTS.md")
    previous_path = WORK / f"results-{profile.name}.json"
    if args.merge and not only:
        parser.error("--merge folds the benchmarks named with --only into the last run's figures: name them")
    if (args.merge or args.render) and not previous_path.exists():
        # Not a subset written over the whole results: there is nothing here to fold it into.
        option = "--merge" if args.merge else "--render"
        parser.error(f"{option} needs the last run's figures, {previous_path}: there are none")
    if args.render:
        results = json.loads(previous_path.read_text())
        output.write_text(render(results, TARGETS, only))
        log(f"wrote {output} from bench/.work/results-{profile.name}.json")
        return 0
    ensure_tools()
    bench = Bench(profile, only, args.keep)
    bench.output = output
    previous = json.loads(previous_path.read_text()) if args.merge else None
    if args.deadline:
        hours, minutes = (int(part) for part in args.deadline.split(":"))
        bench.deadline = dt.datetime.now(dt.UTC).replace(hour=hours, minute=minutes, second=0, microsecond=0)
    results = bench.run()
    if previous is not None:
        results = merge_results(previous, results, only)
        only = set()
    (WORK / f"results-{profile.name}.json").write_text(json.dumps(results, indent=2, default=str))
    output.write_text(render(results, TARGETS, only))
    log(f"wrote {output} ({results['elapsed_s']} s)")
    if results["errors"]:
        log(f"harness errors: {results['errors']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
