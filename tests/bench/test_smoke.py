"""CI smoke run of the benchmark harness: every benchmark once, on tiny data (bench/run --smoke).

Benchmarks are not timed tests: this proves the harness still builds its data, starts its
servers, loads them and reports every benchmark, not that any number is good.
"""

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
