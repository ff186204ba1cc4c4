"""What a register shows: no glitch, a re-base when the series restarts, and why.

Plain: no Home Assistant; `now` is monotonic seconds chosen by the test.
"""

from __future__ import annotations

import pytest

from custom_components.han_port.register import (
    SETTLE_READINGS,
    SETTLE_SECONDS,
    Rebase,
    RegisterBasis,
    RegisterSeries,
)

NORWAY = RegisterBasis("2200567223197714", -2, 1.0)
SWEDEN = RegisterBasis("2200567223197714", -3, 1.0)
NEW_METER = RegisterBasis("2200567223199999", -2, 1.0)
STEP = SETTLE_SECONDS / (SETTLE_READINGS - 1)


def _feed(series: RegisterSeries, values: list[float], basis: RegisterBasis) -> list[float | None]:
    """What each value makes the series show (None: nothing new), one STEP apart."""
    shown = []
    for index, value in enumerate(values):
        change = series.update(value, basis, index * STEP)
        shown.append(None if change is None else change.shown)
    return shown


def test_a_register_that_was_always_0_shows_0() -> None:
    """Export on a house without solar: 0 is shown once it has come for a while."""
    series = RegisterSeries()
    assert _feed(series, [0.0] * SETTLE_READINGS, NORWAY) == [None] * (SETTLE_READINGS - 1) + [0.0]
    # And it moves on from there, a value at a time.
    assert series.update(0.01, NORWAY, SETTLE_SECONDS + 1) is not None
    assert series.shown == 0.01


def test_a_first_0_then_the_real_value_shows_the_real_value_only() -> None:
    """A 0 before the first real value would make that value a spike: not shown."""
    series = RegisterSeries()
    assert _feed(series, [0.0, 0.0, 1234.5], NORWAY) == [None, None, 1234.5]


@pytest.mark.parametrize("glitch", [0.0, 1.0, 1200.0])
def test_single_odd_values_are_not_shown(glitch: float) -> None:
    """A glitch (0, far lower, a little lower) between real values changes nothing."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    assert _feed(series, [glitch, 1234.6, glitch, glitch, 1234.7], NORWAY) == [
        None,
        1234.6,
        None,
        None,
        1234.7,
    ]
    assert series.offset == 0.0


def test_a_0_after_a_real_value_is_never_believed() -> None:
    """However long the meter sends 0, the register does not restart at 0."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    assert _feed(series, [0.0] * 10, NORWAY) == [None] * 10
    assert series.shown == 1234.5


def test_a_lower_series_that_persists_is_re_based() -> None:
    """Three non-decreasing lower values over half an hour: counted on from the shown one."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    changes = [series.update(value, NORWAY, index * STEP) for index, value in enumerate([5, 6, 7])]
    assert changes[:2] == [None, None]
    rebased = changes[2]
    assert rebased is not None
    assert rebased.rebase is Rebase.PERSISTED
    assert rebased.lower == 5
    # The energy of the lower series (5 -> 7) is counted; nothing else.
    assert rebased.shown == 1236.5
    assert series.update(8.25, NORWAY, 3 * STEP) is not None
    assert series.shown == 1237.75


def test_a_lower_series_must_last_long_enough() -> None:
    """Many lower values within a short time (a P1 port every second) are not enough."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    for index in range(20):
        assert series.update(5.0 + index / 100, NORWAY, index) is None
    assert series.update(6.0, NORWAY, SETTLE_SECONDS - 1) is None
    change = series.update(6.1, NORWAY, SETTLE_SECONDS)
    assert change is not None
    assert change.rebase is Rebase.PERSISTED


def test_a_lower_series_that_falls_starts_over() -> None:
    """A lower value below the previous lower one is no series: the count restarts."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    assert _feed(series, [7.0, 5.0, 6.0], NORWAY) == [None, None, None]
    assert series.update(6.5, NORWAY, 3 * STEP) is not None  # 5, 6, 6.5 over an hour


def test_a_real_value_ends_a_lower_series() -> None:
    """Lower, real, lower, lower: never three lower ones in a row, never re-based."""
    series = RegisterSeries(1234.5, basis=NORWAY)
    assert _feed(series, [5.0, 6.0, 1234.5, 7.0, 8.0], NORWAY) == [None] * 5
    assert series.offset == 0.0


@pytest.mark.parametrize(
    ("new_basis", "first_value"),
    [
        (SWEDEN, 123.456),  # Kamstrup's energy read in Wh instead of 10 Wh: 10 x lower
        (RegisterBasis("2200567223197714", -1, 1.0), 12345.6),  # 10 x higher
        (NEW_METER, 0.0),  # a new meter's export register
        (RegisterBasis("2200567223197714", -2, 50.0), 61728.0),  # CT scale 1 -> 50
    ],
    ids=["unit-down", "unit-up", "new-meter-at-0", "ct-scale"],
)
def test_a_changed_basis_re_bases_at_once(new_basis: RegisterBasis, first_value: float) -> None:
    """The first value under a new basis continues the shown value: neither down nor up."""
    series = RegisterSeries(1234.56, basis=NORWAY)
    change = series.update(first_value, new_basis, 0.0)
    assert change is not None
    assert change.rebase is Rebase.BASIS
    assert change.previous_basis == NORWAY
    assert change.shown == 1234.56
    assert series.basis == new_basis
    # Then only the growth counts, without float noise in the shown value.
    later = series.update(first_value + 0.1, new_basis, 1.0)
    assert later is not None
    assert later.rebase is None
    assert later.shown == 1234.66
    # Once re-based, the same basis again is no re-base.
    assert series.update(first_value + 0.1, new_basis, 2.0) is None


def test_stored_without_a_basis_takes_the_current_one() -> None:
    """Restored from a version that kept no basis: no re-base, the guard still holds."""
    series = RegisterSeries(1234.5)
    assert series.update(1000.0, NORWAY, 0.0) is None
    assert series.basis == NORWAY
    change = series.update(1235.0, NORWAY, 1.0)
    assert change is not None
    assert change.rebase is None


def test_why_the_basis_changed() -> None:
    """The log line names the reason and never the meter id."""
    reasons = [
        NEW_METER.changes_from(NORWAY),
        SWEDEN.changes_from(NORWAY),
        RegisterBasis(NORWAY.meter, -2, 40.0).changes_from(NORWAY),
    ]
    assert reasons == [
        "the meter was replaced",
        "the decoder's unit for it changed (Home Assistant's country)",
        "the current-transformer scale changed",
    ]
    assert not [reason for reason in reasons if NORWAY.meter in reason]


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_impossible_values_are_refused(value: float) -> None:
    series = RegisterSeries()
    assert series.update(value, NORWAY, 0.0) is None
    assert series.shown is None


def test_a_meter_naming_itself_continues_the_series() -> None:
    """A P1 sub-meter without its id yet ("") and then with it: one meter, no re-base;
    a different id after that is a replaced meter.
    """
    unnamed = RegisterBasis("", None, 1.0)
    named = RegisterBasis("G0001", None, 1.0)
    series = RegisterSeries(12.5, basis=unnamed)
    change = series.update(12.6, named, 0.0)
    assert change is not None
    assert change.rebase is None
    assert series.basis == named
    # A telegram without the id line says nothing: the known meter stays.
    assert series.update(12.7, unnamed, 1.0) is not None
    assert series.basis == named
    replaced = series.update(0.1, RegisterBasis("G0002", None, 1.0), 2.0)
    assert replaced is not None
    assert replaced.rebase is Rebase.BASIS
    assert replaced.shown == 12.7
