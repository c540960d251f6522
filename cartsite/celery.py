"""The Celery app. Workers run per queue (default, tracking, payments, notifications); one beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartsite.settings")

app = Celery("cartsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
