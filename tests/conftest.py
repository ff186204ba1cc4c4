"""Fixtures: custom integrations on, short timeouts, a pty meter, corpus frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from datetime import datetime
import logging
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, PropertyMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.han_port import detect, hub, port, reader
from custom_components.han_port.const import (
    CONF_BAUDRATE,
    CONF_DEVICE,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_METER_TYPE,
    CONF_PARITY,
    CONF_SEEN_OBIS,
    CONF_TRANSPORT,
    DOMAIN,
)
from devtools.builder import ListMessage, build_frame, layout_for

from .mqtt_broker import MosquittoBroker, MqttMeter
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter

KAMSTRUP_LIST1 = "kamstrup-no-list1-3ph-blog-2019-crc-recomputed"
KAMSTRUP_LIST2 = "kamstrup-no-list2-3ph-blog-2019-crc-recomputed"
AIDON_LIST1 = "aidon-no-list1-3ph-hassams"
AIDON_LIST2 = "aidon-no-list2-3ph-hassams"
AIDON_LIST3 = "aidon-no-list3-3ph-hassams"
KAIFA_LIST1 = "kaifa-no-list1-3ph-2017-roarfred"
KAIFA_LIST2 = "kaifa-no-list2-3ph-2017-roarfred"
KAIFA_LIST3 = "kaifa-no-list3-3ph-2017-roarfred"
ENCRYPTED = "kaifa-at-ma309-mbus-encrypted-tinetz-example"
ENCRYPTED_KEY = "101112131415161718191A1B1C1D1E1F"
P1_SE = "p1-se-kamstrup-2022-amshan"
AIDON_SE = "aidon-se-3ph-hassams"
P1_NL = "p1-nl-dsmr5-dsmrparser"
KAMSTRUP_SE = "kamstrup-se-list2-3ph-2022-amsreader-gh239-2"
BAD_CRC = "kamstrup-no-list1-3ph-blog-2019-fcs-altered"


def without_crc(telegram: bytes) -> bytes:
    """A P1 telegram as DSMR 2.2/3 meters send it (9600 7E1): "!" CR LF, no CRC."""
    bang = telegram.index(b"\n!") + 2
    return telegram[:bang] + b"\r\n"


def built_frame(
    vendor: str,
    list_name: str,
    values: dict[str, float] | None = None,
    *,
    default: float = 100.0,
    meter_id: str = "2200567223197714",
    meter_type: str = "6841131BN243101040",
) -> bytes:
    """A frame from the project's frame builder with chosen values (key "C.D.E")."""
    layout = layout_for(vendor, list_name)
    chosen = values or {}
    return build_frame(
        layout,
        ListMessage(
            values={
                element.obis: chosen.get(
                    f"{element.obis.c}.{element.obis.d}.{element.obis.e}", default
                )
                for element in layout.registers()
                if element.obis is not None
            },
            meter_id=meter_id,
            meter_type=meter_type,
            timestamp=datetime(2026, 1, 1, 12),
        ),
    )


@pytest.fixture
async def integration(
    hass: HomeAssistant, enable_custom_integrations: None
) -> AsyncGenerator[None]:
    """HAN Port loadable in `hass`, and every entry unloaded at the end.

    Unloading ends the reader tasks and closes the ports, so that no task, timer or
    thread outlives the test. Test modules of the integration use it through
    `pytestmark`; the decoder's tests in tests/han need no Home Assistant at all.
    """
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots through HA's extension: tests/snapshots/*.ambr, registry ids as ANY."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def short_timings() -> Generator[None]:
    """Listen, back off and coalesce for milliseconds instead of seconds."""
    with (
        patch.object(detect, "LISTEN_SECONDS", 0.6),
        patch.object(detect, "IDENTIFY_SECONDS", 0.6),
        patch.object(reader, "BACKOFF_INITIAL", 0.05),
        patch.object(reader, "BACKOFF_MAX", 0.2),
        patch.object(reader, "READ_COALESCE", 0.01),
        patch.object(port, "CONNECT_TIMEOUT", 2.0),
    ):
        yield


@pytest.fixture
async def meter(tmp_path: Path) -> AsyncGenerator[PtyMeter]:
    """A meter behind a real pty; unplugged at the end."""
    async with PtyMeter(tmp_path) as pty_meter:
        yield pty_meter


@pytest.fixture
async def tcp_meter(socket_enabled: None) -> AsyncGenerator[TcpMeter]:
    """A meter behind a loopback TCP bridge; closed at the end."""
    async with TcpMeter() as server:
        yield server


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Flow tests on a pty: keep the created entry from opening the port again.

    Linux ptys drop the parity bit and glibc then fails every later tcsetattr
    asking for 8E1 on that pty with EINVAL; a real UART keeps parity. Entry setup
    itself is tested on its own pty or TCP meter.
    """
    with patch("custom_components.han_port.async_setup_entry", return_value=True) as mock:
        yield mock


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create disabled-by-default entities enabled, for snapshots of every sensor."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


def make_entry(
    device: str,
    *,
    unique_id: str | None = "2200567223197714",
    seen: list[str] | None = None,
    options: dict[str, Any] | None = None,
    entry_id: str | None = None,
    **data: Any,
) -> MockConfigEntry:
    """An entry as the config flow makes it (values from the Kamstrup blog frame)."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=entry_id,
        title="Kamstrup 6841131BN243101040",
        unique_id=unique_id,
        data={
            CONF_DEVICE: device,
            CONF_BAUDRATE: 2400,
            # 8N1: see mock_setup_entry on why a pty cannot be reopened at 8E1.
            CONF_PARITY: "N",
            CONF_TRANSPORT: "auto",
            CONF_METER_TYPE: "6841131BN243101040",
            CONF_MANUFACTURER: "Kamstrup",
            CONF_LIST_VERSION: "Kamstrup_V0001",
            CONF_SEEN_OBIS: seen or [],
            **data,
        },
        options=options or {},
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add `entry` to `hass` and set it up; it must load."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    return entry


def placeholders_of(result: FlowResult[Any, Any], step_id: str) -> Mapping[str, str]:
    """What the form `step_id`, shown by `result`, fills into its description."""
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step_id
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    return placeholders


async def created(hass: HomeAssistant, result: FlowResult[Any, Any]) -> FlowResult[Any, Any]:
    """Submit the form `result` shows as it is (a confirm step): the entry is created."""
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    return result


async def until(predicate: Callable[[], object], within: float = 5.0) -> None:
    """Wait (in real time: bytes travel through a pty) until `predicate()` holds."""
    async with asyncio.timeout(within):
        # Polling: the bytes go through the kernel, no event tells the test they arrived.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def fake_clock() -> Generator[list[float]]:
    """Monotonic seconds the hub and sensors see; the test moves them on."""
    now = [1000.0]
    with patch.object(hub, "monotonic", lambda: now[0]):
        yield now


def state_of(hass: HomeAssistant, entity_id: str) -> str | None:
    """An entity's state, None when it does not exist."""
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def outage_logs(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """(warnings that data stopped, infos that it returned) from the integration."""
    records = [r for r in caplog.records if r.name == "custom_components.han_port"]
    stopped = sum(1 for r in records if r.levelno == logging.WARNING)
    returned = sum(1 for r in records if r.levelno == logging.INFO and "again" in r.message)
    return stopped, returned


# -- MQTT: a real broker, HA's mqtt integration connected to it --------------------------


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Generator[MosquittoBroker]:
    """One Mosquitto broker on loopback for the session; stopped at the end."""
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


async def setup_mqtt(hass: HomeAssistant, port: int) -> MockConfigEntry:
    """HA's mqtt integration with a config entry for 127.0.0.1:`port`, connected."""
    from homeassistant.components import mqtt

    entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": "127.0.0.1", "port": port},
        # No discovery: its hundred subscriptions would only slow the tests down.
        options={"discovery": False},
        version=2,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await until(lambda: mqtt.is_connected(hass))
    return entry


async def teardown_mqtt(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload HAN Port's entries, then mqtt: its client thread and timers end with it."""
    for han_entry in hass.config_entries.async_entries(DOMAIN):
        if han_entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(han_entry.entry_id)
    if entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def mqtt_entry(
    hass: HomeAssistant,
    socket_enabled: None,
    mock_hass_config: None,
    mosquitto: MosquittoBroker,
) -> AsyncGenerator[MockConfigEntry]:
    """HA's mqtt integration connected to the session's broker; unloaded at the end."""
    entry = await setup_mqtt(hass, mosquitto.port)
    yield entry
    await teardown_mqtt(hass, entry)


@pytest.fixture
async def mqtt_meter(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, request: pytest.FixtureRequest
) -> AsyncGenerator[MqttMeter]:
    """A reader publishing on a topic of this test's own (retained messages stay apart).

    What the test left retained on the topic is cleared at the end.
    """
    async with MqttMeter(hass, f"han-port-test/{request.node.name}/data") as meter:
        yield meter
