"""Migration operations shared by the apps' migrations.

Index changes on the big tables (tracking events, reminder messages) are built and dropped
CONCURRENTLY on PostgreSQL, so that writes never wait for them; SQLite (local use) has no such
thing and gets the plain operation. A migration using them sets `atomic = False`: PostgreSQL
refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction.

`index_replace_concurrently` is the whole replacement of an index by another of the same name:
the new one built under a temporary name, the old one dropped, the new one renamed, so the table
is never without one and writes never wait.
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


def index_replace_concurrently(*, model_name: str, index, temporary_name: str) -> list:
    """The operations that replace the index named `index.name` with `index`: built as
    `temporary_name`, the old one dropped, then the new one renamed to the old one's name."""
    name = index.name
    index.name = temporary_name
    return [
        AddIndexConcurrentlyOnPostgreSQL(model_name=model_name, index=index),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name=model_name, name=name),
        migrations.RenameIndex(model_name=model_name, new_name=name, old_name=temporary_name),
    ]
