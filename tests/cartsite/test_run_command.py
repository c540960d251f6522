"""The README's run command, from the outside: it sets up, prints the login and serves."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_run_command_serves_healthz_and_the_admin_login(tmp_path):
    port = free_port()
    # A newcomer's shell: none of the test settings' variables, no services configured; a
    # throwaway SQLite file instead of the repo's db.sqlite3.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        health = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = response.read()
                    break
            except OSError:
                time.sleep(0.5)
        output = log.read_text()
        assert health == b'{"status": "ok"}', output[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
            login_page = response.read().decode()
        assert response.status == 200
        assert 'name="username"' in login_page
        assert re.search(r"admin login: admin / \S{8,}", output)
        assert "publishable key: pk_" in output and "secret key: sk_" in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
