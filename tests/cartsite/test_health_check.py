"""The connection health check (cartsite/db/postgresql/base.py): a connection in use skips
Django's `SELECT 1`, an idle one gets it, and a connection the server ended is replaced before
the request's first query either way.

Requests go through Django's real WSGI handler, whose request_started and request_finished
signals run the per-request connection handling (the test client turns that off); what goes over
the wire is read from libpq's protocol trace of the request's connection.
"""

import io
import json
import select
import tempfile
import time

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection

from tracking.models import CartTrackingEvent

pytestmark = pytest.mark.django_db(transaction=True)

PING = 'Query\t "SELECT 1"'


@pytest.fixture
def track(store_keys):
    handler = WSGIHandler()

    def request() -> int:
        body = json.dumps({"storeName": "MyShop", "productId": "p1"}).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/cart-tracking/track",
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_STORE_KEY": store_keys.publishable_key,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
        }
        statuses = []
        response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(response)
        response.close()  # request_finished, as the WSGI server does
        return int(statuses[0].split()[0])

    connection.close()
    yield request
    connection.close()


def traced(request) -> tuple[int, str]:
    """The request's status and the protocol messages its (reused) connection exchanged."""
    with tempfile.TemporaryFile() as trace:
        connection.connection.pgconn.trace(trace.fileno())
        try:
            status = request()
        finally:
            if connection.connection is not None and not connection.connection.closed:
                connection.connection.pgconn.untrace()
        trace.seek(0)
        return status, trace.read().decode(errors="replace")


def test_a_connection_in_use_skips_the_ping(track, settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 60
    assert track() == 200  # opens the connection

    status, wire = traced(track)

    assert status == 200
    assert PING not in wire
    assert "cart_tracking_events" in wire or "Bind" in wire  # the insert itself went out
    assert CartTrackingEvent.objects.count() == 2


def test_an_idle_connection_is_pinged(track, settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 0.2
    assert track() == 200
    time.sleep(0.3)

    status, wire = traced(track)

    assert status == 200
    assert wire.count(PING) == 1


def test_zero_pings_on_every_request_as_django_does(track, settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 0
    assert track() == 200

    wires = [traced(track)[1] for _ in range(3)]

    assert [wire.count(PING) for wire in wires] == [1, 1, 1]


def test_a_connection_the_server_ended_is_replaced_without_failing_the_request(track, settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 60  # so the socket check, not the age, decides
    assert track() == 200
    ended = connection.connection.info.backend_pid
    socket = connection.connection.pgconn.socket
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("cursor_factory", "context", "prepare_threshold")},
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [ended])
    select.select([socket], [], [], 5)  # the server's goodbye has arrived

    assert track() == 200

    assert connection.connection.info.backend_pid != ended
    assert CartTrackingEvent.objects.count() == 2
