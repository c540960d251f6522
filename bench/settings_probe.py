"""Production settings for the harness's in-process probes (bench/django_side.py).

Only what an in-process measurement needs differs from cartsite.settings: the Django test
client's host name is allowed, static files are resolved without a collectstatic manifest (the
admin pages reference them; serving them is not what is measured), and e-mail goes nowhere.
"""

from cartsite.settings import *  # noqa: F403

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
