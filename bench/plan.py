"""The ceiling's statements, derived from the Django models so they follow the schema.

For each concrete column of the tracking events table and of the carts table this decides where
the raw WSGI app takes the value from (the JSON body, the server clock, a fresh id, a constant
default) and writes the same parameterised INSERT the project's table needs. A column the mapping
does not know gets the model field's default (or NULL/''/0/false), so a new nullable column does
not break the ceiling.
"""

import re
from decimal import Decimal

from django.db import connection
from django.db.models import NOT_PROVIDED, JSONField

OPEN_CART_CONFLICT = "(store_id, session_token) WHERE converted_at IS NULL AND removed_at IS NULL"


def writable_fields(model) -> list:
    """The columns an INSERT writes: concrete fields less those the database computes itself
    (GeneratedField), which take no value."""
    return [field for field in model._meta.concrete_fields if not getattr(field, "generated", False)]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _default_spec(field):
    if field.default is not NOT_PROVIDED:
        if callable(field.default):
            value = field.default()
            if hasattr(value, "tzinfo"):
                return ["now"]
        else:
            value = field.default
        if isinstance(field, JSONField):
            return ["const_json", value]
        if isinstance(value, Decimal):
            value = str(value)
        return ["const", value]
    if field.null:
        return ["const", None]
    internal = field.get_internal_type()
    if internal in ("CharField", "TextField", "EmailField", "URLField", "SlugField"):
        return ["const", ""]
    if internal == "BooleanField":
        return ["const", False]
    if "Integer" in internal or internal in ("DecimalField", "FloatField"):
        return ["const", 0]
    raise ValueError(f"No value for column {field.column} of {field.model.__name__}")


def tracking_model():
    from tracking.models import CartTrackingEvent

    return CartTrackingEvent


def event_specs(store) -> tuple[list[str], list[list], list[str]]:
    """Columns, value specs and SQL types of the tracking events table, as the ceiling fills them."""
    model = tracking_model()
    columns, specs, types = [], [], []
    for field in writable_fields(model):
        if field.primary_key and field.get_internal_type() in ("AutoField", "BigAutoField"):
            continue
        name = field.name
        if field.primary_key and field.get_internal_type() == "UUIDField":
            spec = ["uuid"]
        elif field.primary_key:
            spec = ["event_id"]
        elif name == "store":
            spec = ["const", store.pk]
        elif name in ("created_at", "updated_at"):
            spec = ["now"]
        elif name == "ip_address":
            spec = ["ip"]
        elif field.get_internal_type() in ("CharField", "TextField"):
            spec = ["json", camel(name), field.max_length or 0]
            if not field.null:
                spec.append("")
        else:
            spec = _default_spec(field)
        columns.append(field.column)
        specs.append(spec)
        types.append(field.db_type(connection))
    return columns, specs, types


def cart_specs(store) -> tuple[list[str], list[list]]:
    from carts.models import Cart

    columns, specs = [], []
    for field in writable_fields(Cart):
        name = field.name
        spec = {
            "id": ["uuid"],
            "store": ["const", store.pk],
            "session_token": ["session_token"],
            "items": ["jsonb", "items"],
            "total": ["total"],
            "item_count": ["item_count"],
            "currency": ["const", store.currency],
            "created_at": ["now"],
            "last_activity_at": ["now"],
        }.get(name) or _default_spec(field)
        columns.append(field.column)
        specs.append(spec)
    return columns, specs


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def ceiling_plan(*, dsn: str, store) -> dict:
    """The JSON plan bench/ceiling_app.py runs (see its docstring)."""
    from carts.models import Cart

    event_table = tracking_model()._meta.db_table
    columns, specs, types = event_specs(store)
    column_list = ", ".join(quote(c) for c in columns)
    track_sql = f"INSERT INTO {quote(event_table)} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"
    array_casts = ", ".join(f"%s::{re.sub(r'[(].*[)]', '', t)}[]" for t in types)
    bulk_sql = f"INSERT INTO {quote(event_table)} ({column_list}) SELECT * FROM unnest({array_casts})"

    cart_columns, cart_value_specs = cart_specs(store)
    updated = ("items", "total", "item_count", "last_activity_at")
    sync_sql = (
        f"INSERT INTO {quote(Cart._meta.db_table)} ({', '.join(quote(c) for c in cart_columns)}) "
        f"VALUES ({', '.join(['%s'] * len(cart_columns))}) ON CONFLICT {OPEN_CART_CONFLICT} DO UPDATE SET "
        + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in updated)
        + " RETURNING id, (xmax = 0) AS created"
    )
    from cartsite import counters
    from tracking import ratelimit

    return {
        "dsn": dsn,
        # For CEILING_PRODUCT_ROUND_TRIPS (bench/ceiling_app.py): the product's rate-limit script.
        "rate_limit": {"script": counters.COUNT_SCRIPT, "rates": [ratelimit.rate_parse(r) for r in ratelimit.RATES]},
        "track": {"sql": track_sql, "values": specs, "columns": columns},
        "bulk": {"sql": bulk_sql, "values": specs, "columns": columns, "table": event_table},
        "sync": {"sql": sync_sql, "values": cart_value_specs, "columns": cart_columns, "table": Cart._meta.db_table},
    }
