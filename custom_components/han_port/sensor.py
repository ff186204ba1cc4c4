"""Sensors: one per OBIS code the meter sends, described as data.

Recorder budget (issue #4). An Aidon meter sends list 1 (active power only) every
2.5 s, list 2 (power, reactive power, 3 currents, 3 voltages, ids) every 10 s and
list 3 (list 2 plus four energy registers) hourly. Writing every changed value, as
amshan-homeassistant does, costs about 4 300 state rows an hour. Under the default
options:

- active power import/export (the Energy dashboard's live power flow): at most one
  write per 5 s -> 3 600 / 5 = 720 rows/hour, and only for the direction that is
  moving (the other one stays 0 and is not written again);
- the other fast-changing values (2 reactive powers, 3 currents, 3 voltages, and on
  meters that send them per-phase power, power factor, frequency): at most one write
  per 60 s each -> 8 x 60 = 480 rows/hour for the Aidon list;
- energy registers: one per hour each when the register moved -> <= 4 rows/hour;
- meter id and list version: written once;
- the running hour and the capacity tariff (tariff_sensor.py), with the tariff on as
  in Norway by default: the hour's energy, its estimate and the headroom change with
  every power value but are written with the other fast-changing values, at most once
  a minute -> 3 x 60 = 180 rows/hour (test_tariff_sensor.py counts them); the peak
  average and the step when an hour is booked -> 2 rows/hour (the step once more each
  time this hour's estimate crosses a step limit: its projected step).

Total <= 720 + 480 + 4 + 180 + 2 = 1 386 rows/hour, 32 % of 4 300 (goal: <= 33 %),
while active power is never more than 5 s (two frames) old. The options flow lets a
user choose between detail and database size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
import math
from typing import TYPE_CHECKING, Any, Final, Self, TypeIs, override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactiveEnergy,
    UnitOfReactivePower,
    UnitOfVolume,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from . import hub as hub_module
from .const import (
    CONF_MEASUREMENT_INTERVAL,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    DEFAULT_MEASUREMENT_INTERVAL,
    DEFAULT_POWER_INTERVAL,
    DEFAULT_SCALE,
    LOGGER,
)
from .entity import HanEntity
from .han import Measurement, Obis, Unit
from .han.cosem import quantity
from .han.model import MBUS_CHANNELS, MEDIA, MEDIUM_COOLING, MEDIUM_GAS, MEDIUM_HEAT, MEDIUM_WATER
from .han.vendors import vendor_for
from .hub import (
    CAPTURED_SUFFIX,
    KEY_LIST_VERSION,
    KEY_METER_ID,
    device_identifier,
    sub_meter_key,
)
from .register import SETTLE_READINGS, RegisterBasis, RegisterChange, RegisterSeries
from .tariff_sensor import async_setup_tariff_sensors

if TYPE_CHECKING:
    from . import HanConfigEntry

# Entities only listen to the hub; nothing is polled.
PARALLEL_UPDATES = 0

# Frames arrive with jitter: a value due every second frame must not slip to the
# third because it came a few milliseconds early.
THROTTLE_SLACK = 0.9


class Throttle(StrEnum):
    """Which option limits how often a sensor writes its state."""

    NONE = "none"
    POWER = "power"
    MEASUREMENT = "measurement"


@dataclass(frozen=True, kw_only=True)
class HanSensorEntityDescription(SensorEntityDescription):
    """A sensor for one OBIS quantity (key "C.D.E", see hub.entity_key).

    A P1 sub-meter's reading (key "gas_1", see hub.sub_meter_key) names its `medium`
    and `channel`: it belongs to that meter's device.
    """

    decoder_unit: Unit | None = None  # the unit the decoder gives (model.Measurement)
    # Other units the decoder may give, each with its factor to the native unit.
    other_units: tuple[tuple[Unit, float], ...] = ()
    scaled: bool = False  # multiplied by the current-transformer scale option
    throttle: Throttle = Throttle.NONE
    register: bool = False  # cumulative: restored, never a glitch (register.py)
    text: bool = False  # a string (meter id, list version), not a number
    timestamp: bool = False  # the meter's local time of a value (key "1.6.0_time")
    medium: str | None = None
    channel: int | None = None


def _power(
    key: str, translation_key: str, *, reactive: bool = False, **kwargs: Any
) -> HanSensorEntityDescription:
    return HanSensorEntityDescription(
        key=key,
        translation_key=translation_key,
        device_class=SensorDeviceClass.REACTIVE_POWER if reactive else SensorDeviceClass.POWER,
        native_unit_of_measurement=(
            UnitOfReactivePower.VOLT_AMPERE_REACTIVE if reactive else UnitOfPower.WATT
        ),
        decoder_unit=Unit.VAR if reactive else Unit.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        scaled=True,
        **kwargs,
    )


def _energy(
    key: str, translation_key: str, *, reactive: bool = False, **kwargs: Any
) -> HanSensorEntityDescription:
    return HanSensorEntityDescription(
        key=key,
        translation_key=translation_key,
        device_class=SensorDeviceClass.REACTIVE_ENERGY if reactive else SensorDeviceClass.ENERGY,
        native_unit_of_measurement=(
            UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR
            if reactive
            else UnitOfEnergy.KILO_WATT_HOUR
        ),
        decoder_unit=Unit.KILO_VAR_HOUR if reactive else Unit.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        scaled=True,
        register=True,
        **kwargs,
    )


# Each sub-meter medium's reading: device class, unit, unit from the decoder, other
# units. DSMR gives gas and water in m3 and heat or cold in GJ; a heat meter counting
# kWh is read in GJ too (1 kWh = 3.6 MJ), so the sensor's unit never changes.
_KWH_TO_GJ: Final = ((Unit.KILO_WATT_HOUR, 0.0036),)
_SUB_METER_READINGS: Mapping[
    str, tuple[SensorDeviceClass, str, Unit, tuple[tuple[Unit, float], ...]]
] = {
    MEDIUM_GAS: (SensorDeviceClass.GAS, UnitOfVolume.CUBIC_METERS, Unit.CUBIC_METERS, ()),
    MEDIUM_WATER: (SensorDeviceClass.WATER, UnitOfVolume.CUBIC_METERS, Unit.CUBIC_METERS, ()),
    MEDIUM_HEAT: (SensorDeviceClass.ENERGY, UnitOfEnergy.GIGA_JOULE, Unit.GIGA_JOULE, _KWH_TO_GJ),
    MEDIUM_COOLING: (
        SensorDeviceClass.ENERGY,
        UnitOfEnergy.GIGA_JOULE,
        Unit.GIGA_JOULE,
        _KWH_TO_GJ,
    ),
}


def _sub_meter(medium: str, channel: int) -> HanSensorEntityDescription:
    device_class, unit, decoder_unit, other_units = _SUB_METER_READINGS[medium]
    return HanSensorEntityDescription(
        key=sub_meter_key(medium, channel),
        # The reading is what the sub-meter's device is for, so the entity takes the
        # device's name: "Gas meter", sensor.gas_meter.
        name=None,
        device_class=device_class,
        native_unit_of_measurement=unit,
        decoder_unit=decoder_unit,
        other_units=other_units,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        register=True,
        medium=medium,
        channel=channel,
    )


def _phase_sensors(phase: str, base: int) -> tuple[HanSensorEntityDescription, ...]:
    """L1/L2/L3 quantities: OBIS C = 20/40/60 + the total's C (IEC 62056-61)."""
    placeholders = {"phase": phase}
    return (
        _power(
            f"{base + 1}.7.0",
            "phase_active_power_import",
            throttle=Throttle.MEASUREMENT,
            translation_placeholders=placeholders,
        ),
        _power(
            f"{base + 2}.7.0",
            "phase_active_power_export",
            throttle=Throttle.MEASUREMENT,
            translation_placeholders=placeholders,
        ),
        _power(
            f"{base + 3}.7.0",
            "phase_reactive_power_import",
            reactive=True,
            throttle=Throttle.MEASUREMENT,
            translation_placeholders=placeholders,
            entity_registry_enabled_default=False,
        ),
        _power(
            f"{base + 4}.7.0",
            "phase_reactive_power_export",
            reactive=True,
            throttle=Throttle.MEASUREMENT,
            translation_placeholders=placeholders,
            entity_registry_enabled_default=False,
        ),
        HanSensorEntityDescription(
            key=f"{base + 11}.7.0",
            translation_key="phase_current",
            translation_placeholders=placeholders,
            device_class=SensorDeviceClass.CURRENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            decoder_unit=Unit.AMPERE,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=2,
            scaled=True,
            throttle=Throttle.MEASUREMENT,
        ),
        HanSensorEntityDescription(
            key=f"{base + 12}.7.0",
            translation_key="phase_voltage",
            translation_placeholders=placeholders,
            device_class=SensorDeviceClass.VOLTAGE,
            native_unit_of_measurement=UnitOfElectricPotential.VOLT,
            decoder_unit=Unit.VOLT,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=1,
            throttle=Throttle.MEASUREMENT,
        ),
        HanSensorEntityDescription(
            key=f"{base + 13}.7.0",
            translation_key="phase_power_factor",
            translation_placeholders=placeholders,
            device_class=SensorDeviceClass.POWER_FACTOR,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=2,
            throttle=Throttle.MEASUREMENT,
            entity_registry_enabled_default=False,
        ),
    )


SENSORS: tuple[HanSensorEntityDescription, ...] = (
    _power("1.7.0", "active_power_import", throttle=Throttle.POWER),
    _power("2.7.0", "active_power_export", throttle=Throttle.POWER),
    _power("3.7.0", "reactive_power_import", reactive=True, throttle=Throttle.MEASUREMENT),
    _power("4.7.0", "reactive_power_export", reactive=True, throttle=Throttle.MEASUREMENT),
    # Belgian (e-MUCS) meters: the running 15-minute average of import power, and the
    # highest such average this month, on which the capacity tariff is billed (HA's
    # dsmr integration shows the same two).
    _power("1.4.0", "current_average_demand", throttle=Throttle.MEASUREMENT),
    _power("1.6.0", "maximum_demand_current_month"),
    HanSensorEntityDescription(
        key=f"1.6.0{CAPTURED_SUFFIX}",
        translation_key="maximum_demand_current_month_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        timestamp=True,
    ),
    HanSensorEntityDescription(
        key="13.7.0",
        translation_key="power_factor",
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        throttle=Throttle.MEASUREMENT,
    ),
    HanSensorEntityDescription(
        key="14.7.0",
        translation_key="frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        decoder_unit=Unit.HERTZ,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        throttle=Throttle.MEASUREMENT,
    ),
    *_phase_sensors("L1", 20),
    *_phase_sensors("L2", 40),
    *_phase_sensors("L3", 60),
    _energy("1.8.0", "energy_import"),
    _energy("2.8.0", "energy_export"),
    _energy("1.8.1", "energy_import_tariff", translation_placeholders={"tariff": "1"}),
    _energy("1.8.2", "energy_import_tariff", translation_placeholders={"tariff": "2"}),
    _energy("2.8.1", "energy_export_tariff", translation_placeholders={"tariff": "1"}),
    _energy("2.8.2", "energy_export_tariff", translation_placeholders={"tariff": "2"}),
    _energy("3.8.0", "reactive_energy_import", reactive=True),
    _energy("4.8.0", "reactive_energy_export", reactive=True),
    *(
        _energy(
            f"{quadrant + 4}.8.0",
            "reactive_energy_quadrant",
            reactive=True,
            translation_placeholders={"quadrant": f"Q{quadrant}"},
            entity_registry_enabled_default=False,
        )
        for quadrant in (1, 2, 3, 4)
    ),
    # Gas, water and heat meters on a P1 port's M-Bus channels.
    *(_sub_meter(medium, channel) for medium in MEDIA for channel in MBUS_CHANNELS),
    HanSensorEntityDescription(
        key=KEY_METER_ID,
        translation_key="meter_id",
        entity_category=EntityCategory.DIAGNOSTIC,
        text=True,
    ),
    HanSensorEntityDescription(
        key=KEY_LIST_VERSION,
        translation_key="list_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        text=True,
    ),
)
SENSORS_BY_KEY: Mapping[str, HanSensorEntityDescription] = {
    sensor.key: sensor for sensor in SENSORS
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HanConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for every known key the meter has sent, now and later."""
    hub = entry.runtime_data.hub

    @callback
    def add_sensors(keys: list[str]) -> None:
        async_add_entities(
            (HanRegisterSensor if description.register else HanSensor)(entry, description)
            for key in sorted(keys)
            if (description := SENSORS_BY_KEY.get(key)) is not None
        )

    add_sensors(list(hub.seen))
    entry.async_on_unload(hub.async_add_new_key_listener(add_sensors))
    # The running hour and the capacity tariff: tariff.py and tariff_sensor.py.
    await async_setup_tariff_sensors(hass, entry, async_add_entities)


class HanSensor(HanEntity, SensorEntity):
    """A value from the meter, written at most as often as the options allow."""

    entity_description: HanSensorEntityDescription

    def __init__(self, entry: HanConfigEntry, description: HanSensorEntityDescription) -> None:
        super().__init__(entry, description, medium=description.medium, channel=description.channel)
        options = entry.options
        self._scale: float = (
            float(options.get(CONF_SCALE, DEFAULT_SCALE)) if description.scaled else DEFAULT_SCALE
        )
        interval = {
            Throttle.NONE: 0.0,
            Throttle.POWER: float(options.get(CONF_POWER_INTERVAL, DEFAULT_POWER_INTERVAL)),
            Throttle.MEASUREMENT: float(
                options.get(CONF_MEASUREMENT_INTERVAL, DEFAULT_MEASUREMENT_INTERVAL)
            ),
        }[description.throttle]
        self._min_interval = interval * THROTTLE_SLACK
        self._written_at = -math.inf

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        key = self.entity_description.key
        if (measurement := self._hub.values.get(key)) is not None:
            self._accept(measurement, hub_module.monotonic())
        self.async_on_remove(self._hub.async_add_value_listener(key, self._on_measurement))

    def _value(self, measurement: Measurement) -> float | str | datetime | None:
        """The state for a measurement, or None when it must not be shown."""
        value = measurement.value
        description = self.entity_description
        if description.text:
            return value if isinstance(value, str) and value else None
        if description.timestamp:
            if not isinstance(value, datetime):
                return None
            # P1 gives the meter's wall-clock time, the W/S flag in `fold`.
            return value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            return None
        if measurement.unit != description.decoder_unit:
            factor = next(
                (factor for unit, factor in description.other_units if unit == measurement.unit),
                None,
            )
            if factor is None:
                return None
            value *= factor
        return value * self._scale if self._scale != 1.0 else value

    def _accept(self, measurement: Measurement, now: float) -> bool:
        """Take the measurement as the state if it is valid and new; True if taken."""
        value = self._value(measurement)
        if value is None or value == self._attr_native_value:
            return False
        self._attr_native_value = value
        return True

    @callback
    def _on_measurement(self, measurement: Measurement, now: float) -> None:
        if now - self._written_at < self._min_interval:
            # Not now: the next frame after the interval brings the then-current value.
            return
        if self._accept(measurement, now):
            self._written_at = now
            self.async_write_ha_state()


@dataclass
class RegisterStoredData(SensorExtraStoredData):
    """A register's shown value, its offset to the meter's and what it is counted against.

    Versions before re-basing stored the value and the scale only (no offset, no
    basis): the value was the meter's own, counted under that scale.
    """

    scale: float = DEFAULT_SCALE
    offset: float = 0.0
    basis: RegisterBasis | None = None

    @override
    def as_dict(self) -> dict[str, Any]:
        basis = self.basis
        return {
            **super().as_dict(),
            "scale": self.scale,
            "offset": self.offset,
            "basis": None
            if basis is None
            else {"meter": basis.meter, "exponent": basis.exponent, "scale": basis.scale},
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Self | None:
        """Parse what as_dict wrote; None when it is not a usable register value."""
        value = stored.get("native_value")
        scale = stored.get("scale", DEFAULT_SCALE)
        offset = stored.get("offset", 0.0)
        if not (_is_number(value) and _is_number(scale) and _is_number(offset) and value >= 0):
            return None
        basis = stored.get("basis")
        return cls(
            value,
            stored.get("native_unit_of_measurement"),
            float(scale),
            float(offset),
            _basis_from(basis) if isinstance(basis, dict) else None,
        )


def _is_number(value: object) -> TypeIs[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _electricity_obis(key: str) -> Obis | None:
    """The OBIS code of an electricity key ("1.8.0", see hub.entity_key), else None."""
    parts = key.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return Obis(1, 0, *(int(part) for part in parts))


def _basis_from(stored: dict[str, Any]) -> RegisterBasis | None:
    meter, exponent, scale = stored.get("meter"), stored.get("exponent"), stored.get("scale")
    if (
        not isinstance(meter, str)
        or not (exponent is None or (isinstance(exponent, int) and not isinstance(exponent, bool)))
        or not _is_number(scale)
    ):
        return None
    return RegisterBasis(meter, exponent, float(scale))


class HanRegisterSensor(HanSensor, RestoreSensor):
    """A cumulative register (kWh, kvarh, m3) for the Energy dashboard.

    It restores its last value, so an hourly register is not unknown for up to an
    hour after a restart, and it never shows a glitch (a 0 or a value below the
    last one): HA's statistics read any decrease of a TOTAL_INCREASING sensor as a
    new meter cycle and would count the whole register again. When the series
    really restarts (a replaced meter, a P1 sub-meter replaced on its channel, a
    changed unit or scale, a lower value that persists) it re-bases instead, once,
    with one log line: see register.py.
    """

    def __init__(self, entry: HanConfigEntry, description: HanSensorEntityDescription) -> None:
        super().__init__(entry, description)
        # The electricity meter, the decoder's unit and the scale are fixed while the
        # entry is loaded (adopting a new meter, correcting the country and changing
        # an option all reload it); a sub-meter's id can change at any telegram.
        self._basis = self._current_basis()
        self._series = RegisterSeries()

    @override
    async def async_added_to_hass(self) -> None:
        if (
            (extra := await self.async_get_last_extra_data()) is not None
            and (stored := RegisterStoredData.from_stored(extra.as_dict())) is not None
            and stored.native_unit_of_measurement == self.native_unit_of_measurement
        ):
            value = stored.native_value
            assert isinstance(value, (int, float))
            self._series = RegisterSeries(
                value,
                stored.offset,
                # Stored without a basis: counted under the stored scale, so that a
                # changed current-transformer scale still re-bases.
                stored.basis or replace(self._basis, scale=stored.scale),
            )
            self._attr_native_value = value
        await super().async_added_to_hass()

    def _current_basis(self) -> RegisterBasis:
        hub = self._hub
        identity = hub.identity
        description = self.entity_description
        if description.channel is not None:
            # A P1 sub-meter: counted against its own meter, known by its equipment
            # id ("" until the id has come: then any id continues the series).
            meter = hub.sub_meter_ids.get(description.channel) or ""
            return RegisterBasis(meter, None, self._scale)
        exponent: int | None = None
        if (obis := _electricity_obis(description.key)) and (measured := quantity(obis)):
            # The decoder's scale for this quantity when the frame carries none: what
            # changes with HA's country for Kamstrup (Wh in Sweden, 10 Wh elsewhere).
            exponent = (
                vendor_for(identity.list_version, hub.meter_filter.system_title, identity.meter_id)
                .market(hub.decoder.options.country, identity.meter_type)
                .exponents.get(measured)
            )
        return RegisterBasis(device_identifier(hub.entry), exponent, self._scale)

    @property
    @override
    def extra_restore_state_data(self) -> RegisterStoredData:
        series = self._series
        return RegisterStoredData(
            self.native_value,
            self.native_unit_of_measurement,
            self._scale,
            series.offset,
            series.basis,
        )

    @override
    def _accept(self, measurement: Measurement, now: float) -> bool:
        value = self._value(measurement)
        if not isinstance(value, (int, float)):
            return False
        if self.entity_description.channel is not None:
            self._basis = self._current_basis()
        change = self._series.update(value, self._basis, now)
        if change is None:
            return False
        if change.rebase is not None:
            self._log_rebase(change)
        if change.shown == self._attr_native_value:
            return False
        self._attr_native_value = change.shown
        return True

    def _log_rebase(self, change: RegisterChange) -> None:
        unit = self.native_unit_of_measurement
        if change.previous_basis is not None:
            LOGGER.info(
                "%s continues from %s %s with the meter's new values: %s",
                self.entity_id,
                change.shown,
                unit,
                self._basis.changes_from(change.previous_basis),
            )
            return
        LOGGER.warning(
            "%s continues from %s %s: the meter has kept sending less (from %s %s on) "
            "for %d readings; counted as a restarted register, not as a spike",
            self.entity_id,
            change.shown,
            unit,
            change.lower,
            unit,
            SETTLE_READINGS,
        )
