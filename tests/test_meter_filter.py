"""Whose reading is it: ours, a neighbour's on the bus, or our meter's replacement.

Plain: no Home Assistant; `now` is monotonic seconds chosen by the test.
"""

from __future__ import annotations

from custom_components.han_port.meter_filter import (
    MAX_CANDIDATES,
    MAX_NEIGHBOURS,
    SWAP_AFTER_READINGS,
    SWAP_AFTER_SECONDS,
    MeterFilter,
    Replacement,
)

OURS = "2200567223197714"
NEW = "2200567223199999"
NEIGHBOUR = "7310000000000001"
OWN_TITLE = b"KFM\x00\x01\x02\x03\x04"
NEW_TITLE = b"KFM\x00\x05\x06\x07\x08"
# Readings every 10 s: enough of them to pass both thresholds.
PERIOD = 10.0
ENOUGH = max(SWAP_AFTER_READINGS, int(SWAP_AFTER_SECONDS / PERIOD) + 1)


def _send(meters: MeterFilter, meter_id: str | None, count: int, start: float) -> float:
    """`count` readings of `meter_id` from `start` on; the time after the last one."""
    now = start
    for _ in range(count):
        meters.attribute(meter_id, None, now)
        now += PERIOD
    return now


def _send_both(
    meters: MeterFilter, meter_ids: tuple[str | None, str | None], count: int, start: float
) -> float:
    """`count` readings of each of two meters, a second apart, from `start` on."""
    now = start
    for _ in range(count):
        meters.attribute(meter_ids[0], None, now)
        meters.attribute(meter_ids[1], None, now + 1)
        now += PERIOD
    return now


def test_own_foreign_and_unnamed_readings() -> None:
    """Ours and readings that name no meter are shown; another id or title is not."""
    meters = MeterFilter(OURS, OWN_TITLE)
    own = meters.attribute(OURS, None, 0.0)
    assert (own.own, own.identified) == (True, True)
    unnamed = meters.attribute(None, None, 0.0)
    assert (unnamed.own, unnamed.identified) == (True, False)
    assert meters.attribute("", None, 0.0).own  # a padded, empty id names no meter
    assert meters.attribute(NEIGHBOUR, None, 0.0).mismatch == "meter id"
    assert meters.attribute(None, NEW_TITLE, 0.0).mismatch == "system title"
    by_title = meters.attribute(None, OWN_TITLE, 0.0)
    assert (by_title.own, by_title.identified) == (True, True)


def test_system_title_learnt_from_a_reading_our_id_vouches_for() -> None:
    meters = MeterFilter(OURS, None)
    assert meters.attribute(None, NEW_TITLE, 0.0).learnt_title is None  # no id: not learnt
    assert meters.attribute(NEIGHBOUR, NEW_TITLE, 0.0).learnt_title is None
    assert meters.attribute(OURS, OWN_TITLE, 0.0).learnt_title == OWN_TITLE
    assert meters.system_title == OWN_TITLE
    assert not meters.attribute(None, NEW_TITLE, 0.0).own


def test_a_replacement_is_offered_after_it_sent_alone_long_enough() -> None:
    """Ours goes quiet, a new id keeps sending: offered once both thresholds are passed."""
    meters = MeterFilter(OURS, None)
    now = _send(meters, OURS, 5, 0.0)
    start = now + 3600  # the electrician's hour without any meter
    for index in range(ENOUGH):
        now = start + index * PERIOD
        meters.attribute(NEW, NEW_TITLE, now)
        ready = index + 1 >= SWAP_AFTER_READINGS and now - start >= SWAP_AFTER_SECONDS
        assert (meters.replacement(now) is not None) == ready, index
    assert meters.replacement(now) == Replacement(NEW, NEW_TITLE)


def test_few_readings_over_a_long_time_are_not_enough() -> None:
    """One reading an hour for a day: not the only meter *sending*, too few to tell."""
    meters = MeterFilter(OURS, None)
    for hour in range(SWAP_AFTER_READINGS - 1):
        meters.attribute(NEW, None, hour * 3600.0)
    assert meters.replacement(SWAP_AFTER_READINGS * 3600.0) is None


def test_our_meter_back_withdraws_the_candidate() -> None:
    """Our meter identified again: the other meter was a neighbour all along."""
    meters = MeterFilter(OURS, None)
    now = _send(meters, NEW, ENOUGH, 0.0)
    assert meters.replacement(now) is not None
    meters.attribute(OURS, None, now)
    assert meters.replacement(now) is None
    # ... and stays one: however long it then sends alone.
    now = _send(meters, NEW, 3 * ENOUGH, now + PERIOD)
    assert meters.replacement(now) is None


def test_a_neighbour_interleaving_with_ours_is_never_offered() -> None:
    """A shared bus: ours and the neighbour's alternate; later ours falls silent."""
    meters = MeterFilter(OURS, None)
    now = 0.0
    for _ in range(3 * ENOUGH):
        meters.attribute(OURS, None, now)
        meters.attribute(NEIGHBOUR, None, now + 1)
        assert meters.replacement(now + 1) is None
        now += PERIOD
    now = _send(meters, NEIGHBOUR, 3 * ENOUGH, now)
    assert meters.replacement(now) is None


def test_readings_naming_no_meter_neither_confirm_nor_withdraw() -> None:
    """Aidon list 1 names no meter: it may be the new meter's, so it keeps nobody out."""
    meters = MeterFilter(OURS, None)
    now = _send_both(meters, (None, NEW), ENOUGH, 0.0)
    assert meters.replacement(now) == Replacement(NEW, None)


def test_two_meters_sending_without_ours_are_no_answer() -> None:
    """Which of two unknown meters replaced ours cannot be told: none is offered."""
    meters = MeterFilter(OURS, None)
    now = _send_both(meters, (NEW, NEIGHBOUR), ENOUGH, 0.0)
    assert meters.replacement(now) is None


def test_no_meter_id_no_replacement() -> None:
    """An entry whose meter sends no id (Swedish P1) has nothing to compare."""
    meters = MeterFilter(None, None)
    assert meters.attribute(NEW, None, 0.0).own
    now = _send(meters, NEW, ENOUGH, 0.0)
    assert meters.replacement(now) is None


def test_memory_is_bounded() -> None:
    """A bus full of meters: a bounded number of candidates and neighbours."""
    meters = MeterFilter(OURS, None)
    for index in range(100):
        meters.attribute(f"73100000000{index:05d}", None, float(index))
    assert len(meters._candidates) == MAX_CANDIDATES
    meters.attribute(OURS, None, 100.0)
    assert not meters._candidates
    assert len(meters._neighbours) == MAX_CANDIDATES
    for index in range(100):
        meters.attribute(f"73200000000{index:05d}", None, 200.0 + index)
        meters.attribute(OURS, None, 200.0 + index)
    assert len(meters._neighbours) == MAX_NEIGHBOURS
    # The most recent neighbours are the ones kept.
    assert "7320000000000099" in meters._neighbours
