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
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from devtools.corpus import capture

from .conftest import KAMSTRUP_LIST1, built_frame, make_entry, set_up
from .pty_meter import PtyMeter
from .test_repairs import accept_replacement, new_meter_frame, replace_meter, send

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
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0", "1.8.0"]))

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
    await at(timedelta(minutes=30, seconds=10), capture(KAMSTRUP_LIST1))
    assert hass.states.get(ENERGY).state == "1000.0"  # type: ignore[union-attr]

    await at(timedelta(hours=1, seconds=10), _register(1001.5))
    # A register read as 0 and one lower than before (a meter glitch, a swapped
    # meter): neither is written, so statistics see no reset.
    await at(timedelta(hours=1, minutes=20), _register(0.0))
    await at(timedelta(hours=1, minutes=40), _register(999.0))
    assert hass.states.get(ENERGY).state == "1001.5"  # type: ignore[union-attr]
    await at(timedelta(hours=2, seconds=10), _register(1003.0))
    rows = await _hourly_rows(hass, freezer, hours=3)
    assert rows == [(0, 1000.0, 0.0), (1, 1001.5, 1.5), (2, 1003.0, 3.0)]

    # What the recorder wrote: never 0, never down, never unknown once known; the
    # same value again after the restart (no change for the statistics).
    written = await _written(hass)
    assert written == ["1000.0", "1000.0", "1001.5", "1003.0"]
    assert STATE_UNKNOWN not in written


async def _hourly_rows(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: int
) -> list[tuple[int, float, float]]:
    """Compile every 5-minute period from START on, in order, as the recorder would;
    then (hour from START, state, sum) of each hourly row, which carry no last_reset.
    """
    await async_wait_recording_done(hass)
    period = START
    while period < START + timedelta(hours=hours):
        freezer.move_to(period + timedelta(minutes=5, seconds=1))
        do_adhoc_statistics(hass, start=period)
        await async_wait_recording_done(hass)
        period += timedelta(minutes=5)
    hourly = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        START,
        START + timedelta(hours=hours),
        {ENERGY},
        "hour",
        None,
        {"state", "sum", "last_reset"},
    )
    assert all(row.get("last_reset") is None for row in hourly[ENERGY])
    return [
        (int((row["start"] - START.timestamp()) // 3600), row["state"], row["sum"])
        for row in hourly[ENERGY]
    ]


async def _written(hass: HomeAssistant) -> list[str]:
    """The energy sensor's states the recorder wrote, unavailable ones left out."""
    states = await get_instance(hass).async_add_executor_job(
        get_significant_states, hass, START, None, [ENERGY], None, True, False
    )
    return [s.state for s in states[ENERGY] if s.state != STATE_UNAVAILABLE]


@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_meter_swap_neither_spikes_nor_double_counts(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    fake_clock: list[float],
) -> None:
    """Old meter at 1001.5 kWh, new one at 8 kWh: the sum goes on by what was measured.

    Through the real pty: the new meter's frames raise the repair issue, the fix
    flow adopts it, and its register re-bases instead of dropping (a new statistics
    cycle would add all 8 kWh, or all of a used meter's register, as one hour's use).
    """
    assert await async_setup_component(hass, "repairs", {})
    freezer.move_to(START + timedelta(seconds=5))
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0"]))

    async def at(offset: timedelta, data: bytes) -> None:
        freezer.move_to(START + offset)
        await send(meter, entry.runtime_data.hub, data)
        await hass.async_block_till_done()

    await at(timedelta(seconds=10), _register(1000.0))
    await at(timedelta(hours=1, seconds=10), _register(1001.5))

    # 11:10: the electrician has swapped the meter; only the new one sends.
    freezer.move_to(START + timedelta(hours=1, minutes=10))
    assert (await replace_meter(hass, meter, entry.runtime_data.hub, fake_clock))[-1]
    await accept_replacement(hass, entry)

    await at(timedelta(hours=2, seconds=10), new_meter_frame(energy=8.0))
    await at(timedelta(hours=3, seconds=10), new_meter_frame(energy=9.5))
    assert hass.states.get(ENERGY).state == "1003.0"  # type: ignore[union-attr]

    rows = await _hourly_rows(hass, freezer, hours=4)
    # Measured: 1.5 kWh by the old meter, 1.5 kWh by the new one since it is read.
    assert rows == [(0, 1000.0, 0.0), (1, 1001.5, 1.5), (2, 1001.5, 1.5), (3, 1003.0, 3.0)]
    assert await _written(hass) == ["1000.0", "1001.5", "1001.5", "1003.0"]


@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_kamstrup_country_corrected_neither_spikes_nor_freezes(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """HA's country set from NO to SE: Kamstrup's energy reads 10 x lower from then on.

    The register neither drops (a new statistics cycle counting 123 kWh again) nor
    stays frozen at the old value: it goes on by what the meter measures.
    """
    hass.config.country = "NO"
    freezer.move_to(START + timedelta(seconds=5))
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0"]))

    async def at(offset: timedelta, energy: float) -> None:
        freezer.move_to(START + offset)
        await send(meter, entry.runtime_data.hub, _register(energy))
        await hass.async_block_till_done()

    # Raw 123456 and 123500: 1234.56 / 1235.00 kWh in Norway, 123.456 / 123.5 in Sweden.
    await at(timedelta(seconds=10), 1234.56)
    freezer.move_to(START + timedelta(minutes=30))
    hass.config.country = "SE"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await at(timedelta(hours=1, seconds=10), 1234.56)
    await at(timedelta(hours=2, seconds=10), 1235.0)

    rows = await _hourly_rows(hass, freezer, hours=3)
    assert rows == [(0, 1234.56, 0.0), (1, 1234.56, 0.0), (2, 1234.604, pytest.approx(0.044))]
