"""Hourly energy statistics booked in the hour the energy was used, and their cost.

Norwegian meters send their energy registers a few seconds after each hour, so a
TOTAL_INCREASING sensor changes at hh:00:05 and Home Assistant's own statistics book
the hour that just ended into the next one. For each energy register the meter sends,
this module imports external statistics (``han_port:<entry id>_energy_import``...)
whose row for [h, h + 1 h) is the register's difference across that hour, as
accounting.py works it out; and, when the options name a price sensor, a cost (or
compensation) statistic priced at the mean of that sensor's recorded states within
each hour.

Nothing is kept by hand. At setup each register continues from the recorder's last
row: its sum, and as ``state`` the register value at the row's end. The cost
statistics are caught up from the energy rows and the price history after every
import (and at setup), so a restart at any moment neither loses nor doubles an hour.

Tariff registers. Dutch, Belgian and Irish P1 meters send their energy only per tariff
(1-0:1.8.1 and 1.8.2, 2.8.1 and 2.8.2), never the total 1.8.0. For such a meter the
total's statistic is made from the sum of the tariff registers: one stands still while
the other runs, so the sum is continuous across a tariff switch. Each tariff register's
last value is kept, so a line missing from one telegram does not make the sum drop;
and no sum is taken until every tariff register the meter has ever sent (the hub's
seen keys, which survive a restart) has a value in this run, so a partial sum is never
booked, not even right after a restart. A meter that sends the total as well has its
total used: it is what the meter's display and bill show. Tariffs 1 and 2 get
statistics of their own too (a day/night price in the Energy dashboard).

Current transformers (the scale option): the accounting runs on the register as the
meter sends it and each hour's energy is multiplied by the scale when it is written;
``state`` is the meter's own register value. A changed scale so applies from the next
hour on, instead of making the whole register look new (a spike).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
import logging
import math
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.recorder.history import state_changes_during_period
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    StatisticsRow,
    async_add_external_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy, UnitOfReactiveEnergy
from homeassistant.core import CALLBACK_TYPE, CoreState, HomeAssistant, State, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util, slugify
from homeassistant.util.unit_conversion import EnergyConverter, ReactiveEnergyConverter

from .accounting import HOUR, HourlyRegister, HourRow, floor_hour, hour_cost, price_factor_per_kwh
from .const import CONF_EXPORT_PRICE, CONF_IMPORT_PRICE, CONF_SCALE, DEFAULT_SCALE, DOMAIN, LOGGER
from .han import Measurement, Reading
from .hub import entity_key

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .hub import MeterHub

# How far back cost rows are filled in when the cost statistic has none yet, or its
# last row is older (within the recorder's default 10 days of price history).
CATCH_UP: Final = timedelta(days=7)
# Price history is read from this much before each first hour (see _catch_up_cost).
PRICE_LOOKBEHIND: Final = timedelta(seconds=1)
# Readings kept per register while the last rows are read from the recorder (a P1
# meter sends every second; this covers an hour of a recorder still migrating).
PENDING_MAX: Final = 4096

# A tariff register the meter has sent, but not in this run, is waited for this long
# before the sum goes on without it (the meter no longer sends it: a replaced meter).
TARIFF_WAIT: Final = timedelta(hours=1)
# Tariff rates of an energy register: C.8.1 to C.8.63 (IEC 62056-61, value group E).
TARIFF_RATES: Final = range(1, 64)

# Called with a register's hub key ("1.8.0") and the rows just imported for it, in the
# meter's units (before the scale option); see HourlyStatistics.async_add_rows_listener.
type RowsListener = Callable[[str, list[HourRow]], None]


@dataclass(frozen=True, slots=True)
class RegisterStatistic:
    """An energy register the meter sends and the hourly statistic made from it."""

    key: str  # hub key (hub.entity_key) of the OBIS register
    suffix: str  # statistic id suffix, and translation key unless `translation` says
    decoder_unit: str
    unit: str
    unit_class: str
    translation: str | None = None
    tariff: str | None = None  # the {tariff} placeholder of the name


@dataclass(frozen=True, slots=True)
class CostStatistic:
    """The cost of a register's hourly energy at a price sensor's recorded prices."""

    register: str  # RegisterStatistic.key
    option: str  # the option naming the price sensor
    suffix: str


REGISTERS: Final = (
    RegisterStatistic(
        "1.8.0",
        "energy_import",
        "kWh",
        UnitOfEnergy.KILO_WATT_HOUR,
        EnergyConverter.UNIT_CLASS,
    ),
    RegisterStatistic(
        "2.8.0",
        "energy_export",
        "kWh",
        UnitOfEnergy.KILO_WATT_HOUR,
        EnergyConverter.UNIT_CLASS,
    ),
    *(
        RegisterStatistic(
            f"{c}.8.{tariff}",
            f"{direction}_tariff_{tariff}",
            "kWh",
            UnitOfEnergy.KILO_WATT_HOUR,
            EnergyConverter.UNIT_CLASS,
            translation=f"{direction}_tariff",
            tariff=str(tariff),
        )
        for c, direction in ((1, "energy_import"), (2, "energy_export"))
        for tariff in (1, 2)
    ),
    RegisterStatistic(
        "3.8.0",
        "reactive_energy_import",
        "kvarh",
        UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
        ReactiveEnergyConverter.UNIT_CLASS,
    ),
    RegisterStatistic(
        "4.8.0",
        "reactive_energy_export",
        "kvarh",
        UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
        ReactiveEnergyConverter.UNIT_CLASS,
    ),
)
REGISTERS_BY_KEY: Final[Mapping[str, RegisterStatistic]] = {r.key: r for r in REGISTERS}
COSTS: Final = (
    CostStatistic("1.8.0", CONF_IMPORT_PRICE, "energy_import_cost"),
    CostStatistic("2.8.0", CONF_EXPORT_PRICE, "energy_export_compensation"),
)


def statistic_id(entry: ConfigEntry, suffix: str) -> str:
    """``han_port:<entry id>_<suffix>``.

    The entry id, not the meter id: statistic ids show in the UI, in exports and in
    bug reports, and a meter id identifies a household's supply point.
    """
    return f"{DOMAIN}:{slugify(entry.entry_id)}_{suffix}"


class _RegisterTrack:
    """One register: its accounting, its statistic, and readings waiting for resume."""

    def __init__(self, description: RegisterStatistic, metadata: StatisticMetaData) -> None:
        self.description = description
        self.metadata = metadata
        self.register: HourlyRegister | None = None  # None until resumed
        self.base_sum = 0.0  # the recorder's last sum when resumed
        self.pending: deque[tuple[float, datetime, datetime | None]] = deque(maxlen=PENDING_MAX)
        self.rebase_logged = False
        self.announced = False  # metadata written in this run
        # The registers the values come from: the register itself, or its tariffs.
        self.composition: frozenset[str] | None = None
        # On resume, continue the recorder's sum but not from its register value.
        self.new_baseline = False
        # A total register (C.8.0): its tariff registers' last values, for a meter
        # that sends no total.
        self.tariffs: dict[str, float] = {}
        self.tariff_keys = (
            tuple(f"{description.key[:-1]}{rate}" for rate in TARIFF_RATES)
            if description.key.endswith(".8.0")
            else ()
        )
        self.tariff_wait_since: datetime | None = None
        self.tariffs_absent: set[str] = set()  # seen once, waited for in vain
        self.own = frozenset((description.key,))

    @property
    def last_value(self) -> float | None:
        if self.register is not None:
            return self.register.last_value
        return self.pending[-1][0] if self.pending else None

    def restart_series(self) -> None:
        """Go on from the sum booked so far, with the next value as a new baseline.

        For a change in what the values are made of (the sum's tariffs, or the total
        instead of the sum): comparing the new value with the last would book the
        difference of two different quantities as energy.
        """
        register = self.register
        if register is None:
            self.pending.clear()
            self.new_baseline = True
            return
        if (boundary := register.last_boundary) is None:
            self.register = HourlyRegister()
            return
        self.register = HourlyRegister(HourRow(boundary - HOUR, 0.0, register.sum, None))


@dataclass(frozen=True, slots=True)
class _CostTrack:
    description: CostStatistic
    price_entity: str
    energy_id: str
    metadata: StatisticMetaData


class HourlyStatistics:
    """The hourly statistics of one loaded entry, fed by its hub."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, hub: MeterHub) -> None:
        self.hass = hass
        self.entry = entry
        self.hub = hub
        self.scale = float(entry.options.get(CONF_SCALE, DEFAULT_SCALE))
        self.tracks: dict[str, _RegisterTrack] = {}
        self.costs: list[_CostTrack] = []
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._at_started: list[CALLBACK_TYPE] = []
        self._catch_up: asyncio.Task[None] | None = None
        self._catch_up_again = False
        self._catch_up_deferred = False
        self._rows_listeners: list[RowsListener] = []

    @callback
    def async_add_rows_listener(self, listener: RowsListener) -> CALLBACK_TYPE:
        """Call `listener(register key, rows)` after each import of a register's rows.

        For the capacity tariff (tariff.py): the rows carry `estimated`, which the
        statistic does not keep, and they come the moment the hour is booked.
        """
        self._rows_listeners.append(listener)
        return lambda: self._rows_listeners.remove(listener)

    async def async_start(self) -> None:
        """Name the statistics, listen to the hub, resume from the recorder."""
        names = await async_get_translations(
            self.hass, self.hass.config.language, "common", {DOMAIN}
        )

        def hourly_sum(
            suffix: str,
            unit_class: str | None,
            unit: str,
            tariff: str | None = None,
            key: str | None = None,
        ) -> StatisticMetaData:
            """An hourly sum (no mean) statistic of this entry, named in the user's language."""
            text = names.get(f"component.{DOMAIN}.common.statistic_{key or suffix}", key or suffix)
            text = text.replace("{meter}", self.entry.title)
            if tariff is not None:
                text = text.replace("{tariff}", tariff)
            return StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=text,
                source=DOMAIN,
                statistic_id=statistic_id(self.entry, suffix),
                unit_class=unit_class,
                unit_of_measurement=unit,
            )

        for description in REGISTERS:
            self.tracks[description.key] = _RegisterTrack(
                description,
                hourly_sum(
                    description.suffix,
                    description.unit_class,
                    description.unit,
                    description.tariff,
                    description.translation,
                ),
            )
        for cost in COSTS:
            if not (price_entity := self.entry.options.get(cost.option)):
                continue
            self.costs.append(
                _CostTrack(
                    cost,
                    price_entity,
                    statistic_id(self.entry, REGISTERS_BY_KEY[cost.register].suffix),
                    # A currency converts to nothing: no unit class.
                    hourly_sum(cost.suffix, None, self.hass.config.currency),
                )
            )
        self._unsubscribe = self.hub.async_add_reading_listener(self._on_reading)
        # Not awaited here, so that setup does not wait for the database; readings wait
        # in `pending` meanwhile. A tracked task: an unload waits for it to end.
        self._at_started.append(
            async_when_started(
                self.hass, self.entry, self._resume, f"{DOMAIN} hourly statistics resume"
            )
        )

    @callback
    def async_stop(self) -> None:
        """Stop listening (the entry unloads; it waits for the tasks under way)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for cancel in self._at_started:
            cancel()
        self._at_started.clear()

    # ---- resume --------------------------------------------------------------------

    async def _resume(self) -> None:
        instance = get_instance(self.hass)
        # Rows imported just before a reload are still in the recorder's queue.
        if (committed := instance.async_get_commit_future()) is not None:
            await committed
        for track in self.tracks.values():
            stat_id = track.metadata["statistic_id"]
            last = await instance.async_add_executor_job(
                get_last_statistics, self.hass, 1, stat_id, False, {"sum", "state"}
            )
            row = _first(last, stat_id)
            if row is None or (last_sum := row.get("sum")) is None:
                track.register = HourlyRegister()
            else:
                track.base_sum = last_sum
                state = None if track.new_baseline else row.get("state")
                # The accounting counts from 0 after this row, in the meter's units;
                # base_sum and the scale turn that into the statistic's sum.
                track.register = HourlyRegister(
                    HourRow(
                        dt_util.utc_from_timestamp(row["start"]),
                        0.0,
                        0.0,
                        None if state is None else float(state),
                    )
                )
            LOGGER.debug("Hourly statistic %s continues after sum %s", stat_id, track.base_sum)
            while track.pending:
                self._add(track, *track.pending.popleft())
        seen = self.hub.seen
        for track in self.tracks.values():
            if track.description.key in seen or any(key in seen for key in track.tariff_keys):
                self._announce(track)
        self._request_cost_catch_up()

    # ---- readings ------------------------------------------------------------------

    @callback
    def _on_reading(self, reading: Reading) -> None:
        arrival: datetime | None = None
        tracks = self.tracks
        seen = self.hub.seen
        tariffs: dict[str, dict[str, float]] | None = None  # total key -> tariff values
        for obis, measurement in reading.values.items():
            # Only energy registers (D = 8) matter; the rest of a list is skipped cheaply.
            if obis.d != 8:
                continue
            key = entity_key(obis)
            # The hub has seen this message's keys already. A meter that sends the
            # total (in this message or in another list) has it counted: that is the
            # register its display and bill show, the tariffs only add up to it.
            if (
                obis.a == 1
                and obis.e in TARIFF_RATES
                and (total := f"{obis.c}.8.0") not in seen
                and (summed := tracks.get(total)) is not None
                and (
                    value := _register_value(
                        measurement, summed.description, summed.tariffs.get(key)
                    )
                )
                is not None
            ):
                if tariffs is None:
                    tariffs = {}
                tariffs.setdefault(total, {})[key] = value
            track = tracks.get(key)
            if (
                track is None
                or (value := _register_value(measurement, track.description, track.last_value))
                is None
            ):
                continue
            if arrival is None:
                arrival = dt_util.utcnow()
            self._feed(track, value, arrival, reading.timestamp)
        if tariffs is not None:
            for total, values in tariffs.items():
                if arrival is None:
                    arrival = dt_util.utcnow()
                self._feed_tariffs(tracks[total], values, arrival, reading.timestamp)

    def _feed_tariffs(
        self,
        track: _RegisterTrack,
        values: dict[str, float],
        arrival: datetime,
        meter_time: datetime | None,
    ) -> None:
        """Feed the sum of the tariff registers as the total, once every one is known."""
        track.tariffs.update(values)
        seen = self.hub.seen
        missing = [
            key
            for key in track.tariff_keys
            if key in seen and key not in track.tariffs and key not in track.tariffs_absent
        ]
        if missing:
            # Sent before (before a restart, say) but not yet in this run: the sum
            # without it would be a drop, and its coming back a spike.
            if track.tariff_wait_since is None:
                track.tariff_wait_since = arrival
            if arrival - track.tariff_wait_since < TARIFF_WAIT:
                return
            LOGGER.debug(
                "%s: no %s for an hour; the hourly statistic %s sums the other tariffs",
                self.hub.device,
                ", ".join(missing),
                track.metadata["statistic_id"],
            )
            track.tariffs_absent.update(missing)
            if track.composition is None:
                # The recorder's last value is a sum with the missing tariffs in it.
                track.restart_series()
        track.tariff_wait_since = None
        self._feed(
            track,
            math.fsum(track.tariffs.values()),
            arrival,
            meter_time,
            frozenset(track.tariffs),
        )

    def _feed(
        self,
        track: _RegisterTrack,
        value: float,
        arrival: datetime,
        meter_time: datetime | None,
        composition: frozenset[str] | None = None,
    ) -> None:
        composition = composition or track.own
        if track.composition is not None and composition != track.composition:
            LOGGER.warning(
                "The hourly statistic %s was made of %s and is now made of %s: it "
                "continues from its sum, with the next hour's value as its new start",
                track.metadata["statistic_id"],
                " + ".join(sorted(track.composition)),
                " + ".join(sorted(composition)),
            )
            track.restart_series()
        track.composition = composition
        if track.register is None:
            track.pending.append((value, arrival, meter_time))
        else:
            self._add(track, value, arrival, meter_time)

    def _announce(self, track: _RegisterTrack) -> None:
        """Write the metadata of a register's statistics (and its cost's), rows or not yet.

        So they can be picked in the Energy dashboard from the first message on, not
        only after the first whole hour, and their names follow the entry's title.
        """
        if track.announced:
            return
        track.announced = True
        async_add_external_statistics(self.hass, track.metadata, ())
        for cost in self.costs:
            if cost.description.register == track.description.key:
                async_add_external_statistics(self.hass, cost.metadata, ())

    def _add(
        self, track: _RegisterTrack, value: float, arrival: datetime, meter_time: datetime | None
    ) -> None:
        register = track.register
        assert register is not None
        self._announce(track)
        rebased = register.rebased
        last_value = register.last_value
        rows = register.add(value, arrival, meter_time)
        if register.rebased != rebased:
            level = logging.DEBUG if track.rebase_logged else logging.WARNING
            track.rebase_logged = True
            LOGGER.log(
                level,
                "%s went down from %s to %s %s (a new meter, or a reset): the hourly "
                "statistic %s counts on from the new value without a jump",
                track.description.key,
                last_value,
                value,
                track.description.decoder_unit,
                track.metadata["statistic_id"],
            )
        if rows:
            self._import(track, rows)

    def _import(self, track: _RegisterTrack, rows: list[HourRow]) -> None:
        scale = self.scale
        statistics: list[StatisticData] = []
        for row in rows:
            data = StatisticData(start=row.start, sum=track.base_sum + row.sum * scale)
            if row.state is not None:
                data["state"] = row.state
            statistics.append(data)
        async_add_external_statistics(self.hass, track.metadata, statistics)
        if LOGGER.isEnabledFor(logging.DEBUG):
            LOGGER.debug(
                "Hourly statistic %s: %s",
                track.metadata["statistic_id"],
                ", ".join(
                    f"{row.start.isoformat()} {row.energy * scale:.3f}"
                    f"{' (estimated)' if row.estimated else ''}"
                    for row in rows
                ),
            )
        if any(cost.description.register == track.description.key for cost in self.costs):
            self._request_cost_catch_up()
        for listener in list(self._rows_listeners):
            listener(track.description.key, rows)

    # ---- cost ------------------------------------------------------------------------

    @callback
    def _request_cost_catch_up(self) -> None:
        if not self.costs:
            return
        if self.hass.state is not CoreState.running:
            # Readings arrive while Home Assistant is still starting; the recorder
            # commits nothing before it has started (see async_when_started).
            if not self._catch_up_deferred:
                self._catch_up_deferred = True
                self._at_started.append(async_at_started(self.hass, self._deferred_catch_up))
            return
        if self._catch_up is not None and not self._catch_up.done():
            # The running pass may have read the energy rows already: once more after it.
            self._catch_up_again = True
            return
        self._catch_up = self.entry.async_create_task(
            self.hass, self._catch_up_costs(), f"{DOMAIN} hourly cost statistics"
        )

    @callback
    def _deferred_catch_up(self, _hass: HomeAssistant) -> None:
        self._catch_up_deferred = False
        self._request_cost_catch_up()

    async def _catch_up_costs(self) -> None:
        while True:
            self._catch_up_again = False
            for cost in self.costs:
                await self._catch_up_cost(cost)
            if not self._catch_up_again:
                return

    async def _catch_up_cost(self, cost: _CostTrack) -> None:
        """Cost rows for the energy rows after the cost statistic's last row."""
        hass = self.hass
        instance = get_instance(hass)
        # The energy rows just imported, earlier cost rows and the price states of the
        # hour just ended must all be in the database before they are read.
        if (committed := instance.async_get_commit_future()) is not None:
            await committed
        cost_id = cost.metadata["statistic_id"]
        oldest = floor_hour(dt_util.utcnow()) - CATCH_UP
        last = await instance.async_add_executor_job(
            get_last_statistics, hass, 1, cost_id, False, {"sum"}
        )
        cost_sum = 0.0
        since = oldest
        if (row := _first(last, cost_id)) is not None and (last_sum := row.get("sum")) is not None:
            cost_sum = last_sum
            since = max(oldest, dt_util.utc_from_timestamp(row["start"]) + HOUR)
        energy = await instance.async_add_executor_job(
            statistics_during_period,
            hass,
            since,
            None,
            {cost.energy_id},
            "hour",
            None,
            {"change"},
        )
        hours = [
            (dt_util.utc_from_timestamp(r["start"]), float(change))
            for r in energy.get(cost.energy_id, ())
            if (change := r.get("change")) is not None
        ]
        if not hours:
            return
        # With attributes (the unit) and the state in effect before the first hour.
        # From a second early: the recorder's history leaves out a state written at
        # exactly its start time (neither "before" nor "after" it), and a price sensor
        # updated on the hour can write one there.
        history = await instance.async_add_executor_job(
            state_changes_during_period,
            hass,
            hours[0][0] - PRICE_LOOKBEHIND,
            hours[-1][0] + HOUR,
            cost.price_entity,
            False,
            False,
            None,
            True,
        )
        prices = [
            (state.last_changed, _price_per_kwh(state))
            for state in history.get(cost.price_entity.lower(), ())
        ]
        statistics: list[StatisticData] = []
        for hour, kwh in hours:
            amount = hour_cost(kwh, prices, hour, hour + HOUR)
            if amount is None:
                LOGGER.debug(
                    "No price from %s for all of the hour from %s: no %s row for it",
                    cost.price_entity,
                    hour.isoformat(),
                    cost_id,
                )
                continue
            cost_sum += amount
            statistics.append(StatisticData(start=hour, sum=cost_sum))
        if statistics:
            async_add_external_statistics(hass, cost.metadata, statistics)


def _register_value(
    measurement: Measurement, description: RegisterStatistic, last: float | None
) -> float | None:
    """The register value to account, or None for one that must not count."""
    value = measurement.value
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or measurement.unit != description.decoder_unit
        or not math.isfinite(value)
        or value < 0
    ):
        return None
    if value == 0 and last is not None and last > 0:
        # A glitching 0 between real values (the sensors drop it too): taken as a
        # new meter it would re-base, and the next real value would be a spike.
        return None
    return float(value)


async def async_clear_statistics(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Delete the entry's statistics (rows and metadata): the entry is being deleted.

    Taken from the recorder rather than from REGISTERS and COSTS, so that statistics
    a setting or an earlier version made are deleted too. Entry ids are ULIDs, all of
    one length, so one entry's prefix never starts another's; the other entries of
    the domain are still checked, for entries made some other way.
    """
    prefix = statistic_id(entry, "")
    others = tuple(
        statistic_id(other, "")
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
    )
    instance = get_instance(hass)
    known = await instance.async_add_executor_job(
        partial(get_metadata, hass, statistic_source=DOMAIN)
    )
    ids = sorted(
        stat_id
        for stat_id in known
        if stat_id.startswith(prefix)
        and not any(other.startswith(prefix) and stat_id.startswith(other) for other in others)
    )
    if ids:
        LOGGER.debug("Deleting the statistics of %s: %s", entry.title, ", ".join(ids))
        instance.async_clear_statistics(ids)


def _first(rows: Mapping[str, list[StatisticsRow]], stat_id: str) -> StatisticsRow | None:
    found = rows.get(stat_id)
    return found[0] if found else None


def _price_per_kwh(state: State) -> float | None:
    """A recorded price state per kWh; None when it is not a price (unavailable...)."""
    factor = price_factor_per_kwh(state.attributes.get("unit_of_measurement"))
    try:
        price = float(state.state)
    except ValueError:
        return None
    if factor is None or not math.isfinite(price):
        return None
    return price * factor


@callback
def async_when_started(
    hass: HomeAssistant,
    entry: ConfigEntry,
    work: Callable[[], Coroutine[Any, Any, None]],
    name: str,
) -> CALLBACK_TYPE:
    """Run `work()` as a task of `entry` once Home Assistant has started; cancel with the result.

    Work that reads or waits for the recorder must not start earlier: Home Assistant
    waits for an entry's tasks before it finishes starting, and the recorder commits
    nothing until it has, so a task waiting for a commit would hold both up.
    """

    @callback
    def start(_hass: HomeAssistant) -> None:
        entry.async_create_task(hass, work(), name)

    return async_at_started(hass, start)
