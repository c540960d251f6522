"""The rate limit holds across server processes: two real gunicorn servers sharing Redis."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from carts.services import store_create
from tests.tracking.conftest import address_with_fresh_window
from tracking.models import CartTrackingEvent

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_until_up(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"server on {port} did not start")


@pytest.fixture
def two_servers():
    """Two gunicorn processes on the test database and this run's Redis key space; they trust
    127.0.0.1 as their proxy, so the test can act as the load balancer in front of both."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cartsite.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "SECRET_KEY": "two-servers-test-secret",
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "CONN_MAX_AGE": "0",
    }
    env.pop("TEST_DATABASE_NAME", None)
    ports, processes = [_free_port(), _free_port()], []
    try:
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "cartsite.wsgi:application", "-w", "1"]
                    + ["-b", f"127.0.0.1:{port}"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port, process in zip(ports, processes, strict=True):
            _wait_until_up(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _post(port: int, key: str, client_address: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/cart-tracking/track",
        data=json.dumps({"storeName": "myshop", "sessionId": "multi"}).encode(),
        headers={"Content-Type": "application/json", "X-Store-Key": key, "X-Forwarded-For": client_address},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_two_server_processes(two_servers):
    # given a store and one client address behind the load balancer
    keys = store_create(name="MyShop")
    client_address = address_with_fresh_window(prefix="203.0.113.")

    # when the client sends 101 requests, alternating between the two processes
    results = [_post(two_servers[number % 2], keys.publishable_key, client_address) for number in range(101)]

    # then 100 are tracked (50 by each process) and the 101st is refused
    assert [status for status, _, _ in results[:100]] == [200] * 100
    status, headers, body = results[100]
    assert status == 429
    assert body["code"] == "RATE_LIMITED"
    assert int(headers["Retry-After"]) >= 1
    assert CartTrackingEvent.objects.filter(ip_address=client_address).count() == 100
