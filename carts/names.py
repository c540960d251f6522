"""Store-name normalisation (seed 001, API.md "Store names")."""

import re

from cartsite.errors import ValidationFailed

HOSTNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)*$")
SHOPIFY_SUFFIX = ".myshopify.com"


def store_name_normalise(raw: str, *, field: str = "storeName") -> str:
    """Trim, lower-case, drop scheme, credentials, path, query, port and trailing dot; a bare
    handle gets `.myshopify.com`. `MyShop` -> `myshop.myshopify.com`,
    `https://MyShop.myshopify.com/admin` -> `myshop.myshopify.com`, `Shop.Example.com` kept."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(f"{field} is required", field=field, reason="Field is required")
    name = raw.strip().lower()
    name = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", name)
    name = re.split(r"[/?#]", name, maxsplit=1)[0]
    name = name.rsplit("@", 1)[-1]
    name = name.split(":", 1)[0].rstrip(".")
    if name and "." not in name:
        name += SHOPIFY_SUFFIX
    if len(name) > 253 or not HOSTNAME_PATTERN.match(name):
        raise ValidationFailed(f"{field} is not a valid store name", field=field, reason="Invalid store name")
    return name
