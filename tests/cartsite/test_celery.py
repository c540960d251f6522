"""The Celery app talks to the real Redis broker: a worker consumes what the app sends."""

import uuid

import pytest
from celery.contrib.testing.tasks import ping
from celery.contrib.testing.worker import start_worker

from cartsite.celery import app as celery_app


@pytest.mark.django_db(transaction=True)
def test_a_worker_consumes_a_task_through_the_redis_broker():
    queue = f"test-{uuid.uuid4().hex[:8]}"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, queues=[queue], perform_ping_check=False, shutdown_timeout=10):
            result = ping.apply_async(queue=queue)
            assert result.get(timeout=15) == "pong"
    finally:
        celery_app.conf.task_always_eager = eager
    assert celery_app.conf.broker_url.startswith("redis://")
