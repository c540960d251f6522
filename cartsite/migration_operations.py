"""Migration operations shared by the apps' migrations.

Index changes on the big tables (tracking events, reminder messages) are built and dropped
CONCURRENTLY on PostgreSQL, so that writes never wait for them; SQLite (local use) has no such
thing and gets the plain operation. A migration using them sets `atomic = False`: PostgreSQL
refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class _ConcurrentlyOnPostgreSQL:
    concurrent: type
    plain: type

    def _implementation(self, schema_editor) -> type:
        return self.concurrent if schema_editor.connection.vendor == "postgresql" else self.plain

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        implementation = self._implementation(schema_editor)
        return implementation.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        implementation = self._implementation(schema_editor)
        return implementation.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgreSQL(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere."""

    concurrent, plain = AddIndexConcurrently, migrations.AddIndex


class RemoveIndexConcurrentlyOnPostgreSQL(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL, a plain DROP INDEX elsewhere."""

    concurrent, plain = RemoveIndexConcurrently, migrations.RemoveIndex
