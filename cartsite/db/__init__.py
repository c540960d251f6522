"""Prepared statements for the storefront's hot paths.

Django binds the ORM's parameters in the client and never prepares a statement, so PostgreSQL
parses and plans every query anew. For the few hand-written statements that run on every
storefront request (a tracking event, a cart sync, a key lookup) that is most of the database's
work: the tracking insert cost 0.35 ms of server CPU per event unprepared, 0.15 ms prepared
(docs/performance.md). `prepared_cursor()` runs them with server-side binding on the same
connection, and psycopg prepares each statement on that connection's first use of it
(`prepare_threshold` 0, set in settings when DATABASE_PREPARED_STATEMENTS is on).

The cursor is Django's own wrapper, so the health check, the translation of driver errors to
`django.db` errors and execute wrappers apply as for `connection.cursor()`; while queries are
logged (DEBUG, CaptureQueriesContext) it is `connection.cursor()` itself.
"""

from django.db import DEFAULT_DB_ALIAS, connections


def prepared_statements_on(connection=None) -> bool:
    connection = connection or connections[DEFAULT_DB_ALIAS]
    options = connection.settings_dict["OPTIONS"]
    return connection.vendor == "postgresql" and options.get("prepare_threshold") is not None


def prepared_cursor():
    """A cursor whose statements are prepared once per connection; `connection.cursor()` where
    that is off (not PostgreSQL, or DATABASE_PREPARED_STATEMENTS=false). Use it for statements
    whose text is one of a few fixed shapes: every distinct text takes a prepared-statement slot
    (psycopg keeps the last 100 per connection)."""
    # The wrapper itself, once: each attribute read through the `django.db.connection` proxy is a
    # lookup in a context-local registry (2.4 µs, against 0.06 µs on the wrapper); this function
    # read ten of them, 39 µs a call in all, 12 µs now.
    connection = connections[DEFAULT_DB_ALIAS]
    if not prepared_statements_on(connection) or connection.queries_logged:
        # Logged queries (DEBUG, CaptureQueriesContext) show their values, as Django logs any
        # other query; a prepared statement's text would be logged as None.
        return connection.cursor()
    from django.db.backends.postgresql.base import Database, ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        if connection.connection.closed:
            # What psycopg's own `cursor()` says of a connection that died (then a 503).
            raise Database.OperationalError("the connection is closed")
        cursor = ServerBindingCursor(connection.connection)
    return connection.make_cursor(cursor)
