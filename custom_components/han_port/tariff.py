"""The running hour and the capacity tariff of one meter, live in Home Assistant.

capacity.py does the arithmetic; this module feeds it and says when to show the result:

- the month's hourly rows of import and export, read from the hourly statistics
  (hourly.py, ``han_port:<entry>_energy_import``...) when the entry loads and then taken
  from the hourly statistics the moment they book an hour, with its `estimated` mark;
- a `RunningInterval` per direction, fed the active power the meter sends and corrected
  by each booked hour (its energy becomes the register difference at its boundaries);
- a timer at every interval boundary, so that the hour, the day (local midnight) and
  the month (local midnight on the 1st) roll over even while the meter is silent.

Every figure is recomputed from these in a `TariffSnapshot`; the sensors (sensor.py's
tariff section) show its fields. Nothing is stored anywhere else: after a restart the
rows come back from the statistics, and the energy of the hour under way (and of the
one before, until its row comes) from the recorded states of the active power sensors.

Estimated hours. The statistics keep no `estimated` mark. An hour spread over a gap is
recognised by its shape: hourly.py gives the inner hours of a gap no state and the last
one the register value read at the gap's end, so a row is estimated when it has no
state or the row before it has none. (An hour whose register went down, a replaced
meter, is estimated as well but looks like any other row once stored; it counts as a
peak after a restart. Its energy is the meter's, so the peak is real.)

Writes. Each snapshot is published to the sensors at most once per "other fast-changing
values" interval (60 s by default) while power values arrive, and at once when an hour
is booked, at each boundary and when the entry loads. See sensor.py for the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import partial
import math
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.recorder.history import state_changes_during_period
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import Platform, UnitOfPower
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, State, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from . import hub as hub_module
from .accounting import HourRow
from .capacity import (
    DEFAULT_COUNT,
    DEFAULT_LADDER,
    CapacityStatus,
    EnergyTotals,
    IntervalEnergy,
    LadderError,
    PeakMethod,
    RunningInterval,
    capacity_status,
    energy_totals,
    format_ladder,
    interval_start,
    parse_ladder,
)
from .const import (
    CAPACITY_INTERVAL,
    CONF_CAPACITY_LADDER,
    CONF_CAPACITY_METHOD,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_TARIFF,
    CONF_MEASUREMENT_INTERVAL,
    CONF_SCALE,
    DEFAULT_MEASUREMENT_INTERVAL,
    DEFAULT_SCALE,
    DOMAIN,
    LOGGER,
)
from .hourly import async_when_started, statistic_id
from .hub import device_identifier

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .han import Measurement
    from .hourly import HourlyStatistics
    from .hub import MeterHub

# Frames arrive with jitter (as sensor.THROTTLE_SLACK).
_SLACK: Final = 0.9

type SnapshotListener = Callable[[TariffSnapshot], None]


@dataclass(frozen=True, slots=True)
class TariffSettings:
    """The tariff options of an entry, checked."""

    enabled: bool
    ladder: tuple[float, ...]
    count: int
    method: PeakMethod
    interval: timedelta

    @classmethod
    def from_options(cls, options: Mapping[str, Any], country: str | None) -> TariffSettings:
        """The options as saved; defaults where missing (on for meters in Norway).

        The options form saves only a ladder that parses; one that does not (edited
        by hand) falls back to the default ladder with a warning, not a failed setup.
        """
        ladder = DEFAULT_LADDER
        if (text := options.get(CONF_CAPACITY_LADDER)) is not None:
            try:
                ladder = parse_ladder(str(text))
            except LadderError as err:
                LOGGER.warning(
                    "The capacity tariff's step limits %r cannot be used (%s); using %s",
                    text,
                    err,
                    format_ladder(DEFAULT_LADDER),
                )
        try:
            method = PeakMethod(options.get(CONF_CAPACITY_METHOD, PeakMethod.TOP_DAYS))
        except ValueError:
            method = PeakMethod.TOP_DAYS
        count = max(1, int(options.get(CONF_CAPACITY_PEAKS, DEFAULT_COUNT)))
        return cls(
            enabled=bool(options.get(CONF_CAPACITY_TARIFF, country == "NO")),
            ladder=ladder,
            count=1 if method is PeakMethod.TOP_HOUR else count,
            method=method,
            interval=CAPACITY_INTERVAL,
        )


@dataclass(frozen=True, slots=True)
class DirectionFigures:
    """Energy of one direction (import or export) in kWh."""

    used: float
    """So far in the interval under way."""
    estimate: float
    """The interval's expected total: used + the current power until it ends."""
    totals: EnergyTotals
    """So far today and this month (local), the interval under way included."""


@dataclass(frozen=True, slots=True)
class TariffSnapshot:
    """Everything the tariff sensors show, as it stands at `at`."""

    at: datetime
    interval_start: datetime
    day_start: datetime
    """Local midnight that began the day, aware."""
    month_start: datetime
    """Local midnight that began the month, aware."""
    energy_import: DirectionFigures
    energy_export: DirectionFigures
    capacity: CapacityStatus | None
    """None with the tariff off."""


@dataclass(slots=True)
class _Direction:
    """One direction's rows and running interval."""

    power_key: str
    register_key: str
    suffix: str
    running: RunningInterval
    rows: dict[datetime, IntervalEnergy]
    booked: float | None = None
    """The energy booked this session, cumulative: the running interval's register."""


class TariffTracker:
    """The running hour and capacity tariff of one loaded entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        hub: MeterHub,
        hourly: HourlyStatistics,
        settings: TariffSettings,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.hub = hub
        self.hourly = hourly
        self.settings = settings
        self.scale = float(entry.options.get(CONF_SCALE, DEFAULT_SCALE))
        self.ready = False
        self.snapshot: TariffSnapshot | None = None
        interval = settings.interval
        self._directions = (
            _Direction("1.7.0", "1.8.0", "energy_import", RunningInterval(interval), {}),
            _Direction("2.7.0", "2.8.0", "energy_export", RunningInterval(interval), {}),
        )
        self._listeners: list[SnapshotListener] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._timer: CALLBACK_TYPE | None = None
        # Live feeds held back while the resume reads the recorder: (time, order, feed).
        self._held: list[tuple[datetime, int, Callable[[], object]]] = []
        # The first power value held back: the recorded states are replayed up to it.
        self._held_power_from: datetime | None = None
        self._resume_failed = False
        self._min_interval = _SLACK * float(
            entry.options.get(CONF_MEASUREMENT_INTERVAL, DEFAULT_MEASUREMENT_INTERVAL)
        )
        self._published_at = -math.inf

    # ---- life cycle ------------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Listen to the power values and the booked hours; resume in the background."""
        for direction in self._directions:
            self._unsubscribe.append(
                self.hub.async_add_value_listener(
                    direction.power_key, self._power_listener(direction)
                )
            )
        self._unsubscribe.append(self.hourly.async_add_rows_listener(self._on_rows))
        self._arm_timer()
        self._unsubscribe.append(
            async_when_started(self.hass, self.entry, self._resume, f"{DOMAIN} tariff resume")
        )

    @callback
    def async_stop(self) -> None:
        """Stop listening and the timer (the entry unloads)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._timer is not None:
            self._timer()
            self._timer = None
        self._listeners.clear()

    @callback
    def async_add_listener(self, listener: SnapshotListener) -> CALLBACK_TYPE:
        """Call `listener(snapshot)` whenever the figures are published."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # ---- feeds -----------------------------------------------------------------------

    def _power_listener(self, direction: _Direction) -> Callable[[Measurement, float], None]:
        @callback
        def on_power(measurement: Measurement, _now: float) -> None:
            value = measurement.value
            if (
                measurement.unit != "W"
                or not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                return
            at = dt_util.utcnow()
            watts = float(value) * self.scale
            if not self.ready:
                self._held_power_from = min(self._held_power_from or at, at)
                self._hold(at, lambda: direction.running.add_power(at, watts))
                return
            direction.running.add_power(at, watts)
            self._publish(force=False)

        return on_power

    @callback
    def _on_rows(self, key: str, rows: list[HourRow]) -> None:
        direction = next((d for d in self._directions if d.register_key == key), None)
        if direction is None or not rows:
            return
        scale = self.scale
        for row in rows:
            start = dt_util.as_utc(row.start)
            direction.rows[start] = IntervalEnergy(start, row.energy * scale, row.estimated)
        first = dt_util.as_utc(rows[0].start)
        end = dt_util.as_utc(rows[-1].start) + self.settings.interval
        energy = sum(row.energy for row in rows) * scale
        if not self.ready:
            self._hold(end, lambda: self._book(direction, first, end, energy))
            return
        self._book(direction, first, end, energy)
        self._publish(force=True)

    def _book(self, direction: _Direction, first: datetime, end: datetime, energy: float) -> None:
        """Re-anchor the running interval: the booked hours' energy between their ends."""
        running = direction.running
        if direction.booked is None:
            direction.booked = 0.0
            running.add_register(first, 0.0)
        direction.booked += energy
        running.add_register(end, direction.booked)

    def _hold(self, at: datetime, feed: Callable[[], object]) -> None:
        if not self._resume_failed:
            self._held.append((at, len(self._held), feed))

    # ---- resume ----------------------------------------------------------------------

    async def _resume(self) -> None:
        """Read the recorder; until that is done the sensors wait, unavailable.

        Should the recorder fail, they stay so (a month without its history would show
        wrong peaks) and what arrives is no longer kept.
        """
        try:
            await self._read_recorder()
        except Exception:
            # Whatever the database raised: the tariff is what fails, not the entry.
            self._resume_failed = True
            self._held.clear()
            LOGGER.exception(
                "The capacity tariff of %s could not read this month's hours from the "
                "recorder; its sensors stay unavailable until the entry is reloaded",
                self.entry.title,
            )

    async def _read_recorder(self) -> None:
        """The month's rows from the statistics, the hour under way from the power states."""
        hass = self.hass
        instance = get_instance(hass)
        # Rows imported just before a reload may still be in the recorder's queue.
        if (committed := instance.async_get_commit_future()) is not None:
            await committed
        now = dt_util.utcnow()
        tz = dt_util.get_default_time_zone()
        interval = self.settings.interval
        current = interval_start(now, interval)
        month_start = _month_start(current, tz)
        ids = {d.suffix: statistic_id(self.entry, d.suffix) for d in self._directions}
        # From the row before the month: whether the month's first row ends a gap.
        found = await instance.async_add_executor_job(
            statistics_during_period,
            hass,
            dt_util.as_utc(month_start) - interval,
            None,
            set(ids.values()),
            "hour",
            None,
            {"change", "state"},
        )
        for direction in self._directions:
            for row in rows_from_statistics(found.get(ids[direction.suffix], ())):
                if row.start >= month_start:
                    # A row booked meanwhile (from the listener) is the newer word.
                    direction.rows.setdefault(row.start, row)
        # The previous interval too: its energy counts today until its row comes.
        since = current - interval
        samples: list[tuple[datetime, int, Callable[[], object]]] = []
        registry = er.async_get(hass)
        identifier = device_identifier(self.entry)
        for direction in self._directions:
            entity_id = registry.async_get_entity_id(
                Platform.SENSOR, DOMAIN, f"{identifier}_{direction.power_key}"
            )
            if entity_id is None:
                continue
            history = await instance.async_add_executor_job(
                state_changes_during_period,
                hass,
                since,
                now,
                entity_id,
                False,
                False,
                None,
                True,
            )
            # Booked hours held back may end earlier: their time is a boundary, not a value.
            cutoff = self._held_power_from or now
            running = direction.running
            states = history.get(entity_id, ())
            samples.extend(
                (at, -1, partial(running.add_power, at, watts))
                for at, watts in held_power(states, since, cutoff, running.max_gap)
            )
        # Recorded power first, then what arrived meanwhile, each in time order.
        for _, _, feed in sorted(samples + self._held, key=lambda item: (item[0], item[1])):
            feed()
        self._held.clear()
        self.ready = True
        LOGGER.debug(
            "Tariff of %s resumed with %d import rows this month",
            self.entry.title,
            len(self._directions[0].rows),
        )
        self._publish(force=True)

    # ---- publishing ------------------------------------------------------------------

    def _arm_timer(self) -> None:
        interval = self.settings.interval
        boundary = interval_start(dt_util.utcnow(), interval) + interval
        self._timer = async_track_point_in_utc_time(self.hass, self._on_boundary, boundary)

    @callback
    def _on_boundary(self, _now: datetime) -> None:
        self._arm_timer()
        self._prune()
        if self.ready:
            self._publish(force=True)

    def _prune(self) -> None:
        """Rows of months before the current one are not needed any more."""
        month_start = _month_start(
            interval_start(dt_util.utcnow(), self.settings.interval),
            dt_util.get_default_time_zone(),
        )
        for direction in self._directions:
            for start in [start for start in direction.rows if start < month_start]:
                del direction.rows[start]

    @callback
    def _publish(self, *, force: bool) -> None:
        now_mono = hub_module.monotonic()
        if not force and now_mono - self._published_at < self._min_interval:
            return
        self._published_at = now_mono
        self.snapshot = self.compute(dt_util.utcnow())
        for listener in list(self._listeners):
            listener(self.snapshot)

    def compute(self, now: datetime) -> TariffSnapshot:
        """The figures at `now`."""
        settings = self.settings
        interval = settings.interval
        tz = dt_util.get_default_time_zone()
        current = interval_start(now, interval)
        figures = []
        for direction in self._directions:
            running = direction.running
            figures.append(
                DirectionFigures(
                    used=running.used(now),
                    estimate=running.estimate(now),
                    totals=energy_totals(
                        direction.rows.values(), now, tz, running, interval=interval
                    ),
                )
            )
        energy_import, energy_export = figures
        status = None
        if settings.enabled:
            status = capacity_status(
                self._directions[0].rows.values(),
                now,
                tz,
                used=energy_import.used,
                estimate=energy_import.estimate,
                ladder=settings.ladder,
                method=settings.method,
                count=settings.count,
                interval=interval,
            )
        day_start = _local_midnight(current.astimezone(tz).date(), tz)
        return TariffSnapshot(
            at=now,
            interval_start=current,
            day_start=day_start,
            month_start=_month_start(current, tz),
            energy_import=energy_import,
            energy_export=energy_export,
            capacity=status,
        )


def rows_from_statistics(rows: Iterable[Mapping[str, Any]]) -> list[IntervalEnergy]:
    """Hourly statistic rows (start, change, state) as intervals, gaps marked estimated.

    See the module docstring: a row without a state is inside a gap, and the row after
    one ends it.
    """
    result = []
    previous_state: object = None
    previous_start: float | None = None
    for row in rows:
        change = row.get("change")
        state = row.get("state")
        start = float(row["start"])
        ends_gap = (
            previous_start is not None
            and previous_start == start - 3600
            and (previous_state is None)
        )
        if change is not None and math.isfinite(change) and change >= 0:
            estimated = state is None or ends_gap
            result.append(IntervalEnergy(dt_util.utc_from_timestamp(start), change, estimated))
        previous_state, previous_start = state, start
    return result


def held_power(
    states: Iterable[State], since: datetime, until: datetime, hold: timedelta
) -> list[tuple[datetime, float]]:
    """Power samples in W that replay recorded states as the live feed would have come.

    A sensor writes a new state only when its value changes, so a state holds until
    the next one; the running interval trusts a value for `hold` only, hence the value
    is repeated within that time. Unavailable, unknown and non-power states end it.
    """
    samples: list[tuple[datetime, float]] = []
    ordered = sorted(states, key=lambda state: state.last_changed)
    step = hold / 2
    for index, state in enumerate(ordered):
        watts = _watts(state)
        if watts is None:
            continue
        begin = max(state.last_changed, since)
        end = ordered[index + 1].last_changed if index + 1 < len(ordered) else until
        end = min(end, until)
        at = begin
        while at < end:
            samples.append((at, watts))
            at += step
    return samples


def _watts(state: State) -> float | None:
    try:
        value = float(state.state)
    except ValueError:
        return None
    unit = state.attributes.get("unit_of_measurement")
    if not math.isfinite(value) or value < 0 or unit not in PowerConverter.VALID_UNITS:
        return None
    return PowerConverter.convert(value, unit, UnitOfPower.WATT)


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """Midnight that begins `day` in `tz` (DST changes in Europe never skip it)."""
    return datetime.combine(day, time(), tzinfo=tz)


def _month_start(current: datetime, tz: tzinfo) -> datetime:
    return _local_midnight(current.astimezone(tz).date().replace(day=1), tz)
