"""Config, options and reconfigure flows, with a real pty meter behind every port."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USB, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import pytest

from custom_components.han_port import config_flow
from custom_components.han_port.config_flow import normalize_key, serial_by_id
from custom_components.han_port.const import (
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTE_SIZE,
    CONF_DEVICE,
    CONF_EXPORT_PRICE,
    CONF_IMPORT_PRICE,
    CONF_KEY,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_MEASUREMENT_INTERVAL,
    CONF_METER_TYPE,
    CONF_PARITY,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    CONF_SEEN_OBIS,
    CONF_SUB_METERS,
    CONF_SYSTEM_TITLE,
    CONF_TRANSPORT,
    DOMAIN,
)
from devtools.corpus import capture, expected

from . import more_meters
from .conftest import (
    AIDON_LIST1,
    AIDON_LIST2,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST1,
    P1_NL,
    P1_SE,
    created,
    make_entry,
    placeholders_of,
    set_up,
    state_of,
    until,
    without_crc,
)
from .p1_telegrams import GAS_ID, WATER_ID, dsmr5_gas_and_water
from .pty_meter import PtyMeter
from .serial_proxy import Line, SerialProxy
from .tcp_meter import TcpMeter

pytestmark = pytest.mark.usefixtures("integration")

KAMSTRUP_ID = "2200567223197714"
OTHER_ID = "2200567223190000"


async def _listen(hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]) -> FlowResult:
    """Submit a step that starts listening and return the step after it."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "listen"
    assert result["progress_action"] == "listen"
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(flow_id)


async def refuse_bad_keys(hass: HomeAssistant, flow_id: str) -> None:
    """The key form (a port's and a topic's alike) names what is wrong with each bad key."""
    for user_input, errors in (
        ({CONF_KEY: "not a key"}, {CONF_KEY: "invalid_key_format"}),
        ({CONF_KEY: "nope"}, {CONF_KEY: "invalid_key_format"}),
        ({CONF_KEY: ENCRYPTED_KEY, CONF_AUTH_KEY: "12345"}, {CONF_AUTH_KEY: "invalid_key_format"}),
        ({CONF_KEY: ENCRYPTED_KEY, CONF_AUTH_KEY: "zz"}, {CONF_AUTH_KEY: "invalid_key_format"}),
        # Well formed, but it does not decrypt what the meter sent.
        ({CONF_KEY: "00" * 16}, {"base": "invalid_key"}),
    ):
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
        assert result["errors"] == errors, user_input


async def _user_flow(hass: HomeAssistant, device: str) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return await _listen(hass, result["flow_id"], {CONF_DEVICE: device})


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_kamstrup(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Listen, show what was found, create the entry keyed by the meter id."""
    meter.start([capture(KAMSTRUP_LIST1)])
    result = await _user_flow(hass, meter.path)

    placeholders = placeholders_of(result, "confirm")
    assert placeholders["manufacturer"] == "Kamstrup"
    assert placeholders["meter_type"] == "6841131BN243101040"
    assert placeholders["meter_id"] == KAMSTRUP_ID
    assert placeholders["list_version"] == "Kamstrup_V0001"
    assert placeholders["settings"] == "2400 8E1"

    result = await created(hass, result)
    assert result["title"] == "Kamstrup 6841131BN243101040"
    assert result["result"].unique_id == KAMSTRUP_ID
    data = result["data"]
    assert data[CONF_DEVICE] == meter.path
    assert data[CONF_BAUDRATE] == 2400
    assert data[CONF_PARITY] == "E"
    assert data[CONF_BYTE_SIZE] == 8
    assert data[CONF_TRANSPORT] == "hdlc"
    assert data[CONF_METER_TYPE] == "6841131BN243101040"
    assert data[CONF_MANUFACTURER] == "Kamstrup"
    assert data[CONF_LIST_VERSION] == "Kamstrup_V0001"
    assert "1.7.0" in data[CONF_SEEN_OBIS]
    assert "meter_id" in data[CONF_SEEN_OBIS]


async def test_user_flow_waits_for_the_list_naming_the_meter(
    hass: HomeAssistant, meter: PtyMeter
) -> None:
    """Aidon list 1 carries no meter id; the flow keeps listening for list 2."""
    meter.start([capture(AIDON_LIST1), capture(AIDON_LIST1), capture(AIDON_LIST2)])
    result = await _user_flow(hass, meter.path)
    assert placeholders_of(result, "confirm")["meter_id"] == expected(AIDON_LIST2)["meter_id"]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_meter_without_id(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A Swedish P1 port names no meter: the entry has no unique id, the port is unique."""
    meter.start([capture(P1_SE)])
    result = await _user_flow(hass, meter.path)
    assert placeholders_of(result, "confirm")["meter_id"] == "-"
    result = await created(hass, result)
    assert result["result"].unique_id is None
    assert result["data"][CONF_TRANSPORT] == "p1"

    # The same port cannot be added twice.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: meter.path}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_p1_with_gas_and_water(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The entry knows the sub-meters from the first telegram: their sensors and ids."""
    meter.start([dsmr5_gas_and_water()])
    result = await _user_flow(hass, meter.path)
    result = await created(hass, result)
    assert result["result"].minor_version == 2
    data = result["data"]
    assert {"gas_1", "water_2", "1.8.1"} <= set(data[CONF_SEEN_OBIS])
    assert "0-24.2.1" not in data[CONF_SEEN_OBIS]
    assert data[CONF_SUB_METERS] == {"1": GAS_ID, "2": WATER_ID}


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_detects_baud_rate(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Garbage at 2400 baud, frames at 9600: the flow tries on and settles on 9600 8N1."""
    meter.start([capture(KAMSTRUP_LIST1)], garbage_unless=lambda baudrate: baudrate == 9600)
    result = await _user_flow(hass, meter.path)
    assert placeholders_of(result, "confirm")["settings"] == "9600 8N1"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["data"][CONF_BAUDRATE] == 9600
    assert result["data"][CONF_PARITY] == "N"


@pytest.mark.parametrize(
    ("garbage", "error"),
    [(False, "no_data"), (True, "no_valid_frames")],
)
async def test_user_flow_errors_then_recovery(
    hass: HomeAssistant, meter: PtyMeter, garbage: bool, error: str
) -> None:
    """A silent port and a port of garbage say so; once the meter talks, the flow ends."""
    if garbage:
        meter.start([], garbage_unless=lambda baudrate: False)
    result = await _user_flow(hass, meter.path)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}

    # Fixed (the adapter re-seated): a fresh pty, see mock_setup_entry.
    await meter.stopped()
    meter.unplug()
    meter.plug()
    meter.start([capture(KAMSTRUP_LIST1)])
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    assert result["step_id"] == "confirm"


@pytest.mark.parametrize(
    ("meter_line", "sent", "settings", "power"),
    [
        (Line(2400, "E"), capture(KAMSTRUP_LIST1), "2400 8E1", "1703"),
        (Line(9600, "E", 7), without_crc(capture(P1_NL)), "9600 7E1", "244"),
    ],
    ids=["8e1", "7e1"],
)
async def test_user_flow_on_a_serial_proxy(
    hass: HomeAssistant, meter_line: Line, sent: bytes, settings: str, power: str
) -> None:
    """An ESPHome serial proxy port carries the line settings: the ones detected are
    the ones the entry opens the port with (a pty would drop the parity)."""
    async with SerialProxy(meter_line) as proxy:
        proxy.start([sent])
        result = await _user_flow(hass, proxy.url)
        assert placeholders_of(result, "confirm")["settings"] == settings
        detected = list(proxy.opened)
        assert detected[-1] == settings

        result = await created(hass, result)
        entry = result["result"]
        assert entry.state is ConfigEntryState.LOADED
        assert (
            f"{entry.data[CONF_BAUDRATE]} {entry.data[CONF_BYTE_SIZE]}{entry.data[CONF_PARITY]}1"
            == settings
        )
        assert proxy.opened == [*detected, settings]
        power_sensor = er.async_get(hass).async_get_entity_id(
            "sensor", DOMAIN, f"{entry.unique_id}_1.7.0"
        )
        assert power_sensor is not None
        await until(lambda: state_of(hass, power_sensor) == power)


async def test_user_flow_cannot_connect(hass: HomeAssistant, tmp_path: Path) -> None:
    """A port that does not exist."""
    result = await _user_flow(hass, str(tmp_path / "ttyMissing"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_already_configured(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The same meter on another port is refused."""
    make_entry("/dev/ttyUSB9").add_to_hass(hass)
    meter.start([capture(KAMSTRUP_LIST1)])
    result = await _user_flow(hass, meter.path)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_encrypted(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Encrypted frames: ask for the key, refuse bad ones, verify the right one."""
    meter.start([capture(ENCRYPTED)])
    result = await _user_flow(hass, meter.path)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    assert result["errors"] == {}
    flow_id = result["flow_id"]

    await refuse_bad_keys(hass, flow_id)

    # Pasted in groups, lower case: still the key.
    pasted = " ".join(ENCRYPTED_KEY.lower()[i : i + 4] for i in range(0, 32, 4))
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: pasted})
    placeholders = placeholders_of(result, "confirm")
    assert placeholders["meter_id"] == expected(ENCRYPTED)["meter_id"]
    assert placeholders["encrypted"] == "yes"

    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KEY] == ENCRYPTED_KEY
    assert result["data"][CONF_AUTH_KEY] is None
    assert result["data"][CONF_TRANSPORT] == "mbus"
    assert result["result"].unique_id == expected(ENCRYPTED)["meter_id"]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_encrypted_with_an_unneeded_auth_key(
    hass: HomeAssistant, meter: PtyMeter
) -> None:
    """An authentication key for frames that carry no tag is pointed out, not accepted."""
    meter.start([capture(ENCRYPTED)])
    result = await _user_flow(hass, meter.path)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: ENCRYPTED_KEY, CONF_AUTH_KEY: "AA" * 16}
    )
    assert result["step_id"] == "key"
    assert result["errors"] == {CONF_AUTH_KEY: "auth_key_not_used"}
    # A wrong key with an authentication key is still a wrong key.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: "00" * 16, CONF_AUTH_KEY: "AA" * 16}
    )
    assert result["errors"] == {"base": "invalid_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: ENCRYPTED_KEY, CONF_AUTH_KEY: ""}
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["data"][CONF_AUTH_KEY] is None


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_encrypted_p1(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A Sagemcom T210-D-r (Smarty form): bare ciphered telegrams; key asked and checked."""
    capture = more_meters.BY_ID[more_meters.T210_ENCRYPTED]
    meter.start([more_meters.raw_bytes(capture)])
    result = await _user_flow(hass, meter.path)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    assert result["errors"] == {}
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: "AB" * 16})
    assert result["errors"] == {"base": "invalid_key"}
    # The right key, a wrong authentication key: said so, not taken.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_KEY: capture["key_hex"], CONF_AUTH_KEY: "BC" * 16}
    )
    assert result["errors"] == {CONF_AUTH_KEY: "auth_key_not_used"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_KEY: capture["key_hex"], CONF_AUTH_KEY: capture["auth_key_hex"]}
    )
    placeholders = placeholders_of(result, "confirm")
    assert placeholders["encrypted"] == "yes"
    assert placeholders["transport"] == "p1"
    assert placeholders["list_version"] == "P1 version 50"
    assert placeholders["values"] == "16"

    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert (data[CONF_KEY], data[CONF_AUTH_KEY]) == (capture["key_hex"], capture["auth_key_hex"])
    assert data[CONF_TRANSPORT] == "p1"
    assert data[CONF_SYSTEM_TITLE] == "53595354454D4944"
    assert {"1.8.0", "1.7.0", "4.8.0"} <= set(data[CONF_SEEN_OBIS])


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_smarty_needs_only_the_key(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Luxembourg's Smarty: the authentication key is fixed by its spec, none is asked."""
    capture = more_meters.BY_ID[more_meters.SMARTY_ENCRYPTED]
    meter.start([more_meters.raw_bytes(capture)])
    result = await _user_flow(hass, meter.path)
    assert result["step_id"] == "key"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: "00" * 16}
    )
    assert result["errors"] == {"base": "invalid_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: capture["key_hex"]}
    )
    assert placeholders_of(result, "confirm")["meter_id"] == capture["expected"]["meter_id"]
    result = await created(hass, result)
    assert result["result"].unique_id == capture["expected"]["meter_id"]
    assert result["data"][CONF_AUTH_KEY] is None
    assert result["data"][CONF_SUB_METERS] == {"1": "464C4F313832333730313230333530"}


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_e450_authenticated_with_the_encryption_key_alone(
    hass: HomeAssistant, meter: PtyMeter
) -> None:
    """A Swiss/Austrian E450 (SC 0x30) whose grid company gave only the encryption key."""
    capture = more_meters.BY_ID["landisgyr-ch-e450-gbt3-encrypted-obis-list-scs"]
    meter.start([more_meters.raw_bytes(capture)])
    result = await _user_flow(hass, meter.path)
    assert result["step_id"] == "key"
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: "00" * 16})
    assert result["errors"] == {"base": "invalid_key"}
    # The key with an authentication key the tag does not match: that field is named.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_KEY: capture["key_hex"], CONF_AUTH_KEY: "BC" * 16}
    )
    assert result["errors"] == {CONF_AUTH_KEY: "auth_key_not_used"}

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: capture["key_hex"]})
    assert result["step_id"] == "confirm"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["encrypted"] == "yes"
    assert placeholders["values"] == str(capture["expected"]["n_items"])
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert (data[CONF_KEY], data[CONF_AUTH_KEY]) == (capture["key_hex"], None)
    assert data[CONF_SYSTEM_TITLE] == capture["expected"]["gcm"]["system_title"]
    assert {"1.8.0", "1.7.0", "4.8.2"} <= set(data[CONF_SEEN_OBIS])


def test_normalize_key() -> None:
    """Separators go, case is unified, anything else is refused."""
    assert normalize_key("0011-2233-4455-6677-8899-aabb-ccdd-eeff") == (
        "00112233445566778899AABBCCDDEEFF"
    )
    assert normalize_key("00:11") is None
    assert normalize_key("G" * 32) is None


USB_INFO = UsbServiceInfo(
    device="",
    vid="0403",
    pid="6001",
    serial_number="HAN12345",
    manufacturer="FTDI",
    description="M-Bus slave adapter",
)


def _usb_info(device: str) -> UsbServiceInfo:
    return UsbServiceInfo(
        device=device,
        vid=USB_INFO.vid,
        pid=USB_INFO.pid,
        serial_number=USB_INFO.serial_number,
        manufacturer=USB_INFO.manufacturer,
        description=USB_INFO.description,
    )


@pytest.mark.usefixtures("mock_setup_entry")
async def test_usb_discovery(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A discovered M-Bus adapter: confirm, listen, add."""
    meter.start([capture(KAMSTRUP_LIST1)])
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb_info(meter.path)
    )
    assert placeholders_of(result, "usb_confirm") == {"device": meter.path}

    result = await _listen(hass, result["flow_id"], {})
    assert result["step_id"] == "confirm"
    result = await created(hass, result)
    assert result["result"].unique_id == KAMSTRUP_ID
    assert result["data"][CONF_DEVICE] == meter.path


async def test_usb_discovery_of_a_configured_port(hass: HomeAssistant, meter: PtyMeter) -> None:
    """An adapter an entry already uses is not offered again."""
    make_entry(meter.path).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb_info(meter.path)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_to_another_port(
    hass: HomeAssistant, meter: PtyMeter, tmp_path: Path
) -> None:
    """The meter moved to another adapter: the entry follows and keeps its id."""
    entry = make_entry(str(tmp_path / "old"))
    entry.add_to_hass(hass)
    meter.start([capture(KAMSTRUP_LIST1)])

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_DEVICE] == meter.path
    assert entry.unique_id == KAMSTRUP_ID
    # An entry from before 7E1 detection gains the byte size with the settings heard.
    assert (entry.data[CONF_BAUDRATE], entry.data[CONF_PARITY]) == (2400, "E")
    assert entry.data[CONF_BYTE_SIZE] == 8


async def test_reconfigure_errors(hass: HomeAssistant, meter: PtyMeter, tmp_path: Path) -> None:
    """A missing port shows the form again; a meter with an entry of its own is refused."""
    entry = make_entry(meter.path, unique_id=OTHER_ID)
    entry.add_to_hass(hass)
    make_entry("/dev/ttyUSB9", unique_id=KAMSTRUP_ID).add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: str(tmp_path / "missing")})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "cannot_connect"}

    meter.start([capture(KAMSTRUP_LIST1)])
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.unique_id == OTHER_ID


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_onto_a_replaced_meter(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    tmp_path: Path,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Another meter on the port: both shown, and confirmed the entry goes on with it.

    The grid company replaced the meter (and the user moved the adapter): the same
    entity ids and device continue under the new meter id, and the old meter's
    system title is dropped, to be learnt from the new meter.
    """
    entry = make_entry(
        str(tmp_path / "old"),
        unique_id=OTHER_ID,
        seen=["1.8.0"],
        **{CONF_SYSTEM_TITLE: "4B464D0001020304"},
    )
    entry.add_to_hass(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, OTHER_ID)}, serial_number=OTHER_ID
    )
    energy = entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{OTHER_ID}_1.8.0",
        config_entry=entry,
        device_id=device.id,
        suggested_object_id="kamstrup_active_energy_import",
    )
    # P1 sub-meters: one known by the entry's meter and its channel, one by its own id.
    by_channel = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, f"{OTHER_ID}_mbus2")}
    )
    by_own_id = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "G0001")}, serial_number="G0001"
    )
    gas = entity_registry.async_get_or_create(
        "sensor", DOMAIN, f"{OTHER_ID}_gas_1", config_entry=entry, device_id=by_own_id.id
    )
    meter.start([capture(KAMSTRUP_LIST1)])

    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    assert placeholders_of(result, "replace_meter") == {
        "title": entry.title,
        "device": meter.path,
        "old_meter": OTHER_ID,
        "new_meter": KAMSTRUP_ID,
        "manufacturer": "Kamstrup",
        "meter_type": expected(KAMSTRUP_LIST1)["meter_type"],
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "meter_replaced"

    assert entry.unique_id == KAMSTRUP_ID
    assert entry.data[CONF_DEVICE] == meter.path
    assert (entry.data[CONF_BAUDRATE], entry.data[CONF_PARITY], entry.data[CONF_BYTE_SIZE]) == (
        2400,
        "E",
        8,
    )
    assert CONF_SYSTEM_TITLE not in entry.data
    assert {"1.8.0", "1.7.0"} <= set(entry.data[CONF_SEEN_OBIS])
    moved = entity_registry.async_get(energy.entity_id)
    assert moved is not None
    assert moved.unique_id == f"{KAMSTRUP_ID}_1.8.0"
    moved_device = device_registry.async_get(device.id)
    assert moved_device is not None
    assert moved_device.identifiers == {(DOMAIN, KAMSTRUP_ID)}
    assert moved_device.serial_number == KAMSTRUP_ID
    moved_gas = entity_registry.async_get(gas.entity_id)
    assert moved_gas is not None
    assert moved_gas.unique_id == f"{KAMSTRUP_ID}_gas_1"
    sub_meters = [device_registry.async_get(d.id) for d in (by_channel, by_own_id)]
    assert [(d.identifiers, d.serial_number) for d in sub_meters if d is not None] == [
        ({(DOMAIN, f"{KAMSTRUP_ID}_mbus2")}, None),
        ({(DOMAIN, "G0001")}, "G0001"),
    ]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_with_a_changed_key(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The stored key fails: the key step opens with invalid_key, the new key saves."""
    entry = make_entry(
        meter.path, unique_id=expected(ENCRYPTED)["meter_id"], **{CONF_KEY: "00" * 16}
    )
    entry.add_to_hass(hass)
    meter.start([capture(ENCRYPTED)])
    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    assert result["step_id"] == "key"
    assert result["errors"] == {"base": "invalid_key"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: ENCRYPTED_KEY}
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_KEY] == ENCRYPTED_KEY


async def test_options_flow(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Write intervals and the CT scale are options; saving reloads the entry."""
    entry = await set_up(hass, make_entry(meter.path))

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_POWER_INTERVAL: 0, CONF_MEASUREMENT_INTERVAL: 10, CONF_SCALE: 50},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_POWER_INTERVAL: 0,
        CONF_MEASUREMENT_INTERVAL: 10,
        CONF_SCALE: 50,
    }


async def test_options_flow_price_sensors(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Price sensors are optional; one that is no price per energy is refused; clearable."""
    entry = await set_up(hass, make_entry(meter.path))
    hass.states.async_set("sensor.nord_pool_no1", "1.23", {"unit_of_measurement": "NOK/kWh"})
    hass.states.async_set("sensor.outdoor", "-3", {"unit_of_measurement": "°C"})
    intervals = {CONF_POWER_INTERVAL: 5, CONF_MEASUREMENT_INTERVAL: 60, CONF_SCALE: 1}

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**intervals, CONF_IMPORT_PRICE: "sensor.outdoor"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_IMPORT_PRICE: "price_unit"}
    # A sensor not loaded yet (its integration starts later) is taken as it is.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **intervals,
            CONF_IMPORT_PRICE: "sensor.nord_pool_no1",
            CONF_EXPORT_PRICE: "sensor.export_price",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        **intervals,
        CONF_IMPORT_PRICE: "sensor.nord_pool_no1",
        CONF_EXPORT_PRICE: "sensor.export_price",
    }

    # The form shows the chosen sensors; leaving a field empty clears it.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested[CONF_IMPORT_PRICE] == "sensor.nord_pool_no1"
    assert suggested[CONF_EXPORT_PRICE] == "sensor.export_price"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**intervals, CONF_IMPORT_PRICE: "sensor.nord_pool_no1"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {**intervals, CONF_IMPORT_PRICE: "sensor.nord_pool_no1"}


@pytest.mark.usefixtures("mock_setup_entry")
async def test_flow_title_falls_back(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A meter that names neither maker nor type still gets a title."""
    meter.start([capture("p1-se-ell5-2020-amshan-c")])
    result = await _user_flow(hass, meter.path)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["title"] == "HAN Port"


async def test_user_flow_over_tcp(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """A network bridge: no line settings to try; the entry loads and reads."""
    tcp_meter.start([capture(KAMSTRUP_LIST1)])
    result = await _user_flow(hass, tcp_meter.url)
    assert placeholders_of(result, "confirm")["settings"] == "-"
    result = await created(hass, result)
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    await until(lambda: hass.states.get("sensor.kamstrup_active_power_import") is not None)
    await until(
        lambda: (
            (state := hass.states.get("sensor.kamstrup_active_power_import")) is not None
            and state.state == "1703"
        )
    )


def test_serial_by_id(tmp_path: Path, meter: PtyMeter) -> None:
    """A ttyUSB path becomes its stable by-id link; without one it stays as it is."""
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-FTDI_M-Bus_HAN12345-if00-port0").symlink_to(meter.path)
    (by_id / "not-a-link").write_text("")
    with patch.object(config_flow, "SERIAL_BY_ID", str(by_id)):
        assert serial_by_id(meter.path) == str(by_id / "usb-FTDI_M-Bus_HAN12345-if00-port0")
        assert serial_by_id("/dev/ttyUSB7") == "/dev/ttyUSB7"
    with patch.object(config_flow, "SERIAL_BY_ID", str(tmp_path / "absent")):
        assert serial_by_id(meter.path) == meter.path


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_meter_without_id(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A meter that names itself nowhere can still move to another port."""
    entry = make_entry("/dev/ttyUSB3", unique_id=None)
    entry.add_to_hass(hass)
    meter.start([capture(P1_SE)])
    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(hass, result["flow_id"], {CONF_DEVICE: meter.path})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_DEVICE] == meter.path
    assert entry.data[CONF_TRANSPORT] == "p1"


async def test_unexpected_error_while_listening(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A bug in listening ends the progress step with a message, not a hang."""
    with patch.object(config_flow, "detect_meter", side_effect=RuntimeError("boom")):
        result = await _user_flow(hass, meter.path)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "unknown"}
