"""The client's logic (debounce, retry, token handling) under Node's built-in test runner.

The JavaScript tests live in tests/js/; this wrapper makes the one pytest command run them too.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (the JavaScript unit tests need Node 20+)")
def test_node_unit_tests_pass():
    # Given the Node test files next to the script's harness
    test_dir = Path(settings.BASE_DIR) / "tests" / "js"
    files = sorted(str(path) for path in test_dir.glob("*.test.js"))
    assert len(files) >= 3

    # When Node's runner runs them
    result = subprocess.run([NODE, "--test", *files], capture_output=True, text=True, timeout=120)

    # Then every test passed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


def test_pinned_file_is_identical_to_the_latest():
    static_dir = Path(settings.BASE_DIR) / "static" / "cartsite"
    latest = (static_dir / "cartsite.js").read_text()
    pinned = (static_dir / "cartsite-1.0.0.js").read_text()

    assert pinned == latest
    assert 'const VERSION = "1.0.0";' in latest
