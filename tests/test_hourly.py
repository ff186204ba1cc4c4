"""Hourly energy and cost statistics, booked in the hour the energy was used.

Whole days of the simulated meter (han/simulator.py) go through the hub under the
fake clock; the rows are read back from the recorder and compared with the register
values the frames carried. The reader itself is tested in test_hub.py: here the frames
go straight into the hub at the moment they would arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
import itertools
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, STATE_UNAVAILABLE
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_block_recorder,
    async_wait_recording_done,
)

from custom_components.han_port.const import CONF_EXPORT_PRICE, CONF_IMPORT_PRICE, CONF_SCALE
from custom_components.han_port.han import Obis
from custom_components.han_port.han.crc import crc16_arc
from custom_components.han_port.hourly import statistic_id
from devtools.builder import ListMessage, build_frame, layout_for
from devtools.corpus import capture, raw_bytes
from devtools.simulator import SimulatedFrame, SimulatedMeter

from . import more_meters
from .conftest import P1_SE, make_entry, set_up
from .pty_meter import PtyMeter
from .test_energy import assert_grid_source_is_valid

# The recorder must exist before hass starts: it comes first.
pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")

OSLO = ZoneInfo("Europe/Oslo")
HOUR = timedelta(hours=1)
# Whole days start at Oslo's midnight, with the clock frozen a minute before it.
MIDNIGHT = datetime(2026, 1, 15, tzinfo=OSLO)
from_midnight = pytest.mark.freeze_time(MIDNIGHT - timedelta(minutes=1), tick=True)
# Hour by hour from 10:00 UTC, with the clock frozen an hour before it.
TEN_UTC = datetime(2026, 1, 15, 10, tzinfo=UTC)
from_ten_utc = pytest.mark.freeze_time(TEN_UTC - HOUR, tick=True)
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


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    await set_up(hass, entry)
    await settle(hass)
    return entry


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
        for previous, hour in itertools.pairwise(hours)
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
    await settle(hass)


async def sim_set_up(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, sim: SimulatedMeter
) -> MockConfigEntry:
    """The simulated meter's entry, set up a second before its simulation starts."""
    freezer.move_to(sim.start - timedelta(seconds=1))
    entry = make_entry(meter.path, unique_id=sim.meter_id, entry_id="01JHANPORTTESTENTRY")
    return await setup_entry(hass, entry)


def stat(entry: MockConfigEntry, suffix: str) -> str:
    return statistic_id(entry, suffix)


# ---- whole days ------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["aidon", "kaifa", "kamstrup"])
@from_midnight
async def test_whole_day_every_hour_in_its_hour(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, vendor: str
) -> None:
    """Every row is the register difference of the hour it is booked in, for all four."""
    sim = SimulatedMeter(vendor, MIDNIGHT, seed=3, solar_peak_w=4000.0)
    simulated = list(sim.simulate(timedelta(days=1, minutes=1)))
    entry = await sim_set_up(hass, meter, freezer, sim)

    kept = around_hours(simulated, sim.profile.hourly)
    await play(hass, freezer, entry, [(s.time, s.frame) for s in kept])

    for suffix, obis in REGISTERS.items():
        expected = expected_rows(boundary_values(simulated, obis))
        assert len(expected) == 24
        actual = await hourly(hass, stat(entry, suffix), MIDNIGHT - HOUR)
        assert_rows(actual, expected)
        # The sum starts at the first hour's energy: no register total, no spike.
        assert (await sums(hass, stat(entry, suffix), MIDNIGHT - HOUR))[0] == pytest.approx(
            expected[0][1], abs=EXACT
        )
    # The hour that ended at 00:00 local is the first: [23:00, 00:00) UTC on the 14th.
    first = await hourly(hass, stat(entry, "energy_import"), MIDNIGHT - HOUR)
    assert first[0][0] == datetime(2026, 1, 14, 23, tzinfo=UTC)


def p1_telegram(local: datetime, registers: dict[str, float]) -> bytes:
    """The Swedish P1 capture with a new time and register values, CRC recomputed."""
    text = capture(P1_SE).decode("ascii")
    stamp = local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")
    text = re.sub(r"0-0:1\.0\.0\(\d{12}[SW]\)", f"0-0:1.0.0({stamp})", text)
    for code, value in registers.items():
        text = re.sub(rf"1-0:{re.escape(code)}\(\d+\.\d+\*", f"1-0:{code}({value:012.3f}*", text)
    # The CRC covers "/" to "!" (DSMR 5.0.2, 6.12).
    body = text[text.index("/") : text.index("!") + 1].encode("ascii")
    return body + f"{crc16_arc(body):04X}\r\n".encode("ascii")


@from_midnight
async def test_p1_meter_gives_the_same_rows_from_the_value_at_each_hour(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """A P1 port sends its registers every 10 s: the first telegram after each hour counts."""
    rates = {"1.8.0": 1.234, "2.8.0": 0.5, "3.8.0": 0.1, "4.8.0": 0.2}
    bases = {"1.8.0": 60995.424, "2.8.0": 10.0, "3.8.0": 12.696, "4.8.0": 12541.802}

    def registers(at: datetime) -> dict[str, float]:
        hours = (at - MIDNIGHT) / HOUR
        return {code: round(bases[code] + rates[code] * hours, 3) for code in rates}

    # Every 10 s for the first minute of each hour, then a few times an hour.
    offsets = [timedelta(seconds=3 + 10 * i) for i in range(6)] + [
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(minutes=59, seconds=53),
    ]
    times = [MIDNIGHT + h * HOUR + offset for h in range(25) for offset in offsets]
    entry = make_entry(meter.path, unique_id=None, entry_id="01JHANPORTTESTP1")
    freezer.move_to(MIDNIGHT - timedelta(seconds=1))
    await setup_entry(hass, entry)
    await play(
        hass,
        freezer,
        entry,
        [(at, p1_telegram(at.astimezone(OSLO), registers(at))) for at in times],
    )

    first_after_hour = {
        MIDNIGHT + h * HOUR: registers(MIDNIGHT + h * HOUR + offsets[0]) for h in range(25)
    }
    for code, suffix in zip(rates, REGISTERS, strict=True):
        values = {hour.astimezone(UTC): value[code] for hour, value in first_after_hour.items()}
        expected = expected_rows(values)
        assert len(expected) == 24
        assert_rows(await hourly(hass, stat(entry, suffix), MIDNIGHT - HOUR), expected)


# ---- restarts, outages, DST ----------------------------------------------------------


@from_midnight
async def test_restarts_change_nothing(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Reloads mid-hour, at hh:00:03, and right after an hourly list: the same rows."""
    sim = SimulatedMeter("kamstrup", MIDNIGHT, seed=5)
    simulated = around_hours(list(sim.simulate(timedelta(hours=8, minutes=1))), "list2")
    entry = await sim_set_up(hass, meter, freezer, sim)

    def frames(since: timedelta, until: timedelta) -> list[tuple[datetime, bytes]]:
        return [
            (s.time, s.frame) for s in simulated if MIDNIGHT + since <= s.time < MIDNIGHT + until
        ]

    async def reload_at(at: timedelta) -> None:
        freezer.move_to(MIDNIGHT + at)
        assert await hass.config_entries.async_reload(entry.entry_id)

    await play(hass, freezer, entry, frames(timedelta(0), timedelta(hours=2, minutes=30)))
    # Mid-hour.
    await reload_at(timedelta(hours=2, minutes=30))
    await settle(hass)
    await play(hass, freezer, entry, frames(timedelta(hours=2, minutes=30), timedelta(hours=4)))
    # At 04:00:03, two seconds before the hourly list; the list then arrives while the
    # last row is still being read from the recorder.
    await reload_at(timedelta(hours=4, seconds=3))
    first = frames(timedelta(hours=4), timedelta(hours=4, seconds=6))
    assert next(s for s in simulated if s.time == first[-1][0]).list_name == "list2"
    for when, data in first:
        freezer.move_to(when)
        entry.runtime_data.hub.feed(data)
    await settle(hass)
    await play(hass, freezer, entry, frames(timedelta(hours=4, seconds=6), timedelta(hours=6)))
    # Right after the 06:00:05 list, while its row is still in the recorder's queue
    # (held there by a busy recorder).
    await async_block_recorder(hass, 0.5)
    for when, data in frames(timedelta(hours=6), timedelta(hours=6, seconds=6)):
        freezer.move_to(when)
        entry.runtime_data.hub.feed(data)
    await reload_at(timedelta(hours=6, seconds=6))
    await settle(hass)
    await play(hass, freezer, entry, frames(timedelta(hours=6, seconds=6), timedelta(hours=9)))

    all_frames = list(sim.simulate(timedelta(hours=8, minutes=1)))
    for suffix, obis in REGISTERS.items():
        expected = expected_rows(boundary_values(all_frames, obis))
        assert len(expected) == 8
        assert_rows(await hourly(hass, stat(entry, suffix), MIDNIGHT - HOUR), expected)
        assert (await sums(hass, stat(entry, suffix), MIDNIGHT - HOUR))[-1] == pytest.approx(
            sum(row[1] for row in expected), abs=EXACT
        )


@from_midnight
async def test_outage_is_spread_evenly_over_the_hours_it_covers(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """No frames from 02:30 to 05:30: 02:00-06:00 shares the difference in four."""
    sim = SimulatedMeter("aidon", MIDNIGHT, seed=7)
    simulated = list(sim.simulate(timedelta(hours=8, minutes=1)))
    outage = (MIDNIGHT + timedelta(hours=2, minutes=30), MIDNIGHT + timedelta(hours=5, minutes=30))
    entry = await sim_set_up(hass, meter, freezer, sim)
    await play(
        hass,
        freezer,
        entry,
        [
            (s.time, s.frame)
            for s in around_hours(simulated, "list3")
            if not outage[0] <= s.time < outage[1]
        ],
    )

    values = boundary_values(simulated, REGISTERS["energy_import"])
    hours = [MIDNIGHT.astimezone(UTC) + h * HOUR for h in range(9)]
    share = (values[hours[6]] - values[hours[2]]) / 4
    expected: Rows = [
        (hours[0], values[hours[1]] - values[hours[0]], values[hours[1]]),
        (hours[1], values[hours[2]] - values[hours[1]], values[hours[2]]),
        (hours[2], share, None),
        (hours[3], share, None),
        (hours[4], share, None),
        (hours[5], share, values[hours[6]]),
        (hours[6], values[hours[7]] - values[hours[6]], values[hours[7]]),
        (hours[7], values[hours[8]] - values[hours[7]], values[hours[8]]),
    ]
    assert_rows(await hourly(hass, stat(entry, "energy_import"), hours[0]), expected)


@pytest.mark.parametrize("vendor", ["kamstrup", "aidon"])
@pytest.mark.freeze_time("2026-03-01 12:00:00+00:00", tick=True)
@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime(2026, 3, 29, tzinfo=OSLO), 23), (datetime(2026, 10, 25, tzinfo=OSLO), 25)],
    ids=["march", "october"],
)
async def test_dst_days_have_their_hours(  # noqa: PLR0917 (fixtures and parameters)
    hass: HomeAssistant,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    vendor: str,
    day: datetime,
    hours: int,
) -> None:
    """23 and 25 rows on the change days, and the day's total is its register difference."""
    sim = SimulatedMeter(vendor, day, seed=11)
    simulated = list(sim.simulate(timedelta(hours=hours, minutes=1)))
    entry = await sim_set_up(hass, meter, freezer, sim)
    await play(
        hass,
        freezer,
        entry,
        [(s.time, s.frame) for s in around_hours(simulated, sim.profile.hourly)],
    )

    obis = REGISTERS["energy_import"]
    values = boundary_values(simulated, obis)
    next_day = (day + timedelta(days=1, hours=2)).replace(hour=0)
    rows = await hourly(hass, stat(entry, "energy_import"), day, next_day)
    assert len(rows) == hours
    assert_rows(rows, expected_rows(values))
    # The dashboard's day view: HA sums the local day's hours.
    daily = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        day,
        next_day,
        {stat(entry, "energy_import")},
        "day",
        None,
        {"change"},
    )
    (only,) = daily[stat(entry, "energy_import")]
    assert only["change"] == pytest.approx(
        values[next_day.astimezone(UTC)] - values[day.astimezone(UTC)], abs=EXACT
    )


# ---- register drops, scale --------------------------------------------------------------


def kamstrup_hour_list(at: datetime, import_kwh: float, export_kwh: float = 20.0) -> bytes:
    """Kamstrup list 2 (sent at hh:00:05) with chosen registers, stamped `at` local time."""
    layout = layout_for("kamstrup", "list2")
    chosen = {"1.8.0": import_kwh, "2.8.0": export_kwh}
    return build_frame(
        layout,
        ListMessage(
            values={
                element.obis: chosen.get(f"{element.obis.c}.8.{element.obis.e}", 100.0)
                for element in layout.registers()
                if element.obis is not None
            },
            meter_id="2200567223197714",
            meter_type="6841131BN243101040",
            timestamp=at.astimezone(OSLO).replace(tzinfo=None),
        ),
    )


async def feed_at(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    at: datetime,
    *registers: float,
) -> None:
    """A Kamstrup list 2 with these import (and export) registers, arriving at `at`."""
    freezer.move_to(at)
    entry.runtime_data.hub.feed(kamstrup_hour_list(at, *registers))
    await hass.async_block_till_done()


async def feed_hours(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    start: datetime,
    registers: Sequence[float | tuple[float, float]],
) -> None:
    """One list 2 five seconds into each hour from `start`: import (and export) registers."""
    for hour, values in enumerate(registers):
        at = start + hour * HOUR + timedelta(seconds=5)
        await feed_at(
            hass, freezer, entry, at, *(values if isinstance(values, tuple) else (values,))
        )


@from_ten_utc
async def test_register_drop_rebases_without_a_spike(
    hass: HomeAssistant,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new meter's lower register and a glitching 0: no spike, no double count, one log."""
    entry = await setup_entry(hass, make_entry(meter.path))
    readings = [
        (timedelta(seconds=5), 1000.0),
        (timedelta(hours=1, seconds=5), 1001.5),
        # The meter is replaced: the new one counts from 3.0.
        (timedelta(hours=2, seconds=5), 3.0),
        (timedelta(hours=2, minutes=30), 0.0),  # a glitch, dropped
        (timedelta(hours=3, seconds=5), 5.5),
        (timedelta(hours=3, minutes=20), 5.0),  # down again: re-based, logged at debug
        (timedelta(hours=4, seconds=5), 6.0),
    ]
    with caplog.at_level(logging.DEBUG, logger="custom_components.han_port"):
        for offset, value in readings:
            await feed_at(hass, freezer, entry, TEN_UTC + offset, value)
        await settle(hass)

    rows = await hourly(hass, stat(entry, "energy_import"), TEN_UTC)
    assert [(row[0] - TEN_UTC) / HOUR for row in rows] == [0, 1, 2, 3]
    # [11, 12): the old meter's energy after 11:00:05 is unknown beyond its last
    # reading (none), the new one's before 12:00:05 too: 0, not -998.5 and not 3.0.
    assert [round(row[1], 6) for row in rows] == [1.5, 0.0, 2.5, 1.0]
    assert [row[2] for row in rows] == [1001.5, 3.0, 5.5, 6.0]
    assert max(await sums(hass, stat(entry, "energy_import"), TEN_UTC)) == pytest.approx(5.0)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "went down" in r.message
    ]
    assert len(warnings) == 1
    assert "1001.5" in warnings[0].message
    assert "3.0" in warnings[0].message


@from_ten_utc
async def test_scale_applies_to_the_energy_and_a_new_scale_makes_no_spike(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Current transformers: x50 energy, the meter's own register as state."""
    entry = await setup_entry(hass, make_entry(meter.path, options={CONF_SCALE: 50}))
    await feed_hours(hass, freezer, entry, TEN_UTC, (1000.0, 1001.5, 1003.0))
    await settle(hass)
    # The electrician corrects the factor to 40.
    freezer.move_to(TEN_UTC + timedelta(hours=2, minutes=30))
    hass.config_entries.async_update_entry(entry, options={CONF_SCALE: 40})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    await feed_at(hass, freezer, entry, TEN_UTC + timedelta(hours=3, seconds=5), 1004.0)
    await settle(hass)

    rows = await hourly(hass, stat(entry, "energy_import"), TEN_UTC)
    assert [round(row[1], 6) for row in rows] == [75.0, 75.0, 40.0]
    assert [row[2] for row in rows] == [1001.5, 1003.0, 1004.0]


# ---- cost ------------------------------------------------------------------------------

IMPORT_PRICE = "sensor.nord_pool_no1_current_price"
EXPORT_PRICE = "sensor.export_price"


@from_ten_utc
async def test_cost_is_each_hours_energy_at_that_hours_price(
    hass: HomeAssistant,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hourly and 15-minute prices, a price gap, a reload: cost = energy x mean price."""
    entry = await setup_entry(
        hass,
        make_entry(
            meter.path, options={CONF_IMPORT_PRICE: IMPORT_PRICE, CONF_EXPORT_PRICE: EXPORT_PRICE}
        ),
    )

    def at(hours: float) -> datetime:
        return TEN_UTC + timedelta(hours=hours)

    events: list[tuple[datetime, str, Any]] = [
        # Hour 9 has no price at all: no cost row for it.
        (at(0) + timedelta(seconds=5), "frame", (1000.0, 50.0)),
        (at(0), IMPORT_PRICE, 1.20),
        (at(0), EXPORT_PRICE, 500.0),  # NOK/MWh: 0.5 NOK/kWh
        (at(1), IMPORT_PRICE, 0.80),
        (at(1), EXPORT_PRICE, 400.0),
        (at(1) + timedelta(seconds=5), "frame", (1001.5, 50.0)),
        # 15-minute prices from 11:00.
        (at(2), IMPORT_PRICE, 1.0),
        (at(2), EXPORT_PRICE, 300.0),
        (at(2) + timedelta(seconds=5), "frame", (1004.5, 50.4)),
        (at(2.25), IMPORT_PRICE, 2.0),
        (at(2.5), IMPORT_PRICE, 3.0),
        (at(2.75), EXPORT_PRICE, 700.0),
        (at(2.75), IMPORT_PRICE, 4.0),
        (at(3), IMPORT_PRICE, 2.0),
        (at(3), EXPORT_PRICE, 600.0),
        (at(3) + timedelta(seconds=5), "frame", (1007.0, 51.4)),
        (at(3) + timedelta(minutes=30), "reload", None),
        # The import price sensor is unavailable for ten minutes in hour 13.
        (at(3) + timedelta(minutes=40), IMPORT_PRICE, STATE_UNAVAILABLE),
        (at(3) + timedelta(minutes=50), IMPORT_PRICE, 2.0),
        (at(4), IMPORT_PRICE, 1.5),
        (at(4), EXPORT_PRICE, 600.0),
        (at(4) + timedelta(seconds=5), "frame", (1009.0, 52.4)),
        # The recorder is busy when the last hour ends: its cost waits for its energy.
        (at(5) + timedelta(seconds=4), "busy", None),
        (at(5) + timedelta(seconds=5), "frame", (1010.0, 52.6)),
    ]
    units = {IMPORT_PRICE: "NOK/kWh", EXPORT_PRICE: "NOK/MWh"}
    with caplog.at_level(logging.DEBUG, logger="custom_components.han_port"):
        for when, what, value in sorted(events, key=lambda event: event[0]):
            freezer.move_to(when)
            if what == "frame":
                entry.runtime_data.hub.feed(kamstrup_hour_list(when, *value))
            elif what == "reload":
                assert await hass.config_entries.async_reload(entry.entry_id)
            elif what == "busy":
                await async_block_recorder(hass, 0.5)
            else:
                # At the exact time: the clock ticks while the test runs.
                hass.states.async_set(
                    what, value, {"unit_of_measurement": units[what]}, timestamp=when.timestamp()
                )
            await hass.async_block_till_done()
        await settle(hass)

    cost = await hourly(hass, stat(entry, "energy_import_cost"), at(-1))
    # 10:00 1.5 kWh x 1.20; 11:00 3.0 x 0.80; 12:00 2.5 x mean(1, 2, 3, 4);
    # 13:00 no row (price unknown for ten minutes); 14:00 1.0 x 1.5.
    assert [(row[0] - TEN_UTC) / HOUR for row in cost] == [0, 1, 2, 4]
    assert [round(row[1], 9) for row in cost] == [1.8, 2.4, 6.25, 1.5]
    assert (await sums(hass, stat(entry, "energy_import_cost"), at(-1)))[-1] == pytest.approx(11.95)
    compensation = await hourly(hass, stat(entry, "energy_export_compensation"), at(-1))
    # 10:00 0 kWh; 11:00 0.4 x 0.4; 12:00 1.0 x (0.3 for 45 min, 0.7 for 15 min) = 0.4
    # (time-weighted: the mean of the two samples would be 0.5); 13:00 1.0 x 0.6;
    # 14:00 0.2 x 0.6. Export has its own price sensor: no gap at 13:00.
    assert [(row[0] - TEN_UTC) / HOUR for row in compensation] == [0, 1, 2, 3, 4]
    assert [round(row[1], 9) for row in compensation] == [0.0, 0.16, 0.4, 0.6, 0.12]
    assert any(
        "No price" in r.message and "13:00" in r.message and IMPORT_PRICE in r.message
        for r in caplog.records
    )
    metadata = await get_instance(hass).async_add_executor_job(
        partial(get_metadata, hass, statistic_ids={stat(entry, "energy_import_cost")})
    )
    assert metadata[stat(entry, "energy_import_cost")][1]["unit_of_measurement"] == "NOK"


@from_ten_utc
async def test_energy_dashboard_takes_the_hourly_statistics(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Grid import/export with cost and compensation statistics: energy/validate is clean."""
    assert await async_setup_component(hass, "energy", {})
    entry = await setup_entry(
        hass,
        make_entry(
            meter.path, options={CONF_IMPORT_PRICE: IMPORT_PRICE, CONF_EXPORT_PRICE: EXPORT_PRICE}
        ),
    )
    freezer.move_to(TEN_UTC)
    for price, value in ((IMPORT_PRICE, 1.1), (EXPORT_PRICE, 0.4)):
        hass.states.async_set(
            price, value, {"unit_of_measurement": "NOK/kWh"}, timestamp=TEN_UTC.timestamp()
        )
    await feed_hours(hass, freezer, entry, TEN_UTC, [(1000.0, 20.0), (1001.5, 21.0)])
    await settle(hass)

    await assert_grid_source_is_valid(
        hass,
        energy_from=stat(entry, "energy_import"),
        energy_to=stat(entry, "energy_export"),
        cost=stat(entry, "energy_import_cost"),
        compensation=stat(entry, "energy_export_compensation"),
    )


# ---- names and ids ---------------------------------------------------------------------


@from_ten_utc
async def test_statistics_are_named_in_the_users_language_without_the_meter_id(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Names from the translations, ids from the entry id, never the meter id."""
    hass.config.language = "nb"
    entry = await setup_entry(
        hass,
        make_entry(meter.path, entry_id="01JNAMETEST", options={CONF_IMPORT_PRICE: IMPORT_PRICE}),
    )
    hass.states.async_set(
        IMPORT_PRICE, 1.1, {"unit_of_measurement": "NOK/kWh"}, timestamp=TEN_UTC.timestamp()
    )
    await feed_hours(hass, freezer, entry, TEN_UTC, (1000.0, 1001.5))
    await settle(hass)

    metadata = await get_instance(hass).async_add_executor_job(
        partial(get_metadata, hass, statistic_source="han_port")
    )
    names = {stat_id: meta["name"] for stat_id, (_, meta) in metadata.items()}
    title = "Kamstrup 6841131BN243101040"
    assert names == {
        "han_port:01jnametest_energy_import": f"{title} Aktiv energi import (per time)",
        "han_port:01jnametest_energy_export": f"{title} Aktiv energi eksport (per time)",
        "han_port:01jnametest_reactive_energy_import": f"{title} Reaktiv energi import (per time)",
        "han_port:01jnametest_reactive_energy_export": f"{title} Reaktiv energi eksport (per time)",
        "han_port:01jnametest_energy_import_cost": f"{title} Kostnad for energiimport (per time)",
    }
    assert all(entry.unique_id not in stat_id for stat_id in names)
    units = {
        stat_id: (meta["unit_of_measurement"], meta["unit_class"])
        for stat_id, (_, meta) in metadata.items()
    }
    assert units["han_port:01jnametest_energy_import"] == ("kWh", "energy")
    assert units["han_port:01jnametest_reactive_energy_export"] == ("kvarh", "reactive_energy")
    assert units["han_port:01jnametest_energy_import_cost"] == ("NOK", None)


@from_ten_utc
async def test_statistics_can_be_chosen_from_the_first_message(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """A new meter: its statistics exist (without rows) at its first hour-end message."""
    entry = await setup_entry(
        hass, make_entry(meter.path, options={CONF_IMPORT_PRICE: IMPORT_PRICE})
    )

    def known() -> Any:
        return get_instance(hass).async_add_executor_job(
            partial(get_metadata, hass, statistic_source="han_port")
        )

    assert await known() == {}
    await feed_at(hass, freezer, entry, datetime(2026, 1, 15, 10, 0, 5, tzinfo=UTC), 1000.0)
    await settle(hass)
    assert set(await known()) == {
        stat(entry, suffix) for suffix in (*REGISTERS, "energy_import_cost")
    }
    assert await hourly(hass, stat(entry, "energy_import"), datetime(2026, 1, 15, tzinfo=UTC)) == []


@from_ten_utc
async def test_nothing_waits_for_the_recorder_before_home_assistant_has_started(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """Set up while Home Assistant starts: resume and cost wait for the started event.

    Home Assistant waits for an entry's tasks before it has started, and the recorder
    commits nothing before it has: a resume that waited for a commit during startup
    held Home Assistant's start up until the stage timed out.
    """
    hass.set_state(CoreState.starting)
    entry = await set_up(hass, make_entry(meter.path, options={CONF_IMPORT_PRICE: IMPORT_PRICE}))
    await feed_at(hass, freezer, entry, datetime(2026, 1, 15, 9, 0, 5, tzinfo=UTC), 1000.0)
    await hass.async_block_till_done()
    statistics = entry.runtime_data.hourly
    assert statistics is not None
    track = statistics.tracks["1.8.0"]
    # Still starting: the reading waits, nothing has asked the recorder yet.
    assert track.register is None
    assert len(track.pending) == 1

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await settle(hass)
    assert track.register is not None
    assert not track.pending
    await feed_at(hass, freezer, entry, datetime(2026, 1, 15, 10, 0, 5, tzinfo=UTC), 1001.5)
    await settle(hass)
    rows = await hourly(hass, stat(entry, "energy_import"), datetime(2026, 1, 15, tzinfo=UTC))
    assert [(start.hour, change) for start, change, _ in rows] == [(9, pytest.approx(1.5))]


@from_ten_utc
async def test_a_price_sensor_without_a_price_unit_gives_no_cost(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """A sensor whose unit is no price per energy (it changed since it was chosen): no row."""
    entry = await setup_entry(
        hass, make_entry(meter.path, options={CONF_IMPORT_PRICE: IMPORT_PRICE})
    )
    hass.states.async_set(
        IMPORT_PRICE, 1.1, {"unit_of_measurement": "NOK"}, timestamp=TEN_UTC.timestamp()
    )
    await feed_hours(hass, freezer, entry, TEN_UTC, (1000.0, 1001.5))
    await settle(hass)
    assert len(await hourly(hass, stat(entry, "energy_import"), TEN_UTC)) == 1
    assert await hourly(hass, stat(entry, "energy_import_cost"), TEN_UTC) == []


# ---- tariff registers (P1 in the Netherlands, Belgium, Ireland) --------------------------

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TARIFFS = ("1.8.1", "1.8.2", "2.8.1", "2.8.2")
TARIFF_STATISTICS = {
    "energy_import_tariff_1": "1.8.1",
    "energy_import_tariff_2": "1.8.2",
    "energy_export_tariff_1": "2.8.1",
    "energy_export_tariff_2": "2.8.2",
}


def retimed_p1(capture_id: str, local: datetime, registers: dict[str, float | None]) -> bytes:
    """A real P1 capture with a new time and new register values (kWh), CRC recomputed.

    A value None drops that register's line, as a meter that left it out would. A
    capture without a clock line (DSMR 2.2) or without a CRC keeps going without.
    """
    text = raw_bytes(more_meters.BY_ID[capture_id]).decode("ascii")
    stamp = local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")
    text = re.sub(r"0-0:1\.0\.0\(\d{12}[SW]\)", f"0-0:1.0.0({stamp})", text)
    for code, value in registers.items():
        pattern = rf"1-0:{re.escape(code)}\((\d+)(?:\.(\d+))?\*(k?Wh)\)\r\n"
        found = re.search(pattern, text)
        assert found is not None, (capture_id, code)
        if value is None:
            text = text[: found.start()] + text[found.end() :]
            continue
        whole, decimals, unit = found.groups()
        places = len(decimals or "")
        number = value * 1000 if unit == "Wh" else value
        width = len(whole) + (places + 1 if places else 0)
        line = f"1-0:{code}({number:0{width}.{places}f}*{unit})\r\n"
        text = text[: found.start()] + line + text[found.end() :]
    head, _, tail = text.partition("!")
    if tail.strip():
        # The CRC covers "/" to "!" (DSMR 5.0.2, 6.12).
        body = (head + "!").encode("ascii")
        return body + f"{crc16_arc(body):04X}\r\n".encode("ascii")
    return text.encode("ascii")


def day_and_night(hours: float) -> dict[str, float]:
    """The four tariff registers `hours` after midnight: tariff 1 until 03:30, then 2.

    1.2 kWh/h imported and 0.3 kWh/h exported all the time; at 03:30 the meter
    switches tariff, so one register of each direction stands still from then on.
    """
    night, day = min(hours, 3.5), max(hours - 3.5, 0.0)
    return {
        "1.8.1": round(1581.123 + 1.2 * night, 3),
        "1.8.2": round(1435.706 + 1.2 * day, 3),
        "2.8.1": round(10.5 + 0.3 * night, 3),
        "2.8.2": round(20.25 + 0.3 * day, 3),
    }


@pytest.mark.parametrize(
    "capture_id",
    [
        "p1-nl-dsmr22-iskra-mt382-dsmrparser",
        "p1-nl-dsmr42-kaifa-dsmrparser",
        "p1-nl-dsmr5-iskra-am550-two-mbus-dsmrparser",
        "p1-be-fluvius-v171-dsmrparser",
        "p1-ie-iskra-ie5t-dsmrparser",
    ],
)
@pytest.mark.freeze_time("2026-01-14 22:59:00+00:00", tick=True)
async def test_tariff_registers_sum_to_the_hourly_import_and_export(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, capture_id: str
) -> None:
    """No total register: the tariffs' sum, continuous across a tariff switch, a line
    missing from a telegram and a reload right before a telegram that lacks one."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    start = datetime(2026, 1, 15, tzinfo=AMSTERDAM)
    offsets = [timedelta(seconds=3 + 10 * i) for i in range(3)] + [
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(minutes=59, seconds=53),
    ]
    times = [start + h * HOUR + offset for h in range(9) for offset in offsets]
    # Lines a telegram leaves out: the running import register mid-hour and mid-switch
    # hour, the idle one at a boundary (its kept value is still right), the running
    # export register at the boundary after the reload.
    missing = {
        start + timedelta(hours=2, minutes=20): "1.8.1",
        start + timedelta(hours=3, minutes=40): "1.8.2",
        start + timedelta(hours=5, seconds=3): "1.8.1",
        start + timedelta(hours=6, seconds=3): "2.8.2",
    }

    def telegram(at: datetime) -> bytes:
        registers: dict[str, float | None] = dict(day_and_night((at - start) / HOUR))
        if (code := missing.get(at)) is not None:
            registers[code] = None
        return retimed_p1(capture_id, at.astimezone(AMSTERDAM), registers)

    entry = make_entry(meter.path, unique_id=None, entry_id="01JHANPORTTESTNL")
    freezer.move_to(start - timedelta(seconds=1))
    await setup_entry(hass, entry)
    reload_at = start + timedelta(hours=6, seconds=2)
    await play(hass, freezer, entry, [(at, telegram(at)) for at in times if at < reload_at])
    freezer.move_to(reload_at)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    await play(hass, freezer, entry, [(at, telegram(at)) for at in times if at >= reload_at])

    # After the reload the 06:00:03 telegram lacks 2.8.2, whose value this run has not
    # seen yet: the sum waits for the next telegram (06:00:13) instead of dropping.
    def total(hour: int, codes: tuple[str, ...]) -> float:
        late = hour == 6 and "2.8.2" in codes
        at = start + hour * HOUR + timedelta(seconds=13 if late else 3)
        registers = day_and_night((at - start) / HOUR)
        return sum(registers[code] for code in codes)

    for suffix, codes in (("energy_import", TARIFFS[:2]), ("energy_export", TARIFFS[2:])):
        expected = [
            (
                (start + h * HOUR).astimezone(UTC),
                total(h + 1, codes) - total(h, codes),
                total(h + 1, codes),
            )
            for h in range(8)
        ]
        actual = await hourly(hass, stat(entry, suffix), start - HOUR)
        assert_rows(actual, expected)
        # The hour of the switch: half an hour on each tariff, one hour's energy.
        assert actual[3][1] == pytest.approx(1.2 if suffix == "energy_import" else 0.3, abs=EXACT)
        assert (await sums(hass, stat(entry, suffix), start - HOUR))[-1] == pytest.approx(
            total(8, codes) - total(0, codes), abs=EXACT
        )
    # Each tariff has its own statistic too, from its first value after each hour.
    for suffix, code in TARIFF_STATISTICS.items():
        values = {}
        for h in range(9):
            at = next(at for at in times if at >= start + h * HOUR and missing.get(at) != code)
            values[(start + h * HOUR).astimezone(UTC)] = day_and_night((at - start) / HOUR)[code]
        assert_rows(await hourly(hass, stat(entry, suffix), start - HOUR), expected_rows(values))


@pytest.mark.freeze_time("2026-07-24 09:00:00+00:00", tick=True)
async def test_a_meter_that_sends_the_total_and_its_tariffs_gives_the_total(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """E.ON's meter sends 1.8.0 and 1.8.1-1.8.4: the total is what the bill shows."""
    start = datetime(2026, 7, 24, 12, tzinfo=UTC)
    entry = make_entry(meter.path, unique_id=None, entry_id="01JHANPORTTESTHU")
    await setup_entry(hass, entry)
    for h in range(4):
        at = start + h * HOUR + timedelta(seconds=5)
        freezer.move_to(at)
        # The tariffs add up to more than the total (they need not agree in a test;
        # which one counts must show).
        registers: dict[str, float | None] = {
            "1.8.0": 173.64 + 1.0 * h,
            "1.8.1": 47.719 + 2.0 * h,
            "1.8.2": 125.921 + 3.0 * h,
            "2.8.0": 627.177 + 0.5 * h,
            "2.8.1": 401.829 + 4.0 * h,
        }
        entry.runtime_data.hub.feed(
            retimed_p1("p1-hu-eon-sagemcom-dsmrparser", at.astimezone(AMSTERDAM), registers)
        )
        await hass.async_block_till_done()
    await settle(hass)

    imported = await hourly(hass, stat(entry, "energy_import"), start)
    assert [round(row[1], 6) for row in imported] == [1.0, 1.0, 1.0]
    exported = await hourly(hass, stat(entry, "energy_export"), start)
    assert [round(row[1], 6) for row in exported] == [0.5, 0.5, 0.5]
    tariff_1 = await hourly(hass, stat(entry, "energy_import_tariff_1"), start)
    assert [round(row[1], 6) for row in tariff_1] == [2.0, 2.0, 2.0]


FLUVIUS = "p1-be-fluvius-v171-dsmrparser"


@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_a_total_that_appears_later_takes_over_without_a_spike(
    hass: HomeAssistant,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tariffs first, then (a firmware update) the total too: the sum goes on from there."""
    start = datetime(2026, 1, 15, 10, tzinfo=UTC)
    entry = make_entry(meter.path, unique_id=None, entry_id="01JHANPORTTESTBE")
    await setup_entry(hass, entry)
    lines = raw_bytes(more_meters.BY_ID[FLUVIUS]).decode("ascii").split("\r\n")
    assert not any(line.startswith("1-0:1.8.0") for line in lines)

    def with_total(telegram: bytes, total: float) -> bytes:
        text = telegram.decode("ascii")
        text = text.replace("1-0:1.8.1(", f"1-0:1.8.0({total:010.3f}*kWh)\r\n1-0:1.8.1(", 1)
        body = text[: text.index("!") + 1].encode("ascii")
        return body + f"{crc16_arc(body):04X}\r\n".encode("ascii")

    with caplog.at_level(logging.WARNING, logger="custom_components.han_port"):
        for h in range(5):
            for offset in (timedelta(seconds=5), timedelta(minutes=30)):
                at = start + h * HOUR + offset
                hours = (at - start) / HOUR
                telegram = retimed_p1(
                    FLUVIUS,
                    at.astimezone(AMSTERDAM),
                    {"1.8.1": 100.0 + 2.0 * hours, "1.8.2": 200.0},
                )
                if at >= start + timedelta(hours=1, minutes=30):
                    # A total well above the tariffs' sum: compared with it, a spike.
                    telegram = with_total(telegram, 5000.0 + 2.0 * hours)
                freezer.move_to(at)
                entry.runtime_data.hub.feed(telegram)
                await hass.async_block_till_done()
        await settle(hass)

    rows = await hourly(hass, stat(entry, "energy_import"), start)
    # [10, 11) from the tariffs; [11, 12) held the change and has no row; then the total.
    assert [(row[0] - start) / HOUR for row in rows] == [0, 2, 3]
    assert [round(row[1], 6) for row in rows] == [2.0, 2.0, 2.0]
    at_hour = [2.0 * (h + 5 / 3600) for h in range(5)]  # energy on 1.8.1 at hh:00:05
    assert [row[2] for row in rows] == pytest.approx(
        [300.0 + at_hour[1], 5000.0 + at_hour[3], 5000.0 + at_hour[4]], abs=0.0005
    )
    assert (await sums(hass, stat(entry, "energy_import"), start))[-1] == pytest.approx(6.0)
    changes = [r.message for r in caplog.records if "is now made of 1.8.0" in r.message]
    assert len(changes) == 1
    assert "1.8.1 + 1.8.2" in changes[0]


@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_a_tariff_the_meter_no_longer_sends_is_waited_for_an_hour(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """The entry once saw a third tariff (an earlier meter): an hour later, two do."""
    start = datetime(2026, 1, 15, 10, tzinfo=UTC)
    entry = make_entry(
        meter.path,
        unique_id=None,
        entry_id="01JHANPORTTESTT3",
        seen=["1.8.1", "1.8.2", "1.8.3"],
    )
    await setup_entry(hass, entry)
    # The first at 10:00:05, the others at hh:00:30, hh:20 and hh:40 (waiting ends
    # at the first one an hour after it, at 11:00:30).
    times = [start + timedelta(seconds=5)] + [
        start + h * HOUR + offset
        for h in range(4)
        for offset in (timedelta(seconds=30), timedelta(minutes=20), timedelta(minutes=40))
    ]
    for at in times:
        freezer.move_to(at)
        hours = (at - start) / HOUR
        entry.runtime_data.hub.feed(
            retimed_p1(
                FLUVIUS, at.astimezone(AMSTERDAM), {"1.8.1": 100.0 + 2.0 * hours, "1.8.2": 200.0}
            )
        )
        await hass.async_block_till_done()
    await settle(hass)

    rows = await hourly(hass, stat(entry, "energy_import"), start)
    # Waiting for 1.8.3 from 10:00:05, the sum starts at 11:00:30 with its first
    # baseline; nothing was booked before.
    assert [(row[0] - start) / HOUR for row in rows] == [1, 2]
    assert [round(row[1], 6) for row in rows] == [2.0, 2.0]


# ---- removal -----------------------------------------------------------------------------


@pytest.mark.freeze_time("2026-01-15 09:00:00+00:00", tick=True)
async def test_deleting_the_entry_deletes_its_statistics_and_only_its(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory
) -> None:
    """A reload keeps them, deleting the entry takes them; another entry's stay."""
    start = datetime(2026, 1, 15, 10, tzinfo=UTC)
    entry = make_entry(
        meter.path, entry_id="01JHANPORTGONE", options={CONF_IMPORT_PRICE: IMPORT_PRICE}
    )
    # Another entry whose id starts with this one's (ids made by hand, not ULIDs):
    # its statistic ids start with this entry's prefix.
    other = make_entry("/dev/ttyUSB9", entry_id="01JHANPORTGONE_2", unique_id="other")
    other.add_to_hass(hass)
    other_metadata = StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name="other",
        source="han_port",
        statistic_id=stat(other, "energy_import"),
        unit_class="energy",
        unit_of_measurement="kWh",
    )
    async_add_external_statistics(
        hass, other_metadata, [StatisticData(start=start, sum=1.0, state=1.0)]
    )
    await setup_entry(hass, entry)
    hass.states.async_set(
        IMPORT_PRICE, 1.1, {"unit_of_measurement": "NOK/kWh"}, timestamp=start.timestamp()
    )
    for hour, value in enumerate((1000.0, 1001.5, 1003.0)):
        await feed_at(hass, freezer, entry, start + hour * HOUR + timedelta(seconds=5), value)
    await settle(hass)

    async def known() -> set[str]:
        metadata = await get_instance(hass).async_add_executor_job(
            partial(get_metadata, hass, statistic_source="han_port")
        )
        return set(metadata)

    own = {stat(entry, suffix) for suffix in (*REGISTERS, "energy_import_cost")}
    assert await known() == own | {stat(other, "energy_import")}
    assert stat(other, "energy_import").startswith(stat(entry, ""))

    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert await known() == own | {stat(other, "energy_import")}

    assert (await hass.config_entries.async_remove(entry.entry_id))["require_restart"] is False
    await settle(hass)
    assert await known() == {stat(other, "energy_import")}
    assert await hourly(hass, stat(entry, "energy_import"), start - HOUR) == []
    assert len(await hourly(hass, stat(other, "energy_import"), start - HOUR)) == 1
