"""Diagnostics: configuration, counters, last readings and raw bytes, without secrets.

Redacted: the keys, the port path (a by-id path holds the adapter's serial number)
and every identifier of the meter and of its sub-meters: the meter id (it names a
household's supply point), the system title (it carries the meter's serial number)
and the P1 equipment ids of the electricity, gas, water and heat meters. An id is
cut out in every form it takes (as sent, hex-encoded ASCII as Dutch and Belgian P1
writes it, hex text in either case, the system title's maker + serial), in decoded
values and in raw bytes.

Raw bytes are redacted over the contiguous window the hub keeps, never read by read:
at 2400 baud a USB adapter returns about 20 bytes a read, and an id split over two
reads must not survive. All the work happens here, when diagnostics are downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
import re
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import (
    CONF_AUTH_KEY,
    CONF_DEVICE,
    CONF_KEY,
    CONF_SUB_METERS,
    CONF_SYSTEM_TITLE,
    CONF_TOPIC,
)
from .han import FrameError, Measurement, Obis, Reading
from .mqtt_source import MqttSource, redact_topic
from .port import is_network_port
from .reader import MeterReader

if TYPE_CHECKING:
    from . import HanConfigEntry

# CONF_SUB_METERS holds the equipment ids of a P1 port's gas and water meters.
TO_REDACT = {
    CONF_KEY,
    CONF_AUTH_KEY,
    CONF_DEVICE,
    CONF_SYSTEM_TITLE,
    CONF_SUB_METERS,
    "meter_id",
    "serial_number",
}

MARKER: Final = f"[{REDACTED}]"

# Shorter forms would cut ordinary bytes out of every frame; real ids are 8-35
# characters. A window edge that holds at least this much of an id is cut too.
MIN_SECRET: Final = 4
# The numbers derived from a system title's serial part must be longer than this
# to be worth cutting (a title of zeros gives "0").
MIN_SERIAL: Final = 6

# DLMS system title: 3-letter FLAG manufacturer id + 5 bytes, usually the serial.
TITLE_LENGTH: Final = 8

_PRINTABLE: Final = re.compile(rb"[\x20-\x7e]+")
_HEX_TEXT: Final = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_FLAG_ID: Final = re.compile(rb"[A-Za-z]{3}")
# A P1 equipment-id line: 0-0:96.1.1 (electricity), 0-n:96.1.0 and 0-n:96.1.1 (the
# M-Bus sub-meters on channel n), EasyMeter's serial 0-0:96.1.255 and property
# number 1-0:0.0.0, the logical device name 0-0:42.0.0 (Smarty, E.ON Hungary). The
# value is cut even where the window or an error's raw bytes end inside it, and
# whether or not the telegram decoded.
_P1_ID_LINE: Final = re.compile(
    rb"(?:0-[0-9]{1,3}:(?:96\.1\.(?:[01]|255)|42\.0\.0)|1-0:0\.0\.0)"
    rb"(?:[.*&][0-9]{1,3})?\(([^()\r\n]*)(?:\)|\Z)"
)
# A window cut mid-stream may begin inside a P1 line whose OBIS code is gone; every
# P1 data line ends with ")" CR LF.
_PARTIAL_P1_LINE: Final = re.compile(rb"[\x20-\x7e]*\)\r?\n")


def is_id_code(obis: Obis) -> bool:
    """Whether `obis` holds an equipment identifier (electricity or sub-meter)."""
    if obis.a != 0:
        return False
    return (obis.c == 96 and obis.d == 1 and obis.e in (0, 1, 255)) or obis[2:5] == (42, 0, 0)


def id_forms(secret: bytes) -> set[bytes]:
    """Every way `secret` (an id as sent, or a system title) can be written."""
    if len(secret) < MIN_SECRET:
        return set()
    forms = {secret}
    if _PRINTABLE.fullmatch(secret):
        # Dutch and Belgian P1 send the id as hex-encoded ASCII.
        forms |= {secret.hex().encode(), secret.hex().upper().encode()}
        if _HEX_TEXT.fullmatch(secret):
            decoded = bytes.fromhex(secret.decode())
            if _PRINTABLE.fullmatch(decoded):
                forms |= {decoded, secret.upper(), secret.lower()}
    if len(secret) == TITLE_LENGTH and (
        not _PRINTABLE.fullmatch(secret) or _FLAG_ID.fullmatch(secret[:3])
    ):
        serial = secret[3:]
        forms |= {secret.hex().encode(), secret.hex().upper().encode(), serial}
        numbers = {
            number.encode()
            for number in (serial.hex(), serial.hex().upper(), str(int.from_bytes(serial)))
            if len(number) >= MIN_SERIAL
        }
        forms |= numbers
        if _FLAG_ID.fullmatch(secret[:3]):
            forms |= {secret[:3] + number for number in numbers}
    return {form for form in forms if len(form) >= MIN_SECRET}


def p1_ids(raw: bytes) -> set[bytes]:
    """The values of the P1 equipment-id lines in `raw`."""
    return {match[1] for match in _P1_ID_LINE.finditer(raw) if match[1]}


def _spans(raw: bytes, secrets: Iterable[bytes], *, cut: bool) -> list[tuple[int, int]]:
    """Byte ranges of `raw` to cut out, sorted and merged."""
    spans: list[tuple[int, int]] = []
    size = len(raw)
    for secret in secrets:
        start = raw.find(secret)
        while start >= 0:
            spans.append((start, start + len(secret)))
            start = raw.find(secret, start + 1)
        # An id split by the window's ends: its head at the end (a frame still
        # arriving, or an error's bytes cut at their limit), its tail at the start.
        for length in range(len(secret) - 1, MIN_SECRET - 1, -1):
            if raw.endswith(secret[:length]):
                spans.append((size - length, size))
                break
        for length in range(len(secret) - 1, MIN_SECRET - 1, -1):
            if raw.startswith(secret[-length:]):
                spans.append((0, length))
                break
    spans.extend(match.span(1) for match in _P1_ID_LINE.finditer(raw) if match[1])
    if cut and (partial := _PARTIAL_P1_LINE.match(raw)) is not None:
        spans.append((0, partial.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def redacted_hex(raw: bytes, secrets: Iterable[bytes], *, cut: bool = False) -> str:
    """Hex of `raw` with every secret, P1 id value and id at an edge replaced by a marker.

    `cut`: bytes before `raw` were dropped, so a partial first P1 line is cut too.
    Markers sit on byte boundaries, so the hex around them reads as it was sent.
    """
    pieces: list[str] = []
    position = 0
    for start, end in _spans(raw, secrets, cut=cut):
        pieces.append(raw[position:start].hex().upper())
        pieces.append(MARKER)
        position = end
    pieces.append(raw[position:].hex().upper())
    return "".join(pieces)


class _Redactor:
    """The ids known for one download, in all their forms."""

    def __init__(self, ids: Iterable[bytes]) -> None:
        forms: set[bytes] = set()
        for secret in ids:
            forms |= id_forms(secret)
        self.forms = sorted(forms, key=len, reverse=True)
        self._texts = [form.decode() for form in self.forms if _PRINTABLE.fullmatch(form)]

    def hex(self, raw: bytes, *, cut: bool = False) -> str:
        return redacted_hex(raw, self.forms, cut=cut)

    @property
    def texts(self) -> list[str]:
        """The printable forms of the ids, longest first."""
        return self._texts

    def text(self, text: str) -> str:
        for form in self._texts:
            text = text.replace(form, MARKER)
        return text

    def value(self, obis: Obis, measurement: Measurement) -> list[Any]:
        value: object = measurement.value
        if is_id_code(obis) and value not in (None, ""):
            value = REDACTED
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, str):
            value = self.text(value)
        return [value, measurement.unit]

    def optional_text(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)


def _ids(entry: HanConfigEntry, raws: Iterable[bytes]) -> set[bytes]:
    """The ids of this meter, its sub-meters and other meters seen on the port."""
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
        if reading.device_name:
            found.add(reading.device_name.encode())
        for obis, measurement in reading.values.items():
            if is_id_code(obis) and isinstance(measurement.value, str) and measurement.value:
                found.add(measurement.value.encode())
    # The sub-meters' ids as the entry remembers them, sent or not in the last readings.
    found.update(meter_id.encode() for meter_id in hub.sub_meter_ids.values() if meter_id)
    # Another meter's frames (ignored by the hub) may sit in the raw bytes.
    found.update(hub.foreign_ids)
    if title := entry.data.get(CONF_SYSTEM_TITLE):
        found.add(bytes.fromhex(title))
    for raw in raws:
        found |= p1_ids(raw)
    return found


def _reading(reading: Reading, redactor: _Redactor) -> dict[str, Any]:
    return {
        "timestamp": reading.timestamp.isoformat() if reading.timestamp else None,
        "transport": reading.transport,
        "encrypted": reading.encrypted,
        "manufacturer": redactor.optional_text(reading.manufacturer),
        "meter_type": redactor.optional_text(reading.meter_type),
        "list_version": redactor.optional_text(reading.list_version),
        "meter_id": REDACTED if reading.meter_id else None,
        "values": {
            str(obis): redactor.value(obis, measurement)
            for obis, measurement in reading.values.items()
        },
    }


def _error(error: FrameError, redactor: _Redactor) -> dict[str, Any]:
    return {
        "reason": error.reason,
        "detail": redactor.text(error.detail),
        "raw": redactor.hex(error.raw),
    }


def _texts(data: Mapping[str, Any], redactor: _Redactor) -> dict[str, Any]:
    """`data` with ids cut out of its strings: none may hide in a field nobody expected."""
    return {
        key: redactor.text(value) if isinstance(value, str) else value
        for key, value in data.items()
    }


def _source(reader: MeterReader | MqttSource, redactor: _Redactor) -> dict[str, Any]:
    """Where the bytes come from: the port and its settings, or the MQTT topic."""
    if isinstance(reader, MqttSource):
        payloads = reader.payloads
        return {
            "port_kind": "mqtt",
            "topic": redact_topic(reader.topic, redactor.texts),
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
    window = hub.last_bytes.window()
    redactor = _Redactor(_ids(entry, [window, *(error.raw for error in hub.last_errors)]))
    data = _texts(async_redact_data(dict(entry.data), TO_REDACT), redactor)
    if isinstance(topic := entry.data.get(CONF_TOPIC), str):
        # Only the ids in a topic are secret; the rest says which reader it is.
        data[CONF_TOPIC] = redact_topic(topic, redactor.texts)
    return {
        "entry": {
            "data": data,
            "options": dict(entry.options),
        },
        "connection": {
            **_source(reader, redactor),
            "connected": hub.connected,
            "available": hub.available,
            "connects": reader.connects,
            "disconnects": reader.disconnects,
            "failed_opens": reader.failed_opens,
        },
        "meter": _texts(
            async_redact_data(
                {
                    "manufacturer": hub.identity.manufacturer,
                    "meter_type": hub.identity.meter_type,
                    "list_version": hub.identity.list_version,
                    "meter_id": hub.identity.meter_id,
                },
                TO_REDACT,
            ),
            redactor,
        ),
        "counters": {
            "bytes_in": stats.bytes_in,
            "bytes_skipped": stats.bytes_skipped,
            "frames": stats.frames,
            "readings": stats.readings,
            # Read with the encryption key alone: the meter's tag went unchecked.
            "unauthenticated_readings": stats.unauthenticated,
            "foreign_readings": hub.foreign_readings,
            "errors": dict(sorted(stats.errors.items())),
        },
        "last_readings": [_reading(reading, redactor) for reading in hub.last_readings],
        "last_errors": [_error(error, redactor) for error in hub.last_errors],
        "last_bytes": {
            "chunk_sizes": list(hub.last_bytes.chunk_sizes),
            "hex": redactor.hex(window, cut=hub.last_bytes.cut),
        },
    }
