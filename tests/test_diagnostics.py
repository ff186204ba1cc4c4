"""Diagnostics: counters, last readings and raw frames, with no key and no meter id."""

from __future__ import annotations

from datetime import datetime
import json

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.han_port.const import CONF_KEY
from custom_components.han_port.diagnostics import redacted_hex
from custom_components.han_port.han import Measurement, Obis, Reading

from .conftest import (
    BAD_CRC,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    expected,
    frame,
    make_entry,
    until,
)
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("integration")

KEY = "0123456789ABCDEF0123456789ABCDEF"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    meter: PtyMeter,
    snapshot: SnapshotAssertion,
) -> None:
    """A snapshot of everything a bug report needs; secrets nowhere in it."""
    entry = make_entry(meter.path, entry_id="01KDIAGNOSTICS000000000000", **{CONF_KEY: KEY})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    stats = entry.runtime_data.hub.decoder.stats
    for corpus_id in (KAMSTRUP_LIST1, BAD_CRC, KAMSTRUP_LIST2):
        events = stats.readings + sum(stats.errors.values())
        meter.send(frame(corpus_id))
        await until(lambda events=events: stats.readings + sum(stats.errors.values()) > events)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics == snapshot

    text = json.dumps(diagnostics)
    meter_id = expected(KAMSTRUP_LIST1)["meter_id"]
    assert meter_id not in text
    assert meter_id.encode().hex().upper() not in text
    assert KEY not in text
    assert meter.path not in text
    assert diagnostics["counters"]["readings"] == 2
    assert diagnostics["counters"]["errors"] == {"crc": 1}


@pytest.mark.parametrize(
    ("raw", "secrets", "text"),
    [
        (b"\x01ID\x02", [b"ID"], "01[**REDACTED**]02"),
        (b"IDxID", [b"ID"], "[**REDACTED**]78[**REDACTED**]"),
        (b"\x00LONGID\x00", [b"LONGID", b"ID"], "00[**REDACTED**]00"),
        (b"\xab", [], "AB"),
    ],
)
def test_redacted_hex(raw: bytes, secrets: list[bytes], text: str) -> None:
    """Secrets are cut out on byte boundaries, longest first."""
    assert redacted_hex(raw, secrets) == text


async def test_diagnostics_of_an_encrypted_meter(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    """The system title (it carries the serial number) is cut out of raw frames too."""
    meter_id = expected(ENCRYPTED)["meter_id"]
    entry = make_entry(meter.path, unique_id=meter_id, **{CONF_KEY: ENCRYPTED_KEY})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    hub = entry.runtime_data.hub
    meter.send(frame(ENCRYPTED))
    await until(lambda: hub.decoder.stats.readings == 1)
    # A register holding a time, and one holding the meter id as text.
    hub.handle_events(
        [
            Reading(
                values={
                    Obis.parse("0-0:1.0.0"): Measurement(datetime(2026, 1, 1, 12, 0)),
                    Obis.parse("0-0:96.1.1"): Measurement(meter_id),
                },
                meter_id=None,
            )
        ],
        0.0,
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    title = hub.last_readings[0].system_title
    assert title is not None
    assert title.hex().upper() not in text
    assert meter_id not in text
    assert ENCRYPTED_KEY not in text
    values = diagnostics["last_readings"][-1]["values"]
    assert values == {
        "0-0:1.0.0": ["2026-01-01T12:00:00", None],
        "0-0:96.1.1": ["**REDACTED**", None],
    }
