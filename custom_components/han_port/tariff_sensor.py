"""The sensors of the running hour and the capacity tariff (tariff.py), on the meter's device.

Energy this hour, today and this month are TOTAL with `last_reset` at the start of their
period, not TOTAL_INCREASING: until an hour's row is booked its energy is integrated from
the power values, and the meter's register may then say a little less, so a total can
dip by that much. The estimate of the hour is no total at all (it goes down when a load
switches off) and has no state class. The capacity figures are in kW: a peak of
"x kWh/h", as the grid companies write it, is a mean power of x kW over the hour.

Which sensors a household sees without configuring anything: with the capacity tariff
on (the default for meters in Norway), the energy and estimate of this hour, the
month's peak average, the current step and the headroom. The rest start disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import Platform, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .capacity import CapacityStatus
from .const import DOMAIN, MAX_CAPACITY_PEAKS
from .entity import HanEntity, entity_unique_id
from .hub import device_identifier
from .tariff import DirectionFigures, TariffSettings, TariffSnapshot, TariffTracker

if TYPE_CHECKING:
    from . import HanConfigEntry

# Energies to the Wh and powers to the W: finer changes are not worth a state write.
_KWH_DECIMALS = 3
_KW_DECIMALS = 3

type StateValue = float | int | None


@dataclass(frozen=True, kw_only=True)
class TariffSensorEntityDescription(SensorEntityDescription):
    """A figure of the tariff snapshot."""

    value_fn: Callable[[TariffSnapshot], StateValue]
    last_reset_fn: Callable[[TariffSnapshot], datetime] | None = None
    attributes_fn: Callable[[TariffSnapshot], dict[str, Any]] | None = None
    live: bool = False
    """Shows the hour under way: unavailable while the meter is silent."""
    capacity: bool = False
    """Exists only with the capacity tariff on."""
    prominent: bool = False
    """Enabled by default when the capacity tariff is on."""


def _rounded(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(value, decimals)


def _energy(
    key: str,
    figures: Callable[[TariffSnapshot], DirectionFigures],
    value: Callable[[DirectionFigures], float],
    last_reset: Callable[[TariffSnapshot], datetime] | None,
    **kwargs: Any,
) -> TariffSensorEntityDescription:
    return TariffSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        # An estimate is no total: no state class, no long-term statistics.
        state_class=None if last_reset is None else SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda snapshot: round(value(figures(snapshot)), _KWH_DECIMALS),
        last_reset_fn=last_reset,
        **kwargs,
    )


def _import(snapshot: TariffSnapshot) -> DirectionFigures:
    return snapshot.energy_import


def _export(snapshot: TariffSnapshot) -> DirectionFigures:
    return snapshot.energy_export


def _hour_start(snapshot: TariffSnapshot) -> datetime:
    return snapshot.interval_start


def _day_start(snapshot: TariffSnapshot) -> datetime:
    return snapshot.day_start


def _month_start(snapshot: TariffSnapshot) -> datetime:
    return snapshot.month_start


def _capacity(
    key: str,
    value: Callable[[CapacityStatus], StateValue],
    *,
    attributes: Callable[[CapacityStatus], dict[str, Any]] | None = None,
    **kwargs: Any,
) -> TariffSensorEntityDescription:
    def value_fn(snapshot: TariffSnapshot) -> StateValue:
        return None if snapshot.capacity is None else value(snapshot.capacity)

    def attributes_fn(snapshot: TariffSnapshot) -> dict[str, Any]:
        if snapshot.capacity is None or attributes is None:
            return {}
        return attributes(snapshot.capacity)

    return TariffSensorEntityDescription(
        key=key,
        value_fn=value_fn,
        attributes_fn=attributes_fn if attributes is not None else None,
        capacity=True,
        **kwargs,
    )


def _kw(
    key: str, value: Callable[[CapacityStatus], float | None], **kwargs: Any
) -> TariffSensorEntityDescription:
    return _capacity(
        key,
        lambda status: _rounded(value(status), _KW_DECIMALS),
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        **kwargs,
    )


def _step_attributes(status: CapacityStatus) -> dict[str, Any]:
    projected = status.projected_step
    return {
        "label": status.step.label,
        "lower": status.step.lower,
        "upper": status.step.upper,
        "projected_step": None if projected is None else projected.number,
        "projected_label": None if projected is None else projected.label,
    }


def _headroom(status: CapacityStatus) -> StateValue:
    return None if status.headroom is None else int(status.headroom)


def _peak(rank: int) -> TariffSensorEntityDescription:
    index = rank - 1

    def value(status: CapacityStatus) -> float | None:
        return status.peaks[index].value if index < len(status.peaks) else None

    def attributes(status: CapacityStatus) -> dict[str, Any]:
        if index >= len(status.peaks):
            return {}
        peak = status.peaks[index]
        return {"date": peak.day.isoformat(), "hour": peak.hour, "start": peak.start.isoformat()}

    return _kw(
        f"capacity_peak_{rank}",
        value,
        attributes=attributes,
        translation_key="capacity_peak",
        translation_placeholders={"rank": str(rank)},
    )


RUNNING: tuple[TariffSensorEntityDescription, ...] = (
    _energy(
        "energy_import_this_hour",
        _import,
        lambda figures: figures.used,
        _hour_start,
        live=True,
        prominent=True,
    ),
    _energy(
        "energy_import_hour_estimate",
        _import,
        lambda figures: figures.estimate,
        None,
        live=True,
        prominent=True,
    ),
    _energy("energy_import_today", _import, lambda figures: figures.totals.today, _day_start),
    _energy(
        "energy_import_this_month", _import, lambda figures: figures.totals.month, _month_start
    ),
    _energy(
        "energy_export_this_hour", _export, lambda figures: figures.used, _hour_start, live=True
    ),
    _energy("energy_export_today", _export, lambda figures: figures.totals.today, _day_start),
    _energy(
        "energy_export_this_month", _export, lambda figures: figures.totals.month, _month_start
    ),
)

CAPACITY: tuple[TariffSensorEntityDescription, ...] = (
    _kw(
        "capacity_average",
        lambda status: status.average,
        translation_key="capacity_average",
        prominent=True,
    ),
    _capacity(
        "capacity_step",
        lambda status: status.step.number,
        attributes=_step_attributes,
        translation_key="capacity_step",
        state_class=SensorStateClass.MEASUREMENT,
        prominent=True,
    ),
    _kw("capacity_step_limit", lambda status: status.limit, translation_key="capacity_step_limit"),
    _capacity(
        "capacity_headroom",
        _headroom,
        translation_key="capacity_headroom",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        live=True,
        prominent=True,
    ),
)

PEAKS: tuple[TariffSensorEntityDescription, ...] = tuple(
    _peak(rank) for rank in range(1, MAX_CAPACITY_PEAKS + 1)
)

ALL_KEYS = frozenset(d.key for d in (*RUNNING, *CAPACITY, *PEAKS))


def tariff_descriptions(settings: TariffSettings) -> list[TariffSensorEntityDescription]:
    """The sensors an entry with these settings has, enabled by default or not."""
    chosen = [*RUNNING]
    if settings.enabled:
        chosen += [*CAPACITY, *PEAKS[: settings.count]]
    return [
        replace(
            description,
            entity_registry_enabled_default=description.prominent and settings.enabled,
        )
        for description in chosen
    ]


async def async_setup_tariff_sensors(
    hass: HomeAssistant, entry: HanConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Start the entry's tariff and add its sensors (none without the recorder)."""
    hourly = entry.runtime_data.hourly
    if hourly is None:
        # Without hourly statistics there is no month to rebuild and no hour booked.
        return
    settings = TariffSettings.from_options(entry.options, hass.config.country)
    tracker = TariffTracker(hass, entry, entry.runtime_data.hub, hourly, settings)
    tracker.async_start()
    entry.async_on_unload(tracker.async_stop)
    descriptions = tariff_descriptions(settings)
    _remove_left_over(hass, entry, {description.key for description in descriptions})
    async_add_entities(TariffSensor(entry, description, tracker) for description in descriptions)


def _remove_left_over(hass: HomeAssistant, entry: HanConfigEntry, keys: set[str]) -> None:
    """Remove tariff sensors the options no longer give (tariff off, fewer peaks).

    They would otherwise stay in the registry as "no longer provided".
    """
    registry = er.async_get(hass)
    identifier = device_identifier(entry)
    for key in ALL_KEYS - keys:
        entity_id = registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, entity_unique_id(identifier, key)
        )
        if entity_id is not None:
            registry.async_remove(entity_id)


class TariffSensor(HanEntity, SensorEntity):
    """A figure of the running hour or the capacity tariff."""

    entity_description: TariffSensorEntityDescription

    def __init__(
        self,
        entry: HanConfigEntry,
        description: TariffSensorEntityDescription,
        tracker: TariffTracker,
    ) -> None:
        super().__init__(entry, description)
        self._tracker = tracker
        self._shown_available = False
        self._attr_native_value = None
        self._attr_last_reset = None
        self._attr_extra_state_attributes = {}

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (snapshot := self._tracker.snapshot) is not None:
            self._take(snapshot)
        self.async_on_remove(self._tracker.async_add_listener(self._on_snapshot))

    @property
    @override
    def available(self) -> bool:
        return self._tracker.ready and (not self.entity_description.live or self._hub.available)

    def _take(self, snapshot: TariffSnapshot) -> bool:
        """Take the snapshot's figure; True when what is shown changes."""
        description = self.entity_description
        value = description.value_fn(snapshot)
        last_reset = description.last_reset_fn(snapshot) if description.last_reset_fn else None
        attributes = description.attributes_fn(snapshot) if description.attributes_fn else {}
        available = self.available
        if (
            value == self._attr_native_value
            and last_reset == self._attr_last_reset
            and attributes == self._attr_extra_state_attributes
            and available == self._shown_available
        ):
            return False
        self._attr_native_value = value
        self._attr_last_reset = last_reset
        self._attr_extra_state_attributes = attributes
        self._shown_available = available
        return True

    @callback
    def _on_snapshot(self, snapshot: TariffSnapshot) -> None:
        if self._take(snapshot):
            self.async_write_ha_state()
