"""Fixtures of the reliability suites: JSON log capture, dead dependencies, the fake Stripe API."""

import io
import json
import logging
import socket
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connections

from cartsite.logging import JsonFormatter, RequestContextFilter
from tests.fakes.stripe_server import fake_stripe  # noqa: F401 (fixture)


@pytest.fixture
def json_log_text():
    """Everything logged during the test, as the production handler formats it (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextmanager
def database_refusing_connections():
    """Points the app at a PostgreSQL port where nothing listens: every connect is refused.
    (The block's own test must be transactional: the test's connection is closed and reopened.)"""
    connection = connections["default"]
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": "1"})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


def _admin_connection():
    settings_dict = connections["default"].settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=settings_dict["NAME"],
        autocommit=True,
    )


DIE_ON_ROW_SQL = """
CREATE OR REPLACE FUNCTION reliability_die_on_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE seen int := coalesce(nullif(current_setting('reliability.rows', true), ''), '0')::int + 1;
BEGIN
    PERFORM set_config('reliability.rows', seen::text, false);
    IF seen >= TG_ARGV[0]::int THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END $$;
"""


@contextmanager
def database_dies_while_inserting(table: str, *, on_row: int = 1):
    """The PostgreSQL backend that inserts the `on_row`-th row into `table` (in one session)
    terminates itself there, as a crash, restart or failover ends it: a real mid-statement fault,
    whatever code path does the insert (INSERT, bulk INSERT, COPY)."""
    with _admin_connection() as admin:
        admin.execute(DIE_ON_ROW_SQL)
        admin.execute(
            f"CREATE TRIGGER reliability_die BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION reliability_die_on_row({int(on_row)})"
        )
    try:
        yield
    finally:
        with _admin_connection() as admin:
            admin.execute(f"DROP TRIGGER IF EXISTS reliability_die ON {table}")


@pytest.fixture
def silent_smtp_port():
    """A TCP port that accepts connections and never says a word (an SMTP server that hangs)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
