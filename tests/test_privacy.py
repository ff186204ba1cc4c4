"""Security and privacy: the key and the meter's identity stay out of logs, repair
issues, exceptions and diagnostics; wrong keys and bad tags are reported as such.

The meter id identifies a household's supply point and the system title carries the
meter's serial number: neither is logged at any level, nor is the key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.han_port import hub as hub_module
from custom_components.han_port.const import (
    CONF_DEVICE,
    CONF_KEY,
    CONF_SYSTEM_TITLE,
    DOMAIN,
    ISSUE_DECRYPT_FAILING,
    ISSUE_NO_VALID_FRAMES,
)
from custom_components.han_port.hub import MeterHub

from .conftest import until
from .tcp_meter import TcpMeter
from .test_hub import KAMSTRUP_ID, KEY, OTHER_TITLE, OWN_TITLE, encrypted_frame

pytestmark = pytest.mark.usefixtures("integration")

POWER = "sensor.kamstrup_active_power_import"
OTHER_ID = "7310000000000001"
WRONG_KEY = bytes.fromhex("F0E0D0C0B0A090807060504030201000")


def _forms(secret: bytes | str) -> set[str]:
    """The ways a secret could be written into a text: as is, hex in both cases."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = {raw.hex(), raw.hex().upper(), " ".join(f"{b:02x}" for b in raw)}
    if isinstance(secret, str):
        forms.add(secret)
    else:
        forms.add(repr(secret)[2:-1])
    return forms


SECRETS = {
    "key": _forms(KEY),
    "meter id": _forms(KAMSTRUP_ID),
    "other meter id": _forms(OTHER_ID),
    "system title": _forms(OWN_TITLE),
    "other system title": _forms(OTHER_TITLE),
}


def _leaks(text: str) -> list[str]:
    return [name for name, forms in SECRETS.items() if any(form in text for form in forms)]


def _integration_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of the integration and of the libraries it drives, with tracebacks.

    Home Assistant's own bus debugging prints every state, including the meter id
    sensor's: that is HA's choice for all sensors, not a line this integration writes.
    """
    lines = []
    for record in caplog.records:
        if (
            record.name.startswith(
                ("custom_components.han_port", "serialx", "homeassistant.config_entries")
            )
            or record.levelno >= logging.WARNING
        ):
            lines.append(record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                lines.append(repr(record.exc_info[1]))
            if record.exc_text:
                lines.append(record.exc_text)
    return "\n".join(lines)


async def _flow_to_key_step(hass: HomeAssistant, device: str) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: device}
    )
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    return result["flow_id"]


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex()[:-1],  # 31 digits
        KEY.hex() + "0",  # 33 digits
        KEY.hex()[:-1] + "g",  # not hex
        KEY.hex() * 2,  # 32 bytes: an AES-256 key or both keys in one field
        "",
        "0x" + KEY.hex(),
    ],
    ids=["short", "long", "not-hex", "double", "empty", "0x-prefix"],
)
async def test_malformed_key_is_rejected_in_the_flow(
    hass: HomeAssistant, tcp_meter: TcpMeter, text: str
) -> None:
    """A key of the wrong length or not hex: a clear error on the key field, no entry."""
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: text})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    assert result["errors"] == {CONF_KEY: "invalid_key_format"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_authenticated_frames_with_a_wrong_key_in_the_flow(
    hass: HomeAssistant, tcp_meter: TcpMeter
) -> None:
    """The tag does not verify under a wrong key: "this key does not decrypt"."""
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: WRONG_KEY.hex()})
    assert result["errors"] == {"base": "invalid_key"}
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: KEY.hex()})
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The system title the flow heard keeps other meters out from the first frame on.
    assert result["data"][CONF_SYSTEM_TITLE] == OWN_TITLE.hex().upper()


async def test_no_secret_in_logs_issues_exceptions_or_diagnostics(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    tcp_meter: TcpMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Flow, setup, bad tags, a wrong key, another meter, an outage: nothing leaks."""
    caplog.set_level(logging.DEBUG)
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    for text in (KEY.hex()[:-1] + "g", WRONG_KEY.hex()):
        result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: text})
        assert result["step_id"] == "key"
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: KEY.hex()})
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await until(
        lambda: hass.states.get(POWER) is not None and hass.states.get(POWER).state == "1500"
    )  # type: ignore[union-attr]
    tcp_meter.stop()
    hub: MeterHub = entry.runtime_data.hub
    stats = hub.decoder.stats

    async def send(data: bytes) -> None:
        events = stats.readings + sum(stats.errors.values())
        tcp_meter.send(data)
        await until(lambda: stats.readings + sum(stats.errors.values()) > events)

    # Another meter on the bus, by meter id and by system title.
    await send(encrypted_frame(OTHER_TITLE, 10, meter_id=OTHER_ID))
    await send(encrypted_frame(OTHER_TITLE, 10, meter_id=None))
    assert hub.foreign_readings == 2

    # The tag altered in transit, then the grid company changes the key: reported as
    # what they are, and after a minute the repair issue says what to do.
    issue_id = f"{ISSUE_DECRYPT_FAILING}_{entry.entry_id}"
    await send(encrypted_frame(OWN_TITLE, 1500, bad_tag=True))
    assert "authentication tag" in hub.last_errors[-1].detail
    fake_clock[0] += hub_module.REPAIR_DECRYPT_AFTER
    await send(encrypted_frame(OWN_TITLE, 1500, key=WRONG_KEY))
    assert stats.errors == {"decrypt": 2}
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_DECRYPT_FAILING
    assert (
        issue_registry.async_get_issue(DOMAIN, f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}") is None
    )
    issue_text = json.dumps(issue.to_json(), default=str)
    assert not _leaks(issue_text), issue_text

    # The adapter goes away and comes back.
    await tcp_meter.drop_clients()
    await until(lambda: not hub.connected)
    await until(lambda: tcp_meter.clients == 1)
    await send(encrypted_frame(OWN_TITLE, 1600))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    diagnostics: dict[str, Any] = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert not _leaks(text)
    assert diagnostics["entry"]["data"][CONF_KEY] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_SYSTEM_TITLE] == "**REDACTED**"
    assert diagnostics["meter"]["meter_id"] == "**REDACTED**"
    assert diagnostics["counters"]["foreign_readings"] == 2
    # The raw chunks held both meters' frames: their ids were cut out.
    assert any("**REDACTED**" in chunk for chunk in diagnostics["last_chunks"])

    details = "\n".join(error.detail for error in hub.last_errors)
    assert not _leaks(details), details
    log = _integration_log(caplog)
    assert "another meter" in log  # the debug lines were captured: the scan is real
    assert not _leaks(log), [line for line in log.splitlines() if _leaks(line)]
    # The key never appears anywhere in the log, Home Assistant's own lines included.
    assert not [form for form in SECRETS["key"] if form in caplog.text]
