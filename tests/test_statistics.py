"""Long-term statistics of the energy registers across a restart and bad register values.

The recorder compiles the hourly statistics the Energy dashboard reads from the
states the sensors wrote. A restart between two hourly registers must not make
the register unknown and then "new" (a spike of the whole register), and a register
read as 0 or lower than before must not be taken as a meter reset (double counting).
Frames go straight into the hub under a frozen, moved clock: the reader is tested
in test_hub.py, and an hour of real time is not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from .conftest import KAMSTRUP_LIST1, built_frame, frame, make_entry
from .pty_meter import PtyMeter

# The recorder must exist before hass starts: it comes first.
pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")

ENERGY = "sensor.kamstrup_active_energy_import"
START = datetime(2026, 1, 15, 10, 0, tzinfo=dt_util.UTC)


def _register(energy: float) -> bytes:
    """Kamstrup list 2: the hourly message that carries the energy registers."""
    return built_frame("kamstrup", "list2", {"1.8.0": energy})


# tick: time runs (serialx waits after opening a port, and the event loop's clock is
# patched by freezegun too); move_to jumps it to the moments the frames arrive.
@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_restart_between_hourly_registers(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Restored value after a restart; 0 and a lower value dropped; hourly sums exact."""
    freezer.move_to(START + timedelta(seconds=5))
    entry = make_entry(meter.path, seen=["1.7.0", "1.8.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)

    async def at(offset: timedelta, data: bytes) -> None:
        freezer.move_to(START + offset)
        entry.runtime_data.hub.feed(data)
        await hass.async_block_till_done()

    await at(timedelta(seconds=10), _register(1000.0))
    assert hass.states.get(ENERGY).state == "1000.0"  # type: ignore[union-attr]

    # HA restarts at 10:30, half-way to the next hourly register.
    freezer.move_to(START + timedelta(minutes=30))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(ENERGY).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    # List 1 (power only) flows again: the register shows its last value, not unknown.
    await at(timedelta(minutes=30, seconds=10), frame(KAMSTRUP_LIST1))
    assert hass.states.get(ENERGY).state == "1000.0"  # type: ignore[union-attr]

    await at(timedelta(hours=1, seconds=10), _register(1001.5))
    # A register read as 0 and one lower than before (a meter glitch, a swapped
    # meter): neither is written, so statistics see no reset.
    await at(timedelta(hours=1, minutes=20), _register(0.0))
    await at(timedelta(hours=1, minutes=40), _register(999.0))
    assert hass.states.get(ENERGY).state == "1001.5"  # type: ignore[union-attr]
    await at(timedelta(hours=2, seconds=10), _register(1003.0))
    await async_wait_recording_done(hass)

    # Compile every 5-minute period up to 13:00, in order, as the recorder would.
    period = START
    while period < START + timedelta(hours=3):
        freezer.move_to(period + timedelta(minutes=5, seconds=1))
        do_adhoc_statistics(hass, start=period)
        await async_wait_recording_done(hass)
        period += timedelta(minutes=5)

    instance = get_instance(hass)
    hourly = await instance.async_add_executor_job(
        statistics_during_period,
        hass,
        START,
        START + timedelta(hours=3),
        {ENERGY},
        "hour",
        None,
        {"state", "sum", "last_reset"},
    )
    rows = [(row["start"], row["state"], row["sum"]) for row in hourly[ENERGY]]
    start = START.timestamp()
    assert rows == [
        (start, 1000.0, 0.0),
        (start + 3600, 1001.5, 1.5),
        (start + 7200, 1003.0, 3.0),
    ]
    assert all(row.get("last_reset") is None for row in hourly[ENERGY])

    # What the recorder wrote: never 0, never down, never unknown once known; the
    # same value again after the restart (no change for the statistics).
    states = await instance.async_add_executor_job(
        get_significant_states, hass, START, None, [ENERGY], None, True, False
    )
    written = [s.state for s in states[ENERGY] if s.state != STATE_UNAVAILABLE]
    assert written == ["1000.0", "1000.0", "1001.5", "1003.0"]
    assert STATE_UNKNOWN not in written
