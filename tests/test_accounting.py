"""Hourly accounting: rows in the hour the energy was used, gaps, restarts, DST, cost.

Expected numbers are worked out by hand in the comments, not by the module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.han_port.accounting import (
    HourlyRegister,
    HourRow,
    hour_cost,
    mean_price,
    price_factor_per_kwh,
    snapshot_time,
)
from custom_components.han_port.han.model import Obis, Reading
from custom_components.han_port.han.stream import StreamDecoder
from devtools.corpus import capture

from .conftest import AIDON_LIST3, KAIFA_LIST3

OSLO = ZoneInfo("Europe/Oslo")


def utc(*fields: int) -> datetime:
    """An aware UTC time from (year, month, day, hour, minute, second)."""
    return datetime(*fields).replace(tzinfo=UTC)


def decoded(corpus_id: str) -> Reading:
    """The reading the project's decoder makes of a real capture."""
    events = StreamDecoder().feed(capture(corpus_id))
    readings = [event for event in events if isinstance(event, Reading)]
    assert len(readings) == 1
    return readings[0]


# --- hour-end meters -------------------------------------------------------------------

# A winter day of hourly energy (kWh), 00-01 UTC first; hand total 27.97 kWh.
DAY = [0.42, 0.38, 0.35, 0.33, 0.36, 0.51, 1.27, 2.04, 1.66, 1.12, 0.98, 0.87,
       0.91, 0.84, 0.95, 1.31, 2.22, 2.87, 2.41, 1.95, 1.58, 1.23, 0.86, 0.55]  # fmt: skip


def test_aidon_like_day_books_each_hour_where_it_was_used() -> None:
    """25 list 3 readings at hh:00:02..hh:00:10 give 24 rows, one per hour used."""
    register = HourlyRegister()
    value = 94064.59  # the aidon-no-list3 capture's import register
    rows: list[HourRow] = []
    for hour in range(25):
        boundary = utc(2025, 1, 15) + timedelta(hours=hour)
        # Aidon stamps hh:00:00 with deviation 0 but (reportedly) Norwegian standard
        # time: the stated hour is one off, which must not matter.
        meter_time = boundary + timedelta(hours=1)
        rows += register.add(value, boundary + timedelta(seconds=2 + hour % 9), meter_time)
        if hour < 24:
            value = round(value + DAY[hour], 2)
    assert [row.start for row in rows] == [
        utc(2025, 1, 15) + timedelta(hours=hour) for hour in range(24)
    ]
    assert [row.energy for row in rows] == pytest.approx(DAY, abs=1e-6)
    assert rows[0].sum == pytest.approx(0.42, abs=1e-6)
    assert rows[-1].sum == pytest.approx(27.97, abs=1e-6)
    assert rows[-1].state == pytest.approx(94092.56)  # 94064.59 + 27.97
    assert not any(row.estimated for row in rows)
    assert register.last_boundary == utc(2025, 1, 16)


def test_first_reading_only_sets_the_baseline() -> None:
    register = HourlyRegister()
    # Started mid-hour: no boundary value yet, so nothing to count from.
    assert register.add(499.7, utc(2025, 1, 15, 9, 20)) == []
    assert register.last_boundary is None
    assert register.running_energy is None
    assert register.last_value == 499.7
    assert register.add(500.0, utc(2025, 1, 15, 10, 0, 5)) == []
    assert register.sum == 0.0
    assert register.last_boundary == utc(2025, 1, 15, 10)
    assert register.boundary_value == 500.0
    assert register.add(501.5, utc(2025, 1, 15, 11, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 10), 1.5, 1.5, 501.5)
    ]


def test_a_reading_outside_the_window_is_not_a_boundary() -> None:
    """Without a meter clock, 4:59 after the hour is a boundary and 5:00 is not."""
    register = HourlyRegister()
    register.add(10.0, utc(2025, 1, 15, 10, 4, 59))
    assert register.last_boundary == utc(2025, 1, 15, 10)
    assert register.add(11.0, utc(2025, 1, 15, 11, 5, 0)) == []
    assert register.last_boundary == utc(2025, 1, 15, 10)
    assert register.running_energy == 1.0
    # 12:00 is the next boundary seen: 11:00 had none, so the two hours share 2.0.
    assert register.add(12.0, utc(2025, 1, 15, 12, 0, 30)) == [
        HourRow(utc(2025, 1, 15, 10), 1.0, 1.0, None, estimated=True),
        HourRow(utc(2025, 1, 15, 11), 1.0, 2.0, 12.0, estimated=True),
    ]


# --- meters that stream their registers ------------------------------------------------

P1_STEP_WH = {12: 2, 13: 5, 14: 1, 15: 3}  # Wh per 10 s reading, by UTC hour


@pytest.mark.parametrize("with_meter_clock", [False, True])
def test_p1_stream_books_the_first_reading_after_each_boundary(with_meter_clock: bool) -> None:
    """A register every 10 s from 12:00:07 to 15:00:07.

    Reading n arrives at 12:00:07 + 10n s; each adds the step of its hour. The first
    reading after 13:00 is n = 360 (13:00:07), after 14:00 n = 720, after 15:00
    n = 1080. By hand: 12-13 = 359 x 2 + 5 = 723 Wh; 13-14 = 359 x 5 + 1 = 1796 Wh;
    14-15 = 359 x 1 + 3 = 362 Wh.
    """
    register = HourlyRegister()
    wh = 5_000_000
    rows: list[HourRow] = []
    for n in range(1081):
        arrival = utc(2025, 1, 15, 12, 0, 7) + timedelta(seconds=10 * n)
        if n:
            wh += P1_STEP_WH[arrival.hour]
        # Swedish P1: naive local time (CET), the meter clock 3 s behind.
        meter_time = (
            (arrival - timedelta(seconds=3)).astimezone(OSLO).replace(tzinfo=None)
            if with_meter_clock
            else None
        )
        rows += register.add(wh / 1000, arrival, meter_time)
        if n == 180:  # 12:30:07: 180 readings of 2 Wh into the hour
            assert register.running_energy == pytest.approx(0.360)
    assert rows == [
        HourRow(utc(2025, 1, 15, 12), pytest.approx(0.723), pytest.approx(0.723), 5000.723),
        HourRow(utc(2025, 1, 15, 13), pytest.approx(1.796), pytest.approx(2.519), 5002.519),
        HourRow(utc(2025, 1, 15, 14), pytest.approx(0.362), pytest.approx(2.881), 5002.881),
    ]


# --- gaps and restarts -----------------------------------------------------------------


def test_three_silent_hours_are_spread_evenly_and_marked_estimated() -> None:
    register = HourlyRegister()
    register.add(100.0, utc(2025, 1, 15, 10, 0, 5))
    assert register.add(101.5, utc(2025, 1, 15, 11, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 10), 1.5, 1.5, 101.5)
    ]
    # Silent until 14:00: (105.1 - 101.5) / 3 = 1.2 for each of 11, 12 and 13.
    rows = register.add(105.1, utc(2025, 1, 15, 14, 0, 5))
    assert [row.start for row in rows] == [utc(2025, 1, 15, h) for h in (11, 12, 13)]
    assert [row.energy for row in rows] == pytest.approx([1.2, 1.2, 1.2])
    assert [row.sum for row in rows] == pytest.approx([2.7, 3.9, 5.1])
    assert [row.state for row in rows] == [None, None, 105.1]
    assert all(row.estimated for row in rows)


LAST = HourRow(utc(2025, 1, 15, 10), 1.25, 1.25, 201.25)  # as imported before a restart


def test_restart_at_hh_00_03_books_nothing_twice() -> None:
    """The row for 10-11 was written at 11:00:05; the restart reads 11:00 again."""
    register = HourlyRegister(last=LAST)
    assert register.last_boundary == utc(2025, 1, 15, 11)
    assert register.add(201.26, utc(2025, 1, 15, 11, 0, 3)) == []
    assert register.add(202.0, utc(2025, 1, 15, 12, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 11), pytest.approx(0.75), 2.0, 202.0)
    ]


def test_restart_mid_hour_continues_the_running_hour() -> None:
    register = HourlyRegister(last=LAST)
    assert register.add(201.9, utc(2025, 1, 15, 11, 37)) == []
    assert register.running_energy == pytest.approx(0.65)
    assert register.add(202.0, utc(2025, 1, 15, 12, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 11), pytest.approx(0.75), 2.0, 202.0)
    ]


def test_restart_hours_later_fills_the_gap() -> None:
    # (204.25 - 201.25) / 3 hours = 1.0 each for 11, 12, 13.
    rows = HourlyRegister(last=LAST).add(204.25, utc(2025, 1, 15, 14, 0, 5))
    assert rows == [
        HourRow(utc(2025, 1, 15, 11), 1.0, 2.25, None, estimated=True),
        HourRow(utc(2025, 1, 15, 12), 1.0, 3.25, None, estimated=True),
        HourRow(utc(2025, 1, 15, 13), 1.0, 4.25, 204.25, estimated=True),
    ]


def test_restart_from_a_row_without_state_takes_a_new_baseline() -> None:
    register = HourlyRegister(last=HourRow(utc(2025, 1, 15, 10), 1.0, 7.0, None, True))
    assert register.add(50.0, utc(2025, 1, 15, 11, 0, 5)) == []
    assert register.add(51.0, utc(2025, 1, 15, 12, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 11), 1.0, 8.0, 51.0)
    ]


def test_last_row_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        HourlyRegister(last=HourRow(datetime(2025, 1, 15, 10), 1.0, 1.0, 1.0))


# --- the meter's clock -----------------------------------------------------------------


def test_snapshot_time_uses_the_meter_minutes_and_seconds() -> None:
    hour = utc(2025, 1, 15, 13)
    # Naive local (CET) 14:00:05 arriving at 12:59:58 UTC: the meter is 7 s ahead.
    assert snapshot_time(utc(2025, 1, 15, 12, 59, 58), datetime(2025, 1, 15, 14, 0, 5)) == (
        hour + timedelta(seconds=5)
    )
    # Four minutes late (a slow meter, or a slow link): still the 13:00 snapshot.
    assert snapshot_time(utc(2025, 1, 15, 13, 4, 5), datetime(2025, 1, 15, 14, 0, 5)) == (
        hour + timedelta(seconds=5)
    )
    # Nine minutes ahead is within the tolerance.
    assert snapshot_time(utc(2025, 1, 15, 12, 51, 5), datetime(2025, 1, 15, 14, 0, 5)) == (
        hour + timedelta(seconds=5)
    )
    # A P1 telegram stamped 13:59:58 local arriving at 13:00:01: taken before the hour.
    assert snapshot_time(utc(2025, 1, 15, 13, 0, 1), datetime(2025, 1, 15, 13, 59, 58)) == (
        hour - timedelta(seconds=2)
    )
    # An aware time is read in UTC: 18:30:05+05:30 is 13:00:05 UTC.
    india = datetime(2025, 1, 15, 18, 30, 5, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert snapshot_time(utc(2025, 1, 15, 13, 0, 9), india) == hour + timedelta(seconds=5)


def test_a_meter_clock_far_from_arrival_is_ignored() -> None:
    arrival = utc(2025, 1, 15, 13, 20)
    assert snapshot_time(arrival, datetime(2025, 1, 15, 14, 0, 5)) == arrival
    assert snapshot_time(arrival, None) == arrival
    # A register stamped hh:00:05 that arrives at 13:20 is not the 13:00 value.
    register = HourlyRegister()
    register.add(1.0, arrival, datetime(2025, 1, 15, 14, 0, 5))
    assert register.last_boundary is None


def test_meter_clock_a_little_ahead_books_the_right_boundary() -> None:
    """Hour-end meter 7 s ahead of the caller: the register arrives before the hour."""
    with_clock, without = HourlyRegister(), HourlyRegister()
    for register, clock in ((with_clock, True), (without, False)):
        register.add(
            10.0, utc(2025, 1, 15, 11, 59, 58), datetime(2025, 1, 15, 13, 0, 5) if clock else None
        )
        register.add(
            12.5, utc(2025, 1, 15, 12, 59, 58), datetime(2025, 1, 15, 14, 0, 5) if clock else None
        )
    assert with_clock.last_boundary == utc(2025, 1, 15, 13)
    assert with_clock.sum == 2.5
    # Arrival alone puts both readings 59:58 into an hour: no boundary at all.
    assert without.last_boundary is None


def test_aidon_capture_clock_fits_both_readings_of_its_zone() -> None:
    """aidon-no-list3: 21:00:00, deviation 0, DST bit clear, in July.

    The decoder makes that 21:00 UTC. Were it local summer time, it arrived at about
    19:00:02 UTC; either way the register is the value at the hour it arrived in.
    """
    reading = decoded(AIDON_LIST3)
    assert reading.timestamp == utc(2020, 7, 21, 21)
    value = reading.values[Obis.parse("1-0:1.8.0")].value
    assert isinstance(value, float)
    assert value == 94064.59
    for arrival in (utc(2020, 7, 21, 21, 0, 2), utc(2020, 7, 21, 19, 0, 2)):
        assert snapshot_time(arrival, reading.timestamp) == arrival.replace(second=0)
        register = HourlyRegister()
        register.add(value, arrival, reading.timestamp)
        assert register.last_boundary == arrival.replace(second=0)


def test_kaifa_capture_clock_is_local_time() -> None:
    """kaifa-no-list3 was logged at 2017-09-13 00:00:11.761 local (CEST) time.

    Its clock says 00:00:10 with no deviation: local time, 22:00:10 UTC.
    """
    reading = decoded(KAIFA_LIST3)
    assert reading.timestamp == datetime(2017, 9, 13, 0, 0, 10)
    arrival = datetime(2017, 9, 13, 0, 0, 11, 761000, tzinfo=OSLO)
    assert snapshot_time(arrival, reading.timestamp) == utc(2017, 9, 12, 22, 0, 10)


def test_aidon_repeating_the_previous_hour_is_stale() -> None:
    """Four list 3 payloads from amsreader-firmware issue 1119 (December, CET).

    The 18:00 payload repeats 17:00's registers and clock. Booking it would give
    17-18 zero and 18-19 8.056; stale, the two hours share 8.056 / 2 = 4.028.
    """
    register = HourlyRegister()
    rows: list[HourRow] = []
    for local_hour, meter_hour, value in (
        (16, 16, 109552.248),
        (17, 17, 109554.016),
        (18, 17, 109554.016),
        (19, 19, 109562.072),
    ):
        arrival = datetime(2025, 12, 14, local_hour, 0, 11, tzinfo=OSLO)
        rows += register.add(value, arrival, datetime(2025, 12, 14, meter_hour))
    assert register.stale == 1
    assert [(row.start, row.estimated) for row in rows] == [
        (utc(2025, 12, 14, 15), False),
        (utc(2025, 12, 14, 16), True),
        (utc(2025, 12, 14, 17), True),
    ]
    assert [row.energy for row in rows] == pytest.approx([1.768, 4.028, 4.028])
    assert rows[-1].sum == pytest.approx(9.824)  # 109562.072 - 109552.248


# --- daylight saving time --------------------------------------------------------------


def hour_end_day(
    first: datetime, hours: int, energy: dict[datetime, float]
) -> tuple[list[HourRow], list[datetime]]:
    """Kamstrup-like readings hh:00:05 (naive local meter clock) from `first`, UTC.

    Returns the rows and the meter times sent.
    """
    register = HourlyRegister()
    value = 1000.0
    rows: list[HourRow] = []
    meter_times: list[datetime] = []
    for hour in range(hours + 1):
        boundary = first + timedelta(hours=hour)
        meter_time = (boundary + timedelta(seconds=5)).astimezone(OSLO).replace(tzinfo=None)
        meter_times.append(meter_time)
        rows += register.add(value, boundary + timedelta(seconds=6), meter_time)
        value += energy.get(boundary, 1.0)
    return rows, meter_times


def test_march_change_day_has_23_hours() -> None:
    """2025-03-30 in Oslo: 00:00 CET (23:00 UTC the day before) to 24:00 CEST (22:00 UTC)."""
    rows, meter_times = hour_end_day(utc(2025, 3, 29, 23), 23, {})
    assert [moment.hour for moment in meter_times][:4] == [0, 1, 3, 4]
    assert len(rows) == 23
    assert rows[0].start == utc(2025, 3, 29, 23)
    assert rows[-1].start == utc(2025, 3, 30, 21)
    local = [row.start.astimezone(OSLO) for row in rows]
    assert {moment.date() for moment in local} == {datetime(2025, 3, 30).date()}
    assert [moment.hour for moment in local][:4] == [0, 1, 3, 4]  # 02:00 does not exist
    assert rows[-1].sum == 23.0


def test_october_change_day_has_25_hours_and_two_two_oclocks() -> None:
    """2025-10-26 in Oslo: 00:00 CEST (22:00 UTC) to 24:00 CET (23:00 UTC).

    The meter says 02:00:05 twice, at 00:00:05 and 01:00:05 UTC. The first 02-03 hour
    used 0.7 kWh, the second 0.4, every other hour 1.0: total 23 + 1.1 = 24.1.
    """
    rows, meter_times = hour_end_day(
        utc(2025, 10, 25, 22), 25, {utc(2025, 10, 26, 0): 0.7, utc(2025, 10, 26, 1): 0.4}
    )
    assert meter_times[2] == meter_times[3] == datetime(2025, 10, 26, 2, 0, 5)
    assert len(rows) == 25
    assert rows[0].start == utc(2025, 10, 25, 22)
    assert rows[-1].start == utc(2025, 10, 26, 22)
    by_start = {row.start: row.energy for row in rows}
    assert by_start[utc(2025, 10, 26, 0)] == pytest.approx(0.7)
    assert by_start[utc(2025, 10, 26, 1)] == pytest.approx(0.4)
    local = [row.start.astimezone(OSLO) for row in rows]
    assert [moment.hour for moment in local][:5] == [0, 1, 2, 2, 3]
    assert rows[-1].sum == pytest.approx(24.1)


# --- decreases and junk ----------------------------------------------------------------


def test_meter_swap_rebases_without_a_negative_hour() -> None:
    register = HourlyRegister()
    register.add(5000.0, utc(2025, 1, 15, 10, 0, 5))
    register.add(5001.2, utc(2025, 1, 15, 11, 0, 5))
    rows = register.add(3.4, utc(2025, 1, 15, 12, 0, 5))  # the new meter
    assert rows == [HourRow(utc(2025, 1, 15, 11), 0.0, pytest.approx(1.2), 3.4, estimated=True)]
    assert register.rebased == 1
    assert register.add(4.4, utc(2025, 1, 15, 13, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 12), pytest.approx(1.0), pytest.approx(2.2), 4.4)
    ]
    assert register.rebased == 1


def test_a_reset_mid_hour_keeps_what_can_be_known() -> None:
    """100.0 at 10:00, 100.5 at 10:20, reset to 0.2 at 10:40, 0.5 at 11:00.

    Known: 0.5 before the reset and 0.3 after: 0.8 (the 10:20-10:40 part is lost).
    """
    register = HourlyRegister()
    register.add(100.0, utc(2025, 1, 15, 10, 0, 5))
    register.add(100.5, utc(2025, 1, 15, 10, 20))
    register.add(0.2, utc(2025, 1, 15, 10, 40))
    assert register.rebased == 1
    assert register.running_energy == pytest.approx(0.5)
    assert register.add(0.5, utc(2025, 1, 15, 11, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 10), pytest.approx(0.8), pytest.approx(0.8), 0.5, True)
    ]


def test_a_float_noise_drop_is_no_change() -> None:
    """100.5 x 1e-9 = 1.005e-7: a drop of 5e-8 is noise, a drop of 1e-6 is not."""
    register = HourlyRegister()
    register.add(100.0, utc(2025, 1, 15, 10, 0, 5))
    register.add(100.5, utc(2025, 1, 15, 10, 30))
    register.add(100.5 - 5e-8, utc(2025, 1, 15, 10, 31))
    assert register.rebased == 0
    assert register.last_value == 100.5
    assert register.add(100.5, utc(2025, 1, 15, 11, 0, 5)) == [
        HourRow(utc(2025, 1, 15, 10), 0.5, 0.5, 100.5)
    ]
    register.add(100.5 - 1e-6, utc(2025, 1, 15, 11, 30))
    assert register.rebased == 1


def test_junk_values_are_ignored_and_counted() -> None:
    register = HourlyRegister()
    register.add(10.0, utc(2025, 1, 15, 10, 0, 5))
    for junk in (math.nan, math.inf, -math.inf, -1.0):
        assert register.add(junk, utc(2025, 1, 15, 11, 0, 5)) == []
    assert register.ignored == 4
    assert register.last_value == 10.0
    assert register.last_boundary == utc(2025, 1, 15, 10)
    assert register.add(11.0, utc(2025, 1, 15, 11, 0, 6)) == [
        HourRow(utc(2025, 1, 15, 10), 1.0, 1.0, 11.0)
    ]


def test_a_naive_arrival_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        HourlyRegister().add(1.0, datetime(2025, 1, 15, 10))


@pytest.mark.parametrize(
    ("window", "tolerance"),
    [(timedelta(0), timedelta(minutes=1)), (timedelta(hours=1), timedelta(minutes=1)),
     (timedelta(minutes=5), timedelta(minutes=30)), (timedelta(minutes=5), timedelta(-1))],
)  # fmt: skip
def test_settings_out_of_range_are_refused(window: timedelta, tolerance: timedelta) -> None:
    with pytest.raises(ValueError, match="must be"):
        HourlyRegister(window=window, clock_tolerance=tolerance)


# --- properties ------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=3 * 3600),  # seconds since the previous reading
        st.integers(min_value=0, max_value=10_000),  # Wh since the previous reading
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=3599),
    steps=steps,
    meter_ahead=st.one_of(st.none(), st.integers(min_value=-540, max_value=540)),
)
def test_rows_account_for_every_increase(
    start: int, steps: list[tuple[int, int]], meter_ahead: int | None
) -> None:
    """Sum of row energies == last boundary value - first boundary value.

    With a meter clock `meter_ahead` seconds ahead (naive local time), the boundaries
    are where the meter's clock crosses the hour; without one, where arrival does.
    """
    register = HourlyRegister()
    moment = utc(2025, 1, 15) + timedelta(seconds=start)
    wh = 1_000_000
    boundaries: list[tuple[datetime, float]] = []  # written out independently: mm < 5
    rows: list[HourRow] = []
    for gap, used in [(0, 0), *steps]:
        moment += timedelta(seconds=gap)
        wh += used
        taken = moment if meter_ahead is None else moment + timedelta(seconds=meter_ahead)
        hour = taken.replace(minute=0, second=0)
        if taken.minute < 5 and (not boundaries or hour > boundaries[-1][0]):
            boundaries.append((hour, wh / 1000))
        meter_time = None if meter_ahead is None else taken.astimezone(OSLO).replace(tzinfo=None)
        rows += register.add(wh / 1000, moment, meter_time)
    if len(boundaries) < 2:
        assert rows == []
        return
    first, last = boundaries[0], boundaries[-1]
    assert [row.start for row in rows] == [
        first[0] + timedelta(hours=h) for h in range((last[0] - first[0]) // timedelta(hours=1))
    ]
    assert math.fsum(row.energy for row in rows) == pytest.approx(last[1] - first[1], abs=1e-6)
    assert rows[-1].sum == pytest.approx(last[1] - first[1], abs=1e-6)
    assert rows[-1].state == last[1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=7200),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1e6)),
        ),
        max_size=60,
    )
)
def test_any_input_gives_non_negative_consistent_rows(readings: list[tuple[int, float]]) -> None:
    """Decreases, junk, gaps: never a negative hour, and each sum adds the row's energy."""
    register = HourlyRegister()
    moment = utc(2025, 1, 15)
    rows: list[HourRow] = []
    for gap, value in readings:
        moment += timedelta(seconds=gap)
        rows += register.add(value, moment)
    previous = 0.0
    for row in rows:
        assert row.energy >= 0
        assert row.sum == pytest.approx(previous + row.energy, rel=1e-9, abs=1e-9)
        previous = row.sum


def test_a_register_too_large_to_be_energy_is_ignored() -> None:
    """Found by hypothesis: 8.99e307 after 0 made the hour's energy overflow to inf."""
    register = HourlyRegister()
    moment = utc(2025, 1, 15, 9, 59)
    rows: list[HourRow] = []
    for gap, value in [(1, 0.0), (1, 0.0), (1, 8.98846567431158e307), (3897, 0.0), (6900, 0.0)]:
        moment += timedelta(seconds=gap)
        rows += register.add(value, moment)
    assert register.ignored == 1
    assert all(math.isfinite(row.sum) and row.energy == 0 for row in rows)


# --- cost ------------------------------------------------------------------------------


def test_cost_with_hourly_prices() -> None:
    prices = [(utc(2025, 1, 15, 10), 1.20), (utc(2025, 1, 15, 11), 0.80)]
    # 2.5 kWh x 1.20 = 3.00; the next hour 2.5 x 0.80 = 2.00.
    assert hour_cost(2.5, prices, utc(2025, 1, 15, 10), utc(2025, 1, 15, 11)) == pytest.approx(3.0)
    assert hour_cost(2.5, prices, utc(2025, 1, 15, 11), utc(2025, 1, 15, 12)) == pytest.approx(2.0)


def test_cost_with_15_minute_prices_is_time_weighted() -> None:
    start = utc(2025, 1, 15, 10)
    quarters = [(start + timedelta(minutes=15 * q), p) for q, p in enumerate((0.1, 0.2, 0.3, 0.6))]
    # mean (0.1 + 0.2 + 0.3 + 0.6) / 4 = 0.30; 3 kWh -> 0.90.
    assert mean_price(quarters, start, start + timedelta(hours=1)) == pytest.approx(0.30)
    assert hour_cost(3.0, quarters, start, start + timedelta(hours=1)) == pytest.approx(0.90)


def test_cost_with_a_price_change_mid_hour() -> None:
    # 1.0 from 09:00, 2.5 from 10:20: 20 min at 1.0 + 40 min at 2.5 = 2.0 mean; x 1.5 kWh.
    prices = [(utc(2025, 1, 15, 10, 20), 2.5), (utc(2025, 1, 15, 9), 1.0)]  # unsorted
    assert hour_cost(1.5, prices, utc(2025, 1, 15, 10), utc(2025, 1, 15, 11)) == pytest.approx(3.0)


def test_cost_is_none_without_a_price_for_the_whole_hour() -> None:
    start, end = utc(2025, 1, 15, 10), utc(2025, 1, 15, 11)
    assert hour_cost(1.0, [], start, end) is None
    assert hour_cost(1.0, [(utc(2025, 1, 15, 10, 10), 1.0)], start, end) is None
    unknown_mid_hour = [(utc(2025, 1, 15, 9), 1.0), (utc(2025, 1, 15, 10, 30), None)]
    assert hour_cost(1.0, unknown_mid_hour, start, end) is None
    nan_mid_hour = [(utc(2025, 1, 15, 9), 1.0), (utc(2025, 1, 15, 10, 30), math.nan)]
    assert hour_cost(1.0, nan_mid_hour, start, end) is None
    # Unknown before the hour, known from its start: fine.
    known_again = [(utc(2025, 1, 15, 9), None), (start, 0.5)]
    assert hour_cost(2.0, known_again, start, end) == pytest.approx(1.0)


def test_cost_details() -> None:
    start, end = utc(2025, 1, 15, 10), utc(2025, 1, 15, 11)
    # Negative spot prices are real: 2 kWh x -0.05 = -0.10.
    assert hour_cost(2.0, [(start, -0.05)], start, end) == pytest.approx(-0.10)
    # Two samples at one time: the later one recorded is in effect.
    assert mean_price([(start, 9.0), (start, 0.4)], start, end) == pytest.approx(0.4)
    # Other time zones are the same instants.
    assert mean_price([(start.astimezone(OSLO), 0.7)], start.astimezone(OSLO), end) == 0.7
    with pytest.raises(ValueError, match="not after"):
        mean_price([(start, 1.0)], end, start)


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("NOK/kWh", 1.0), ("EUR/MWh", 0.001), ("SEK/Wh", 1000.0), ("øre / kwh", 1.0),
     ("DKK/mwh", 0.001), ("kWh", None), ("NOK/GJ", None), ("/kWh", None),
     ("NOK/kWh/h", None), ("", None), (None, None)],
)  # fmt: skip
def test_price_factor_per_kwh(unit: str | None, factor: float | None) -> None:
    assert price_factor_per_kwh(unit) == factor
