"""The capacity tariff and the running interval against months worked out by hand.

Expected values are written out in the tests (with the arithmetic in a comment), never
recomputed with the module's own code; the property tests check the module against a
brute-force average computed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port import capacity
from custom_components.han_port.capacity import (
    DEFAULT_LADDER,
    HOUR,
    CapacityStatus,
    IntervalEnergy,
    LadderError,
    PeakMethod,
    RunningInterval,
    capacity_status,
    energy_totals,
    format_ladder,
    interval_start,
    month_peaks,
    parse_ladder,
    step_for,
)

from .han.conftest import bounded
from .han.test_purity import violations

OSLO = ZoneInfo("Europe/Oslo")
# Lede has no 0-2 step: its ladder starts at 5 kWh/h.
LEDE = (5.0, 10.0, 15.0, 20.0, 25.0, 50.0, 75.0, 100.0)


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in Oslo in 2026 (never inside a DST jump)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=OSLO)


def utc(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def row(start: datetime, kwh: float, *, estimated: bool = False) -> IntervalEnergy:
    """An hourly row as the accounting books it: UTC start on the hour."""
    return IntervalEnergy(start.astimezone(UTC), kwh, estimated)


def summary(status: CapacityStatus) -> list[tuple[float, date, int]]:
    return [(peak.value, peak.day, peak.hour) for peak in status.peaks]


# January 2026 (CET). Day maxima: 5th 7.4 (18h; its 6.2 at 08h and 1.5 at 19h do not
# count), 9th 5.1, 12th 4.3 (its 4.0 does not count), 16th 2.2, 20th 2.0 so far. The 15th's
# 9.0 is spread over a gap (estimated) and December's 12.0 is another month.
JANUARY = [
    row(local(1, 5, 8), 6.2),
    row(local(1, 5, 18), 7.4),
    row(local(1, 5, 19), 1.5),
    row(local(1, 9, 17), 5.1),
    row(local(1, 12, 7), 4.3),
    row(local(1, 12, 8), 4.0),
    row(local(1, 15, 3), 9.0, estimated=True),
    row(local(1, 16, 12), 2.2),
    row(local(1, 20, 8), 2.0),
    row(datetime(2025, 12, 31, 18, tzinfo=OSLO), 12.0),
]
JANUARY_NOW = local(1, 20, 17)


def test_three_highest_days_with_one_hour_per_day() -> None:
    status = capacity_status(JANUARY, JANUARY_NOW, OSLO)
    assert summary(status) == [
        (7.4, date(2026, 1, 5), 18),
        (5.1, date(2026, 1, 9), 17),
        (4.3, date(2026, 1, 12), 7),
    ]
    # (7.4 + 5.1 + 4.3) / 3 = 16.8 / 3
    assert status.average == 5.6
    assert status.step.number == 3
    assert status.step.label == "5\u201310 kWh/h"
    assert status.limit == 10.0
    assert status.month == date(2026, 1, 1)
    assert status.interval_start == utc(1, 20, 16)
    assert status.interval_end == utc(1, 20, 17)
    assert status.peaks[0].start == local(1, 5, 18)


def test_estimated_hours_never_count_as_peaks() -> None:
    status = capacity_status(JANUARY, JANUARY_NOW, OSLO)
    assert 9.0 not in [peak.value for peak in status.peaks]
    # Measured, the same 9.0 kWh would be the month's highest day: (9.0 + 7.4 + 5.1) / 3.
    measured = [row(local(1, 15, 3), 9.0) if r.estimated else r for r in JANUARY]
    assert capacity_status(measured, JANUARY_NOW, OSLO).average == 7.166667
    # It still counts as energy: the 5th to the 20th, 6.2+7.4+1.5+5.1+4.3+4.0+9.0+2.2+2.0.
    assert energy_totals(JANUARY, JANUARY_NOW, OSLO).month == pytest.approx(41.7)


def test_top_hour_method_takes_the_single_highest_hour() -> None:
    status = capacity_status(JANUARY, JANUARY_NOW, OSLO, method=PeakMethod.TOP_HOUR)
    assert summary(status) == [(7.4, date(2026, 1, 5), 18)]
    assert status.average == 7.4
    assert status.step.number == 3
    # This hour alone may reach 10 kWh - 1 mWh/h: 9999 W for the whole hour.
    assert status.headroom == 9999.0


# February 2026: the 2nd has two big hours; top days average (6.2 + 4.1 + 3.1) / 3 = 4.466667,
# the top hour is 6.2: the two methods put the month on different steps.
FEBRUARY = [
    row(local(2, 2, 8), 6.2),
    row(local(2, 2, 9), 5.9),
    row(local(2, 3, 18), 4.1),
    row(local(2, 4, 7), 3.1),
]


@pytest.mark.parametrize(
    ("method", "ladder", "expected"),
    [
        # Elvia: 2-5. This hour may lift the third day to 4.7: (6.2 + 4.1 + 4.7) / 3 = 5.
        (PeakMethod.TOP_DAYS, DEFAULT_LADDER, (4.466667, 2, "2\u20135 kWh/h", 4699.0)),
        (PeakMethod.TOP_HOUR, DEFAULT_LADDER, (6.2, 3, "5\u201310 kWh/h", 9999.0)),
        # Lede starts at 0-5: the same month is on its first step.
        (PeakMethod.TOP_DAYS, LEDE, (4.466667, 1, "0\u20135 kWh/h", 4699.0)),
        (PeakMethod.TOP_HOUR, LEDE, (6.2, 2, "5\u201310 kWh/h", 9999.0)),
    ],
)
def test_methods_and_ladders(
    method: PeakMethod, ladder: tuple[float, ...], expected: tuple[float, int, str, float]
) -> None:
    status = capacity_status(FEBRUARY, local(2, 10, 12), OSLO, method=method, ladder=ladder)
    assert (status.average, status.step.number, status.step.label, status.headroom) == expected


def test_a_value_exactly_on_a_limit_falls_in_the_step_above() -> None:
    rows = [row(local(3, 2, 8), 8.2), row(local(3, 3, 8), 5.1), row(local(3, 4, 8), 1.7)]
    # (8.2 + 5.1 + 1.7) / 3 = 5.0 exactly, though 4.999999999999999 in floating point.
    assert sum(r.energy for r in rows) / 3 < 5.0
    status = capacity_status(rows, local(3, 10, 12), OSLO)
    assert status.average == 5.0
    assert status.step.number == 3
    assert status.step.label == "5\u201310 kWh/h"


@pytest.mark.parametrize(
    ("value", "ladder", "expected"),
    [
        (0.0, DEFAULT_LADDER, (1, 0.0, 2.0, "0\u20132 kWh/h")),
        (1.999, DEFAULT_LADDER, (1, 0.0, 2.0, "0\u20132 kWh/h")),
        (2.0, DEFAULT_LADDER, (2, 2.0, 5.0, "2\u20135 kWh/h")),
        (4.999, DEFAULT_LADDER, (2, 2.0, 5.0, "2\u20135 kWh/h")),
        (25.0, DEFAULT_LADDER, (7, 25.0, 50.0, "25\u201350 kWh/h")),
        (99.999, DEFAULT_LADDER, (9, 75.0, 100.0, "75\u2013100 kWh/h")),
        (100.0, DEFAULT_LADDER, (10, 100.0, None, "\u2265 100 kWh/h")),
        (2.0, LEDE, (1, 0.0, 5.0, "0\u20135 kWh/h")),
        (5.0, LEDE, (2, 5.0, 10.0, "5\u201310 kWh/h")),
        (3.0, (2.5, 7.5), (2, 2.5, 7.5, "2.5\u20137.5 kWh/h")),
    ],
)
def test_steps(
    value: float, ladder: tuple[float, ...], expected: tuple[int, float, float | None, str]
) -> None:
    step = step_for(value, ladder)
    assert (step.number, step.lower, step.upper, step.label) == expected


def test_step_for_rounds_away_floating_point_noise() -> None:
    # (8.2 + 5.1 + 1.7) / 3 computes to 4.999999999999999: on the 5 kWh/h limit.
    assert step_for((8.2 + 5.1 + 1.7) / 3).number == 3
    assert step_for(4.9999994).number == 2


def test_headroom_through_an_hour() -> None:
    # The 20th is a new day among 7.4, 5.1, 4.3 and 2.2: the hour replaces 4.3 as soon as it
    # passes it, and 17.5 kWh would make (7.4 + 5.1 + 17.5) / 3 = 10.0, on the limit, which
    # is the step above. So: the largest whole watt that stays strictly below.
    def headroom(now: datetime, used: float) -> float | None:
        return capacity_status(JANUARY, now, OSLO, used=used).headroom

    assert headroom(local(1, 20, 17), 0.0) == 17499.0
    # 14.5 kWh left for half an hour is 29 000 W, on the limit.
    assert headroom(local(1, 20, 17, 30), 3.0) == 28999.0
    # 0.01 kWh left for the last minute is 600 W, on the limit.
    assert headroom(local(1, 20, 17, 59), 17.49) == 599.0
    # Exactly on the limit, and past it: nothing left, never negative.
    assert headroom(local(1, 20, 17, 45), 17.5) == 0.0
    assert headroom(local(1, 20, 17, 45), 20.0) == 0.0


def test_a_peak_within_the_last_milliwatt_below_a_limit_leaves_its_own_room() -> None:
    # 4.9999993 is on the 2-5 step (1 mWh/h resolution: 4.999999). Drawing up to that
    # same value this hour changes nothing, so that much is still allowed, not 0.
    rows = [row(local(1, 2, 8), 4.9999993)]
    status = capacity_status(rows, local(1, 2, 12), OSLO)
    assert status.average == 4.999999
    assert status.step.label == "2\u20135 kWh/h"
    assert status.headroom == 4999.0
    kept = capacity_status(rows, local(1, 2, 12), OSLO, estimate=4.999)
    assert kept.projected_step == status.step


def test_projected_step_with_the_running_hour() -> None:
    kept = capacity_status(JANUARY, JANUARY_NOW, OSLO, used=2.0, estimate=17.499)
    # (7.4 + 5.1 + 17.499) / 3 = 9.999667
    assert kept.projected_average == 9.999667
    assert kept.projected_step is not None
    assert kept.projected_step.number == 3
    raised = capacity_status(JANUARY, JANUARY_NOW, OSLO, used=2.0, estimate=17.5)
    assert raised.projected_average == 10.0
    assert raised.projected_step is not None
    assert raised.projected_step.label == "10\u201315 kWh/h"
    # A quiet hour below today's earlier 2.0 changes nothing.
    quiet = capacity_status(JANUARY, JANUARY_NOW, OSLO, estimate=0.5)
    assert quiet.projected_average == 5.6
    assert capacity_status(JANUARY, JANUARY_NOW, OSLO).projected_step is None


def test_open_top_step_has_no_headroom() -> None:
    rows = [row(local(1, 2, 8), 120.0), row(local(1, 3, 8), 110.0), row(local(1, 4, 8), 105.0)]
    status = capacity_status(rows, local(1, 10, 12), OSLO, used=30.0)
    # (120 + 110 + 105) / 3 = 111.666667
    assert status.average == 111.666667
    assert status.step.number == 10
    assert status.step.label == "\u2265 100 kWh/h"
    assert status.limit is None
    assert status.headroom is None


# February 2026 with few days: the 1st peaks at 3.0 (18h), the 2nd at 6.0 (19h).
FEW_DAYS = [
    row(local(2, 1, 10), 1.0),
    row(local(2, 1, 18), 3.0),
    row(local(2, 2, 19), 6.0),
]


def test_fewer_than_three_days_average_the_days_that_exist() -> None:
    status = capacity_status(FEW_DAYS, local(2, 3, 10), OSLO)
    assert summary(status) == [(6.0, date(2026, 2, 2), 19), (3.0, date(2026, 2, 1), 18)]
    # (6.0 + 3.0) / 2
    assert status.average == 4.5
    assert status.step.label == "2\u20135 kWh/h"
    # The third day's first hour is the third day: (6 + 3 + 6) / 3 = 5 is on the limit.
    assert status.headroom == 5999.0
    # A quiet third day lowers the average: (6 + 3 + 0.3) / 3 = 3.1.
    projected = capacity_status(FEW_DAYS, local(2, 3, 10), OSLO, estimate=0.3)
    assert projected.projected_average == 3.1


def test_the_first_day_and_the_first_hour_of_a_month() -> None:
    first_day = capacity_status(FEW_DAYS, local(2, 1, 20), OSLO)
    assert summary(first_day) == [(3.0, date(2026, 2, 1), 18)]
    assert first_day.average == 3.0
    # The same day: this hour may reach 5 kWh - 1 mWh.
    assert first_day.headroom == 4999.0
    first_hour = capacity_status(FEW_DAYS, local(2, 1, 0, 15), OSLO, used=0.25)
    assert first_hour.peaks == ()
    assert first_hour.average == 0.0
    assert first_hour.step.label == "0\u20132 kWh/h"
    # (2 kWh - 1 mWh - 0.25 kWh) over 45 minutes = 2333.332 W
    assert first_hour.headroom == 2333.0


@pytest.mark.parametrize(
    ("new_month", "old_day"),
    [
        # Local midnight on the 1st is 23:00 UTC in winter and 22:00 UTC in summer.
        (utc(1, 31, 23), date(2026, 1, 31)),
        (utc(7, 31, 22), date(2026, 7, 31)),
    ],
)
def test_month_changes_at_local_midnight(new_month: datetime, old_day: date) -> None:
    rows = [
        row(new_month - 2 * HOUR, 1.0),
        row(new_month - HOUR, 6.0),
        row(new_month, 2.5),
        row(new_month + HOUR, 1.0),
    ]
    # The last hour of the old month, seen during it: the hour before counts, in that month.
    old = capacity_status(rows, new_month - HOUR / 2, OSLO)
    assert summary(old) == [(1.0, old_day, 22)]
    # The first hour of the new month: nothing completed in it yet.
    first = capacity_status(rows, new_month, OSLO)
    assert first.month == old_day + timedelta(days=1)
    assert first.peaks == ()
    assert first.step.number == 1
    assert energy_totals(rows, new_month, OSLO) == capacity.EnergyTotals(today=0.0, month=0.0)
    later = capacity_status(rows, new_month + 2 * HOUR + HOUR / 2, OSLO)
    assert summary(later) == [(2.5, old_day + timedelta(days=1), 0)]
    assert energy_totals(rows, new_month + 2 * HOUR, OSLO) == capacity.EnergyTotals(3.5, 3.5)


def test_dst_day_in_march_has_23_hours() -> None:
    # 29 March 2026: 02:00 CET becomes 03:00 CEST; the local day is 23:00 to 22:00 UTC.
    peaks = {utc(3, 29, 1): 5.0, utc(3, 29, 21): 4.0, utc(3, 29, 22): 3.0}
    rows = [
        row(utc(3, 28, 23) + k * HOUR, peaks.get(utc(3, 28, 23) + k * HOUR, 1.0)) for k in range(24)
    ]
    status = capacity_status(rows, local(3, 30, 2), OSLO)
    # 01:00 UTC is 03:00 local; 22:00 UTC is already the 30th.
    assert summary(status) == [(5.0, date(2026, 3, 29), 3), (3.0, date(2026, 3, 30), 0)]
    # At 23:30 the day has had 22 completed hours: 21 x 1.0 + 5.0.
    assert energy_totals(rows, local(3, 29, 23, 30), OSLO).today == 26.0
    # The whole day is 23 rows: 21 x 1.0 + 5.0 + 4.0.
    assert energy_totals(rows, local(3, 30, 0, 30), OSLO) == capacity.EnergyTotals(0.0, 30.0)


def test_dst_day_in_october_has_25_hours() -> None:
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; the day is 22:00 to 23:00 UTC, and
    # 02:00 comes twice (00:00 and 01:00 UTC), both on the same day.
    peaks = {utc(10, 24, 21): 4.0, utc(10, 25, 0): 6.0, utc(10, 25, 1): 7.0, utc(10, 25, 23): 3.0}
    rows = [
        row(utc(10, 24, 21) + k * HOUR, peaks.get(utc(10, 24, 21) + k * HOUR, 0.5))
        for k in range(27)
    ]
    status = capacity_status(rows, utc(10, 26, 0), OSLO)
    assert summary(status) == [
        (7.0, date(2026, 10, 25), 2),
        (4.0, date(2026, 10, 24), 23),
        (3.0, date(2026, 10, 26), 0),
    ]
    # The second 02:00, in winter time.
    assert status.peaks[0].start.utcoffset() == HOUR
    # (7 + 4 + 3) / 3
    assert status.average == 4.666667
    # At 23:30 the day has had 24 completed hours: 22 x 0.5 + 6.0 + 7.0.
    assert energy_totals(rows, local(10, 25, 23, 30), OSLO).today == 24.0
    # The month so far: the 24th's 4.0, then 25 rows: 23 x 0.5 + 6.0 + 7.0.
    assert energy_totals(rows, local(10, 26, 0, 30), OSLO) == capacity.EnergyTotals(0.0, 28.5)


def test_quarter_hour_intervals_use_the_same_ladder() -> None:
    quarter = timedelta(minutes=15)
    rows = [
        row(local(1, 5, 18), 1.5),
        row(local(1, 5, 18, 15), 1.9),
        row(local(1, 9, 17, 45), 1.0),
    ]
    status = capacity_status(rows, local(1, 9, 18, 5), OSLO, used=0.5, interval=quarter)
    # 1.9 kWh in a quarter is 7.6 kWh/h; 1.0 kWh is 4.0 kWh/h: (7.6 + 4.0) / 2 = 5.8.
    assert summary(status) == [(7.6, date(2026, 1, 5), 18), (4.0, date(2026, 1, 9), 17)]
    assert status.average == 5.8
    assert status.interval_start == utc(1, 9, 17)
    assert status.interval_end == utc(1, 9, 17, 15)
    # The 9th may reach 12.4 kWh/h ((7.6 + 12.4) / 2 = 10): 3.1 kWh in the quarter, 2.6 kWh
    # left for 10 minutes is 15 600 W, on the limit.
    assert status.headroom == 15599.0


def test_month_peaks_and_interval_start() -> None:
    assert [p.value for p in month_peaks(JANUARY, JANUARY_NOW, OSLO, count=2)] == [7.4, 5.1]
    assert interval_start(local(1, 20, 17, 59, 59)) == utc(1, 20, 16)
    assert interval_start(local(1, 20, 17, 7), timedelta(minutes=15)) == utc(1, 20, 16)
    assert interval_start(local(1, 20, 17, 22), timedelta(minutes=15)) == utc(1, 20, 16, 15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: capacity_status(JANUARY, datetime(2026, 1, 20, 17), OSLO), "aware"),
        (
            lambda: capacity_status([IntervalEnergy(datetime(2026, 1, 2), 1.0)], JANUARY_NOW, OSLO),
            "aware",
        ),
        (lambda: capacity_status(JANUARY, JANUARY_NOW, OSLO, used=-1.0), "used"),
        (lambda: capacity_status(JANUARY, JANUARY_NOW, OSLO, estimate=float("nan")), "estimate"),
        (lambda: capacity_status(JANUARY, JANUARY_NOW, OSLO, count=0), "count"),
        (lambda: interval_start(JANUARY_NOW, timedelta(minutes=7)), "divide"),
        (lambda: interval_start(JANUARY_NOW, timedelta(0)), "divide"),
        (lambda: RunningInterval(max_gap=timedelta(0)), "max_gap"),
    ],
)
def test_bad_arguments_get_a_clear_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("text", "ladder"),
    [
        ("2, 5, 10, 15, 20, 25, 50, 75, 100", DEFAULT_LADDER),
        ("5 10 15 20 25 50 75 100", LEDE),
        (" 2,5 , 10, ", (2.0, 5.0, 10.0)),
        ("2.5, 5", (2.5, 5.0)),
        ("2,5; 5; 10", (2.5, 5.0, 10.0)),
    ],
)
def test_parse_ladder(text: str, ladder: tuple[float, ...]) -> None:
    assert parse_ladder(text) == ladder


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        ("", "empty", "at least one"),
        (" ;  ; ", "empty", "at least one"),
        ("2; 5,5,5", "not_a_number", "'5,5,5' is not a number"),
        ("2, five, 10", "not_a_number", "'five' is not a number"),
        ("2, nan", "not_a_number", "not a finite number"),
        ("2, inf", "not_a_number", "not a finite number"),
        ("0, 2", "not_positive", "0 must be above 0"),
        ("-2, 5", "not_positive", "-2 must be above 0"),
        ("5, 2", "not_increasing", "2 follows 5"),
        ("2, 2.5, 2.5", "not_increasing", "2.5 follows 2.5"),
        ("2,5; 5,5; 5", "not_increasing", "5 follows 5.5"),
    ],
)
def test_parse_ladder_errors(text: str, reason: str, message: str) -> None:
    with pytest.raises(LadderError, match=message) as caught:
        parse_ladder(text)
    assert caught.value.reason == reason


def test_an_unusable_ladder_is_refused_by_the_status() -> None:
    with pytest.raises(LadderError, match="must increase"):
        capacity_status(JANUARY, JANUARY_NOW, OSLO, ladder=(5.0, 2.0))


@given(st.lists(st.floats(0.001, 1000.0), min_size=1, max_size=12, unique=True))
@bounded(200)
def test_format_ladder_reads_back(limits: list[float]) -> None:
    ladder = tuple(sorted(limits))
    assert parse_ladder(format_ladder(ladder)) == ladder


# --- The running interval ------------------------------------------------------------------

START = utc(1, 20, 16)  # 17:00 in Oslo


def feed(running: RunningInterval, begin: datetime, end: datetime, watts: float) -> None:
    """Power samples every 10 s from `begin` up to and including `end`."""
    at = begin
    while at <= end:
        assert running.add_power(at, watts)
        at += timedelta(seconds=10)


def test_running_interval_constant_power() -> None:
    running = RunningInterval()
    feed(running, START, START + HOUR / 2, 3600.0)
    now = START + HOUR / 2
    # 3.6 kW for half an hour; the rest of the hour at the same power.
    assert running.used(now) == pytest.approx(1.8)
    assert running.estimate(now) == pytest.approx(3.6)
    assert running.power(now) == 3600.0


def test_running_interval_holds_the_last_value() -> None:
    running = RunningInterval()
    running.add_power(START, 0.0)
    running.add_power(START + timedelta(minutes=1), 6000.0)
    # Half a minute at the held 6 kW so far: 0.05 kWh.
    assert running.used(START + timedelta(minutes=1, seconds=30)) == pytest.approx(0.05)
    running.add_power(START + timedelta(minutes=2), 6000.0)
    # 0 W for the first minute, 6 kW for the second: 0.1 kWh (a trapezoid would say 0.15).
    assert running.used(START + timedelta(minutes=2)) == pytest.approx(0.1)


def test_running_interval_does_not_bridge_a_gap() -> None:
    running = RunningInterval()
    running.add_power(START + timedelta(minutes=5), 5000.0)
    # Silent for 20 minutes: the 5 kW is trusted for two, 5 x 2/60 kWh, and no more.
    during = START + timedelta(minutes=20)
    assert running.used(during) == pytest.approx(1 / 6)
    assert running.power(during) is None
    assert running.estimate(during) == pytest.approx(1 / 6)
    running.add_power(START + timedelta(minutes=25), 5000.0)
    assert running.used(START + timedelta(minutes=25)) == pytest.approx(1 / 6)


def test_running_interval_splits_at_the_boundary() -> None:
    running = RunningInterval()
    running.add_power(START + HOUR - timedelta(seconds=10), 3600.0)
    running.add_power(START + HOUR + timedelta(seconds=10), 3600.0)
    now = START + HOUR + timedelta(seconds=10)
    # 10 s of 3.6 kW on each side of 18:00: 0.01 kWh each.
    assert running.energies(now) == pytest.approx({START: 0.01, START + HOUR: 0.01})
    assert running.used(now) == pytest.approx(0.01)


def test_hour_end_register_replaces_the_estimate() -> None:
    running = RunningInterval()
    running.add_power(START, 3600.0)
    assert running.add_register(START, 1000.0)
    feed(running, START + timedelta(seconds=10), START + HOUR + timedelta(seconds=10), 3600.0)
    now = START + HOUR + timedelta(seconds=10)
    assert running.energies(now)[START] == pytest.approx(3.6)
    # The register for 18:00 arrives after the first sample of the new hour; the meter
    # says 3.2 kWh, and the new hour keeps its own 10 s (0.01 kWh).
    assert running.add_register(START + HOUR, 1003.2)
    assert running.energies(now) == pytest.approx({START: 3.2, START + HOUR: 0.01})
    assert running.used(now) == pytest.approx(0.01)


def test_a_missed_hour_end_register_spreads_the_difference() -> None:
    running = RunningInterval()
    feed(running, START, START + 2 * HOUR, 3600.0)
    running.add_register(START, 1000.0)
    # No register at 18:00; at 19:00 the meter says 6.0 kWh for the two hours, not 7.2:
    # the 1.2 kWh difference is spread over the time it built up in, 0.6 kWh an hour.
    running.add_register(START + 2 * HOUR, 1006.0)
    energies = running.energies(START + 2 * HOUR)
    assert energies == pytest.approx({START: 3.0, START + HOUR: 3.0})


def test_mid_interval_registers_re_anchor_the_running_hour() -> None:
    running = RunningInterval()
    feed(running, START, START + timedelta(minutes=20), 3600.0)
    running.add_register(START, 1003.2)
    running.add_register(START + timedelta(minutes=20), 1004.5)
    # The registers, not the 1.2 kWh the power gives, say what was used.
    assert running.used(START + timedelta(minutes=20)) == pytest.approx(1.3)
    feed(running, START + timedelta(minutes=20), START + HOUR / 2, 1800.0)
    # Then 1.8 kW for 10 minutes: 0.3 kWh more.
    assert running.used(START + HOUR / 2) == pytest.approx(1.6)


def test_a_register_between_two_samples() -> None:
    running = RunningInterval()
    feed(running, START, START + timedelta(minutes=6), 3600.0)
    running.add_register(START, 1000.0)
    # Read at 5 min 5 s, between the samples at 5:00 and 5:10: the meter counted 0.31 kWh,
    # 0.005 more than 3.6 kW for 305 s; the minute after keeps its 0.055 kWh.
    assert running.add_register(START + timedelta(minutes=5, seconds=5), 1000.31)
    assert running.used(START + timedelta(minutes=5, seconds=5)) == pytest.approx(0.31)
    assert running.used(START + timedelta(minutes=6)) == pytest.approx(0.365)


def test_first_register_only_sets_the_origin() -> None:
    running = RunningInterval()
    feed(running, START, START + HOUR / 2, 3600.0)
    assert running.add_register(START + timedelta(minutes=10), 500.0)
    assert running.used(START + HOUR / 2) == pytest.approx(1.8)


def test_running_interval_refuses_what_it_cannot_place() -> None:
    running = RunningInterval()
    assert running.used(START) == 0.0
    assert running.energies(START) == {}
    assert running.power(START) is None
    running.add_power(START + timedelta(minutes=1), 1000.0)
    # Nothing is known before the first sample, nor for the instant of it.
    assert running.used(START + timedelta(seconds=30)) == 0.0
    assert running.energies(START + timedelta(minutes=1)) == {}
    assert not running.add_power(START, 1000.0)
    assert not running.add_register(START, 10.0)
    assert running.add_register(START + timedelta(minutes=2), 10.0)
    assert not running.add_register(START + timedelta(minutes=1, seconds=30), 9.0)
    with pytest.raises(ValueError, match="at least 0"):
        running.add_power(START + timedelta(minutes=3), -5.0)
    with pytest.raises(ValueError, match="finite"):
        running.add_power(START + timedelta(minutes=3), float("nan"))
    with pytest.raises(ValueError, match="aware"):
        running.add_power(datetime(2026, 1, 20, 17, 3), 1.0)
    with pytest.raises(ValueError, match="total"):
        running.add_register(START + timedelta(minutes=3), float("inf"))
    # What was refused changed nothing: 1 kW for a minute.
    assert running.used(START + timedelta(minutes=2)) == pytest.approx(1 / 60)


def test_a_register_before_any_power_is_the_origin() -> None:
    running = RunningInterval()
    assert running.add_register(START, 1000.0)
    # No power yet: nothing is extrapolated.
    assert running.used(START + timedelta(seconds=30)) == 0.0
    running.add_power(START, 3600.0)
    running.add_power(START + timedelta(minutes=1), 3600.0)
    running.add_register(START + timedelta(minutes=1), 1000.05)
    assert running.used(START + timedelta(minutes=1)) == pytest.approx(0.05)


def test_running_interval_keeps_a_day_of_intervals() -> None:
    running = RunningInterval()
    now = START + timedelta(hours=30, minutes=30)
    at = START
    while at <= now:
        running.add_power(at, 3600.0)
        at += timedelta(minutes=1)
    energies = running.energies(now)
    # A day back from the last hour change (at START + 30 h), every full hour at 3.6 kW,
    # and the running half hour.
    assert min(energies) == START + timedelta(hours=6)
    assert len(energies) == 25
    current = START + timedelta(hours=30)
    assert energies.pop(current) == pytest.approx(1.8)
    assert energies == pytest.approx(dict.fromkeys(energies, 3.6))


def test_energy_today_and_month_with_the_running_hour() -> None:
    # The 19th: 1.0 kWh. The 20th: 00:00 to 16:00 at 0.5 kWh, 03:00 estimated.
    rows = [row(local(1, 19, 12), 1.0)] + [
        row(local(1, 20, hour), 0.5, estimated=hour == 3) for hour in range(17)
    ]
    running = RunningInterval()
    feed(running, local(1, 20, 17), local(1, 20, 18, 0, 10), 3600.0)
    now = local(1, 20, 18, 0, 10)
    # Before 17:00's row is booked: 17 x 0.5 + the running estimate 3.6 + 10 s at 3.6 kW.
    totals = energy_totals(rows, now, OSLO, running)
    assert totals.today == pytest.approx(12.11)
    assert totals.month == pytest.approx(13.11)
    # The meter's 17:00 row (3.2 kWh) replaces the estimate.
    booked = energy_totals([*rows, row(local(1, 20, 17), 3.2)], now, OSLO, running)
    assert booked.today == pytest.approx(11.71)
    with pytest.raises(ValueError, match="running interval"):
        energy_totals(rows, now, OSLO, running, interval=timedelta(minutes=15))


def test_running_hour_feeds_the_capacity_status() -> None:
    running = RunningInterval()
    feed(running, JANUARY_NOW, JANUARY_NOW + timedelta(minutes=20), 30000.0)
    now = JANUARY_NOW + timedelta(minutes=20)
    status = capacity_status(
        JANUARY, now, OSLO, used=running.used(now), estimate=running.estimate(now)
    )
    # 30 kW all hour is 30 kWh: (7.4 + 5.1 + 30) / 3 = 14.166667.
    assert status.projected_average == 14.166667
    # 10 kWh used in 20 minutes; 7.5 kWh left for 40 minutes is 11 250 W, on the limit.
    assert status.headroom == 11249.0


def test_the_module_is_pure() -> None:
    source = Path(capacity.__file__).read_text(encoding="utf-8")
    assert violations(source) == []


# --- Properties ------------------------------------------------------------------------------


def brute_average(
    rows: list[IntervalEnergy], before: datetime, month: date, method: PeakMethod, count: int
) -> float:
    """The month's peak average by the tariff's words, independent of the module's code."""
    best: dict[object, float] = {}
    for r in rows:
        start = r.start.astimezone(OSLO)
        if (
            r.estimated
            or r.start >= before
            or (start.year, start.month) != (month.year, month.month)
        ):
            continue
        key: object = r.start if method is PeakMethod.TOP_HOUR else start.date()
        best[key] = max(best.get(key, -1.0), r.energy)
    chosen = sorted(best.values(), reverse=True)[: 1 if method is PeakMethod.TOP_HOUR else count]
    return sum(chosen) / len(chosen) if chosen else 0.0


@dataclass(frozen=True)
class Month:
    """A month of hourly rows, a moment in it and what the tariff is set to."""

    rows: list[IntervalEnergy]
    now: datetime
    used: float
    method: PeakMethod
    count: int
    ladder: tuple[float, ...]

    def status(self, estimate: float | None = None) -> CapacityStatus:
        return capacity_status(
            self.rows,
            self.now,
            OSLO,
            used=self.used,
            estimate=estimate,
            ladder=self.ladder,
            method=self.method,
            count=self.count,
        )

    def average_with(self, status: CapacityStatus, kwh: float) -> float:
        """The brute-force average once the current hour is booked with `kwh`."""
        completed = [r for r in self.rows if r.start < status.interval_start]
        booked = [*completed, row(status.interval_start, kwh)]
        return brute_average(booked, status.interval_end, status.month, self.method, self.count)


@st.composite
def months(draw: st.DrawFn) -> Month:
    # Hours counted in UTC from the local month start, so no time falls in a DST jump;
    # energies in whole Wh, the meters' resolution.
    base = draw(st.sampled_from([local(1, 1, 0), local(3, 1, 0), local(10, 1, 0)]))
    base = base.astimezone(UTC)
    raw = st.tuples(st.integers(0, 31 * 24), st.integers(0, 30_000), st.booleans())
    rows = [row(base + k * HOUR, wh / 1000, estimated=e) for k, wh, e in draw(st.lists(raw))]
    hour = draw(st.integers(0, 31 * 24 - 2))
    now = base + hour * HOUR + timedelta(seconds=draw(st.integers(0, 3599)))
    return Month(
        rows=rows,
        now=now,
        used=draw(st.integers(0, 30_000)) / 1000,
        method=draw(st.sampled_from(PeakMethod)),
        count=draw(st.integers(1, 4)),
        ladder=draw(st.sampled_from([DEFAULT_LADDER, LEDE])),
    )


@given(months())
@bounded(300)
def test_drawing_the_headroom_keeps_the_step(month: Month) -> None:
    status = month.status()
    expected = brute_average(
        month.rows, status.interval_start, status.month, month.method, month.count
    )
    assert status.average == pytest.approx(expected, abs=1e-6)
    if status.limit is None:
        assert status.headroom is None
        return
    assert status.headroom is not None
    assert status.headroom >= 0
    left = (status.interval_end - month.now) / HOUR
    drawn = month.used + status.headroom / 1000 * left
    if status.headroom > 0:
        assert month.average_with(status, drawn) < status.limit
        projected = month.status(estimate=drawn).projected_step
        assert projected is not None
        assert projected.number <= status.step.number
    # And the headroom is no more than 1 W short: 2 Wh more would cross the limit.
    assert month.average_with(status, drawn + 0.002) >= status.limit


@given(
    gaps=st.lists(st.integers(1, 600), min_size=1, max_size=60),
    watts=st.lists(st.integers(0, 20_000), min_size=61, max_size=61),
)
@bounded(200)
def test_running_energy_is_the_held_power_never_decreasing(
    gaps: list[int], watts: list[int]
) -> None:
    running = RunningInterval(max_gap=timedelta(minutes=2))
    at = START + timedelta(minutes=17)
    running.add_power(at, watts[0])
    expected = 0.0
    previous_used = 0.0
    for gap, power, held in zip(gaps, watts[1:], watts, strict=False):
        previous_at = at
        at += timedelta(seconds=gap)
        # Each sample holds until the next one, at most two minutes.
        expected += held * min(gap, 120) / 3_600_000
        running.add_power(at, power)
        assert sum(running.energies(at).values()) == pytest.approx(expected, abs=1e-9)
        used = running.used(at)
        if interval_start(previous_at) == interval_start(at):
            assert used >= previous_used
        previous_used = used
