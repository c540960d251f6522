"""Admin pagination for big tables (carts, tracking events): one paginator for every changelist
that must not COUNT(*) millions of rows."""

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

# Below this many rows an exact COUNT(*) is cheap; above it the changelist uses an estimate.
EXACT_COUNT_BELOW = 20_000
# A filtered changelist counts at most this many rows (the pages past it are not offered).
FILTERED_COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """Never COUNT(*)s a big table: the unfiltered changelist takes PostgreSQL's row estimate
    (pg_class.reltuples, kept fresh by autovacuum), a filtered one counts up to a cap."""

    @cached_property
    def count(self):
        queryset = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            estimate = row[0] if row else -1
            if estimate >= EXACT_COUNT_BELOW:
                return int(estimate)
        return queryset.order_by()[:FILTERED_COUNT_CAP].count()
