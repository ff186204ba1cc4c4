"""The replaced meter's repair: raised through a real pty, fixed through the repairs API.

The grid company swaps the meter: the old id stops, a new one keeps sending on the
entry's port. The repair issue appears once the new meter has sent alone long enough
(meter_filter.py); its fix flow shows both meters and, confirmed, continues the same
entities, device and history with the new one.
"""

from __future__ import annotations

from http import HTTPStatus
import logging
from typing import Any

from homeassistant.components.repairs import ConfirmRepairFlow, repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.han_port.const import (
    CONF_KEY,
    CONF_MANUFACTURER,
    CONF_METER_TYPE,
    CONF_SYSTEM_TITLE,
    CONF_TOPIC,
    DOMAIN,
    ISSUE_METER_REPLACED,
)
from custom_components.han_port.hub import KEY_METER_ID, MeterHub
from custom_components.han_port.meter_filter import SWAP_AFTER_READINGS, SWAP_AFTER_SECONDS
from custom_components.han_port.repairs import async_create_fix_flow

from .conftest import built_frame, make_entry, set_up, state_of, until
from .mqtt_broker import MqttMeter
from .pty_meter import PtyMeter
from .test_hub import KEY, OWN_TITLE, encrypted_frame
from .test_mqtt_source import make_mqtt_entry

pytestmark = pytest.mark.usefixtures("integration")

OLD_ID = "2200567223197714"
NEW_ID = "2200567223199999"
NEW_TYPE = "6861111BN243101040"
NEW_TITLE = b"KFM\x00\x05\x06\x07\x08"
POWER = "sensor.kamstrup_active_power_import"
ENERGY = "sensor.kamstrup_active_energy_import"
METER_ID = "sensor.kamstrup_meter_id"
# The new meter sends every 30 s of the hub's clock in these tests.
PERIOD = 30.0


def new_meter_frame(power: float = 700.0, energy: float = 5.0) -> bytes:
    return built_frame(
        "kamstrup",
        "list2",
        {"1.7.0": power, "1.8.0": energy},
        meter_id=NEW_ID,
        meter_type=NEW_TYPE,
    )


async def send(meter: PtyMeter, hub: MeterHub, data: bytes) -> None:
    """Send one frame and wait until the hub has decoded it."""
    readings = hub.decoder.stats.readings
    meter.send(data)
    await until(lambda: hub.decoder.stats.readings > readings)


async def replace_meter(
    hass: HomeAssistant,
    meter: PtyMeter,
    hub: MeterHub,
    fake_clock: list[float],
    data: bytes | None = None,
) -> list[bool]:
    """Only the new meter sends (`data`, by default its plain list 2), until (and just
    after) the swap thresholds are passed.

    Returns, per frame, whether the repair issue existed after it.
    """
    registry = ir.async_get(hass)
    issue_id = f"{ISSUE_METER_REPLACED}_{hub.entry.entry_id}"
    raised = []
    count = max(SWAP_AFTER_READINGS, int(SWAP_AFTER_SECONDS / PERIOD) + 1) + 1
    for _ in range(count):
        await send(meter, hub, data or new_meter_frame())
        await hass.async_block_till_done()
        raised.append(registry.async_get_issue(DOMAIN, issue_id) is not None)
        fake_clock[0] += PERIOD
    return raised


async def accept_replacement(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Confirm the meter-replaced issue's fix flow (in process: no HTTP client, whose
    access token a moved clock would expire)."""
    flows = repairs_flow_manager(hass)
    assert flows is not None
    result = await flows.async_init(
        DOMAIN, context={"issue_id": f"{ISSUE_METER_REPLACED}_{entry.entry_id}"}
    )
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def start_fix_flow(client: Any, issue_id: str) -> dict[str, Any]:
    """Open the issue's fix flow as the frontend does."""
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == HTTPStatus.OK
    result: dict[str, Any] = await response.json()
    return result


async def submit(client: Any, flow_id: str) -> dict[str, Any]:
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    assert response.status == HTTPStatus.OK
    result: dict[str, Any] = await response.json()
    return result


def _expected_raised(frames: int) -> list[bool]:
    """After which frame the issue exists: both thresholds passed (first frame at 0 s)."""
    return [
        index + 1 >= SWAP_AFTER_READINGS and index * PERIOD >= SWAP_AFTER_SECONDS
        for index in range(frames)
    ]


async def test_replaced_meter_is_adopted(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue after the thresholds, both meters in the flow, same entities after it."""
    caplog.set_level(logging.DEBUG, logger="custom_components.han_port")
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up(
        hass,
        make_entry(
            meter.path, seen=["1.7.0", "1.8.0", KEY_METER_ID], options={"power_interval": 0}
        ),
    )
    hub: MeterHub = entry.runtime_data.hub
    await send(meter, hub, built_frame("kamstrup", "list2", {"1.7.0": 1500, "1.8.0": 1000.0}))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == "1500"
    before = {
        e.entity_id: e.unique_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    # Every value of Kamstrup's list 2 has its entity by now, each "<meter id>_<key>".
    assert {f"{OLD_ID}_1.7.0", f"{OLD_ID}_1.8.0", f"{OLD_ID}_meter_id"} <= set(before.values())
    assert all(unique_id.startswith(f"{OLD_ID}_") for unique_id in before.values())
    device = device_registry.async_get_device_by_identifier((DOMAIN, OLD_ID), entry.entry_id)
    assert device is not None

    raised = await replace_meter(hass, meter, hub, fake_clock)
    assert raised == _expected_raised(len(raised))
    assert raised[-1]
    # Until the user confirms, nothing of the new meter is shown.
    assert state_of(hass, POWER) == "1500"
    issue_id = f"{ISSUE_METER_REPLACED}_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {"title": entry.title, "device": meter.path}

    client = await hass_client()
    result = await start_fix_flow(client, issue_id)
    assert result["type"] == "form"
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {
        "title": entry.title,
        "device": meter.path,
        "old_meter": OLD_ID,
        "new_meter": NEW_ID,
        "manufacturer": "Kamstrup",
        "meter_type": NEW_TYPE,
    }
    result = await submit(client, result["flow_id"])
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == NEW_ID
    assert entry.data[CONF_METER_TYPE] == NEW_TYPE
    assert entry.data[CONF_MANUFACTURER] == "Kamstrup"
    assert CONF_SYSTEM_TITLE not in entry.data  # unencrypted meter: nothing to learn
    after = {
        e.entity_id: e.unique_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert after == {
        entity_id: unique_id.replace(OLD_ID, NEW_ID) for entity_id, unique_id in before.items()
    }
    moved = device_registry.async_get(device.id)
    assert moved is not None
    assert moved.identifiers == {(DOMAIN, NEW_ID)}
    assert moved.serial_number == NEW_ID
    assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 1
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    # The new meter's readings are the entry's now; its register continues the old one.
    hub = entry.runtime_data.hub
    await send(meter, hub, new_meter_frame(800.0, 5.0))
    await send(meter, hub, new_meter_frame(810.0, 5.5))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == "810"
    assert state_of(hass, METER_ID) == NEW_ID
    assert state_of(hass, ENERGY) == "1000.5"
    moved = device_registry.async_get(device.id)
    assert moved is not None
    assert moved.model == NEW_TYPE

    # Both meter ids were shown to the user above, and never logged.
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components.han_port")
    )
    assert "replaced" in ours
    assert OLD_ID not in ours
    assert NEW_ID not in ours


async def test_our_meter_back_withdraws_the_issue(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
) -> None:
    """The old meter sends again (it was not replaced): the issue goes by itself."""
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    hub: MeterHub = entry.runtime_data.hub
    assert (await replace_meter(hass, meter, hub, fake_clock))[-1]
    issue_id = f"{ISSUE_METER_REPLACED}_{entry.entry_id}"
    # A list naming no meter (it might be the new meter's) keeps the issue.
    await send(meter, hub, built_frame("aidon", "list1", {"1.7.0": 100.0}))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await send(meter, hub, built_frame("kamstrup", "list2", {"1.7.0": 1500}))
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    # The new meter turned out to share the bus: it never raises the issue again.
    assert not any(await replace_meter(hass, meter, hub, fake_clock))


@pytest.mark.parametrize("then", ["new_meter_has_an_entry", "entry_removed"])
async def test_fix_flow_refuses(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    meter: PtyMeter,
    fake_clock: list[float],
    then: str,
) -> None:
    """The new meter has an entry of its own, or the entry went: no adoption."""
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0"]))
    assert (await replace_meter(hass, meter, entry.runtime_data.hub, fake_clock))[-1]
    client = await hass_client()
    result = await start_fix_flow(client, f"{ISSUE_METER_REPLACED}_{entry.entry_id}")
    assert result["step_id"] == "confirm"
    if then == "entry_removed":
        assert await hass.config_entries.async_remove(entry.entry_id)
    else:
        make_entry("/dev/ttyUSB9", unique_id=NEW_ID).add_to_hass(hass)
    result = await submit(client, result["flow_id"])
    assert result["type"] == "abort"
    assert result["reason"] == ("entry_gone" if then == "entry_removed" else "already_configured")
    if then != "entry_removed":
        assert entry.unique_id == OLD_ID


async def test_encrypted_replacement_brings_its_system_title(
    hass: HomeAssistant, meter: PtyMeter, fake_clock: list[float]
) -> None:
    """Same key, new meter: the entry learns the new meter's system title with it."""
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up(
        hass,
        make_entry(
            meter.path,
            seen=["1.7.0"],
            **{CONF_KEY: KEY.hex().upper(), CONF_SYSTEM_TITLE: OWN_TITLE.hex().upper()},
        ),
    )
    hub: MeterHub = entry.runtime_data.hub
    new_meter = encrypted_frame(NEW_TITLE, 900, meter_id=NEW_ID)
    assert (await replace_meter(hass, meter, hub, fake_clock, new_meter))[-1]

    await accept_replacement(hass, entry)
    assert entry.unique_id == NEW_ID
    assert entry.data[CONF_SYSTEM_TITLE] == NEW_TITLE.hex().upper()
    # The new meter's list without a meter id is now told by its title: shown.
    hub = entry.runtime_data.hub
    await send(meter, hub, encrypted_frame(NEW_TITLE, 950, meter_id=None))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == "950"
    assert hub.foreign_readings == 0


async def test_fix_flow_for_an_entry_that_is_gone(hass: HomeAssistant) -> None:
    """An issue whose entry no longer exists gets a flow that only dismisses it."""
    flow = await async_create_fix_flow(
        hass, f"{ISSUE_METER_REPLACED}_gone", {"entry_id": "gone", "meter_id": NEW_ID}
    )
    assert isinstance(flow, ConfirmRepairFlow)


async def test_replaced_meter_behind_mqtt_is_adopted(
    hass: HomeAssistant, mqtt_meter: MqttMeter, fake_clock: list[float]
) -> None:
    """An MQTT entry has a topic, not a port: the fix flow names the topic and adopts."""
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up(hass, make_mqtt_entry(mqtt_meter.topic, unique_id=OLD_ID))
    hub: MeterHub = entry.runtime_data.hub
    registry = ir.async_get(hass)
    issue_id = f"{ISSUE_METER_REPLACED}_{entry.entry_id}"
    # The new meter publishes on the topic; the hub's clock moves a period per reading.
    mqtt_meter.start([new_meter_frame()])
    while registry.async_get_issue(DOMAIN, issue_id) is None:
        seen = hub.decoder.stats.readings
        assert seen <= 10 * SWAP_AFTER_READINGS
        await until(lambda seen=seen: hub.decoder.stats.readings > seen)
        await hass.async_block_till_done()
        fake_clock[0] += PERIOD
    await mqtt_meter.stopped()

    flows = repairs_flow_manager(hass)
    assert flows is not None
    result = await flows.async_init(DOMAIN, context={"issue_id": issue_id})
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"]["device"] == f"mqtt:{mqtt_meter.topic}"
    assert result["description_placeholders"]["new_meter"] == NEW_ID
    result = await flows.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.unique_id == NEW_ID
    assert entry.data[CONF_TOPIC] == mqtt_meter.topic
