"""A simulated meter: realistic push lists on a vendor's cadence, built by `builder`.

Sans-IO like the rest of the package: the meter is given a start time and yields
`(datetime, frame)` pairs; it never sleeps and never reads the clock, so a test can
run a day of frames in a second and a demo server paces them itself.

The house behind the meter: a base load per phase with a slow drift and a daily
rhythm, appliances switching on and off at random (kettle, water heater, heat pump,
fridge...), optionally solar production that makes the meter export at noon.
Power is held constant over each slot of the vendor's fastest list (2, 2.5 or
10 s) and the energy registers integrate exactly that reported power, so a list 3
energy delta equals the sum of the list 1 powers times their slot length, to the
register's resolution. Everything random comes from one `random.Random(seed)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
import random
from typing import Final

from custom_components.han_port.han.cosem import CLOCK_STATUS_DST, Tag
from custom_components.han_port.han.model import Obis
from custom_components.han_port.han.vendors import VENDORS, Market, Schedule

from .builder import Element, ListLayout, ListMessage, build_frame, engineering_value, layout_for

HOUR_MS: Final = 3_600_000
_WMS_PER_WH: Final = 3_600_000  # W·ms in one Wh
_SIGNED: Final = frozenset((Tag.INTEGER, Tag.LONG, Tag.DOUBLE_LONG, Tag.LONG64))

# The vendors the meter can be: every market of the vendor table (vendors.py) that
# says when its meters send which list, by lower-case vendor name ("kamstrup").
MARKETS: Final[Mapping[str, Market]] = {
    vendor.name.lower(): market
    for vendor in VENDORS
    if vendor.name is not None
    for market in vendor.markets
    if market.schedule is not None
}
PROFILES: Final[Mapping[str, Schedule]] = {
    name: market.schedule for name, market in MARKETS.items() if market.schedule is not None
}


@dataclass(frozen=True, slots=True)
class Appliance:
    """A load that switches on at random: power, reactive share, time on, starts/hour.

    A seasonal load (electric space heating, the bulk of a Norwegian winter bill)
    starts more often the colder the month and not at all in midsummer.
    """

    name: str
    watts: float
    tan_phi: float
    mean_on_s: float
    starts_per_hour: float
    seasonal: bool = False


APPLIANCES: Final = (
    Appliance("fridge", 110, 0.6, 900, 1.5),
    Appliance("kettle", 2000, 0.0, 150, 0.5),
    Appliance("water heater", 2000, 0.0, 1500, 0.4),
    Appliance("heat pump", 1200, 0.3, 1800, 0.6),
    Appliance("oven", 2200, 0.0, 1800, 0.1),
    Appliance("dishwasher", 1800, 0.1, 3600, 0.05),
    Appliance("washing machine", 600, 0.4, 3600, 0.05),
    Appliance("panel heater", 1000, 0.0, 600, 3.0, seasonal=True),
    Appliance("panel heater", 800, 0.0, 600, 3.0, seasonal=True),
    Appliance("floor heating", 1500, 0.0, 1200, 1.5, seasonal=True),
)


@dataclass(frozen=True, slots=True)
class Sample:
    """What the meter measures over one slot: totals in W/var, per phase V and A."""

    import_w: int
    export_w: int
    import_var: int
    export_var: int
    voltages: tuple[float, ...]
    currents: tuple[float, ...]  # negative on a phase that exports


class House:
    """The loads behind the meter. `step` gives the next slot's measurements."""

    def __init__(self, rng: random.Random, phases: int, solar_peak_w: float) -> None:
        self._rng = rng
        self._phases = phases
        self._solar_peak_w = solar_peak_w
        self._base = [rng.uniform(70.0, 220.0) for _ in range(phases)]
        self._volt_offset = [rng.uniform(-1.0, 1.0) for _ in range(phases)]
        self._volt_drift = 0.0
        self._drift = 0.0
        self._cloud = 1.0
        # Each appliance sits on one phase; on until the given slot time (ms), or off.
        self._phase_of = [rng.randrange(phases) for _ in APPLIANCES]
        self._on_until: list[int | None] = [None] * len(APPLIANCES)

    def step(self, t_ms: int, slot_ms: int, when: datetime) -> Sample:
        """Advance one slot starting at `t_ms`; `when` is its local wall-clock time."""
        rng = self._rng
        hour_of_day = when.hour + when.minute / 60
        activity = _daily_activity(hour_of_day)
        # Winter 1, midsummer 0: drives the space heating.
        cold = 0.5 * (1 + math.cos(2 * math.pi * (when.month - 1 + when.day / 31) / 12))
        # Mean-reverting random walks, load drift (W) and grid voltage (V), scaled so
        # that they behave alike whatever the slot length (2 s to 10 s).
        scale = slot_ms / 10_000
        self._drift = max(
            -150.0,
            min(150.0, 0.98**scale * self._drift + rng.gauss(0.0, 8.0 * math.sqrt(scale))),
        )
        self._volt_drift = max(
            -1.5,
            min(1.5, 0.99**scale * self._volt_drift + rng.gauss(0.0, 0.08 * math.sqrt(scale))),
        )
        active = [
            self._base[phase] * activity + self._drift / self._phases
            for phase in range(self._phases)
        ]
        reactive = [0.25 * load for load in active]
        for index, appliance in enumerate(APPLIANCES):
            until = self._on_until[index]
            if until is not None and until <= t_ms:
                self._on_until[index] = until = None
            if until is None:
                rate = appliance.starts_per_hour * (cold if appliance.seasonal else activity)
                chance = rate * slot_ms / HOUR_MS
                if rng.random() < chance:
                    on_ms = rng.expovariate(1.0 / appliance.mean_on_s) * 1000
                    self._on_until[index] = until = t_ms + max(slot_ms, int(on_ms))
            if until is not None:
                phase = self._phase_of[index]
                active[phase] += appliance.watts
                reactive[phase] += appliance.watts * appliance.tan_phi
        solar = self._solar(hour_of_day)
        net = [max(0.0, load) - solar / self._phases for load in active]
        voltages = tuple(
            max(
                227.0,
                min(
                    233.0,
                    230.0
                    + self._volt_offset[phase]
                    + self._volt_drift
                    - 0.0003 * max(0.0, net[phase])
                    + rng.gauss(0.0, 0.3),
                ),
            )
            for phase in range(self._phases)
        )
        currents = tuple(
            math.copysign(math.hypot(net[phase], reactive[phase]) / voltages[phase], net[phase])
            for phase in range(self._phases)
        )
        total_w = round(sum(net))
        total_var = round(sum(reactive))
        return Sample(
            import_w=max(total_w, 0),
            export_w=max(-total_w, 0),
            import_var=max(total_var, 0),
            export_var=max(-total_var, 0),
            voltages=voltages,
            currents=currents,
        )

    def _solar(self, hour_of_day: float) -> float:
        if self._solar_peak_w <= 0:
            return 0.0
        self._cloud = max(0.2, min(1.0, self._cloud + self._rng.gauss(0.0, 0.03)))
        daylight = math.sin(math.pi * (hour_of_day - 6.0) / 14.0)
        return self._solar_peak_w * self._cloud * max(0.0, daylight)


def _daily_activity(hour: float) -> float:
    """Relative household activity: low at night, peaks in the morning and evening."""
    morning = math.exp(-(((hour - 7.5) / 1.5) ** 2))
    evening = math.exp(-(((hour - 18.5) / 2.5) ** 2))
    return 0.6 + 0.8 * morning + 1.1 * evening


@dataclass(frozen=True, slots=True)
class SimulatedFrame:
    """One frame of the simulation, with what it says (for tests and demos).

    `sample` is what the meter measured over the slot the frame falls in; the energy
    registers integrate it, including what a short list does not carry.
    """

    time: datetime
    list_name: str
    message: ListMessage
    frame: bytes
    sample: Sample


@dataclass(slots=True)
class _Registers:
    """Energy registers as exact integers in W·ms (var·ms): import/export, active/reactive."""

    import_wms: int
    export_wms: int
    import_varms: int
    export_varms: int

    def add(self, sample: Sample, slot_ms: int) -> None:
        self.import_wms += sample.import_w * slot_ms
        self.export_wms += sample.export_w * slot_ms
        self.import_varms += sample.import_var * slot_ms
        self.export_varms += sample.export_var * slot_ms

    def copy(self) -> _Registers:
        return _Registers(self.import_wms, self.export_wms, self.import_varms, self.export_varms)


class SimulatedMeter:
    """A Kamstrup, Aidon or Kaifa (Norway) meter pushing lists from `start` on.

    `start` may be naive (local wall-clock) or timezone-aware; the frames' times are of
    the same kind. Aware times are stepped in UTC and the hourly list follows UTC
    hours, which are the local hours in every whole-hour zone (all the meters' markets).
    `solar_peak_w` > 0 adds production, so that the meter exports.
    `energy_kwh` is the import register at `start` (seeded when None).
    """

    def __init__(
        self,
        vendor: str,
        start: datetime,
        seed: int = 0,
        phases: int = 3,
        *,
        meter_id: str | None = None,
        meter_type: str | None = None,
        solar_peak_w: float = 0.0,
        energy_kwh: float | None = None,
    ) -> None:
        try:
            self.market = MARKETS[vendor.lower()]
        except KeyError:
            raise ValueError(
                f"vendor must be one of {', '.join(PROFILES)}, not {vendor!r}"
            ) from None
        self.profile = PROFILES[vendor.lower()]
        if phases not in (1, 3):
            raise ValueError(f"a meter has 1 or 3 phases, not {phases}")
        self.vendor = vendor.lower()
        self.start = start
        self.seed = seed
        self.phases = phases
        identity = random.Random(f"{self.vendor}/{seed}")
        self.meter_id = meter_id or (self.market.meter_ids or "") + "".join(
            str(identity.randrange(10)) for _ in range(8)
        )
        self.meter_type = meter_type or self.market.meter_types[phases]
        self.solar_peak_w = solar_peak_w
        self.energy_kwh = energy_kwh
        self.layouts = {
            name: layout_for(self.vendor, name, self.market.countries[0])
            for name in (self.profile.fast, self.profile.medium, self.profile.hourly)
            if name is not None
        }

    def frames(self, duration: timedelta | None = None) -> Iterator[tuple[datetime, bytes]]:
        """(time, frame) pairs from `start`, forever or for `duration`."""
        for simulated in self.simulate(duration):
            yield simulated.time, simulated.frame

    def frames_between(self, start: datetime, end: datetime) -> list[tuple[datetime, bytes]]:
        """The frames sent in [start, end) (simulated from the meter's own start)."""
        if end <= self.start:
            return []
        return [(time, frame) for time, frame in self.frames(end - self.start) if time >= start]

    def simulate(self, duration: timedelta | None = None) -> Iterator[SimulatedFrame]:
        """Frames with their content, from `start`, forever or for `duration`."""
        profile = self.profile
        rng = random.Random(self.seed)
        house = House(rng, self.phases, self.solar_peak_w)
        registers = self._initial_registers(rng)
        origin = self._utc(self.start).replace(minute=0, second=0, microsecond=0)
        start_ms = _ms(self._utc(self.start) - origin)
        end_ms = None if duration is None else start_ms + _ms(duration)
        slot = -(-start_ms // profile.fast_ms) * profile.fast_ms
        latched: _Registers | None = None
        while end_ms is None or slot < end_ms:
            if slot % HOUR_MS == 0:
                latched = registers.copy()
            when = self._local(origin, slot)
            sample = house.step(slot, profile.fast_ms, when)
            hourly_at = slot - slot % HOUR_MS + profile.hourly_offset_ms
            on_slot = hourly_at == slot
            if on_slot and latched is not None:
                yield self._frame(profile.hourly, origin, slot, sample, latched)
            elif profile.medium is not None and slot % profile.medium_ms == 0:
                yield self._frame(profile.medium, origin, slot, sample, None)
            else:
                yield self._frame(profile.fast, origin, slot, sample, None)
            extra = slot < hourly_at < slot + profile.fast_ms
            if extra and latched is not None and (end_ms is None or hourly_at < end_ms):
                yield self._frame(profile.hourly, origin, hourly_at, sample, latched)
            registers.add(sample, profile.fast_ms)
            slot += profile.fast_ms

    def _initial_registers(self, rng: random.Random) -> _Registers:
        import_kwh = self.energy_kwh if self.energy_kwh is not None else rng.uniform(5e3, 6e4)
        export_kwh = rng.uniform(100.0, 5e3) if self.solar_peak_w > 0 else 0.0
        return _Registers(
            import_wms=round(import_kwh * 1000 * _WMS_PER_WH),
            export_wms=round(export_kwh * 1000 * _WMS_PER_WH),
            import_varms=round(rng.uniform(500.0, 8e3) * 1000 * _WMS_PER_WH),
            export_varms=round(rng.uniform(0.0, 3e3) * 1000 * _WMS_PER_WH),
        )

    def _utc(self, when: datetime) -> datetime:
        # Naive times are used as they are; aware ones are stepped in UTC so that a DST
        # change neither repeats nor skips a slot.
        return when if when.tzinfo is None else when.astimezone(UTC)

    def _local(self, origin: datetime, offset_ms: int) -> datetime:
        when = origin + timedelta(milliseconds=offset_ms)
        return when if self.start.tzinfo is None else when.astimezone(self.start.tzinfo)

    def _frame(
        self,
        list_name: str,
        origin: datetime,
        at_ms: int,
        sample: Sample,
        latched: _Registers | None,
    ) -> SimulatedFrame:
        profile = self.profile
        layout = self.layouts[list_name]
        when = self._local(origin, at_ms)
        clock = self._local(origin, at_ms - at_ms % HOUR_MS) if profile.clock_at_hour else when
        dst = when.dst()
        message = ListMessage(
            values=self._values(layout, sample, latched),
            meter_id=self.meter_id,
            meter_type=self.meter_type,
            # The date-time fields are the meter's wall clock; the deviation is the
            # vendor's convention, not derived from the tzinfo.
            timestamp=when.replace(tzinfo=None),
            clock=clock.replace(tzinfo=None),
            deviation=profile.deviation,
            clock_status=CLOCK_STATUS_DST if profile.dst_status and dst else 0,
        )
        frame = build_frame(layout, message, phases=self.phases)
        return SimulatedFrame(when, list_name, message, frame, sample)

    def _values(
        self, layout: ListLayout, sample: Sample, latched: _Registers | None
    ) -> dict[Obis, float]:
        values: dict[Obis, float] = {}
        for element in layout.registers(self.phases):
            assert element.obis is not None
            values[element.obis] = _register_value(element, sample, latched)
        return values


def _register_value(element: Element, sample: Sample, latched: _Registers | None) -> float:
    obis = element.obis
    assert obis is not None
    if obis.d == 8:
        assert latched is not None
        wms = (latched.import_wms, latched.export_wms, latched.import_varms, latched.export_varms)[
            obis.c - 1
        ]
        # Registers count whole units of their resolution (10 Wh or 1 Wh): truncate.
        unit_wms = _WMS_PER_WH * 1000
        raw = wms * 10 ** (-element.exponent) // unit_wms
        return engineering_value(element, raw)
    if obis.c <= 4:
        return float(
            (sample.import_w, sample.export_w, sample.import_var, sample.export_var)[obis.c - 1]
        )
    phase = (obis.c - 21) // 20
    if obis.c % 20 == 12:
        return sample.voltages[phase]
    current = sample.currents[phase]
    return current if element.tag in _SIGNED else abs(current)


def _ms(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
