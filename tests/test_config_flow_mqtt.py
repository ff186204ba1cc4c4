"""The config flow's MQTT topic: listen through a real broker, detect the payload form,
show the meter found, ask for the key; errors that say what to do."""

from __future__ import annotations

from collections.abc import Generator
import json
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pytest

from custom_components.han_port import mqtt_source
from custom_components.han_port.const import (
    CONF_AUTH_KEY,
    CONF_DEVICE,
    CONF_KEY,
    CONF_MANUFACTURER,
    CONF_SEEN_OBIS,
    CONF_SOURCE,
    CONF_SYSTEM_TITLE,
    CONF_TOPIC,
    CONF_TRANSPORT,
    DOMAIN,
    SOURCE_MQTT,
)
from custom_components.han_port.han.apdu import strip_llc
from devtools.corpus import capture, expected

from .conftest import (
    AIDON_LIST1,
    AIDON_LIST2,
    BAD_CRC,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST2,
    P1_SE,
    created,
    placeholders_of,
)
from .mqtt_broker import MqttMeter
from .test_config_flow import refuse_bad_keys
from .test_mqtt_source import STATUS, hdlc_information, make_mqtt_entry

pytestmark = pytest.mark.usefixtures("integration")

KAMSTRUP_ID = "2200567223197714"


@pytest.fixture(autouse=True)
def short_listening() -> Generator[None]:
    """Listen for seconds, not half a minute: the meter here publishes every 50 ms."""
    with (
        patch.object(mqtt_source, "LISTEN_SECONDS", 2.0),
        patch.object(mqtt_source, "IDENTIFY_SECONDS", 1.0),
    ):
        yield


async def _topic_flow(hass: HomeAssistant, topic: str) -> FlowResult:
    """Type a topic on the user step; return the step after listening."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await _listen(hass, result["flow_id"], {CONF_TOPIC: topic})


async def _listen(hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]) -> FlowResult:
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "mqtt_listen"
    assert result["progress_action"] == "mqtt_listen"
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(flow_id)


FORMS: dict[str, Any] = {
    "binary": lambda f: [f],
    "hex": lambda f: [f.hex().upper()],
    "hex with spaces": lambda f: [f.hex(" ")],
    "json data": lambda f: [json.dumps({"data": f.hex()})],
    "bare apdu": lambda f: [strip_llc(hdlc_information(f))],
}
DETECTED = {
    "binary": "binary, hdlc",
    "hex": "hex, hdlc",
    "hex with spaces": "hex, hdlc",
    "json data": 'JSON "data": hex, hdlc',
    "bare apdu": "binary, apdu",
}


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("form", FORMS)
async def test_topic_flow_detects_the_form(
    hass: HomeAssistant, mqtt_meter: MqttMeter, form: str
) -> None:
    """Whatever form the reader uses, among status messages: the meter, then the entry."""
    mqtt_meter.start([STATUS, *FORMS[form](capture(KAMSTRUP_LIST2)), "online"])
    result = await _topic_flow(hass, mqtt_meter.topic)

    placeholders = placeholders_of(result, "mqtt_confirm")
    assert placeholders["manufacturer"] == "Kamstrup"
    assert placeholders["meter_type"] == "6841131BN243101040"
    assert placeholders["meter_id"] == KAMSTRUP_ID
    assert placeholders["topic"] == mqtt_meter.topic
    assert placeholders["payload"] == DETECTED[form]
    assert placeholders["encrypted"] == "no"

    result = await created(hass, result)
    assert result["title"] == "Kamstrup 6841131BN243101040"
    assert result["result"].unique_id == KAMSTRUP_ID
    data = result["data"]
    assert data[CONF_SOURCE] == SOURCE_MQTT
    assert data[CONF_TOPIC] == mqtt_meter.topic
    assert CONF_DEVICE not in data
    assert data[CONF_TRANSPORT] == "auto"
    assert data[CONF_MANUFACTURER] == "Kamstrup"
    assert "1.7.0" in data[CONF_SEEN_OBIS]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_topic_flow_p1_text(hass: HomeAssistant, mqtt_meter: MqttMeter) -> None:
    """ESPHome's dsmr telegram: a meter without an id, keyed by nothing but its topic."""
    mqtt_meter.start([capture(P1_SE)])
    result = await _topic_flow(hass, mqtt_meter.topic)
    placeholders = placeholders_of(result, "mqtt_confirm")
    assert placeholders["payload"] == "text, p1"
    assert placeholders["meter_id"] == "-"
    result = await created(hass, result)
    assert result["result"].unique_id is None

    # The same topic cannot be added twice.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC: mqtt_meter.topic}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_topic_flow_waits_for_the_list_naming_the_meter(
    hass: HomeAssistant, mqtt_meter: MqttMeter
) -> None:
    mqtt_meter.start([capture(AIDON_LIST1), capture(AIDON_LIST1), capture(AIDON_LIST2)])
    result = await _topic_flow(hass, mqtt_meter.topic)
    assert placeholders_of(result, "mqtt_confirm")["meter_id"] == expected(AIDON_LIST2)["meter_id"]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_topic_flow_encrypted(hass: HomeAssistant, mqtt_meter: MqttMeter) -> None:
    """Encrypted frames on the topic: the key step, checked on what was heard."""
    mqtt_meter.start([capture(ENCRYPTED).hex()])
    result = await _topic_flow(hass, mqtt_meter.topic)
    assert placeholders_of(result, "mqtt_key") == {"topic": mqtt_meter.topic}
    await mqtt_meter.stopped()
    flow_id = result["flow_id"]

    await refuse_bad_keys(hass, flow_id)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_KEY: ENCRYPTED_KEY, CONF_AUTH_KEY: "11" * 16}
    )
    assert result["errors"] == {CONF_AUTH_KEY: "auth_key_not_used"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_KEY: " ".join(ENCRYPTED_KEY[i : i + 4] for i in range(0, 32, 4))}
    )
    placeholders = placeholders_of(result, "mqtt_confirm")
    assert placeholders["encrypted"] == "yes"
    assert placeholders["payload"] == "hex, mbus"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KEY] == ENCRYPTED_KEY
    assert result["data"][CONF_SYSTEM_TITLE]


@pytest.mark.parametrize(
    ("messages", "error", "ignored"),
    [
        ([], "mqtt_no_messages", None),
        ([STATUS, "H", "1703"], "mqtt_no_frames", ["text", "json without a frame"]),
        ([capture(BAD_CRC)], "mqtt_invalid_frames", ["-"]),
    ],
)
async def test_topic_flow_says_what_came(
    hass: HomeAssistant,
    mqtt_meter: MqttMeter,
    messages: list[Any],
    error: str,
    ignored: list[str] | None,
) -> None:
    """Nothing, only status and text, or broken frames: an error that says which."""
    if messages:
        mqtt_meter.start(messages)
    result = await _topic_flow(hass, mqtt_meter.topic)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}
    placeholders = result["description_placeholders"] or {}
    if ignored is not None:
        assert placeholders["topic"] == mqtt_meter.topic
        # Most frequent first: two text messages for each status message.
        kinds = [part.rsplit(":", 1)[0] for part in placeholders["ignored"].split(", ")]
        assert kinds == ignored

    # The reader set right: the same flow goes on to the meter.
    mqtt_meter.start([capture(KAMSTRUP_LIST2)])
    result = await _listen(hass, result["flow_id"], {CONF_TOPIC: mqtt_meter.topic})
    assert result["step_id"] == "mqtt_confirm"


async def test_topic_flow_without_mqtt(hass: HomeAssistant) -> None:
    """No mqtt integration: the form says to add it, before any listening."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC: "amsreader/data"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "mqtt_not_configured"}


@pytest.mark.usefixtures("mqtt_entry")
@pytest.mark.parametrize(
    ("user_input", "error"),
    [
        ({}, "no_source"),
        ({CONF_DEVICE: " ", CONF_TOPIC: ""}, "no_source"),
        ({CONF_DEVICE: "/dev/ttyUSB0", CONF_TOPIC: "ams/data"}, "port_and_topic"),
        ({CONF_TOPIC: "ams/#/data"}, "invalid_topic"),
        ({CONF_TOPIC: "ams/da+ta"}, "invalid_topic"),
    ],
)
async def test_user_step_errors(
    hass: HomeAssistant, user_input: dict[str, Any], error: str
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}


async def test_listening_while_the_broker_is_unreachable(
    hass: HomeAssistant, mqtt_entry: Any
) -> None:
    """The mqtt client is set up but not connected: said at once, not after a wait."""
    with patch("homeassistant.components.mqtt.is_connected", return_value=False):
        result = await _topic_flow(hass, "ams/data")
    assert result["errors"] == {"base": "mqtt_not_connected"}


async def test_listening_bug_ends_the_progress(hass: HomeAssistant, mqtt_entry: Any) -> None:
    with patch(
        "custom_components.han_port.config_flow.listen_mqtt", side_effect=RuntimeError("bug")
    ):
        result = await _topic_flow(hass, "ams/data")
    assert result["errors"] == {"base": "unknown"}


async def test_reconfigure_to_another_topic(hass: HomeAssistant, mqtt_meter: MqttMeter) -> None:
    """The reader now publishes elsewhere: same meter, new topic, entry reloaded."""
    entry = make_mqtt_entry("old/topic")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "mqtt_reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOPIC: "bad/#/topic"}
    )
    assert result["errors"] == {"base": "invalid_topic"}

    mqtt_meter.start([capture(KAMSTRUP_LIST2).hex()])
    result = await _listen(hass, result["flow_id"], {CONF_TOPIC: mqtt_meter.topic})
    assert result["step_id"] == "mqtt_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "topic_changed"
    assert entry.data[CONF_TOPIC] == mqtt_meter.topic
    await hass.async_block_till_done()


async def test_reconfigure_onto_a_replaced_meter_adopts_it(
    hass: HomeAssistant, mqtt_meter: MqttMeter
) -> None:
    """The grid company swapped the meter behind the bridge: the same choice as on a port."""
    entry = make_mqtt_entry("old/topic", unique_id="9999999999999999")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    mqtt_meter.start([capture(KAMSTRUP_LIST2)])
    result = await _listen(hass, result["flow_id"], {CONF_TOPIC: mqtt_meter.topic})
    assert placeholders_of(result, "replace_meter") == {
        "title": entry.title,
        "device": f"MQTT {mqtt_meter.topic}",
        "old_meter": "9999999999999999",
        "new_meter": KAMSTRUP_ID,
        "manufacturer": "Kamstrup",
        "meter_type": expected(KAMSTRUP_LIST2)["meter_type"],
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "meter_replaced"
    assert entry.unique_id == KAMSTRUP_ID
    assert entry.data[CONF_TOPIC] == mqtt_meter.topic
    assert entry.data[CONF_TRANSPORT] == "auto"
    assert {"1.8.0", "1.7.0"} <= set(entry.data[CONF_SEEN_OBIS])
    await hass.async_block_till_done()


async def test_reconfigure_does_not_take_over_a_meter_with_its_own_entry(
    hass: HomeAssistant, mqtt_meter: MqttMeter
) -> None:
    entry = make_mqtt_entry("old/topic", unique_id="9999999999999999")
    entry.add_to_hass(hass)
    make_mqtt_entry("its/own/topic", unique_id=KAMSTRUP_ID).add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    mqtt_meter.start([capture(KAMSTRUP_LIST2)])
    result = await _listen(hass, result["flow_id"], {CONF_TOPIC: mqtt_meter.topic})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.unique_id == "9999999999999999"
    assert entry.data[CONF_TOPIC] == "old/topic"


async def test_reconfigure_error_returns_to_the_topic_form(
    hass: HomeAssistant, mqtt_meter: MqttMeter
) -> None:
    entry = make_mqtt_entry("old/topic")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(hass, result["flow_id"], {CONF_TOPIC: mqtt_meter.topic})
    assert result["step_id"] == "mqtt_reconfigure"
    assert result["errors"] == {"base": "mqtt_no_messages"}
