"""Cache settings whose Redis is unreachable: nothing listens on port 1, so every connect is
refused at once (the short timeouts bound a test that hits a filtered port instead).

Django rebuilds its cache handlers when CACHES changes, so `override_settings(CACHES=DEAD_REDIS)`
gives the code under test a real dead connection, not a mock.
"""

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}
