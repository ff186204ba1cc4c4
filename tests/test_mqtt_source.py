"""The MQTT source against a real Mosquitto broker, through HA's own mqtt integration.

The same captures that go through a pty for a serial meter are published in every
form the readers use; the entities must show exactly what the serial path shows.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.han_port.const import (
    CONF_KEY,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_METER_TYPE,
    CONF_SEEN_OBIS,
    CONF_SOURCE,
    CONF_TOPIC,
    CONF_TRANSPORT,
    DOMAIN,
    SOURCE_MQTT,
)
from custom_components.han_port.diagnostics import async_get_config_entry_diagnostics
from custom_components.han_port.han import hdlc, mbus
from custom_components.han_port.han.apdu import strip_llc
from custom_components.han_port.hub import device_identifier
from custom_components.han_port.mqtt_source import REDACTED_ID, MqttSource, redact_topic
from devtools import corpus
from devtools.corpus import expected

from .conftest import (
    AIDON_LIST2,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST2,
    P1_SE,
    make_entry,
    outage_logs,
    set_up,
    setup_mqtt,
    state_of,
    teardown_mqtt,
    until,
)
from .mqtt_broker import MosquittoBroker, MqttMeter
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("integration")

KAMSTRUP_ID = "2200567223197714"
POWER = "sensor.kamstrup_active_power_import"
STATUS = json.dumps({"status": {"rssi": -61, "ssid": "IOT", "Build": "1.2.5"}})


def make_mqtt_entry(
    topic: str, *, unique_id: str | None = KAMSTRUP_ID, **data: Any
) -> MockConfigEntry:
    """An entry as the MQTT config flow makes it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Kamstrup 6841131BN243101040",
        unique_id=unique_id,
        data={
            CONF_SOURCE: SOURCE_MQTT,
            CONF_TOPIC: topic,
            CONF_TRANSPORT: "auto",
            CONF_METER_TYPE: "6841131BN243101040",
            CONF_MANUFACTURER: "Kamstrup",
            CONF_LIST_VERSION: "Kamstrup_V0001",
            CONF_SEEN_OBIS: [],
            **data,
        },
    )


def hdlc_information(data: bytes) -> bytes:
    parsed = hdlc.parse_frame(bytearray(data), 0)
    assert isinstance(parsed, hdlc.HdlcFrame)
    return parsed.information


def mbus_apdu(data: bytes) -> bytes:
    apdu, pos, buf = b"", 0, bytearray(data)
    while pos < len(buf):
        parsed = mbus.parse_frame(buf, pos)
        assert isinstance(parsed, mbus.MbusFrame)
        apdu += parsed.fragment
        pos = parsed.end
    return apdu


type Form = Callable[[bytes], list[bytes | str]]

# What each reader publishes for one frame (several messages where it splits it).
HDLC_FORMS: dict[str, Form] = {
    "tibber pulse binary, status between": lambda f: [f, STATUS],
    "tibber pulse leading byte": lambda f: [b"\x08" + f],
    "without flags": lambda f: [f[1:-1]],
    "amsreader hex dump": lambda f: [f.hex().upper()],
    "amsreader json data": lambda f: [json.dumps({"data": f.hex().upper()})],
    "hex with spaces": lambda f: [f.hex(" ")],
    "esphome format_hex_pretty": lambda f: [".".join(f"{b:02X}" for b in f) + f" ({len(f)})"],
    "json base64": lambda f: [json.dumps({"raw": base64.b64encode(f).decode()})],
    "bare apdu": lambda f: [strip_llc(hdlc_information(f))],
    "bare apdu hex in json": lambda f: [json.dumps({"apdu": hdlc_information(f).hex()})],
    "raw split in three": lambda f: [f[:40], f[40:200], f[200:]],
    "hex split in two": lambda f: [f[:150].hex(), f[150:].hex()],
}
MBUS_FORMS: dict[str, Form] = {
    "binary": lambda f: [f],
    "amsreader hex dump": lambda f: [f.hex().upper()],
    "json data": lambda f: [json.dumps({"data": f.hex()})],
    "bare ciphered apdu": lambda f: [mbus_apdu(f)],
}
P1_FORMS: dict[str, Form] = {
    "esphome dsmr telegram text": lambda t: [t],
    "amsreader hex dump": lambda t: [t.hex().upper()],
    "json telegram": lambda t: [json.dumps({"telegram": t.decode()})],
}
CASES = [
    *((KAMSTRUP_LIST2, form) for form in HDLC_FORMS),
    *((AIDON_LIST2, form) for form in ("amsreader json data", "bare apdu")),
    *((ENCRYPTED, form) for form in MBUS_FORMS),
    *((P1_SE, form) for form in P1_FORMS),
]


def forms_for(capture: str) -> dict[str, Form]:
    if capture == ENCRYPTED:
        return MBUS_FORMS
    if capture == P1_SE:
        return P1_FORMS
    return HDLC_FORMS


def entry_data(capture: str) -> dict[str, Any]:
    """What the entry for this capture's meter holds besides its source."""
    return {CONF_KEY: ENCRYPTED_KEY} if capture == ENCRYPTED else {}


def meter_id(capture: str) -> str | None:
    found: str | None = expected(capture)["meter_id"]
    return found


def entry_states(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, tuple[str, Any]]:
    """Every entity of the entry: (state, unit), keyed by what it measures."""
    prefix = device_identifier(entry)
    states = {}
    for registered in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        state = hass.states.get(registered.entity_id)
        if state is not None:
            key = registered.unique_id.removeprefix(prefix)
            states[key] = (state.state, state.attributes.get("unit_of_measurement"))
    return states


async def serial_states(
    hass: HomeAssistant, meter: PtyMeter, capture: str
) -> dict[str, tuple[str, Any]]:
    """What the entities show when the capture comes through a serial port."""
    entry = await set_up(
        hass, make_entry(meter.path, unique_id=meter_id(capture), **entry_data(capture))
    )
    meter.send(corpus.capture(capture))
    stats = entry.runtime_data.hub.decoder.stats
    await until(lambda: stats.readings >= 1)
    await hass.async_block_till_done()
    states = entry_states(hass, entry)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    return states


def _is_number(state: str) -> bool:
    try:
        float(state)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("capture", "form"), CASES)
async def test_every_payload_form_gives_the_serial_readings(
    hass: HomeAssistant, meter: PtyMeter, mqtt_meter: MqttMeter, capture: str, form: str
) -> None:
    """Published in the form a reader uses: the very states the serial path gives."""
    want = await serial_states(hass, meter, capture)
    # The comparison means something only if the serial path shows values.
    assert len([state for state, _ in want.values() if _is_number(state)]) >= 5

    entry = await set_up(
        hass, make_mqtt_entry(mqtt_meter.topic, unique_id=meter_id(capture), **entry_data(capture))
    )
    source = entry.runtime_data.reader
    assert isinstance(source, MqttSource)
    mqtt_meter.start(forms_for(capture)[form](corpus.capture(capture)))
    stats = entry.runtime_data.hub.decoder.stats
    await until(lambda: stats.readings >= 1)
    await mqtt_meter.stopped()
    await hass.async_block_till_done()

    assert entry_states(hass, entry) == want
    assert entry.runtime_data.hub.decoder.stats.errors == {}


async def test_messages_without_a_frame_are_ignored_quietly(
    hass: HomeAssistant, mqtt_meter: MqttMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """Status JSON, debug text, numbers, a retained leftover: no reading, no error, no
    warning, one debug line per kind; the meter's frames still come through."""
    caplog.set_level(logging.DEBUG, logger="custom_components.han_port")
    await mqtt_meter.publish(STATUS, retain=True)
    entry = await set_up(hass, make_mqtt_entry(mqtt_meter.topic, **{CONF_SEEN_OBIS: ["1.7.0"]}))
    source = entry.runtime_data.reader
    assert isinstance(source, MqttSource)
    junk: list[bytes | str] = [
        STATUS,
        "H",
        "[I] HDLC: unknown tag 0x13",
        "1703",
        "",
        json.dumps({"state": "online"}),
        bytes(range(0x80, 0xC0)),
        "0219" + "0A0E4B616D73747275705F5630303031" * 2,
    ]
    mqtt_meter.start(junk)
    await until(lambda: source.payloads.messages >= 3 * len(junk))
    await mqtt_meter.stopped()

    hub = entry.runtime_data.hub
    assert hub.decoder.stats.readings == 0
    assert hub.decoder.stats.bytes_in == 0
    assert list(hub.last_errors) == []
    assert state_of(hass, POWER) == STATE_UNAVAILABLE
    assert set(source.payloads.ignored) == {
        "json without a frame",
        "text",
        "empty",
        "data without a frame",
    }
    ours = [r for r in caplog.records if r.name.startswith("custom_components.han_port")]
    assert [r for r in ours if r.levelno >= logging.INFO] == []
    ignoring = [r for r in ours if r.getMessage().startswith("Ignoring messages")]
    assert len(ignoring) == len(source.payloads.ignored)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    mqtt_meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: state_of(hass, POWER) == "364")


async def test_unload_unsubscribes(hass: HomeAssistant, mqtt_meter: MqttMeter) -> None:
    """After unload nothing reaches the hub; the subscription is gone from HA's client."""
    entry = await set_up(hass, make_mqtt_entry(mqtt_meter.topic))
    source = entry.runtime_data.reader
    assert isinstance(source, MqttSource)
    mqtt_meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: source.payloads.messages >= 1)
    await mqtt_meter.stopped()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    seen = source.payloads.messages

    # A subscription of the test's own shows when a message has come through HA.
    arrived: list[bytes] = []

    @callback
    def witness(message: mqtt.ReceiveMessage) -> None:
        arrived.append(message.payload)  # type: ignore[arg-type]

    unsubscribe = await mqtt.async_subscribe(hass, mqtt_meter.topic, witness, encoding=None)
    mqtt_meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: len(arrived) >= 3)
    await mqtt_meter.stopped()
    unsubscribe()
    assert source.payloads.messages == seen


async def test_watchdog_and_outage_log_as_for_a_serial_meter(
    hass: HomeAssistant, mqtt_meter: MqttMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """The reader stops publishing: unavailable after 30 s, one line; back with data."""
    await set_up(hass, make_mqtt_entry(mqtt_meter.topic, **{CONF_SEEN_OBIS: ["1.7.0"]}))
    mqtt_meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: state_of(hass, POWER) == "364")
    await mqtt_meter.stopped()
    caplog.clear()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert state_of(hass, POWER) == STATE_UNAVAILABLE
    assert outage_logs(caplog) == (1, 0)
    mqtt_meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: state_of(hass, POWER) == "364")
    assert outage_logs(caplog) == (1, 1)


async def test_broker_restart(
    hass: HomeAssistant,
    socket_enabled: None,
    mock_hass_config: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker goes away: unavailable with one line; it comes back: values again."""
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        with patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.1):
            mqtt_entry = await setup_mqtt(hass, broker.port)
            try:
                await _broker_restart(hass, broker, caplog)
            finally:
                await teardown_mqtt(hass, mqtt_entry)
    finally:
        broker.stop()


async def _broker_restart(
    hass: HomeAssistant, broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    meter = MqttMeter(hass, "han-port-test/restart/data")
    entry = await set_up(hass, make_mqtt_entry(meter.topic, **{CONF_SEEN_OBIS: ["1.7.0"]}))
    source = entry.runtime_data.reader
    assert isinstance(source, MqttSource)
    meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: state_of(hass, POWER) == "364")
    await meter.stopped()
    caplog.clear()

    await hass.async_add_executor_job(broker.stop)
    await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
    assert source.disconnects == 1
    assert outage_logs(caplog) == (1, 0)

    await hass.async_add_executor_job(broker.restart)
    await until(lambda: mqtt.is_connected(hass), within=10)
    assert source.connects == 2
    meter.start([corpus.capture(KAMSTRUP_LIST2)])
    await until(lambda: state_of(hass, POWER) == "364", within=10)
    await meter.stopped()
    assert outage_logs(caplog) == (1, 1)


async def test_setup_retries_without_mqtt(hass: HomeAssistant) -> None:
    """No mqtt integration: setup retries later and says why."""
    entry = make_mqtt_entry("amsreader/data")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "MQTT integration is not set up" in (entry.reason or "")


async def test_diagnostics_redact_the_ids_in_the_topic(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry
) -> None:
    """The topic keeps what names the reader; the MAC and the meter id are cut out."""
    topic = f"tibber-pulse/a4cf12b3c4d5/meter/{KAMSTRUP_ID}/publish"
    entry = await set_up(hass, make_mqtt_entry(topic))
    meter = MqttMeter(hass, topic)
    meter.start([corpus.capture(KAMSTRUP_LIST2), STATUS])
    source = entry.runtime_data.reader
    assert isinstance(source, MqttSource)
    await until(lambda: entry.runtime_data.hub.decoder.stats.readings >= 1)
    await until(lambda: source.payloads.ignored["json without a frame"] >= 1)
    await meter.stopped()

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert "a4cf12b3c4d5" not in text
    assert KAMSTRUP_ID not in text
    redacted = f"tibber-pulse/{REDACTED_ID}/meter/{REDACTED_ID}/publish"
    assert diagnostics["entry"]["data"][CONF_TOPIC] == redacted
    connection = diagnostics["connection"]
    assert connection["port_kind"] == "mqtt"
    assert connection["topic"] == redacted
    assert connection["payload_forms"]["binary, hdlc"] >= 1
    assert connection["ignored_messages"]["json without a frame"] >= 1
    assert connection["messages"] == sum(connection["payload_forms"].values()) + sum(
        connection["ignored_messages"].values()
    )


@pytest.mark.parametrize(
    ("topic", "redacted"),
    [
        ("amsreader/data", "amsreader/data"),
        ("tibber-pulse/a4cf12b3c4d5/publish", f"tibber-pulse/{REDACTED_ID}/publish"),
        ("han/A4:CF:12:B3:C4:D5/raw", f"han/{REDACTED_ID}/raw"),
        ("esphome/ams-b3c4d5/sensor/raw/state", f"esphome/ams-{REDACTED_ID}/sensor/raw/state"),
        ("meter/7350062345678/data", f"meter/{REDACTED_ID}/data"),
        ("house/facade/meter", "house/facade/meter"),
        ("p1/+/telegram", "p1/+/telegram"),
    ],
)
def test_redact_topic(topic: str, redacted: str) -> None:
    assert redact_topic(topic) == redacted


def test_redact_topic_cuts_known_secrets() -> None:
    """A meter id shorter than the patterns catch is still cut when it is known."""
    assert redact_topic("ams/K123/data", ["K123"]) == f"ams/{REDACTED_ID}/data"


async def test_frames_arrive_while_mqtt_is_slow_to_subscribe(
    hass: HomeAssistant, mqtt_meter: MqttMeter
) -> None:
    """A retained frame published before the entry existed is read on subscribing."""
    await mqtt_meter.publish(corpus.capture(KAMSTRUP_LIST2).hex(), retain=True)
    await set_up(hass, make_mqtt_entry(mqtt_meter.topic, **{CONF_SEEN_OBIS: ["1.7.0"]}))
    await until(lambda: state_of(hass, POWER) == "364")
