"""OpenAPI descriptions (drf-spectacular) of the store-key credentials of carts.auth."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StoreKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "carts.auth.StoreKeyAuthentication"
    name = ["publishableKey", "secretKey"]

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
