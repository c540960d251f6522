"""The JSON body parser of every API view: malformed or too deeply nested JSON is a 400.

Python's json module recurses once per nesting level; DRF's JSONParser lets the resulting
RecursionError escape as a 500. No body of this API needs more than a handful of levels, so
depth is bounded well below that (OWASP API4: unrestricted resource consumption).
"""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _holds_containers(children) -> bool:
    # The types of all children in one C-level pass: a container of scalars only (every tracking
    # event of a bulk call) costs one call instead of a Python step per value.
    return any(issubclass(kind, dict | list) for kind in set(map(type, children)))


def nesting_depth_exceeds(value, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        if _holds_containers(children):
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(stream.read().decode(encoding))
        except RecursionError:
            raise ParseError("JSON nesting is too deep")
        except (ValueError, UnicodeDecodeError):
            raise ParseError("Malformed JSON in request body")
        if nesting_depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
            raise ParseError(f"JSON nesting is deeper than {settings.API_MAX_JSON_DEPTH} levels")
        return data
