"""A real Celery worker (a subprocess on the test Redis broker and the test database) killed with
SIGKILL in the middle of a reminder send: the task comes back (acks_late + reject_on_worker_lost)
and the customer still gets one message, never two."""

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from cartsite.celery import app as celery_app
from notifications.models import ReminderMessage
from notifications.services import SWEEP_LOCK_KEY, sweep_run
from notifications.tasks import abandonment_sweep

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class HangingWhatsApp:
    """A WhatsApp Cloud API that takes every message and then hangs until released."""

    def __init__(self):
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.bodies: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.bodies.append(body)
                fake.arrived.set()
                fake.release.wait(60)
                answer = json.dumps({"messages": [{"id": f"wamid.HANG{len(fake.bodies)}"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v21.0"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def pool_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.fixture
def worker(store):
    """`celery worker` (prefork, one child) on a queue of its own, against this test database."""
    whatsapp = HangingWhatsApp()
    queue = f"test-kill-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cartsite.settings_test",
        "DATABASE_URL": database_url,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WHATSAPP_API_BASE": whatsapp.base_url,
        "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
        "WHATSAPP_ACCESS_TOKEN": "EAATESTTOKEN",
        "WHATSAPP_TIMEOUT_SECONDS": "60",
    }
    env.pop("TEST_DATABASE_NAME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cartsite", "worker", "-Q", queue, "-c", "1", "-P", "prefork"]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield process, queue, whatsapp
    finally:
        celery_app.conf.task_always_eager = eager
        whatsapp.stop()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_a_worker_killed_mid_send_redelivers_the_delivery_and_the_message_log_prevents_a_second_send(worker, make_cart):
    process, queue, whatsapp = worker
    cart = make_cart(phone="+4915112345678", whatsapp_consent=True, first_name="Anna", idle=timedelta(hours=30))

    # when the sweep has claimed the message and queued its delivery on the same queue, and the
    # delivery's child process is killed while the WhatsApp API holds the send
    swept = abandonment_sweep.apply_async(queue=queue).get(timeout=90)
    assert swept["claimed"] == 1 and len(swept["deliveryTasks"]) == 1
    assert whatsapp.arrived.wait(90), process.stderr.read1().decode() if process.poll() is not None else "no send"
    [child] = pool_children(process.pid)
    os.kill(child, signal.SIGKILL)
    whatsapp.release.set()

    # then the broker hands the delivery out again (acks_late + reject_on_worker_lost), and the
    # redelivered run finds the message already taken for sending and sends nothing
    redelivered = celery_app.AsyncResult(swept["deliveryTasks"][0]).get(timeout=60)
    assert (redelivered["firstSent"], redelivered["secondSent"]) == (0, 0)
    assert len(whatsapp.bodies) == 1
    message = ReminderMessage.objects.get(cart=cart)
    # The claim stays: whether the provider delivered it is unknown, so it is never sent again.
    assert (message.status, message.attempts, message.stage, message.channel) == ("sending", 1, 1, "whatsapp")

    # and the next sweep claims nothing and queues nothing for that cart
    cache.delete(SWEEP_LOCK_KEY)
    again = abandonment_sweep.apply_async(queue=queue).get(timeout=60)

    assert (again["claimed"], again["deliveryTasks"], again["errors"]) == (0, [], 0)
    assert len(whatsapp.bodies) == 1
    assert ReminderMessage.objects.filter(cart=cart).count() == 1
    assert process.poll() is None  # the worker itself lived on and replaced its child

    # and once the lock's lifetime has passed, a sweep closes the orphaned claim, never resending it
    later = sweep_run(now=timezone.now() + timedelta(seconds=settings.NOTIFICATIONS_SWEEP_LOCK_SECONDS + 60))
    message.refresh_from_db()
    assert (later.first_sent, later.second_sent) == (0, 0)
    assert (message.status, message.error_kind) == ("failed", "final")
    assert len(whatsapp.bodies) == 1
