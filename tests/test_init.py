"""Setup, unload, the read loop's reconnects, the watchdog and the repair issues."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN, SensorDeviceClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, UnitOfVolume
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from custom_components.han_port import hub as hub_module, reader as reader_module
from custom_components.han_port.const import (
    CONF_KEY,
    CONF_SEEN_OBIS,
    DOMAIN,
    ISSUE_DECRYPT_FAILING,
    ISSUE_NO_VALID_FRAMES,
)
from devtools.corpus import capture, expected

from . import more_meters
from .conftest import (
    BAD_CRC,
    ENCRYPTED,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    make_entry,
    outage_logs,
    set_up,
    state_of,
    until,
)
from .p1_telegrams import DSMR5_METER_ID, GAS_ID, dsmr5_gas_and_water
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter

pytestmark = pytest.mark.usefixtures("integration")

POWER = "sensor.kamstrup_active_power_import"
OLD_GAS = "sensor.iskraemeco_gas"


async def test_setup_and_unload(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The entry loads, reads, and unloads with its reader task and port."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    assert runtime.hub.connected
    assert state_of(hass, POWER) == STATE_UNAVAILABLE

    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")

    # No recorder in this Home Assistant: nowhere to keep hourly statistics.
    assert runtime.hourly is None

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert runtime.reader.connects == 1


async def test_setup_retries_without_port(hass: HomeAssistant, tmp_path: Path) -> None:
    """A missing adapter makes setup retry later instead of failing for good."""
    entry = make_entry(str(tmp_path / "ttyGone"))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "Cannot open" in (entry.reason or "")


async def test_unplug_and_replug(
    hass: HomeAssistant, meter: PtyMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """Pull the adapter: unavailable, one log line; plug it back: values, one line."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    caplog.clear()

    # Pulled in the middle of a frame: the half frame is reported, not kept.
    stats = entry.runtime_data.hub.decoder.stats
    meter.send(capture(KAMSTRUP_LIST1)[:100])
    await until(lambda: stats.bytes_in > len(capture(KAMSTRUP_LIST1)))
    meter.unplug()
    await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
    assert stats.errors == {"truncated": 1}
    reader = entry.runtime_data.reader
    # Several reopen attempts fail while the adapter is out: still one log line.
    await until(lambda: reader.failed_opens >= 2)
    assert outage_logs(caplog) == (1, 0)

    meter.plug()
    await until(lambda: reader.connects == 2)
    meter.start([capture(KAMSTRUP_LIST1)])
    await until(lambda: state_of(hass, POWER) == "1703")
    assert outage_logs(caplog) == (1, 1)
    assert reader.disconnects == 1


async def test_watchdog_marks_silence_unavailable(
    hass: HomeAssistant, meter: PtyMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """A meter that stops sending (port still open) goes unavailable after 30 s."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=20))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == "1703"

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == STATE_UNAVAILABLE
    assert outage_logs(caplog) == (1, 0)
    # The port going away now is the same outage: no second line.
    meter.unplug()
    await until(lambda: not entry.runtime_data.hub.connected)
    assert outage_logs(caplog) == (1, 0)
    meter.plug()
    await until(lambda: entry.runtime_data.hub.connected)

    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert outage_logs(caplog) == (1, 1)


async def test_watchdog_follows_the_meter_interval(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """A meter sending every 20 s gets 60 s of grace, not 30."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    hub = entry.runtime_data.hub
    for _ in range(3):
        readings = hub.decoder.stats.readings
        meter.send(capture(KAMSTRUP_LIST1))
        await until(lambda readings=readings: hub.decoder.stats.readings > readings)
        fake_clock[0] += 20

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=45))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == "1703"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == STATE_UNAVAILABLE


async def test_bridge_reconnects(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """A network bridge that drops the connection is reconnected to."""
    entry = await set_up(hass, make_entry(tcp_meter.url, seen=["1.7.0"]))
    tcp_meter.start([capture(KAMSTRUP_LIST1)])
    await until(lambda: state_of(hass, POWER) == "1703")

    await tcp_meter.drop_clients()
    await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
    await until(lambda: state_of(hass, POWER) == "1703")
    assert entry.runtime_data.reader.connects == 2


async def test_silent_bridge_is_reconnected(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """A half-open connection (the bridge lost power) is given up and reopened."""
    entry = make_entry(tcp_meter.url, seen=["1.7.0"])
    entry.add_to_hass(hass)
    with patch.object(reader_module, "NETWORK_SILENCE_RECONNECT", 0.3):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await until(lambda: tcp_meter.clients == 1)
        tcp_meter.send(capture(KAMSTRUP_LIST1))
        await until(lambda: state_of(hass, POWER) == "1703")
        # The connection stays open, nothing more arrives.
        await until(lambda: entry.runtime_data.reader.connects == 2)
    assert entry.runtime_data.reader.disconnects == 1


async def test_new_values_become_entities_and_are_remembered(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """Entities appear when a value is first seen and exist at once after a restart."""
    entry = await set_up(hass, make_entry(meter.path, seen=[]))
    assert not er.async_entries_for_config_entry(entity_registry, entry.entry_id)

    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert "1.7.0" in entry.data[CONF_SEEN_OBIS]
    assert "meter_id" in entry.data[CONF_SEEN_OBIS]
    count = len(er.async_entries_for_config_entry(entity_registry, entry.entry_id))
    assert count == 12  # 10 values + meter id + list version

    meter.send(capture(KAMSTRUP_LIST2))
    await until(
        lambda: len(er.async_entries_for_config_entry(entity_registry, entry.entry_id)) == 16
    )

    assert await hass.config_entries.async_reload(entry.entry_id)
    # Right after the restart, before any frame: all there, waiting for data.
    assert state_of(hass, POWER) == STATE_UNAVAILABLE
    assert state_of(hass, "sensor.kamstrup_active_energy_import") is not None


async def test_device_follows_the_meter(
    hass: HomeAssistant, meter: PtyMeter, device_registry: dr.DeviceRegistry
) -> None:
    """A list version the meter reports (firmware update) reaches the device."""
    entry = await set_up(
        hass, make_entry(meter.path, seen=["1.7.0"], list_version="Kamstrup_V0000")
    )
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "2200567223197714"), entry.entry_id
    )
    assert device is not None
    assert device.sw_version == "Kamstrup_V0000"
    assert device.serial_number == "2200567223197714"
    assert device.model == "6841131BN243101040"
    assert device.manufacturer == "Kamstrup"

    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "2200567223197714"), entry.entry_id
    )
    assert device is not None
    assert device.sw_version == expected(KAMSTRUP_LIST1)["list_version"]


async def test_repair_issue_for_garbage(
    hass: HomeAssistant,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Minutes of bytes without a valid frame raise an issue; a valid frame clears it."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    issue_id = f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}"
    stats = entry.runtime_data.hub.decoder.stats

    for step in range(3):
        errors = sum(stats.errors.values())
        meter.send(capture(BAD_CRC))
        await until(lambda errors=errors: sum(stats.errors.values()) > errors)
        fake_clock[0] += 200
        assert (issue_registry.async_get_issue(DOMAIN, issue_id) is not None) == (step == 2)

    # More garbage: still the one issue.
    meter.send(capture(BAD_CRC))
    await until(lambda: sum(stats.errors.values()) == 4)
    meter.send(capture(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_repair_issue_for_a_changed_key(
    hass: HomeAssistant,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Decryption failing for a minute raises an issue; unloading withdraws it."""
    entry = await set_up(
        hass,
        make_entry(meter.path, unique_id=expected(ENCRYPTED)["meter_id"], **{CONF_KEY: "00" * 16}),
    )
    issue_id = f"{ISSUE_DECRYPT_FAILING}_{entry.entry_id}"
    stats = entry.runtime_data.hub.decoder.stats

    for _ in range(2):
        errors = stats.errors.get("decrypt", 0)
        meter.send(capture(ENCRYPTED))
        await until(lambda errors=errors: stats.errors.get("decrypt", 0) > errors)
        fake_clock[0] += hub_module.SESSION_TIMES.decrypt_failing_after
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": entry.title,
        "device": meter.path,
    }
    # Garbage while decryption fails is the same problem, not a second one.
    no_frames_id = f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, no_frames_id) is None

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_wrong_key_on_an_encrypted_p1_port_is_a_key_problem(
    hass: HomeAssistant,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Ciphered telegrams under a wrong key: the key issue, never "check the baud rate"."""
    capture = more_meters.BY_ID[more_meters.T210_ENCRYPTED]
    entry = await set_up(
        hass, make_entry(meter.path, unique_id=None, transport="p1", **{CONF_KEY: "00" * 16})
    )
    stats = entry.runtime_data.hub.decoder.stats

    for _ in range(2):
        errors = stats.errors.get("decrypt", 0)
        meter.send(more_meters.raw_bytes(capture))
        await until(lambda errors=errors: stats.errors.get("decrypt", 0) > errors)
        fake_clock[0] += hub_module.SESSION_TIMES.decrypt_failing_after
    assert issue_registry.async_get_issue(DOMAIN, f"{ISSUE_DECRYPT_FAILING}_{entry.entry_id}")
    no_frames_id = f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, no_frames_id) is None
    assert stats.errors == {"decrypt": 2}
    assert stats.bytes_skipped == 0


# ---------------------------------------------------------------- entry migration


def _entry_of_version_1_1(meter: PtyMeter) -> MockConfigEntry:
    """A P1 entry as version 1.1 made it: every channel's reading keyed "0-24.2.1"."""
    return make_entry(
        meter.path,
        unique_id=DSMR5_METER_ID,
        manufacturer="Iskraemeco",
        meter_type=None,
        list_version="P1 version 50",
        seen=["0-24.2.1", "1.7.0", "1.8.1", "meter_id"],
    )


async def test_gas_sensor_of_version_1_1_becomes_the_gas_meters(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The old gas sensor keeps its entity id, history and last value on the gas meter."""
    entry = _entry_of_version_1_1(meter)
    entry.add_to_hass(hass)
    assert (entry.version, entry.minor_version) == (1, 1)
    # The registry as version 1.1 left it: the gas sensor on the electricity meter.
    electricity = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, DSMR5_METER_ID)},
        name="Iskraemeco",
        manufacturer="Iskraemeco",
    )
    old = entity_registry.async_get_or_create(
        SENSOR_DOMAIN,
        DOMAIN,
        f"{DSMR5_METER_ID}_0-24.2.1",
        config_entry=entry,
        device_id=electricity.id,
        suggested_object_id="iskraemeco_gas",
        original_device_class=SensorDeviceClass.GAS,
        translation_key="gas",
        unit_of_measurement=UnitOfVolume.CUBIC_METERS,
    )
    assert old.entity_id == OLD_GAS
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(OLD_GAS, "12780.0"),
                {
                    "native_value": 12780.0,
                    "native_unit_of_measurement": UnitOfVolume.CUBIC_METERS,
                    "scale": 1.0,
                },
            )
        ],
    )

    assert await hass.config_entries.async_setup(entry.entry_id)
    assert (entry.version, entry.minor_version) == (1, 2)
    assert "0-24.2.1" not in entry.data[CONF_SEEN_OBIS]
    assert "gas_1" in entry.data[CONF_SEEN_OBIS]
    migrated = entity_registry.async_get(OLD_GAS)
    assert migrated is not None
    assert (migrated.id, migrated.unique_id) == (old.id, f"{DSMR5_METER_ID}_gas_1")
    assert state_of(hass, OLD_GAS) == STATE_UNAVAILABLE  # waiting for data

    # A glitching 0 first: the value restored from the old sensor stands.
    hub = entry.runtime_data.hub
    meter.send(dsmr5_gas_and_water("00000.000*m3"))
    await until(lambda: hub.decoder.stats.readings == 1)
    await hass.async_block_till_done()
    assert state_of(hass, OLD_GAS) == "12780.0"
    meter.send(dsmr5_gas_and_water())
    await until(lambda: state_of(hass, OLD_GAS) == "12785.123")

    # On the gas meter's own device now, which the electricity meter relays.
    gas_device = device_registry.async_get_device_by_identifier((DOMAIN, GAS_ID), entry.entry_id)
    assert gas_device is not None
    assert gas_device.via_device_id == electricity.id
    migrated = entity_registry.async_get(OLD_GAS)
    assert migrated is not None
    assert migrated.device_id == gas_device.id
    # One gas sensor, not a second one next to the migrated one; water is new.
    gas_sensors = [
        registered.entity_id
        for registered in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if registered.original_device_class == SensorDeviceClass.GAS
    ]
    assert gas_sensors == [OLD_GAS]
    assert state_of(hass, "sensor.water_meter") == "872.234"
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, f"{DSMR5_METER_ID}_mbus1"), entry.entry_id
        )
        is None
    )


async def test_migration_leaves_a_gas_sensor_of_the_new_kind_alone(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """Both unique ids registered (a downgrade and upgrade): neither is renamed."""
    entry = _entry_of_version_1_1(meter)
    entry.add_to_hass(hass)
    for unique_id in (f"{DSMR5_METER_ID}_0-24.2.1", f"{DSMR5_METER_ID}_gas_1"):
        entity_registry.async_get_or_create(SENSOR_DOMAIN, DOMAIN, unique_id, config_entry=entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.minor_version == 2
    unique_ids = {
        registered.unique_id
        for registered in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert {f"{DSMR5_METER_ID}_0-24.2.1", f"{DSMR5_METER_ID}_gas_1"} <= unique_ids
