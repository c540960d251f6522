"""Fixtures of the reliability suites: JSON log capture and the site URLs with the erasure door."""

import io
import json
import logging

import pytest

from cartsite.logging import JsonFormatter, RequestContextFilter


@pytest.fixture
def json_log_text():
    """Everything logged during the test, as the production handler formats it (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
