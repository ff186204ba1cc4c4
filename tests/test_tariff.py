"""The running hour and the capacity tariff in Home Assistant, over a month in fast-forward.

Frames from the frame builder go into the hub at the moment a Kamstrup meter would send
them (list 1 with the power, list 2 with the registers at hh:00:05) under the fake clock,
with the real recorder behind the hourly statistics. The test's own house model knows
the power in every minute and the register values it sent; every figure the sensors show
is compared with a reference worked out here from those, with exact fractions and a
brute-force search, never with capacity.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
import math
import random
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.han_port.const import (
    CONF_CAPACITY_LADDER,
    CONF_CAPACITY_METHOD,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_TARIFF,
    CONF_MEASUREMENT_INTERVAL,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    OPTIONS_SECTION_CAPACITY,
)
from custom_components.han_port.tariff import TariffSettings, held_power, rows_from_statistics
from devtools.builder import ListMessage, build_frame, layout_for

from .conftest import make_entry, set_up
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")

OSLO = ZoneInfo("Europe/Oslo")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
METER_ID = "5706567274389702"
LIST1 = layout_for("kamstrup", "list1")
LIST2 = layout_for("kamstrup", "list2")
ELVIA = (2, 5, 10, 15, 20, 25, 50, 75, 100)
WS_PER_KWH = 3_600_000
# Kamstrup's registers count 10 Wh in Norway.
WS_PER_COUNT = 36_000


def seconds(span: timedelta) -> Fraction:
    """`span` in seconds, exactly."""
    return Fraction(span // timedelta(microseconds=1), 1_000_000)


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=OSLO)


def frame(layout: Any, at: datetime, values: dict[str, float]) -> bytes:
    """A Kamstrup frame stamped with the meter's local wall clock at `at`."""
    return build_frame(
        layout,
        ListMessage(
            values={
                element.obis: values.get(
                    f"{element.obis.c}.{element.obis.d}.{element.obis.e}",
                    230.0 if element.obis.c % 20 == 12 else 0.0,
                )
                for element in layout.registers()
                if element.obis is not None
            },
            meter_id=METER_ID,
            meter_type="6841131BN243101040",
            timestamp=at.astimezone(OSLO).replace(tzinfo=None),
        ),
    )


@dataclass
class House:
    """The test's meter: power held between frames, registers integrating it exactly."""

    hass: HomeAssistant
    freezer: FrozenDateTimeFactory
    clock: list[float]
    entry: MockConfigEntry
    now: datetime
    import_ws: int = 4_000 * WS_PER_KWH
    export_ws: int = 300 * WS_PER_KWH
    power: tuple[int, int] = (0, 0)
    latched: dict[datetime, tuple[int, int]] = field(default_factory=dict)
    sent: list[datetime] = field(default_factory=list)
    # Power (import, export) in effect from each moment on: the reference's "used".
    steps: list[tuple[datetime, tuple[int, int]]] = field(default_factory=list)

    def advance(self, to: datetime) -> None:
        """Integrate the power up to `to`, latching the registers at each hour."""
        to = to.astimezone(UTC)
        while self.now < to:
            boundary = self.now.replace(minute=0, second=0, microsecond=0) + HOUR
            if self.now == boundary - HOUR and self.now not in self.latched:
                self.latched[self.now] = self._counts()
            step = min(boundary, to)
            seconds = int((step - self.now).total_seconds())
            self.import_ws += self.power[0] * seconds
            self.export_ws += self.power[1] * seconds
            self.now = step
        if self.now == self.now.replace(minute=0, second=0, microsecond=0):
            self.latched.setdefault(self.now, self._counts())

    def _counts(self) -> tuple[int, int]:
        return self.import_ws // WS_PER_COUNT, self.export_ws // WS_PER_COUNT

    async def at(self, when: datetime) -> None:
        self.advance(when)
        self.freezer.move_to(self.now)
        self.clock[0] = self.now.timestamp()

    def set_power(self, import_w: int, export_w: int = 0) -> None:
        self.power = (import_w, export_w)
        self.steps.append((self.now, self.power))

    async def send_power(self, when: datetime, import_w: int, export_w: int = 0) -> None:
        """List 1 at `when`, with the power from then on."""
        await self.at(when)
        self.set_power(import_w, export_w)
        self.entry.runtime_data.hub.feed(
            frame(LIST1, self.now, {"1.7.0": import_w, "2.7.0": export_w})
        )
        await self.hass.async_block_till_done()

    async def send_registers(self, boundary: datetime) -> None:
        """List 2 at hh:00:05 with the registers the meter latched at hh:00:00."""
        boundary = boundary.astimezone(UTC)
        await self.at(boundary + timedelta(seconds=5))
        counts = self.latched[boundary]
        self.sent.append(boundary)
        self.entry.runtime_data.hub.feed(
            frame(
                LIST2,
                self.now,
                {
                    "1.7.0": self.power[0],
                    "2.7.0": self.power[1],
                    "1.8.0": counts[0] / 100,
                    "2.8.0": counts[1] / 100,
                },
            )
        )
        await self.hass.async_block_till_done()

    async def quiet_hours(
        self, until: datetime, powers: dict[datetime, int], skip: Iterable[datetime] = ()
    ) -> None:
        """Hours with only the hourly list, each at its constant import (default 1 kW).

        The registers at `until` are left to what comes next (a detailed hour sends
        its power at hh:00:00 first); those at a `skip` boundary are never sent.
        """
        skipped = {moment.astimezone(UTC) for moment in skip}
        until = until.astimezone(UTC)
        while self.now < until:
            hour = self.now.replace(minute=0, second=0, microsecond=0)
            self.set_power(powers.get(hour, 1000))
            end = hour + HOUR
            await self.at(min(end, until))
            if end < until and end not in skipped:
                await self.send_registers(end)

    async def detailed_hour(
        self,
        start: datetime,
        power: Any,
        checks: dict[int, Any] | None = None,
        before_registers: Any = None,
    ) -> None:
        """An hour with list 1 every minute: `power(minute)` gives (import, export) W.

        The registers of the boundary go out at hh:00:05 as usual; `checks[minute]` is
        awaited right after that minute's frame.
        """
        start = start.astimezone(UTC)
        for minute in range(60):
            import_w, export_w = power(minute)
            await self.send_power(start + minute * MINUTE, import_w, export_w)
            if minute == 0:
                if before_registers is not None:
                    await before_registers()
                await self.send_registers(start)
            if checks and minute in checks:
                await checks[minute]()

    # ---- the reference -------------------------------------------------------------

    def rows(self, direction: int = 0) -> list[tuple[datetime, Fraction, bool]]:
        """(UTC start, kWh, estimated) of each hour booked: between two sent boundaries,
        spread evenly over the hours of a gap."""
        result = []
        for previous, boundary in zip(self.sent, self.sent[1:], strict=False):
            hours = int((boundary - previous) / HOUR)
            energy = Fraction(
                self.latched[boundary][direction] - self.latched[previous][direction], 100
            )
            result.extend(
                (previous + index * HOUR, energy / hours, hours > 1) for index in range(hours)
            )
        return result

    def used(self, direction: int, since: datetime, until: datetime) -> Fraction:
        """kWh from the power steps between `since` and `until`."""
        total = Fraction(0)
        for index, (begin, power) in enumerate(self.steps):
            end = self.steps[index + 1][0] if index + 1 < len(self.steps) else until
            low, high = max(begin, since), min(end, until)
            if high > low:
                total += power[direction] * seconds(high - low) / WS_PER_KWH
        return total


@dataclass(frozen=True)
class Expected:
    peaks: list[tuple[Fraction, date, int]]
    average: Fraction
    step: int
    limit: int | None
    headroom: float | None
    used: Fraction
    estimate: Fraction
    import_totals: tuple[Fraction, Fraction]
    """(today, this month)"""
    export_totals: tuple[Fraction, Fraction]


def reference(
    house: House,
    ladder: tuple[float, ...] = ELVIA,
    count: int = 3,
    at: datetime | None = None,
) -> Expected:
    """Every figure at `at` (the house's `now`), from the rows and power steps.

    The power in effect at the house's `now` holds until `at`.
    """
    now = (at or house.now).astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    local_now = hour.astimezone(OSLO)
    month = (local_now.year, local_now.month)
    days: dict[date, tuple[Fraction, datetime]] = {}
    for start, energy, estimated in house.rows():
        day_of = start.astimezone(OSLO)
        if estimated or start >= hour or (day_of.year, day_of.month) != month:
            continue
        best = days.get(day_of.date())
        if best is None or energy > best[0]:
            days[day_of.date()] = (energy, start)
    top = sorted(days.items(), key=lambda item: (-item[1][0], item[1][1]))[:count]
    peaks = [(value, day, start.astimezone(OSLO).hour) for day, (value, start) in top]
    average = sum((p[0] for p in peaks), Fraction(0)) / len(peaks) if peaks else Fraction(0)
    limits = [Fraction(limit).limit_denominator() for limit in ladder]
    step = 1 + sum(1 for limit in limits if limit <= average)
    limit = limits[step - 1] if step <= len(limits) else None

    used = house.used(0, hour, now)
    left = seconds(hour + HOUR - now) / 3600
    estimate = used + house.power[0] * left / 1000

    headroom = None
    if limit is not None:
        today = local_now.date()
        others = [value for day, (value, _) in days.items() if day != today]
        earlier = days[today][0] if today in days else None

        def avg(value: Fraction) -> Fraction:
            mine = value if earlier is None else max(earlier, value)
            chosen = sorted([*others, mine], reverse=True)[:count]
            return sum(chosen, Fraction(0)) / len(chosen)

        # The largest energy for this hour that keeps the average below the limit.
        low, high = Fraction(0), Fraction(10_000)
        for _ in range(80):
            middle = (low + high) / 2
            low, high = (middle, high) if avg(middle) < limit else (low, middle)
        headroom = max(0.0, float((low - used) / left * 1000))

    def totals(direction: int) -> tuple[Fraction, Fraction]:
        today_total = month_total = Fraction(0)
        booked = set()
        for start, energy, _ in house.rows(direction):
            if start >= hour:
                continue
            booked.add(start)
            when = start.astimezone(OSLO)
            if (when.year, when.month) == month:
                month_total += energy
                if when.date() == local_now.date():
                    today_total += energy
        # Hours whose registers have not come yet count as the power measured in them.
        pending = house.sent[-1] if house.sent else hour
        while pending < hour:
            energy = house.used(direction, pending, pending + HOUR)
            when = pending.astimezone(OSLO)
            if (when.year, when.month) == month:
                month_total += energy
                if when.date() == local_now.date():
                    today_total += energy
            pending += HOUR
        current = house.used(direction, hour, now)
        return today_total + current, month_total + current

    return Expected(
        peaks=peaks,
        average=average,
        step=step,
        limit=limit,
        headroom=headroom,
        used=used,
        estimate=estimate,
        import_totals=totals(0),
        export_totals=totals(1),
    )


# ---- what the sensors show ------------------------------------------------------------


def sensor(hass: HomeAssistant, key: str) -> State:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", "han_port", f"{METER_ID}_{key}")
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def number(hass: HomeAssistant, key: str) -> float | None:
    state = sensor(hass, key).state
    return None if state == STATE_UNKNOWN else float(state)


def assert_between(actual: float | None, bounds: Iterable[float], slack: float, what: str) -> None:
    assert actual is not None, what
    low, high = min(bounds), max(bounds)
    assert low - slack <= actual <= high + slack, (actual, low, high, what)


def assert_kwh(actual: float | None, expected: Fraction, what: str) -> None:
    assert_between(actual, [float(expected)], 0.0005 + 1e-9, what)


def assert_figures(
    hass: HomeAssistant, house: House, *, ladder: tuple[float, ...] = ELVIA, count: int = 3
) -> Expected:
    """Every tariff sensor against the reference at the house's `now`.

    The fake clock runs on by a few ms between a frame and the figures it publishes, and
    figures that move with time move monotonically while the power holds: each is
    compared with the reference at the frame and at the moment its state was written.
    """
    want = reference(house, ladder, count)
    when = house.now.astimezone(OSLO).isoformat()

    def span(key: str) -> tuple[Expected, Expected]:
        return want, reference(house, ladder, count, at=sensor(hass, key).last_updated)

    # Energy to the Wh, headroom in whole watts rounded down.
    assert_between(
        number(hass, "energy_import_this_hour"),
        [float(w.used) for w in span("energy_import_this_hour")],
        0.0005 + 1e-9,
        f"used {when}",
    )
    assert_between(
        number(hass, "energy_import_hour_estimate"),
        [float(w.estimate) for w in span("energy_import_hour_estimate")],
        0.0005 + 1e-9,
        f"estimate {when}",
    )
    for key, expected in (
        ("energy_import_today", want.import_totals[0]),
        ("energy_import_this_month", want.import_totals[1]),
        ("energy_export_today", want.export_totals[0]),
        ("energy_export_this_month", want.export_totals[1]),
    ):
        assert_kwh(number(hass, key), expected, f"{key} {when}")
    for rank in range(1, count + 1):
        peak = sensor(hass, f"capacity_peak_{rank}")
        if rank > len(want.peaks):
            assert peak.state == STATE_UNKNOWN, (rank, when)
            continue
        value, day, hour = want.peaks[rank - 1]
        assert float(peak.state) == pytest.approx(float(value), abs=1e-9), (rank, when)
        assert (peak.attributes["date"], peak.attributes["hour"]) == (day.isoformat(), hour)
    assert number(hass, "capacity_average") == pytest.approx(
        round(float(want.average), 3), abs=1e-9
    ), when
    step = sensor(hass, "capacity_step")
    assert int(step.state) == want.step, when
    limit = number(hass, "capacity_step_limit")
    assert limit == (None if want.limit is None else pytest.approx(float(want.limit))), when
    headroom = number(hass, "capacity_headroom")
    if want.headroom is None:
        assert headroom is None, when
    else:
        bounds = [w.headroom for w in span("capacity_headroom") if w.headroom is not None]
        assert_between(headroom, [math.floor(b) for b in bounds], 1, f"headroom {when}")
    return want


async def settle(hass: HomeAssistant) -> None:
    for _ in range(2):
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)


@pytest.fixture(autouse=True)
async def norway(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """A Norwegian home (after the recorder, which must start first)."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    hass.config.country = "NO"


def tariff_entry(meter: PtyMeter, **options: Any) -> MockConfigEntry:
    return make_entry(
        meter.path,
        unique_id=METER_ID,
        seen=["1.7.0", "2.7.0", "1.8.0", "2.8.0"],
        # Every power value publishes the figures, so each check sees those of its frame.
        options={CONF_MEASUREMENT_INTERVAL: 0, **options},
    )


async def start(
    hass: HomeAssistant,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    clock: list[float],
    at: datetime,
    **options: Any,
) -> House:
    entry = tariff_entry(meter, **options)
    house = House(hass, freezer, clock, entry, at.astimezone(UTC))
    await house.at(house.now)
    await set_up(hass, entry)
    await settle(hass)
    return house


# ---- a month ---------------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.freeze_time("2026-02-28 22:00:00+00:00", tick=True)
async def test_a_month_of_capacity_figures(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """March 2026 hour by hour: peaks, average, step and headroom match the reference at
    every check, through a gap, a restart mid-hour, the 23-hour DST day and into April."""
    house = await start(hass, meter, freezer, fake_clock, local(2, 28, 23, 59))
    rng = random.Random(12)
    powers: dict[datetime, int] = {}
    hour = local(3, 1, 0).astimezone(UTC)
    while hour < local(4, 2, 0).astimezone(UTC):
        powers[hour] = rng.randrange(30, 300) * 10
        hour += HOUR
    # Peaks: the 3rd at 18, the 5th at 08; the 9th twice (only 20:00 counts).
    for moment, watts in (
        (local(3, 3, 18), 7210),
        (local(3, 5, 8), 5530),
        (local(3, 9, 19), 6100),
        (local(3, 9, 20), 6840),
        # A gap on the 10th: its 27 kWh over 17:00-20:00 are spread, estimated, no peak.
        (local(3, 10, 17), 9000),
        (local(3, 10, 18), 9000),
        (local(3, 10, 19), 9000),
    ):
        powers[moment.astimezone(UTC)] = watts

    async def check() -> None:
        assert_figures(hass, house)

    await house.quiet_hours(local(3, 1, 0), powers)
    await house.send_registers(local(3, 1, 0))
    await house.quiet_hours(local(3, 10, 21), powers, skip=(local(3, 10, 18), local(3, 10, 19)))
    # After the gap: its three 9 kWh hours are estimated and count for nothing.
    await house.detailed_hour(
        local(3, 10, 21), lambda minute: (1500 + 40 * minute, 0), {0: check, 30: check, 59: check}
    )
    gap = [row for row in house.rows() if row[2]]
    assert [row[0].astimezone(OSLO).hour for row in gap] == [17, 18, 19]
    assert all(row[1] > 8 for row in gap)
    assert reference(house).peaks[0] == (Fraction(72, 10), date(2026, 3, 3), 18)

    # The 20th, 18:00: a heavy hour, a restart at 18:30:05; nothing is lost.
    await house.quiet_hours(local(3, 20, 18), powers)

    def evening(minute: int) -> tuple[int, int]:
        return (6000 if 10 <= minute < 40 else 2500, 0)

    async def restart() -> None:
        assert_figures(hass, house)
        await house.at(house.now + timedelta(seconds=5))
        await settle(hass)
        entry = house.entry
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await settle(hass)

    await house.detailed_hour(
        local(3, 20, 18),
        evening,
        {5: check, 20: check, 30: restart, 31: check, 45: check, 58: check, 59: check},
    )

    # The DST day: 23 hours, 02:00 never happens; a new top peak at 03:00 CEST.
    powers[local(3, 29, 3).astimezone(UTC)] = 8120
    await house.quiet_hours(local(3, 29, 23), powers)
    await house.detailed_hour(local(3, 29, 23), lambda minute: (3000, 0), {0: check, 45: check})
    want = reference(house)
    assert want.peaks[0][1:] == (date(2026, 3, 29), 3)
    day = [row for row in house.rows() if row[0].astimezone(OSLO).date() == date(2026, 3, 29)]
    # 23 hours: 22 booked, and 23:00 under way (its energy counted in "today" above).
    assert len(day) == 22

    # Solar in the afternoon of the 31st: export, then the month ends at local midnight.
    # A restart at 14:00:02, between the hour and its registers: the registers come while
    # the entry is still reading the recorder.
    async def restart_at_the_hour() -> None:
        await house.at(house.now + timedelta(seconds=2))
        await settle(hass)
        assert await hass.config_entries.async_unload(house.entry.entry_id)
        assert await hass.config_entries.async_setup(house.entry.entry_id)

    await house.quiet_hours(local(3, 31, 14), powers)
    await house.detailed_hour(
        local(3, 31, 14),
        lambda minute: (0, 1200 + 10 * minute) if minute < 45 else (300, 0),
        {0: check, 1: check, 30: check, 59: check},
        before_registers=restart_at_the_hour,
    )
    await house.quiet_hours(local(3, 31, 23), powers)
    await house.detailed_hour(local(3, 31, 23), lambda minute: (2000, 0), {59: check})
    april = local(4, 1, 0)
    # No frame: the boundary's timer rolls the hour, the day and the month over.
    await house.at(april)
    async_fire_time_changed(hass, april)
    await hass.async_block_till_done()
    assert float(sensor(hass, "energy_import_this_month").state) == 0.0
    assert float(sensor(hass, "energy_import_today").state) == 0.0
    assert sensor(hass, "capacity_peak_1").state == STATE_UNKNOWN
    assert float(sensor(hass, "capacity_average").state) == 0.0
    assert sensor(hass, "capacity_step").state == "1"
    assert (
        sensor(hass, "energy_import_this_hour").attributes["last_reset"]
        == april.astimezone(UTC).isoformat()
    )
    await house.detailed_hour(april, lambda minute: (2200, 0), {0: check, 40: check})
    await house.detailed_hour(local(4, 1, 1), lambda minute: (3600, 0), {0: check, 30: check})
    assert [peak[1] for peak in reference(house).peaks] == [date(2026, 4, 1)]


# ---- options ---------------------------------------------------------------------------


async def configure(hass: HomeAssistant, entry: MockConfigEntry, tariff: dict[str, Any]) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_POWER_INTERVAL: 5,
            CONF_MEASUREMENT_INTERVAL: 0,
            CONF_SCALE: 1,
            OPTIONS_SECTION_CAPACITY: {
                CONF_CAPACITY_TARIFF: True,
                CONF_CAPACITY_LADDER: "2, 5, 10, 15, 20, 25, 50, 75, 100",
                CONF_CAPACITY_PEAKS: 3,
                CONF_CAPACITY_METHOD: "top_days",
                **tariff,
            },
        },
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.freeze_time("2026-03-31 21:00:00+00:00", tick=True)
async def test_ladder_entered_in_the_options(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """A ladder with decimal commas is saved normalised; the steps follow it at once."""
    house = await start(hass, meter, freezer, fake_clock, local(3, 31, 23, 59))
    powers = {local(4, 1, 0).astimezone(UTC): 3000, local(4, 1, 1).astimezone(UTC): 2400}
    await house.quiet_hours(local(4, 1, 0), powers)
    await house.send_registers(local(4, 1, 0))
    await house.quiet_hours(local(4, 1, 2), powers)
    await house.detailed_hour(local(4, 1, 2), lambda minute: (2000, 0))
    want = assert_figures(hass, house)
    assert (want.step, want.limit) == (2, 5)

    # Each kind of bad ladder gets its own message, in the section; nothing is saved.
    entry = house.entry
    for text, error in (
        ("", "ladder_empty"),
        ("2, five, 10", "ladder_not_a_number"),
        ("0, 2, 5", "ladder_not_positive"),
        ("2, 5, 5, 10", "ladder_not_increasing"),
    ):
        result = await configure(hass, entry, {CONF_CAPACITY_LADDER: text})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {OPTIONS_SECTION_CAPACITY: error}
    assert CONF_CAPACITY_LADDER not in entry.options

    result = await configure(hass, entry, {CONF_CAPACITY_LADDER: "2,5; 3,5;10"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    assert entry.options[CONF_CAPACITY_LADDER] == "2.5, 3.5, 10"
    # 03:00:00, the registers not yet read: 02:00-03:00 counts as measured by the power.
    await house.send_power(house.now + MINUTE, 2000)
    assert_figures(hass, house, ladder=(2.5, 3.5, 10))
    await house.send_registers(house.now)
    want = assert_figures(hass, house, ladder=(2.5, 3.5, 10))
    # 3.0 kWh/h is on 2.5-3.5 now: the second step, limit 3.5.
    assert (want.step, want.limit) == (2, Fraction(7, 2))
    step = sensor(hass, "capacity_step")
    assert step.attributes["label"] == "2.5\u20133.5 kWh/h"

    # The form shows the saved ladder back.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    section = next(key for key in result["data_schema"].schema if key == OPTIONS_SECTION_CAPACITY)
    fields = result["data_schema"].schema[section].schema.schema
    ladder_key = next(key for key in fields if key == CONF_CAPACITY_LADDER)
    assert ladder_key.description == {"suggested_value": "2.5, 3.5, 10"}
    hass.config_entries.options.async_abort(result["flow_id"])


@pytest.mark.freeze_time("2026-04-01 08:00:00+00:00", tick=True)
async def test_one_highest_hour_and_fewer_sensors(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """The single highest hour of the month: one peak sensor, the others removed."""
    house = await start(hass, meter, freezer, fake_clock, local(4, 1, 9, 59))
    registry = er.async_get(hass)
    peak_ids = [
        registry.async_get_entity_id("sensor", "han_port", f"{METER_ID}_capacity_peak_{rank}")
        for rank in (1, 2, 3, 4)
    ]
    assert [entity_id is not None for entity_id in peak_ids] == [True, True, True, False]
    result = await configure(hass, house.entry, {CONF_CAPACITY_METHOD: "top_hour"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    assert registry.async_get(peak_ids[0]) is not None  # type: ignore[arg-type]
    assert registry.async_get(peak_ids[1]) is None  # type: ignore[arg-type]
    assert registry.async_get(peak_ids[2]) is None  # type: ignore[arg-type]
    registry.async_update_entity(peak_ids[0], disabled_by=None)  # type: ignore[arg-type]
    await hass.config_entries.async_reload(house.entry.entry_id)
    await settle(hass)

    # Two hours on the 1st and one on the 2nd: one hour counts, the day does not matter.
    powers = {
        local(4, 1, 10).astimezone(UTC): 4100,
        local(4, 1, 11).astimezone(UTC): 4500,
        local(4, 2, 7).astimezone(UTC): 3900,
    }
    await house.quiet_hours(local(4, 1, 10), powers)
    await house.send_registers(local(4, 1, 10))
    await house.quiet_hours(local(4, 2, 9), powers)
    await house.detailed_hour(local(4, 2, 9), lambda minute: (2000, 0))
    rows = [row for row in house.rows() if not row[2]]
    top = max(rows, key=lambda row: row[1])
    peak = sensor(hass, "capacity_peak_1")
    assert float(peak.state) == float(top[1])
    assert peak.attributes["hour"] == 11
    assert float(sensor(hass, "capacity_average").state) == float(top[1])
    assert sensor(hass, "capacity_step").state == "2"


# ---- the pieces --------------------------------------------------------------------------


def test_gap_hours_recognised_in_the_statistics() -> None:
    """Inner gap hours have no state; the hour after them ends the gap: both estimated."""
    base = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()
    rows = [
        {"start": base, "change": 1.0, "state": 100.0},
        {"start": base + 3600, "change": 3.0, "state": None},
        {"start": base + 7200, "change": 3.0, "state": None},
        {"start": base + 10800, "change": 3.0, "state": 109.0},
        {"start": base + 14400, "change": 2.0, "state": 111.0},
        # A missing hour, then a row that continues from a stateless resume: measured.
        {"start": base + 21600, "change": 1.5, "state": 113.5},
        {"start": base + 25200, "change": None, "state": 113.5},
        {"start": base + 28800, "change": -1.0, "state": 112.5},
    ]
    assert [(row.energy, row.estimated) for row in rows_from_statistics(rows)] == [
        (1.0, False),
        (3.0, True),
        (3.0, True),
        (3.0, True),
        (2.0, False),
        (1.5, False),
    ]


def test_recorded_power_replayed_as_it_held() -> None:
    """A state holds until the next one (repeated within the hold); unavailable adds none."""
    since = datetime(2026, 3, 20, 17, tzinfo=UTC)

    def state(minute: float, value: str, unit: str = "W") -> State:
        when = since + timedelta(minutes=minute)
        return State(
            "sensor.kamstrup_active_power_import",
            value,
            {"unit_of_measurement": unit},
            last_changed=when,
            last_reported=when,
            last_updated=when,
        )

    samples = held_power(
        [
            state(-10, "900"),
            state(1, "2.5", "kW"),
            state(4, "unavailable"),
            state(6, "1200"),
            state(6.5, "-5"),
        ],
        since,
        since + timedelta(minutes=7),
        timedelta(minutes=2),
    )
    assert [((at - since) / MINUTE, watts) for at, watts in samples] == [
        (0, 900.0),
        (1, 2500.0),
        (2, 2500.0),
        (3, 2500.0),
        (6, 1200.0),
    ]


def test_settings_from_options(caplog: pytest.LogCaptureFixture) -> None:
    """Defaults by country; a hand-edited ladder that does not parse falls back, logged."""
    assert TariffSettings.from_options({}, "NO").enabled
    assert not TariffSettings.from_options({}, "SE").enabled
    settings = TariffSettings.from_options(
        {CONF_CAPACITY_LADDER: "5, x", CONF_CAPACITY_METHOD: "top_week", CONF_CAPACITY_PEAKS: 0},
        "NO",
    )
    assert settings.ladder == tuple(float(limit) for limit in ELVIA)
    assert "'x' is not a number of kWh/h" in caplog.text
    assert (settings.method, settings.count) == ("top_days", 1)
    top_hour = TariffSettings.from_options(
        {CONF_CAPACITY_METHOD: "top_hour", CONF_CAPACITY_PEAKS: 3}, "NO"
    )
    assert top_hour.count == 1
