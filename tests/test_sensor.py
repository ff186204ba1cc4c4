"""Sensors: what each meter's lists become, throttling, scaling, registers, restore."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
import logging
import math
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfVolume,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.han_port.const import (
    CONF_MEASUREMENT_INTERVAL,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    CONF_SUB_METERS,
    DEFAULT_POWER_INTERVAL,
    DOMAIN,
)
from custom_components.han_port.han import Measurement, Obis, Reading, StreamDecoder
from custom_components.han_port.han.crc import crc16_arc
from custom_components.han_port.hub import KEY_LIST_VERSION, KEY_METER_ID, MeterHub, entity_key
from custom_components.han_port.register import SETTLE_READINGS, SETTLE_SECONDS, RegisterBasis
from custom_components.han_port.sensor import SENSORS_BY_KEY, RegisterStoredData
from devtools.corpus import BY_ID, capture, expected
from devtools.simulator import SimulatedMeter

from . import more_meters
from .conftest import (
    AIDON_LIST1,
    AIDON_LIST2,
    AIDON_LIST3,
    AIDON_SE,
    KAIFA_LIST1,
    KAIFA_LIST2,
    KAIFA_LIST3,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    KAMSTRUP_SE,
    P1_NL,
    built_frame,
    make_entry,
    set_up,
    state_of,
    until,
)
from .p1_telegrams import (
    DSMR5_METER_ID,
    FLUVIUS_GAS_ID,
    FLUVIUS_METER_ID,
    FLUVIUS_WATER_ID,
    GAS_ID,
    WATER_ID,
    dsmr5,
    dsmr5_gas_and_water,
    fluvius_gas_and_water,
    hex_id,
    mbus_lines,
)
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("integration")

UNTHROTTLED = {CONF_POWER_INTERVAL: 0, CONF_MEASUREMENT_INTERVAL: 0}
POWER = "sensor.kamstrup_active_power_import"
VOLTAGE = "sensor.kamstrup_voltage_l1"
ENERGY = "sensor.kamstrup_active_energy_import"
POWER_AIDON = "sensor.aidon_active_power_import"


async def _send_all(meter: PtyMeter, frames: list[bytes], hub: MeterHub) -> None:
    """Send frames one by one, each after the previous one was decoded."""
    for data in frames:
        readings = hub.decoder.stats.readings
        meter.send(data)
        await until(lambda readings=readings: hub.decoder.stats.readings > readings)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("corpus_ids", "unique_id", "sub_meter_keys"),
    [
        ([KAMSTRUP_LIST1, KAMSTRUP_LIST2], expected(KAMSTRUP_LIST1)["meter_id"], set()),
        ([AIDON_LIST1, AIDON_LIST2, AIDON_LIST3], expected(AIDON_LIST2)["meter_id"], set()),
        ([KAIFA_LIST1, KAIFA_LIST2, KAIFA_LIST3], expected(KAIFA_LIST2)["meter_id"], set()),
        # Sweden: per-phase power, and no meter id (the entry id names the device).
        ([AIDON_SE], None, set()),
        # A Dutch P1 telegram: tariffs and a gas meter on M-Bus channel 1.
        ([P1_NL], expected(P1_NL)["meter_id"], {"gas_1"}),
    ],
    ids=["kamstrup", "aidon", "kaifa", "aidon-se", "p1-nl"],
)
async def test_sensors_per_vendor(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    corpus_ids: list[str],
    unique_id: str | None,
    sub_meter_keys: set[str],
) -> None:
    """Every value of every list becomes a sensor with the right unit and class."""
    first = expected(corpus_ids[-1])
    entry = await set_up(
        hass,
        make_entry(
            meter.path,
            unique_id=unique_id,
            entry_id="01KAIDONSE0000000000000000",
            options=UNTHROTTLED,
            meter_type=first["meter_type"],
            manufacturer=BY_ID[corpus_ids[-1]]["vendor"],
            list_version=first["list_version"],
        ),
    )
    await _send_all(meter, [capture(corpus_id) for corpus_id in corpus_ids], entry.runtime_data.hub)
    await hass.async_block_till_done()

    # Every OBIS value the meter sent, whatever its B channel, has its entity.
    keys = {
        entity_key(Obis.parse(obis))
        for corpus_id in corpus_ids
        for obis in expected(corpus_id)["values"]
    }
    unique_ids = {
        registry_entry.unique_id
        for registry_entry in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    identifier = unique_id or entry.entry_id
    described = {key for key in keys | {KEY_METER_ID, KEY_LIST_VERSION} if key in SENSORS_BY_KEY}
    sent = (described if unique_id else described - {KEY_METER_ID, KEY_LIST_VERSION}) | (
        sub_meter_keys
    )
    assert unique_ids == {f"{identifier}_{key}" for key in sent}
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_throttled_writes(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """Active power at most every 5 s, voltages every 60 s; the latest value wins."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0", "32.7.0"]))
    hub = entry.runtime_data.hub

    async def send(power: float, voltage: float, seconds_later: float) -> None:
        fake_clock[0] += seconds_later
        data = built_frame("kamstrup", "list1", {"1.7.0": power, "32.7.0": voltage})
        await _send_all(meter, [data], hub)

    await send(1000, 230, 0)
    assert (state_of(hass, POWER), state_of(hass, VOLTAGE)) == ("1000", "230")
    await send(1100, 231, 2.5)  # too soon for both
    assert (state_of(hass, POWER), state_of(hass, VOLTAGE)) == ("1000", "230")
    await send(1200, 232, 2.4)  # 4.9 s: within the jitter slack of 5 s
    assert (state_of(hass, POWER), state_of(hass, VOLTAGE)) == ("1200", "230")
    await send(1200, 233, 55.1)  # 60 s after the last voltage write
    assert (state_of(hass, POWER), state_of(hass, VOLTAGE)) == ("1200", "233")


async def test_scale_for_current_transformers(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Power, current and energy are multiplied; voltage is not."""
    entry = await set_up(
        hass,
        make_entry(
            meter.path,
            seen=["1.7.0", "31.7.0", "32.7.0", "1.8.0"],
            options={**UNTHROTTLED, CONF_SCALE: 50},
        ),
    )
    await _send_all(meter, [capture(KAMSTRUP_LIST2)], entry.runtime_data.hub)
    values = expected(KAMSTRUP_LIST2)["values"]
    assert float(state_of(hass, POWER) or "nan") == values["1-1:1.7.0"] * 50
    assert float(state_of(hass, "sensor.kamstrup_current_l1") or "nan") == pytest.approx(
        values["1-1:31.7.0"] * 50
    )
    assert float(state_of(hass, VOLTAGE) or "nan") == values["1-1:32.7.0"]
    assert float(state_of(hass, ENERGY) or "nan") == pytest.approx(values["1-1:1.8.0"] * 50)


async def test_registers_never_go_down_or_to_zero(hass: HomeAssistant, meter: PtyMeter) -> None:
    """0 and decreases are not published; the register only moves up."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0"]))
    hub = entry.runtime_data.hub
    published = []
    for energy in (0.0, 1000.0, 999.99, 0.0, 1000.5):
        await _send_all(meter, [built_frame("kamstrup", "list2", {"1.8.0": energy})], hub)
        published.append(state_of(hass, ENERGY))
    assert published == [STATE_UNKNOWN, "1000.0", "1000.0", "1000.0", "1000.5"]


async def test_garbage_values_are_ignored(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Non-finite, non-numeric and wrongly-united values never reach a state."""
    entry = await set_up(
        hass, make_entry(meter.path, options=UNTHROTTLED, seen=["1.7.0", "1.8.0", KEY_METER_ID])
    )
    hub = entry.runtime_data.hub
    power, energy = Obis.parse("1-0:1.7.0"), Obis.parse("1-0:1.8.0")

    def reading(power_value: object, energy_value: object, unit: str = "W") -> Reading:
        return Reading(
            values={
                power: Measurement(power_value, unit),  # type: ignore[arg-type]
                energy: Measurement(energy_value, "kWh"),  # type: ignore[arg-type]
            },
            meter_id="",
        )

    hub.handle_events([reading(500, 10.0)], 0.0)
    await hass.async_block_till_done()
    assert (state_of(hass, POWER), state_of(hass, ENERGY)) == ("500", "10.0")
    for bad in (
        reading(math.nan, math.inf),
        reading("600", "11"),
        reading(True, None),
        reading(600, -5.0, unit="kW"),
    ):
        hub.handle_events([bad], 0.0)
        await hass.async_block_till_done()
        assert (state_of(hass, POWER), state_of(hass, ENERGY)) == ("500", "10.0")
    # An empty meter id is not a meter id.
    assert state_of(hass, "sensor.kamstrup_meter_id") == STATE_UNKNOWN


@pytest.mark.parametrize(
    ("stored_value", "stored_scale", "after_restart", "after_frame"),
    [
        # Restored at once, and a lower register value later is not taken.
        (50000.0, 1.0, "50000.0", "50000.0"),
        # Restored, then the meter's higher register value replaces it.
        (1.0, 1.0, "1.0", None),
        # Restored under another CT scale: shown, and the meter's value under the new
        # scale re-bases the series instead of replacing it (no statistics spike).
        (50000.0, 40.0, "50000.0", "50000.0"),
    ],
)
async def test_energy_restored_after_restart(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    stored_value: float,
    stored_scale: float,
    after_restart: str,
    after_frame: str | None,
) -> None:
    """An hourly register shows its last value right after a restart."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(ENERGY, str(stored_value)),
                {
                    "native_value": stored_value,
                    "native_unit_of_measurement": "kWh",
                    "scale": stored_scale,
                },
            )
        ],
    )
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0", "1.8.0"]))
    hub = entry.runtime_data.hub
    assert state_of(hass, ENERGY) == STATE_UNAVAILABLE  # no data yet at all

    # Power flows (list 1), the hourly register has not come yet.
    await _send_all(meter, [capture(KAMSTRUP_LIST1)], hub)
    assert state_of(hass, ENERGY) == after_restart

    await _send_all(meter, [capture(KAMSTRUP_LIST2)], hub)
    register = expected(KAMSTRUP_LIST2)["values"]["1-1:1.8.0"]
    assert state_of(hass, ENERGY) == (after_frame or str(register))


async def test_restore_ignores_unusable_data(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A negative value, a string or another unit is not a register value."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(ENERGY, "-1"),
                {"native_value": -1, "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.kamstrup_active_energy_export", "x"),
                {"native_value": "x", "native_unit_of_measurement": "kWh"},
            ),
            (
                State("sensor.kamstrup_reactive_energy_import", "5"),
                {"native_value": 5.0, "native_unit_of_measurement": "varh"},
            ),
        ],
    )
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0", "1.8.0", "2.8.0", "3.8.0"]))
    await _send_all(meter, [capture(KAMSTRUP_LIST1)], entry.runtime_data.hub)
    for entity_id in (
        ENERGY,
        "sensor.kamstrup_active_energy_export",
        "sensor.kamstrup_reactive_energy_import",
    ):
        assert state_of(hass, entity_id) == STATE_UNKNOWN


@pytest.mark.parametrize(
    ("options", "most_rows"),
    [
        ({}, 4300 / 3),
        # Every changed value of every frame, as amshan-homeassistant writes them:
        # the reference the defaults are measured against.
        (UNTHROTTLED, 5000),
    ],
    ids=["defaults", "unthrottled"],
)
async def test_recorder_rows_per_hour_for_aidon(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    fake_clock: list[float],
    options: dict[str, float],
    most_rows: float,
) -> None:
    """An hour of a simulated Aidon meter under default options: <= 1/3 of 4 300 rows.

    State changes are what the recorder writes rows for. The frames go straight
    into the hub with the simulated time as its clock (an hour through a real pty
    would take an hour); the reader's part is tested elsewhere.
    """
    simulated = SimulatedMeter("aidon", datetime(2026, 1, 15, 6, 30), seed=7)
    frames = list(simulated.frames(timedelta(hours=1)))
    decoder = StreamDecoder()
    keys = {
        entity_key(obis)
        for _, data in frames
        for event in decoder.feed(data)
        if isinstance(event, Reading)
        for obis in event.values
    }
    entry = await set_up(
        hass,
        make_entry(
            meter.path,
            unique_id=simulated.meter_id,
            manufacturer="Aidon",
            options=options,
            seen=sorted(keys | {KEY_METER_ID, KEY_LIST_VERSION}),
        ),
    )
    await hass.async_block_till_done()
    hub = entry.runtime_data.hub

    rows: Counter[str] = Counter()

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        rows[event.data["entity_id"]] += 1

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, count)
    power = Obis.parse("1-0:1.7.0")
    decoder = StreamDecoder()
    origin = frames[0][0]
    behind_since: float | None = None
    longest_behind = 0.0
    for when, data in frames:
        fake_clock[0] = now = (when - origin).total_seconds()
        hub.feed(data)
        # How long has the power shown differed from what the meter says?
        sent = next(
            event.values[power].value for event in decoder.feed(data) if isinstance(event, Reading)
        )
        if state_of(hass, POWER_AIDON) != str(sent):
            behind_since = now if behind_since is None else behind_since
        elif behind_since is not None:
            longest_behind = max(longest_behind, now - behind_since)
            behind_since = None
    await hass.async_block_till_done()
    unsubscribe()

    assert len(frames) == 1440
    total = sum(rows.values())
    print(f"recorder rows/hour: {total}", dict(rows), f"power behind <= {longest_behind} s")
    assert total <= most_rows, rows
    # Real-time power stays real time: at most one throttle interval behind.
    assert longest_behind <= DEFAULT_POWER_INTERVAL


async def test_swedish_kamstrup_energy_in_wh(hass: HomeAssistant, meter: PtyMeter) -> None:
    """HA's country decides Kamstrup's energy unit (Wh in Sweden, 10 Wh elsewhere)."""
    hass.config.country = "SE"
    entry = await set_up(
        hass, make_entry(meter.path, unique_id=expected(KAMSTRUP_SE)["meter_id"], seen=["1.8.0"])
    )
    await _send_all(meter, [capture(KAMSTRUP_SE)], entry.runtime_data.hub)
    register = expected(KAMSTRUP_SE)["values"]["1-1:1.8.0"]
    assert float(state_of(hass, ENERGY) or "nan") == pytest.approx(register)


# ---------------------------------------------------------------- P1 sub-meters

GAS = "sensor.gas_meter"
WATER = "sensor.water_meter"


async def _p1_set_up(
    hass: HomeAssistant,
    meter: PtyMeter,
    telegram: bytes,
    *,
    meter_id: str | None = DSMR5_METER_ID,
    **data: Any,
) -> MockConfigEntry:
    """A P1 meter's entry on `meter` (`data` overrides the DSMR 5 meter's), set up, with
    `telegram` decoded and its states written."""
    p1_meter = {"manufacturer": "Iskraemeco", "meter_type": None, "list_version": "P1 version 50"}
    entry = await set_up(hass, make_entry(meter.path, unique_id=meter_id, **(p1_meter | data)))
    await _send_all(meter, [telegram], entry.runtime_data.hub)
    await hass.async_block_till_done()
    return entry


def _sub_meter_device(
    device_registry: dr.DeviceRegistry, entry: MockConfigEntry, identifier: str
) -> dr.DeviceEntry:
    device = device_registry.async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
    assert device is not None, identifier
    return device


async def test_gas_and_water_meters_each_have_their_own_device(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Gas on channel 1 and water on channel 2 (#9): two devices, and neither overwrites."""
    entry = await _p1_set_up(hass, meter, dsmr5_gas_and_water())
    hub = entry.runtime_data.hub

    assert (state_of(hass, GAS), state_of(hass, WATER)) == ("12785.123", "872.234")
    electricity = _sub_meter_device(device_registry, entry, DSMR5_METER_ID)
    for entity_id, equipment_id, name, device_class in (
        (GAS, GAS_ID, "Gas meter", SensorDeviceClass.GAS),
        (WATER, WATER_ID, "Water meter", SensorDeviceClass.WATER),
    ):
        device = _sub_meter_device(device_registry, entry, equipment_id)
        assert (device.name, device.serial_number, device.via_device_id) == (
            name,
            equipment_id,
            electricity.id,
        )
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.device_id == device.id
        assert registered.unique_id == f"{DSMR5_METER_ID}_{device_class.value}_" + (
            "1" if device_class is SensorDeviceClass.GAS else "2"
        )
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.attributes["device_class"] == device_class
        assert state.attributes["unit_of_measurement"] == UnitOfVolume.CUBIC_METERS
        assert state.attributes["state_class"] == SensorStateClass.TOTAL_INCREASING
    # The equipment ids are remembered: the devices are known at the next start.
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": WATER_ID}

    # Each meter moves on its own.
    await _send_all(meter, [dsmr5_gas_and_water("12785.500*m3", "00873.125*m3")], hub)
    assert (state_of(hass, GAS), state_of(hass, WATER)) == ("12785.5", "873.125")
    await _send_all(meter, [dsmr5_gas_and_water("12785.500*m3", "00873.250*m3")], hub)
    assert (state_of(hass, GAS), state_of(hass, WATER)) == ("12785.5", "873.25")

    # After a restart both are there at once, on their own devices, before any data.
    assert await hass.config_entries.async_reload(entry.entry_id)
    for entity_id, equipment_id in ((GAS, GAS_ID), (WATER, WATER_ID)):
        assert state_of(hass, entity_id) == STATE_UNAVAILABLE
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.device_id == _sub_meter_device(device_registry, entry, equipment_id).id


async def test_fluvius_gas_on_the_not_converted_register(
    hass: HomeAssistant, meter: PtyMeter, device_registry: dr.DeviceRegistry
) -> None:
    """e-MUCS sends gas on 0-1:24.2.3 and the ids on 0-n:96.1.1."""
    entry = await _p1_set_up(hass, meter, fluvius_gas_and_water(), meter_id=FLUVIUS_METER_ID)
    assert (state_of(hass, GAS), state_of(hass, WATER)) == ("112.384", "872.234")
    for equipment_id in (FLUVIUS_GAS_ID, FLUVIUS_WATER_ID):
        assert _sub_meter_device(device_registry, entry, equipment_id).serial_number == equipment_id


@pytest.mark.parametrize(
    ("device_type", "reading", "entity_id", "gigajoules"),
    [
        ("004", "00012.34*GJ", "sensor.heat_meter", 12.34),
        # A heat meter counting kWh: 1 kWh = 3.6 MJ, so the sensor stays in GJ.
        ("012", "01000.000*kWh", "sensor.heat_meter", 3.6),
        ("004", "00001.234*MWh", "sensor.heat_meter", 4.4424),
        ("010", "00001.5*GJ", "sensor.cooling_meter", 1.5),
    ],
)
async def test_heat_and_cooling_meters_in_gigajoules(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_type: str,
    reading: str,
    entity_id: str,
    gigajoules: float,
) -> None:
    await _p1_set_up(hass, meter, dsmr5(mbus_lines(1, device_type, GAS_ID, reading)))
    state = hass.states.get(entity_id)
    assert state is not None
    assert float(state.state) == pytest.approx(gigajoules)
    assert state.attributes["device_class"] == SensorDeviceClass.ENERGY
    assert state.attributes["unit_of_measurement"] == UnitOfEnergy.GIGA_JOULE


async def test_sub_meter_without_id_then_with_one(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """A channel without an id is known by the entry and channel until its id comes."""
    entry = await _p1_set_up(hass, meter, dsmr5_gas_and_water(water_id=""))
    hub = entry.runtime_data.hub
    device = _sub_meter_device(device_registry, entry, f"{DSMR5_METER_ID}_mbus2")
    assert device.serial_number is None
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": None}
    water = entity_registry.async_get(WATER)
    assert water is not None
    assert water.device_id == device.id

    # A telegram that leaves the id line out says nothing about who is there.
    await _send_all(meter, [dsmr5_gas_and_water(water_id=None)], hub)
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": None}

    await _send_all(meter, [dsmr5_gas_and_water("12785.200*m3", "00872.300*m3")], hub)
    assert state_of(hass, WATER) == "872.3"
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": WATER_ID}
    renamed = _sub_meter_device(device_registry, entry, WATER_ID)
    # The same device, now known by the meter's id: the sensor and its history stay.
    assert (renamed.id, renamed.serial_number) == (device.id, WATER_ID)
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, f"{DSMR5_METER_ID}_mbus2"), entry.entry_id
        )
        is None
    )


async def test_replaced_gas_meter_continues(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lower reading is a glitch, unless another meter now sits on the channel: then
    the register re-bases, counting on from its value by what the new meter measures
    (a drop would make the statistics count the new meter's whole register again).
    """
    entry = await _p1_set_up(hass, meter, dsmr5_gas_and_water())
    hub = entry.runtime_data.hub
    device = _sub_meter_device(device_registry, entry, GAS_ID)

    published = []
    new_id = hex_id("G0099999999999999")
    for gas, gas_id in (
        ("00003.000*m3", GAS_ID),  # the same meter going down: not shown
        ("00000.000*m3", new_id),  # the new meter's first reading: the re-base
        ("00000.020*m3", new_id),  # 0.02 m3 measured by the new meter
        ("00000.010*m3", new_id),  # and glitch-guarded like the old one
        ("00000.030*m3", new_id),
    ):
        await _send_all(meter, [dsmr5_gas_and_water(gas, gas_id=gas_id)], hub)
        published.append(state_of(hass, GAS))
    assert published == ["12785.123", "12785.123", "12785.143", "12785.143", "12785.153"]
    replaced = _sub_meter_device(device_registry, entry, new_id)
    assert (replaced.id, replaced.serial_number) == (device.id, new_id)
    assert entry.data[CONF_SUB_METERS]["1"] == new_id
    assert any("was replaced" in record.message for record in caplog.records)
    rebased = [r.getMessage() for r in caplog.records if r.getMessage().startswith(GAS)]
    assert len(rebased) == 1
    assert "the meter was replaced" in rebased[0]


async def test_sub_meters_that_get_no_sensor(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """An electricity sub-meter gets no sensor; two channels naming one id share a device."""
    gas = mbus_lines(1, "003", GAS_ID, "12785.123*m3")
    electricity = mbus_lines(3, "002", hex_id("E0000000000000001"), "01234.567*kWh")
    first = dsmr5(gas, mbus_lines(2, "007", "", "00872.234*m3"), electricity)
    entry = await _p1_set_up(hass, meter, first)
    hub = entry.runtime_data.hub
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": None}
    assert not [key for key in hub.seen if key.endswith("_3")]

    # Channel 2 now names the gas meter's id: its device is not merged into the gas
    # meter's while running, and both readings go on.
    await _send_all(meter, [dsmr5(gas, mbus_lines(2, "007", GAS_ID, "00872.300*m3"))], hub)
    assert (state_of(hass, GAS), state_of(hass, WATER)) == ("12785.123", "872.3")
    water = entity_registry.async_get(WATER)
    assert water is not None
    assert (
        water.device_id == _sub_meter_device(device_registry, entry, f"{DSMR5_METER_ID}_mbus2").id
    )


# ---- registers that restart: 0 for good, a changed unit ---------------------------------

EXPORT = "sensor.kamstrup_active_energy_export"


async def test_export_register_that_is_always_0_shows_0(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """No solar: export stays 0; shown as 0 once the meter has kept sending it.

    A first 0 is not shown at once (a glitching 0 followed by the real value would be
    a spike in the statistics); after register.SETTLE_READINGS readings over
    SETTLE_SECONDS it is, and a restart restores it at once.
    """
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0", "2.8.0"]))
    hub = entry.runtime_data.hub
    step = SETTLE_SECONDS / (SETTLE_READINGS - 1)
    shown = []
    for index in range(SETTLE_READINGS + 1):
        frame_data = built_frame("kamstrup", "list2", {"1.8.0": 1000.0 + index, "2.8.0": 0.0})
        await _send_all(meter, [frame_data], hub)
        shown.append(state_of(hass, EXPORT))
        fake_clock[0] += step
    assert shown == [STATE_UNKNOWN] * (SETTLE_READINGS - 1) + ["0.0", "0.0"]
    assert state_of(hass, ENERGY) == f"{1000.0 + SETTLE_READINGS}"

    assert await hass.config_entries.async_reload(entry.entry_id)
    await _send_all(meter, [capture(KAMSTRUP_LIST1)], entry.runtime_data.hub)
    assert state_of(hass, EXPORT) == "0.0"


async def test_a_0_after_a_real_value_is_never_shown(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """However long a register reads 0 after a real value, it keeps the real value."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0"]))
    hub = entry.runtime_data.hub
    await _send_all(meter, [built_frame("kamstrup", "list2", {"1.8.0": 1234.5})], hub)
    for _ in range(3 * SETTLE_READINGS):
        fake_clock[0] += SETTLE_SECONDS
        await _send_all(meter, [built_frame("kamstrup", "list2", {"1.8.0": 0.0})], hub)
        assert state_of(hass, ENERGY) == "1234.5"


async def test_kamstrup_country_corrected_re_bases_once(
    hass: HomeAssistant, meter: PtyMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """NO -> SE: the same raw register now reads 10 x lower; shown on from where it was.

    Before, the lower value was refused for ever and the register froze.
    """
    hass.config.country = "NO"
    entry = await set_up(hass, make_entry(meter.path, seen=["1.8.0"]))
    # 1234.56 kWh in 0.01 kWh is the raw 123456; read in Wh it is 123.456 kWh.
    register = [built_frame("kamstrup", "list2", {"1.8.0": value}) for value in (1234.56, 1235.0)]
    await _send_all(meter, register[:1], entry.runtime_data.hub)
    assert state_of(hass, ENERGY) == "1234.56"

    hass.config.country = "SE"
    assert await hass.config_entries.async_reload(entry.entry_id)
    caplog.clear()
    shown = []
    for data in (register[0], register[1], register[1]):
        await _send_all(meter, [data], entry.runtime_data.hub)
        shown.append(state_of(hass, ENERGY))
    # 123.456 -> 123.5 kWh: 0.044 kWh more, added to what was shown.
    assert shown == ["1234.56", "1234.604", "1234.604"]
    # One line per register (the meter's other registers appeared as it sent them).
    lines = [r for r in caplog.records if r.name == "custom_components.han_port"]
    assert {(r.levelno, "unit for it changed" in r.getMessage()) for r in lines} == {
        (logging.INFO, True)
    }
    registers = [r.getMessage().split()[0] for r in lines]
    assert sorted(registers) == sorted(set(registers))
    assert ENERGY in registers


async def test_a_lower_series_that_persists_re_bases_once(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    fake_clock: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A meter without an id (Swedish P1) replaced: its lower register is believed once
    it has kept coming, and counted on from the shown value, with one warning.
    """
    entry = await set_up(hass, make_entry(meter.path, unique_id=None, seen=["1.8.0"]))
    hub = entry.runtime_data.hub
    await _send_all(meter, [built_frame("kamstrup", "list2", {"1.8.0": 1000.0})], hub)
    caplog.clear()
    step = SETTLE_SECONDS / (SETTLE_READINGS - 1)
    shown = []
    for energy in (5.0, 6.0, 7.0, 7.5):
        fake_clock[0] += step
        await _send_all(meter, [built_frame("kamstrup", "list2", {"1.8.0": energy})], hub)
        shown.append(state_of(hass, ENERGY))
    assert shown == ["1000.0", "1000.0", "1002.0", "1002.5"]
    lines = [r for r in caplog.records if r.name == "custom_components.han_port"]
    assert [(r.levelno, r.getMessage().split()[0]) for r in lines] == [(logging.WARNING, ENERGY)]


def test_stored_register_data_round_trip() -> None:
    """What a register stores reads back; a damaged basis reads as none (re-learnt)."""
    basis = RegisterBasis("2200567223197714", -2, 1.0)
    stored = RegisterStoredData(1234.56, "kWh", 1.0, 1111.104, basis).as_dict()
    assert RegisterStoredData.from_stored(stored) == RegisterStoredData(
        1234.56, "kWh", 1.0, 1111.104, basis
    )
    for damaged in ({"meter": 7, "exponent": -2, "scale": 1.0}, {"meter": "x", "exponent": "-2"}):
        restored = RegisterStoredData.from_stored({**stored, "basis": damaged})
        assert restored is not None
        assert restored.basis is None
    assert RegisterStoredData.from_stored({**stored, "offset": "1"}) is None


# ---------------------------------------------------------------- P1 in the field (#13)


def _sensor_id(entity_registry: er.EntityRegistry, unique_id: str) -> str:
    entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def _resealed(telegram: bytes, *changes: tuple[bytes, bytes]) -> bytes:
    """The telegram with lines changed, and its CRC recomputed as the meter would."""
    for old, new in changes:
        assert old in telegram
        telegram = telegram.replace(old, new)
    body = telegram[: telegram.index(b"\n!") + 2]
    return body + f"{crc16_arc(body):04X}\r\n".encode()


async def test_belgian_average_demand_and_month_peak(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """e-MUCS 1-0:1.4.0 and 1-0:1.6.0 (with the time of the peak) as HA's dsmr shows them."""
    await hass.config.async_set_time_zone("Europe/Brussels")
    capture = more_meters.raw_bytes(more_meters.BY_ID[more_meters.FLUVIUS])
    entry = await _p1_set_up(
        hass,
        meter,
        capture,
        meter_id=FLUVIUS_METER_ID,
        options=UNTHROTTLED,
        manufacturer=None,
        list_version="P1 version 50217",
    )

    average = _sensor_id(entity_registry, f"{FLUVIUS_METER_ID}_1.4.0")
    peak = _sensor_id(entity_registry, f"{FLUVIUS_METER_ID}_1.6.0")
    peak_time = _sensor_id(entity_registry, f"{FLUVIUS_METER_ID}_1.6.0_time")
    assert (state_of(hass, average), state_of(hass, peak), state_of(hass, peak_time)) == (
        "2351",
        "2589",
        "2020-05-09T11:45:58+00:00",  # 13:45:58 summer time in Brussels
    )
    for entity_id, name in (
        (average, "Current average demand"),
        (peak, "Maximum demand current month"),
    ):
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.attributes["device_class"] == SensorDeviceClass.POWER
        assert state.attributes["unit_of_measurement"] == UnitOfPower.WATT
        assert state.attributes["state_class"] == SensorStateClass.MEASUREMENT
        assert state.attributes["friendly_name"].endswith(name)
    state = hass.states.get(peak_time)
    assert state is not None
    assert state.attributes["device_class"] == SensorDeviceClass.TIMESTAMP
    assert state.attributes["friendly_name"].endswith("Maximum demand current month time")

    # A new peak in winter time: W is the second pass through the repeated hour.
    await _send_all(
        meter,
        [
            _resealed(
                capture,
                (b"1-0:1.4.0(02.351*kW)", b"1-0:1.4.0(04.100*kW)"),
                (b"(200509134558S)(02.589*kW)", b"(201025021500W)(04.100*kW)"),
            )
        ],
        entry.runtime_data.hub,
    )
    assert (state_of(hass, average), state_of(hass, peak), state_of(hass, peak_time)) == (
        "4100",
        "4100",
        "2020-10-25T01:15:00+00:00",
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_power_factor_without_unit_is_shown(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """E.ON Hungary's 1-0:13.7.0(4.556) and per-phase power factors reach their sensors."""
    entry_data = more_meters.BY_ID[more_meters.EON_HU]
    meter_id = entry_data["expected"]["meter_id"]
    entry = await set_up(
        hass,
        make_entry(
            meter.path,
            unique_id=meter_id,
            options=UNTHROTTLED,
            manufacturer="Sagemcom",
            meter_type=None,
            list_version=None,
        ),
    )
    await _send_all(meter, [more_meters.raw_bytes(entry_data)], entry.runtime_data.hub)
    await hass.async_block_till_done()
    for key, value in (
        ("13.7.0", "4.556"),
        ("33.7.0", "4.591"),
        ("53.7.0", "4.542"),
        ("73.7.0", "4.552"),
    ):
        entity_id = _sensor_id(entity_registry, f"{meter_id}_{key}")
        assert state_of(hass, entity_id) == value
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.attributes["device_class"] == SensorDeviceClass.POWER_FACTOR
        assert "unit_of_measurement" not in state.attributes


async def test_encrypted_p1_entry_shows_the_telegram_values(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """A Smarty-form port (bare ciphered telegrams) with its key: the plain values."""
    capture = more_meters.BY_ID[more_meters.T210_ENCRYPTED]
    entry = await _p1_set_up(
        hass,
        meter,
        more_meters.raw_bytes(capture),
        meter_id=None,
        options=UNTHROTTLED,
        manufacturer=None,
        transport="p1",
        key=capture["key_hex"],
        auth_key=capture["auth_key_hex"],
    )
    for key, value in (("1.8.0", "6545.766"), ("1.7.0", "286"), ("4.7.0", "166")):
        assert state_of(hass, _sensor_id(entity_registry, f"{entry.entry_id}_{key}")) == value
    assert entry.runtime_data.hub.decoder.stats.errors == {}
