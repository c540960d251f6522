"""One index on the message log instead of two: `notifications_cap_lookup` (store, channel,
recipient_hash, attempted_at) is no longer partial, so its first column serves the reads of one
store's messages that `notifications_stats` (store, status, stage, channel) served, and the
sweep's claim writes four index entries per message instead of five. The frequency cap's query
keeps the statuses that count itself (notifications/services.py, RECENT_SQL).

On PostgreSQL the new index is built CONCURRENTLY under a temporary name, the old ones dropped
CONCURRENTLY, then the new one renamed: writes never block, and the cap's look-up is never
without an index. Other databases (SQLite for local use) get plain CREATE/DROP INDEX.
"""

from django.db import migrations, models

from cartsite.migration_operations import RemoveIndexConcurrentlyOnPostgreSQL, index_replace_concurrently

FIELDS = ["store", "channel", "recipient_hash", "attempted_at"]


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("notifications", "0004_drop_single_key_indexes"),
    ]

    operations = [
        *index_replace_concurrently(
            model_name="remindermessage",
            index=models.Index(fields=FIELDS, name="notifications_cap_lookup"),
            temporary_name="notifications_cap_lookup_all",
        ),
        RemoveIndexConcurrentlyOnPostgreSQL(
            model_name="remindermessage",
            name="notifications_stats",
        ),
    ]
