import pytest
from django.db import connections


@pytest.fixture
def database_refusing_connections(django_db_blocker):
    """Points the app at a PostgreSQL port where nothing listens: every connect is refused."""
    connection = connections["default"]
    with django_db_blocker.unblock():
        original = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": "1"})
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(original)
