"""bench/report.py: the line fitted through the project's and the ceiling's CPU and throughput."""

import pytest

from bench.report import _cpu_fit


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
