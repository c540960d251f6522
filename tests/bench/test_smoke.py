"""CI smoke run of the benchmark harness: every benchmark once, on tiny data (bench/run --smoke).

Benchmarks are not timed tests: this proves the harness still builds its data, starts its
servers, loads them and reports every benchmark, not that any number is good.
"""

import ast
import os
import subprocess
from pathlib import Path

import pytest

from bench.report import TITLES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_smoke_run_reports_every_benchmark(tmp_path):
    # given the harness and a results file of this test's own
    results = tmp_path / "RESULTS-smoke.md"

    # when the smoke run goes through every benchmark once
    completed = subprocess.run(
        [str(ROOT / "bench" / "run"), "--smoke", "--output", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # then it exits 0 and its results hold a headline row for every benchmark, each of them run
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    text = results.read_text()
    assert text.startswith("# Benchmark results\n")
    headline = text.split("## Headline: project / ceiling", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in headline.splitlines() if line.startswith("| ") and not line.startswith("| benchmark")]
    assert [row.split(" | ", 1)[0].removeprefix("| ") for row in rows if not row.startswith("| ---")] == list(
        TITLES.values()
    )
    assert not [row for row in rows if "| not run |" in row]
    # and the track and sync sections say what one request costs in the web process, for the
    # project and the ceiling, every measured request answered as under load
    for title in ("## `POST /api/cart-tracking/track`\n", "## `POST /cart/sync`\n"):
        section = text.split(title, 1)[1].split("\n## ", 1)[0]
        cpu_rows = section.split("CPU of one request in the web process", 1)[1].splitlines()
        for who in ("project", "ceiling"):
            row = next(line for line in cpu_rows if line.startswith(f"| {who} | "))
            cells = row.strip("| ").split(" | ")
            assert float(cells[1].split(" ")[0]) > 0
            statuses = ast.literal_eval(cells[4])
            assert statuses.get("200") and all(status in ("200", "201") for status in statuses)
    # and the configuration comparison measured every candidate, Django's psycopg pool included
    configurations = text.split("## gunicorn configurations", 1)[1].split("\n## ", 1)[0]
    config_rows = [line for line in configurations.splitlines() if line.startswith(("| sync ", "| gthread "))]
    assert [row.split(" | ", 1)[0] for row in config_rows] == [
        "| sync 2w, CONN_MAX_AGE=0",
        "| gthread 1w×2t, psycopg pool of 2 per process",
    ]
    for row in config_rows:
        cells = row.split(" | ")
        assert cells[1] == "1", row  # the smoke profile's one round
        assert float(cells[2].replace(",", "")) > 0, row


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--merge", "--only", "sweep"], "needs the last run's figures"),
        (["--render"], "needs the last run's figures"),
        (["--merge"], "name them"),
    ],
)
def test_bench_refuses_to_merge_or_render_without_the_last_run(tmp_path, arguments, message):
    # given a work folder without any earlier run, and the results file it would write
    results = tmp_path / "RESULTS.md"

    # when a re-run is to be folded into the last run's figures, or those figures rendered
    completed = subprocess.run(
        [str(ROOT / "bench" / "run"), *arguments, "--output", str(results)],
        cwd=ROOT,
        env={**os.environ, "BENCH_WORK": str(tmp_path / "work")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then it stops before running anything and says why, and writes nothing
    assert completed.returncode == 2
    assert message in completed.stderr
    assert not results.exists()
