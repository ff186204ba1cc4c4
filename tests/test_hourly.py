"""Hourly energy and cost statistics, booked in the hour the energy was used.

Whole days of the simulated meter (han/simulator.py) go through the hub under the
fake clock; the rows are read back from the recorder and compared with the register
values the frames carried. The reader itself is tested in test_hub.py: here the frames
go straight into the hub at the moment they would arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import (
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.han_port.han import Obis
from custom_components.han_port.han.simulator import SimulatedFrame, SimulatedMeter
from custom_components.han_port.hourly import statistic_id

from .conftest import make_entry
from .pty_meter import PtyMeter

# The recorder must exist before hass starts: it comes first.
pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")

OSLO = ZoneInfo("Europe/Oslo")
HOUR = timedelta(hours=1)
REGISTERS = {
    "energy_import": Obis(1, 0, 1, 8, 0),
    "energy_export": Obis(1, 0, 2, 8, 0),
    "reactive_energy_import": Obis(1, 0, 3, 8, 0),
    "reactive_energy_export": Obis(1, 0, 4, 8, 0),
}
# Rows are compared to the register differences to far below the registers'
# resolution (1 Wh at best): float sums, not rounding, are all that may differ.
EXACT = 1e-6

type Rows = list[tuple[datetime, float, float | None]]


@pytest.fixture(autouse=True)
async def oslo(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """Norwegian time and money, as the meters' users have them (recorder first)."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    hass.config.currency = "NOK"


async def settle(hass: HomeAssistant) -> None:
    """Resume, imports and cost catch-up done and in the database."""
    for _ in range(2):
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    print("play fed"); await settle(hass); print("settled")


async def hourly(
    hass: HomeAssistant, stat_id: str, start: datetime, end: datetime | None = None
) -> Rows:
    """(start, change, state) of each hourly row in [start, end)."""
    result = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        {stat_id},
        "hour",
        None,
        {"state", "sum", "change"},
    )
    return [
        (datetime.fromtimestamp(row["start"], UTC), row["change"] or 0.0, row.get("state"))
        for row in result.get(stat_id, [])
    ]


async def sums(hass: HomeAssistant, stat_id: str, start: datetime) -> list[float]:
    result = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, None, {stat_id}, "hour", None, {"sum"}
    )
    return [float(row["sum"] or 0.0) for row in result.get(stat_id, [])]


def assert_rows(actual: Rows, expected: Rows) -> None:
    assert [row[0] for row in actual] == [row[0] for row in expected]
    for (start, change, state), (_, want_change, want_state) in zip(actual, expected, strict=True):
        assert change == pytest.approx(want_change, abs=EXACT), start
        if want_state is None:
            assert state is None, start
        else:
            assert state == pytest.approx(want_state, abs=EXACT), start


def boundary_values(frames: Iterable[SimulatedFrame], obis: Obis) -> dict[datetime, float]:
    """The register value at each UTC hour, from the hourly list after it."""
    values: dict[datetime, float] = {}
    for simulated in frames:
        for code, value in simulated.message.values.items():
            # Kamstrup sends channel B = 1 (1-1:1.8.0), the others 1-0:1.8.0.
            if code._replace(b=0) == obis:
                hour = simulated.time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                values.setdefault(hour, value)
    return values


def expected_rows(values: dict[datetime, float]) -> Rows:
    """One row per hour between consecutive boundary values (no gaps here)."""
    hours = sorted(values)
    return [
        (previous, values[hour] - values[previous], values[hour])
        for previous, hour in zip(hours, hours[1:], strict=False)
    ]


def around_hours(frames: Iterable[SimulatedFrame], hourly: str) -> list[SimulatedFrame]:
    """The hourly lists and the frames of the first and last 30 s of each hour.

    The other lists carry no energy register; feeding a day of them one by one would
    only make the test slow.
    """
    kept = []
    for simulated in frames:
        moment = simulated.time.astimezone(UTC)
        past = timedelta(minutes=moment.minute, seconds=moment.second)
        if (
            simulated.list_name == hourly
            or past < timedelta(seconds=30)
            or past >= HOUR - timedelta(seconds=30)
        ):
            kept.append(simulated)
    return kept


async def play(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    frames: Sequence[tuple[datetime, bytes]],
) -> None:
    """Each frame into the hub at its time; the event loop runs every hour of frames."""
    hour: datetime | None = None
    for when, data in frames:
        freezer.move_to(when)
        entry.runtime_data.hub.feed(data)
        this_hour = when.replace(minute=0, second=0, microsecond=0)
        if this_hour != hour:
            hour = this_hour
            await hass.async_block_till_done()
    print("play fed"); await settle(hass); print("settled")


def sim_entry(meter: PtyMeter, sim: SimulatedMeter, **kwargs: Any) -> MockConfigEntry:
    return make_entry(meter.path, unique_id=sim.meter_id, entry_id="01JHANPORTTESTENTRY", **kwargs)


def stat(entry: MockConfigEntry, suffix: str) -> str:
    return statistic_id(entry, suffix)


# ---- whole days ------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["aidon", "kaifa", "kamstrup"])
@pytest.mark.freeze_time("2026-01-14 22:59:00+00:00", tick=True)
async def test_whole_day_every_hour_in_its_hour(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, vendor: str
) -> None:
    """Every row is the register difference of the hour it is booked in, for all four."""
    start = datetime(2026, 1, 15, tzinfo=OSLO)
    sim = SimulatedMeter(vendor, start, seed=3, solar_peak_w=4000.0)
    simulated = list(sim.simulate(timedelta(days=1, minutes=1)))
    entry = sim_entry(meter, sim)
    freezer.move_to(start - timedelta(seconds=1))
    print("setup"); await setup_entry(hass, entry); print("setup done")

    kept = around_hours(simulated, sim.profile.hourly)
    await play(hass, freezer, entry, [(s.time, s.frame) for s in kept])

    for suffix, obis in REGISTERS.items():
        expected = expected_rows(boundary_values(simulated, obis))
        assert len(expected) == 24
        actual = await hourly(hass, stat(entry, suffix), start - HOUR)
        assert_rows(actual, expected)
        # The sum starts at the first hour's energy: no register total, no spike.
        assert (await sums(hass, stat(entry, suffix), start - HOUR))[0] == pytest.approx(
            expected[0][1], abs=EXACT
        )
    # The hour that ended at 00:00 local is the first: [23:00, 00:00) UTC on the 14th.
    first = await hourly(hass, stat(entry, "energy_import"), start - HOUR)
    assert first[0][0] == datetime(2026, 1, 14, 23, tzinfo=UTC)
