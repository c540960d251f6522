"""Django's PostgreSQL backend with a health check that skips the round trip on a busy connection.

Django's health check (`CONN_HEALTH_CHECKS`) sends `SELECT 1` before the first query of every
request that reuses a connection: on the storefront's hot paths one of their two database round
trips (docs/performance.md). Here, a connection last used (checked by a request, or opened) less
than `DATABASE_HEALTH_CHECK_IDLE_SECONDS` ago is checked without one: the client must not know it
broken (psycopg marks a connection broken or closed when a statement failed on it), and its
socket must have nothing to read. An idle connection in autocommit receives nothing unasked; what
the server sends when it ends one (a restart, a failover, `pg_terminate_backend`,
`idle_session_timeout`: a FATAL error, then end of file) makes the socket readable. A readable
socket, or a connection idle for longer, gets Django's `SELECT 1`, which reads whatever arrived
and, when the connection is dead, closes it so the request reconnects.

So under steady traffic a worker's connection is not pinged, one that sat idle for longer is, and
the cases the ping catches are still caught (a connection on which a statement failed always gets
Django's check). What neither check catches quickly is a connection whose peer vanished without a
word (a dropped network path): Django's `SELECT 1` would wait for the TCP timeout too.
`DATABASE_HEALTH_CHECK_IDLE_SECONDS=0` restores Django's check on every request.
"""

import select
import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _health_checked_at: float | None = None

    def connect(self):
        super().connect()
        self._health_checked_at = time.monotonic()  # a new connection has just talked to the server

    def close_if_health_check_failed(self):
        if (
            self.connection is None
            or self.pool
            or not self.health_check_enabled
            or self.health_check_done
            or self.errors_occurred
        ):
            return super().close_if_health_check_failed()
        now = time.monotonic()
        recent = self._health_checked_at is not None and now - self._health_checked_at < self.health_check_idle_seconds
        if recent and self.connection_is_quiet():
            self.health_check_done = True
        else:
            super().close_if_health_check_failed()
        if self.connection is not None:
            self._health_checked_at = now

    @property
    def health_check_idle_seconds(self) -> float:
        return getattr(settings, "DATABASE_HEALTH_CHECK_IDLE_SECONDS", 0.0)

    def connection_is_quiet(self) -> bool:
        """The client knows nothing wrong with the connection, and the server has sent nothing."""
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        try:
            fd = connection.pgconn.socket
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(fd, select.POLLIN | select.POLLPRI)
                return not poller.poll(0)
            return not select.select([fd], [], [], 0)[0]  # Windows has no poll()
        except (OSError, ValueError, base.Database.Error):
            return False  # cannot tell: Django's `SELECT 1` decides
