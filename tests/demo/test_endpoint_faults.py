"""The fault schedule and counters, without sockets."""

from __future__ import annotations

import pytest

from budeval.demo.endpoint_faults import FaultPlan, Faults, Traffic, Verdict


def test_no_rate_means_no_faults() -> None:
    plan = FaultPlan()
    assert plan.period is None and [plan.status_for(n) for n in range(50)] == [None] * 50


@pytest.mark.parametrize(
    ("rate", "burst", "period"), [(0.1, 1, 10), (0.1, 3, 30), (0.5, 2, 4), (1.0, 4, 4)]
)
def test_the_share_of_failures_is_burst_over_period(rate: float, burst: int, period: int) -> None:
    plan = FaultPlan(rate, burst, "500")
    assert plan.period == period
    failures = [plan.status_for(n) for n in range(10 * period)]
    assert failures.count(500) == 10 * burst and failures.count(None) == 10 * (period - burst)
    assert failures[period - burst : period] == [500] * burst


def test_mixed_alternates_per_burst() -> None:
    plan = FaultPlan(0.5, 1, "mixed")
    assert [plan.status_for(n) for n in range(8)] == [None, 429, None, 500, None, 429, None, 500]


@pytest.mark.parametrize("bad", [{"rate": 1.5}, {"burst": 0}, {"status": "503"}])
def test_bad_plans_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(**bad)  # type: ignore[arg-type]


def test_queued_failures_come_first_and_do_not_advance_the_schedule() -> None:
    faults = Faults(FaultPlan(0.5, 1, "429"))
    faults.fail_next(2, 503)
    verdicts = [faults.judge().status for _ in range(5)]
    assert verdicts == [503, 503, None, 429, None]


def test_down_after_marks_the_nth_then_drops_until_cleared() -> None:
    faults = Faults(FaultPlan())
    faults.down_after(2)
    assert [faults.judge() for _ in range(4)] == [
        Verdict(),
        Verdict(then_down=True),
        Verdict(drop=True),
        Verdict(drop=True),
    ]
    faults.down_after(None)
    assert faults.judge() == Verdict()


def test_traffic_counts_in_flight_and_dropped_answers() -> None:
    traffic = Traffic()
    traffic.begin()
    traffic.begin()
    assert traffic.snapshot().in_flight == 2
    traffic.end("/v1/completions", 200)
    traffic.end("/v1/completions", 200)
    traffic.drop("/v1/completions", 200)
    counts = traffic.snapshot()
    assert (counts.total, counts.dropped, counts.max_in_flight, counts.in_flight) == (1, 1, 2, 0)
    assert counts.by_path == {"/v1/completions": 1}
