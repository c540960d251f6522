"""OpenAPI descriptions (drf-spectacular) of the store-key credentials of carts.auth."""

from drf_spectacular.authentication import SessionScheme, TokenScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension

PUBLISHABLE = "publishableKey"
SECRET = "secretKey"


def _caller_permissions(auto_schema) -> list:
    from carts.auth import _CallerPermission

    return [
        permission
        for permission in getattr(auto_schema.view, "permission_classes", [])
        if isinstance(permission, type) and issubclass(permission, _CallerPermission)
    ]


class _StaffOnlyWhereAllowed:
    """Staff credentials listed only on operations whose permission lets staff in."""

    priority = 0

    def get_security_requirement(self, auto_schema):
        if all(permission.allow_staff for permission in _caller_permissions(auto_schema)):
            return super().get_security_requirement(auto_schema)
        return []


class StaffTokenScheme(_StaffOnlyWhereAllowed, TokenScheme):
    pass


class StaffSessionScheme(_StaffOnlyWhereAllowed, SessionScheme):
    pass


class StoreKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "carts.auth.StoreKeyAuthentication"
    name = [PUBLISHABLE, SECRET]

    def get_security_requirement(self, auto_schema):
        """Each key the operation's permission accepts, as an alternative of its own (either key
        will do, never both at once); an operation that accepts neither key lists none."""
        permissions = _caller_permissions(auto_schema)
        requirements = []
        if all(permission.allow_publishable for permission in permissions):
            requirements.append({PUBLISHABLE: []})
        if all(permission.allow_secret for permission in permissions):
            requirements.append({SECRET: []})
        return requirements

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Store-Key",
                "description": "The store's publishable key pk_… (or the query parameter `key`)",
            },
            {"type": "http", "scheme": "bearer", "description": "The store's secret key sk_… (merchant backend)"},
        ]
