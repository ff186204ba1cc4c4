"""Diagnostics: configuration, counters, last readings and raw bytes, without secrets.

The keys, the meter id (it identifies a household's supply point), the system title
(it carries the meter's serial number) and the port path (a by-id path holds the
adapter's serial number) are redacted, also where they occur inside raw frames.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_AUTH_KEY, CONF_DEVICE, CONF_KEY, CONF_SYSTEM_TITLE, CONF_TOPIC
from .han import FrameError, Reading
from .mqtt_source import MqttSource, redact_topic
from .reader import MeterReader, is_network_port

if TYPE_CHECKING:
    from . import HanConfigEntry

TO_REDACT = {CONF_KEY, CONF_AUTH_KEY, CONF_DEVICE, CONF_SYSTEM_TITLE, "meter_id", "serial_number"}


def _secrets(entry: HanConfigEntry) -> list[bytes]:
    """Byte strings that must not appear in raw frames, longest first."""
    hub = entry.runtime_data.hub
    found: set[bytes] = set()
    for meter_id in (entry.unique_id, hub.identity.meter_id):
        if meter_id:
            found.add(meter_id.encode())
    for reading in hub.last_readings:
        if reading.meter_id:
            found.add(reading.meter_id.encode())
        if reading.system_title:
            found.add(reading.system_title)
    # Another meter's frames (ignored by the hub) may sit in the raw chunks.
    found.update(hub.foreign_ids)
    if title := entry.data.get(CONF_SYSTEM_TITLE):
        found.add(bytes.fromhex(title))
    return sorted(found, key=len, reverse=True)


def redacted_hex(raw: bytes, secrets: list[bytes]) -> str:
    """Hex of `raw` with every occurrence of a secret replaced by a marker.

    The split happens on bytes, so a match can never straddle a nibble boundary.
    """
    pieces: list[bytes | str] = [raw]
    for secret in secrets:
        split: list[bytes | str] = []
        for piece in pieces:
            if isinstance(piece, str):
                split.append(piece)
                continue
            for index, part in enumerate(piece.split(secret)):
                if index:
                    split.append(f"[{REDACTED}]")
                split.append(part)
        pieces = split
    return "".join(piece if isinstance(piece, str) else piece.hex().upper() for piece in pieces)


def _value(value: object, secrets: list[bytes]) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.encode() in secrets:
        return REDACTED
    return value


def _reading(reading: Reading, secrets: list[bytes]) -> dict[str, Any]:
    return {
        "timestamp": reading.timestamp.isoformat() if reading.timestamp else None,
        "transport": reading.transport,
        "encrypted": reading.encrypted,
        "manufacturer": reading.manufacturer,
        "meter_type": reading.meter_type,
        "list_version": reading.list_version,
        "meter_id": REDACTED if reading.meter_id else None,
        "values": {
            str(obis): [_value(measurement.value, secrets), measurement.unit]
            for obis, measurement in reading.values.items()
        },
    }


def _error(error: FrameError, secrets: list[bytes]) -> dict[str, Any]:
    return {
        "reason": error.reason,
        "detail": error.detail,
        "raw": redacted_hex(error.raw, secrets),
    }


def _texts(secrets: list[bytes]) -> list[str]:
    return [secret.decode("ascii") for secret in secrets if secret.isascii()]


def _source(reader: MeterReader | MqttSource, secrets: list[bytes]) -> dict[str, Any]:
    """Where the bytes come from: the port and its settings, or the MQTT topic."""
    if isinstance(reader, MqttSource):
        payloads = reader.payloads
        return {
            "port_kind": "mqtt",
            "topic": redact_topic(reader.topic, _texts(secrets)),
            "messages": payloads.messages,
            "payload_forms": {str(form): count for form, count in payloads.forms.most_common()},
            "ignored_messages": dict(sorted(payloads.ignored.items())),
        }
    return {
        "port_kind": "network" if is_network_port(reader.device) else "serial",
        "settings": str(reader.settings),
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HanConfigEntry
) -> dict[str, Any]:
    """Everything useful for a bug report about this meter."""
    hub = entry.runtime_data.hub
    reader = entry.runtime_data.reader
    stats = hub.decoder.stats
    secrets = _secrets(entry)
    data = async_redact_data(dict(entry.data), TO_REDACT)
    if CONF_TOPIC in data:
        # Only the ids in a topic are secret; the rest says which reader it is.
        data[CONF_TOPIC] = redact_topic(data[CONF_TOPIC], _texts(secrets))
    return {
        "entry": {
            "data": data,
            "options": dict(entry.options),
        },
        "connection": {
            **_source(reader, secrets),
            "connected": hub.connected,
            "available": hub.available,
            "connects": reader.connects,
            "disconnects": reader.disconnects,
            "failed_opens": reader.failed_opens,
        },
        "meter": async_redact_data(
            {
                "manufacturer": hub.identity.manufacturer,
                "meter_type": hub.identity.meter_type,
                "list_version": hub.identity.list_version,
                "meter_id": hub.identity.meter_id,
            },
            TO_REDACT,
        ),
        "counters": {
            "bytes_in": stats.bytes_in,
            "bytes_skipped": stats.bytes_skipped,
            "frames": stats.frames,
            "readings": stats.readings,
            "foreign_readings": hub.foreign_readings,
            "errors": dict(sorted(stats.errors.items())),
        },
        "last_readings": [_reading(reading, secrets) for reading in hub.last_readings],
        "last_errors": [_error(error, secrets) for error in hub.last_errors],
        "last_chunks": [redacted_hex(chunk, secrets) for chunk in hub.last_chunks],
    }
