"""bench/report.py: the line fitted through the project's and the ceiling's CPU and throughput, and
the configuration comparison's medians."""

import pytest

from bench.report import _cpu_fit, config_section, headline


def test_the_fit_recovers_the_line_the_figures_lie_on():
    # given figures that lie on 1 / req/s = 0.4 ms + 0.5 × CPU ms: the ceiling at 0.2 ms of CPU
    # (0.5 ms a request, 2,000 req/s), the project at 1.2 ms (1.0 ms, 1,000 req/s), the third
    # server at 0.6 ms (0.7 ms, 1,429 req/s)
    cpu_ms = {"project": 1.2, "ceiling": 0.2, "ceiling_round_trips": 0.6}
    rate = {"project": 1000.0, "ceiling": 2000.0, "ceiling_round_trips": 1429.0}

    # when the report fits the line
    lines = _cpu_fit(cpu_ms, rate)

    # then it states the line, predicts the third server on it, and gives the CPU a request at
    # which the project would serve 0.75 × the ceiling: 1 / 1,500 req/s = 0.667 ms = 0.4 + 0.5 × 0.533
    assert lines == [
        "",
        "Fitted through the project and the ceiling, 1 / req/s = 0.400 ms + 0.500 × the web process's CPU ms "
        "per request; it predicts the third server at 1,429 req/s (measured 1,429). 0.75 × the ceiling "
        "(1,500 req/s) would take 0.533 ms of CPU a request in the web process; the project spends 1.200.",
    ]


@pytest.mark.parametrize(
    ("cpu_ms", "rate"),
    [
        ({"project": 1.0}, {"project": 900.0, "ceiling": 2000.0}),  # no ceiling CPU measured
        ({"project": 0.1, "ceiling": 0.2}, {"project": 900.0, "ceiling": 2000.0}),  # project leaner
        ({"project": 1.0, "ceiling": 0.2}, {"project": 2500.0, "ceiling": 2000.0}),  # faster with more CPU
    ],
)
def test_no_line_is_drawn_through_figures_that_cannot_make_one(cpu_ms, rate):
    assert _cpu_fit(cpu_ms, rate) == []


def _config_run(req_per_s, p99_ms, non_2xx=0):
    return {"req_per_s": req_per_s, "p50_ms": 30.0, "p99_ms": p99_ms, "non_2xx": non_2xx, "socket_errors": 0}


SYNC_4 = {"worker_class": "sync", "workers": 4, "threads": 1, "conn_max_age": 60}
GTHREAD_2X4 = {"worker_class": "gthread", "workers": 2, "threads": 4, "conn_max_age": 60}


def test_configurations_are_compared_by_the_median_of_their_runs():
    # given a comparison where gthread had the single fastest run but sync the better median
    result = {
        "default": SYNC_4,
        "runs": [
            {
                "config": SYNC_4,
                "available": True,
                "runs": [_config_run(900, 60), _config_run(880, 62), _config_run(700, 90)],
            },
            {
                "config": GTHREAD_2X4,
                "available": True,
                "runs": [_config_run(990, 95), _config_run(650, 120), _config_run(640, 130, non_2xx=2)],
            },
            {"config": {**SYNC_4, "pool": True}, "available": False, "reason": "psycopg-pool is not installed"},
        ],
    }

    # when the report renders the section and the headline row
    section = config_section(result, {"connections": 32, "config_duration": 10})
    row = headline("config", result)

    # then each configuration shows its runs' median (min–max), and the best is chosen by median
    assert section[-3:] == [
        "| sync 4w, CONN_MAX_AGE=60 | 3 | 880 (700–900) | 30.00 (30.00–30.00) | 62.00 (60.00–90.00) | 0 | 0 |",
        "| gthread 2w×4t, CONN_MAX_AGE=60 | 3 | 650 (640–990) | 30.00 (30.00–30.00) | 120.00 (95.00–130.00) | 2 | 0 |",
        "| sync 4w, psycopg pool of 1 per process | 0 | not available | | | | |",
    ]
    assert row[1] == "best measured: sync 4w, CONN_MAX_AGE=60, 880 req/s (median)"


def test_a_comparison_written_before_the_rounds_still_renders():
    # given results of the one-run comparison (each row holds its run's figures itself)
    result = {"default": SYNC_4, "runs": [{"config": SYNC_4, "available": True, **_config_run(917, 58)}]}

    assert config_section(result, {"connections": 32, "config_duration": 10})[-1] == (
        "| sync 4w, CONN_MAX_AGE=60 | 1 | 917 | 30.00 | 58.00 | 0 | 0 |"
    )
    assert headline("config", result)[1] == "best measured: sync 4w, CONN_MAX_AGE=60, 917 req/s (median)"
