"""Setup, unload, the read loop's reconnects, the watchdog and the repair issues."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.han_port import hub as hub_module, reader as reader_module
from custom_components.han_port.const import (
    CONF_KEY,
    CONF_SEEN_OBIS,
    DOMAIN,
    ISSUE_DECRYPT_FAILING,
    ISSUE_NO_VALID_FRAMES,
)

from .conftest import (
    BAD_CRC,
    ENCRYPTED,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    expected,
    frame,
    make_entry,
    outage_logs,
    state_of,
    until,
)
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter

pytestmark = pytest.mark.usefixtures("integration")

POWER = "sensor.kamstrup_active_power_import"


async def test_setup_and_unload(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The entry loads, reads, and unloads with its reader task and port."""
    entry = make_entry(meter.path, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    assert runtime.hub.connected
    assert state_of(hass, POWER) == STATE_UNAVAILABLE

    meter.send(frame(KAMSTRUP_LIST1))
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
    entry = make_entry(meter.path, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    meter.send(frame(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    caplog.clear()

    # Pulled in the middle of a frame: the half frame is reported, not kept.
    stats = entry.runtime_data.hub.decoder.stats
    meter.send(frame(KAMSTRUP_LIST1)[:100])
    await until(lambda: stats.bytes_in > len(frame(KAMSTRUP_LIST1)))
    meter.unplug()
    await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
    assert stats.errors == {"truncated": 1}
    reader = entry.runtime_data.reader
    # Several reopen attempts fail while the adapter is out: still one log line.
    await until(lambda: reader.failed_opens >= 2)
    assert outage_logs(caplog) == (1, 0)

    meter.plug()
    await until(lambda: reader.connects == 2)
    meter.start([frame(KAMSTRUP_LIST1)])
    await until(lambda: state_of(hass, POWER) == "1703")
    assert outage_logs(caplog) == (1, 1)
    assert reader.disconnects == 1


async def test_watchdog_marks_silence_unavailable(
    hass: HomeAssistant, meter: PtyMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """A meter that stops sending (port still open) goes unavailable after 30 s."""
    entry = make_entry(meter.path, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    meter.send(frame(KAMSTRUP_LIST1))
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

    meter.send(frame(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert outage_logs(caplog) == (1, 1)


async def test_watchdog_follows_the_meter_interval(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """A meter sending every 20 s gets 60 s of grace, not 30."""
    entry = make_entry(meter.path, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    hub = entry.runtime_data.hub
    for _ in range(3):
        readings = hub.decoder.stats.readings
        meter.send(frame(KAMSTRUP_LIST1))
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
    entry = make_entry(tcp_meter.url, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    tcp_meter.start([frame(KAMSTRUP_LIST1)])
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
        tcp_meter.send(frame(KAMSTRUP_LIST1))
        await until(lambda: state_of(hass, POWER) == "1703")
        # The connection stays open, nothing more arrives.
        await until(lambda: entry.runtime_data.reader.connects == 2)
    assert entry.runtime_data.reader.disconnects == 1


async def test_new_values_become_entities_and_are_remembered(
    hass: HomeAssistant, meter: PtyMeter, entity_registry: er.EntityRegistry
) -> None:
    """Entities appear when a value is first seen and exist at once after a restart."""
    entry = make_entry(meter.path, seen=[])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert not er.async_entries_for_config_entry(entity_registry, entry.entry_id)

    meter.send(frame(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert "1.7.0" in entry.data[CONF_SEEN_OBIS]
    assert "meter_id" in entry.data[CONF_SEEN_OBIS]
    count = len(er.async_entries_for_config_entry(entity_registry, entry.entry_id))
    assert count == 12  # 10 values + meter id + list version

    meter.send(frame(KAMSTRUP_LIST2))
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
    entry = make_entry(meter.path, seen=["1.7.0"], list_version="Kamstrup_V0000")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, "2200567223197714"), entry.entry_id
    )
    assert device is not None
    assert device.sw_version == "Kamstrup_V0000"
    assert device.serial_number == "2200567223197714"
    assert device.model == "6841131BN243101040"
    assert device.manufacturer == "Kamstrup"

    meter.send(frame(KAMSTRUP_LIST1))
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
    entry = make_entry(meter.path, seen=["1.7.0"])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}"
    stats = entry.runtime_data.hub.decoder.stats

    for step in range(3):
        errors = sum(stats.errors.values())
        meter.send(frame(BAD_CRC))
        await until(lambda errors=errors: sum(stats.errors.values()) > errors)
        fake_clock[0] += 200
        assert (issue_registry.async_get_issue(DOMAIN, issue_id) is not None) == (step == 2)

    # More garbage: still the one issue.
    meter.send(frame(BAD_CRC))
    await until(lambda: sum(stats.errors.values()) == 4)
    meter.send(frame(KAMSTRUP_LIST1))
    await until(lambda: state_of(hass, POWER) == "1703")
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_repair_issue_for_a_changed_key(
    hass: HomeAssistant,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Decryption failing for a minute raises an issue; unloading withdraws it."""
    entry = make_entry(
        meter.path, unique_id=expected(ENCRYPTED)["meter_id"], **{CONF_KEY: "00" * 16}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"{ISSUE_DECRYPT_FAILING}_{entry.entry_id}"
    stats = entry.runtime_data.hub.decoder.stats

    for _ in range(2):
        errors = stats.errors.get("decrypt", 0)
        meter.send(frame(ENCRYPTED))
        await until(lambda errors=errors: stats.errors.get("decrypt", 0) > errors)
        fake_clock[0] += hub_module.REPAIR_DECRYPT_AFTER
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
