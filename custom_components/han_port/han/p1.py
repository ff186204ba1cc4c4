"""P1 ASCII telegrams: IEC 62056-21 mode D as used by DSMR 2.2-5 (NL), e-MUCS (BE) and HAN P1 (SE).

A telegram is text, one data object a line:

    /XXXZ<identification> CR LF         XXX: maker's FLAG id, Z: baud-rate character
    CR LF
    1-0:1.8.0(00001605.055*kWh) CR LF   OBIS code, then one or more (value[*unit]) groups
    ...
    !<CRC> CR LF                        CRC: 4 hex digits of CRC-16/ARC over "/" ... "!"

DSMR 2.2 and 3 send no CRC: their telegrams end with "!" CR LF.

`find_end` delimits a telegram in a byte stream that may also carry binary HDLC or
M-Bus frames; `decode_telegram` turns one telegram into a Reading.

DSMR 4/5 and e-MUCS (BE) meters relay up to four M-Bus meters (gas, water, heat) on
channels B = 1..4, each as a device type, an equipment id and one reading:

    0-1:24.1.0(003)                             device type (EN 13757-3 medium: 3 = gas)
    0-1:96.1.0(4730303139333430323231313938343135)   equipment id (e-MUCS: 0-1:96.1.1)
    0-1:24.2.1(170108160000W)(01234.000*m3)     capture time, value (e-MUCS gas: 24.2.3)

They become Reading.sub_meters; their readings and ids stay in Reading.values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
import re
from typing import Final

from .crc import crc16_arc
from .model import (
    MAX_RAW,
    MBUS_CHANNELS,
    MEDIUM_COOLING,
    MEDIUM_GAS,
    MEDIUM_HEAT,
    MEDIUM_WATER,
    FrameError,
    Measurement,
    Obis,
    Reading,
    Reason,
    SubMeter,
    Transport,
    Unit,
)
from .vendors import by_flag_id

P1_MAX_LENGTH: Final = 8192
"""Most bytes from "/" through "!"; real telegrams are 0.5-2 kB."""

NEED_MORE: Final = -1
NOT_A_TELEGRAM: Final = -2

# IEC 62056-21 allows 16 identification characters after "/XXXZ" (plus a "\W"
# enhanced-id pair); makers exceed it ("/ELL5\253833635_A"), so allow generously but
# keep the bound small: it is how long a "/" inside binary data can keep us waiting.
IDENT_MAX: Final = 100

START: Final = ord("/")  # a telegram's first byte
_CR: Final = ord("\r")
_LF: Final = ord("\n")
_LETTERS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX_DIGITS: Final = frozenset(b"0123456789ABCDEFabcdef")
_NOT_PRINTABLE: Final = re.compile(rb"[^\x20-\x7e]")
_NOT_TEXT: Final = re.compile(rb"[^\x20-\x7e\r\n]")

_IDENT: Final = re.compile(r"/([A-Za-z]{3})[\x21-\x7e][\x20-\x7e]*")
_DATA_LINE: Final = re.compile(r"(?P<code>[^()]+)(?P<groups>(?:\([^()]*\))+)")
_GROUP: Final = re.compile(r"\(([^()]*)\)")
_NUMBER: Final = re.compile(r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,20})?")
_UNIT: Final = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")
_TIMESTAMP_DSMR: Final = re.compile(r"([0-9]{12})([WSws]?)")
# NES meters write the clock as "20240111 09:35:00" instead of YYMMDDhhmmssX.
_TIMESTAMP_NES: Final = re.compile(r"([0-9]{8}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")

# Unit as sent (lower-cased: meters write kVAr, kvar and kVArh, kvarh alike) ->
# (unit we hand out, power of ten to apply). Power in W/var like the DLMS decoders,
# energy in kWh/kvarh as the Energy dashboard books it. Units not listed are passed
# on as sent with the value unchanged.
_UNITS: Final[Mapping[str, tuple[Unit, int]]] = {
    "w": (Unit.WATT, 0),
    "kw": (Unit.WATT, 3),
    "var": (Unit.VAR, 0),
    "kvar": (Unit.VAR, 3),
    "va": (Unit.VOLT_AMPERE, 0),
    "kva": (Unit.VOLT_AMPERE, 3),
    "wh": (Unit.KILO_WATT_HOUR, -3),
    "kwh": (Unit.KILO_WATT_HOUR, 0),
    "mwh": (Unit.KILO_WATT_HOUR, 3),
    "varh": (Unit.KILO_VAR_HOUR, -3),
    "kvarh": (Unit.KILO_VAR_HOUR, 0),
    "v": (Unit.VOLT, 0),
    "a": (Unit.AMPERE, 0),
    "hz": (Unit.HERTZ, 0),
    "m3": (Unit.CUBIC_METERS, 0),
    "gj": (Unit.GIGA_JOULE, 0),
}

# OBIS C = 98 (billing-period data) and 99 (load profiles, event logs such as the
# DSMR power-failure log 1-0:99.97.0) hold history rows, not present values, even
# though their rows carry units ("(0000000240*s)").
_PROFILE_GROUPS: Final = frozenset({98, 99})

_CLOCK: Final = Obis(0, 0, 1, 0, 0)
# DSMR 0-0:96.1.1 (electricity equipment id, hex-encoded ASCII in NL), else the
# generic device id 0-0:96.1.0. Channels B > 0 are sub-meters (gas, water).
_METER_ID_CODES: Final = (Obis(0, 0, 96, 1, 1), Obis(0, 0, 96, 1, 0))
# DSMR 1-3:0.2.8 "version information for P1 output"; e-MUCS (BE) and Luxembourg
# send 0-0:96.1.4 instead.
_VERSION_CODES: Final = (Obis(1, 3, 0, 2, 8), Obis(0, 0, 96, 1, 4))

# M-Bus channels 1..4 (DSMR 4/5, e-MUCS). Equipment id: 0-n:96.1.0 in DSMR, 0-n:96.1.1
# in e-MUCS. The reading, in order of preference: 0-n:24.2.1 (DSMR: gas temperature
# converted, water, heat), 0-n:24.2.3 (e-MUCS gas, not temperature converted),
# 0-n:24.3.0 (DSMR 2.2/3 hourly gas). Equipment ids go into Reading.values as text so
# that whatever handles values (diagnostics) sees them as the meter sent them.
_SUB_METER_ID_CODES: Final = ((96, 1, 0), (96, 1, 1))
_SUB_METER_REGISTER_CODES: Final = ((24, 2, 1), (24, 2, 3), (24, 3, 0))
_SUB_METER_CODES: Final = tuple(
    (
        channel,
        Obis(0, channel, 24, 1, 0),
        tuple(Obis(0, channel, *code) for code in _SUB_METER_ID_CODES),
        tuple(Obis(0, channel, *code) for code in _SUB_METER_REGISTER_CODES),
    )
    for channel in MBUS_CHANNELS
)
_SUB_METER_IDS: Final = frozenset(obis for _, _, ids, _ in _SUB_METER_CODES for obis in ids)

# Device type 0-n:24.1.0: the medium code of EN 13757-3 (M-Bus).
_MEDIUM_BY_DEVICE_TYPE: Final[Mapping[int, str]] = {
    0x03: MEDIUM_GAS,
    0x04: MEDIUM_HEAT,  # heat, volume measured at the return (outlet)
    0x06: MEDIUM_WATER,  # warm water, 30-90 degC
    0x07: MEDIUM_WATER,
    0x0A: MEDIUM_COOLING,  # cooling load, volume measured at the return (outlet)
    0x0B: MEDIUM_COOLING,  # cooling load, volume measured at the flow (inlet)
    0x0C: MEDIUM_HEAT,  # heat, volume measured at the flow (inlet)
    0x0D: MEDIUM_HEAT,  # heat/cooling load meter: one register, counted as heat
    0x15: MEDIUM_WATER,  # hot water, >= 90 degC
    0x16: MEDIUM_WATER,  # cold water
}
# The units (as _UNITS hands them out) each medium's reading may come in. DSMR gives
# gas and water in m3 and heat or cold in GJ; heat meters that count kWh are accepted.
_MEDIUM_UNITS: Final[Mapping[str, frozenset[Unit]]] = {
    MEDIUM_GAS: frozenset({Unit.CUBIC_METERS}),
    MEDIUM_WATER: frozenset({Unit.CUBIC_METERS}),
    MEDIUM_HEAT: frozenset({Unit.GIGA_JOULE, Unit.KILO_WATT_HOUR}),
    MEDIUM_COOLING: frozenset({Unit.GIGA_JOULE, Unit.KILO_WATT_HOUR}),
}
# Without a device type (DSMR 2.2/3 send none) the unit decides: the m3 meter on those
# ports is the gas meter, and GJ is what DSMR's heat meters count.
_MEDIUM_BY_UNIT: Final[Mapping[str, str]] = {
    Unit.CUBIC_METERS: MEDIUM_GAS,
    Unit.GIGA_JOULE: MEDIUM_HEAT,
}


def find_end(buf: bytes | bytearray, start: int) -> int:
    """Index just past the telegram whose "/" is at buf[start], NEED_MORE or NOT_A_TELEGRAM.

    The end is past the 4 CRC digits after "!", or just past "!" when CR or LF
    follows it (no CRC, DSMR 2.2/3). NOT_A_TELEGRAM comes as soon as the bytes
    cannot be a telegram, within a few bytes for binary data, so that a 0x2F inside
    an HDLC frame never holds up the stream.
    """
    size = len(buf)
    if start >= size or buf[start] != START:
        return NOT_A_TELEGRAM
    for index in range(start + 1, min(start + 4, size)):
        if buf[index] not in _LETTERS:
            return NOT_A_TELEGRAM
    if size <= start + 4:
        return NEED_MORE
    if not 0x21 <= buf[start + 4] <= 0x7E:
        return NOT_A_TELEGRAM
    body = _end_of_ident_line(buf, start)
    if body < 0:
        return body
    return _end_of_data(buf, start, body)


def _end_of_ident_line(buf: bytes | bytearray, start: int) -> int:
    window_end = start + IDENT_MAX + 1
    stop = _NOT_PRINTABLE.search(buf, start + 5, window_end)
    if stop is None:
        return NOT_A_TELEGRAM if len(buf) >= window_end else NEED_MORE
    cr = stop.start()
    if buf[cr] != _CR:
        return NOT_A_TELEGRAM
    if cr + 1 == len(buf):
        return NEED_MORE
    return cr + 2 if buf[cr + 1] == _LF else NOT_A_TELEGRAM


def _end_of_data(buf: bytes | bytearray, start: int, body: int) -> int:
    limit = start + P1_MAX_LENGTH
    # "!" ends the telegram only at the start of a line: a DSMR 2.2 text message may
    # hold a "!" of its own. body - 1 is the identification line's LF, so a telegram
    # without data objects still ends.
    bang = buf.find(b"\n!", body - 1, limit)
    if _NOT_TEXT.search(buf, body, limit if bang < 0 else bang) is not None:
        return NOT_A_TELEGRAM
    if bang < 0:
        return NOT_A_TELEGRAM if len(buf) >= limit else NEED_MORE
    after = bang + 2
    if after == len(buf):
        return NEED_MORE
    if buf[after] in (_CR, _LF):
        return after
    digits = buf[after : after + 4]
    if not all(digit in _HEX_DIGITS for digit in digits):
        return NOT_A_TELEGRAM
    return after + 4 if len(digits) == 4 else NEED_MORE


def decode_telegram(telegram: bytes | bytearray) -> Reading | FrameError:
    """Check the CRC and read one telegram; bad input gives a FrameError, never an exception.

    Leading CR/LF (the tail of the previous telegram) and trailing CR/LF are allowed.
    """
    data = bytes(telegram)
    raw = data[:MAX_RAW]
    not_text = _NOT_TEXT.search(data)
    if not_text is not None:
        return FrameError(
            Reason.FORMAT,
            f"P1 telegram has byte 0x{data[not_text.start()]:02X} at offset {not_text.start()};"
            " P1 is ASCII text (wrong baud rate, or 7E1 parity read as 8N1?)",
            raw,
        )
    data = data.lstrip(b"\r\n")
    if not data.startswith(b"/"):
        return FrameError(Reason.MALFORMED, "P1 telegram does not start with '/'", raw)
    bang = data.find(b"\n!")
    if bang < 0:
        return FrameError(Reason.TRUNCATED, "P1 telegram has no end line starting with '!'", raw)
    check = data[bang + 2 :].rstrip(b"\r\n")
    if check:
        if len(check) != 4 or not all(digit in _HEX_DIGITS for digit in check):
            return FrameError(
                Reason.MALFORMED,
                f"P1 end mark '!' is followed by {check[:12].decode()!r}, not 4 CRC hex digits",
                raw,
            )
        computed = crc16_arc(data[: bang + 2])
        if int(check, 16) != computed:
            return FrameError(
                Reason.CRC,
                f"P1 CRC mismatch: telegram says {check.decode().upper()}, computed {computed:04X}",
                raw,
            )
    ident_line, _, body = data[:bang].decode("ascii").partition("\n")
    ident = _IDENT.fullmatch(ident_line.rstrip("\r"))
    if ident is None:
        return FrameError(
            Reason.MALFORMED,
            f"P1 identification line {ident_line.rstrip()[:40]!r} is not"
            " '/' + 3-letter maker id + baud-rate character",
            raw,
        )
    objects = _data_objects(body.split("\n"))
    if not objects:
        return FrameError(Reason.MALFORMED, "P1 telegram has no OBIS data lines", raw)
    return _reading(ident.group(1).upper(), objects)


def _data_objects(lines: Iterable[str]) -> list[tuple[Obis, list[str]]]:
    """(OBIS, group contents) per data line; lines that do not parse are left out.

    A line whose OBIS code is broken ("1-0:4:24.7.0", as in the DSMR 4 spec's own
    example) says nothing we can file, but the rest of a CRC-checked telegram is
    still good, so skipping beats rejecting every telegram of that meter.
    """
    joined: list[str] = []
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text.startswith("(") and joined:
            # DSMR 2.2/3 gas (0-1:24.3.0) puts its value on a line of its own.
            joined[-1] += text
        else:
            joined.append(text)
    objects: list[tuple[Obis, list[str]]] = []
    for text in joined:
        match = _DATA_LINE.fullmatch(text)
        if match is None:
            continue
        try:
            obis = Obis.parse(match["code"])
        except ValueError:
            continue
        objects.append((obis, _GROUP.findall(match["groups"])))
    return objects


def _reading(flag_id: str, objects: Sequence[tuple[Obis, list[str]]]) -> Reading:
    registers = dict(objects)
    version = _first_text(registers, _VERSION_CODES)
    clock = registers.get(_CLOCK)
    values: dict[Obis, Measurement] = {}
    for obis, groups in objects:
        measurement = _measurement(obis, groups)
        if measurement is not None:
            values[obis] = measurement
        elif obis in _SUB_METER_IDS and groups and groups[0]:
            values[obis] = Measurement(groups[0])
    return Reading(
        values=values,
        meter_id=_first_text(registers, _METER_ID_CODES),
        manufacturer=vendor.name if (vendor := by_flag_id(flag_id)) else None,
        list_version=f"P1 version {version}" if version else None,
        timestamp=_timestamp(clock[0]) if clock else None,
        transport=Transport.P1,
        sub_meters=_sub_meters(registers, values),
    )


def _sub_meters(
    registers: Mapping[Obis, list[str]], values: Mapping[Obis, Measurement]
) -> tuple[SubMeter, ...]:
    """The M-Bus channels that carry a reading; a channel without one is left out."""
    found: list[SubMeter] = []
    for channel, type_code, id_codes, register_codes in _SUB_METER_CODES:
        register = next((obis for obis in register_codes if obis in values), None)
        if register is None:
            continue
        type_groups = registers.get(type_code)
        type_text = type_groups[0] if type_groups else ""
        device_type = int(type_text) if type_text.isdecimal() and len(type_text) <= 3 else None
        groups = registers[register]
        found.append(
            SubMeter(
                channel=channel,
                register=register,
                medium=_medium(device_type, values[register].unit),
                device_type=device_type,
                equipment_id=_first_text(registers, id_codes),
                # (capture time)(value*unit); DSMR 4's heat example sends the value alone.
                captured=_timestamp(groups[0]) if len(groups) >= 2 else None,
            )
        )
    return tuple(found)


def _medium(device_type: int | None, unit: str | None) -> str | None:
    """What a sub-meter measures; None when the device type and the unit disagree."""
    if device_type is None:
        medium = _MEDIUM_BY_UNIT.get(unit or "")
    else:
        medium = _MEDIUM_BY_DEVICE_TYPE.get(device_type)
    return medium if medium is not None and unit in _MEDIUM_UNITS[medium] else None


def _first_text(registers: Mapping[Obis, list[str]], codes: Iterable[Obis]) -> str | None:
    for obis in codes:
        groups = registers.get(obis)
        if groups and groups[0]:
            return groups[0]
    return None


def _measurement(obis: Obis, groups: Sequence[str]) -> Measurement | None:
    """The value of a line whose value carries a unit; None for everything else.

    Lines without a unit (tariff indicator, failure counters, text messages) are
    status, not measurements. With several groups the value is the last one with a
    unit: the gas line 0-1:24.2.1(capture time)(00000.107*m3).
    """
    if obis.c in _PROFILE_GROUPS:
        return None
    for content in reversed(groups):
        number, star, unit = content.partition("*")
        if star:
            return _scaled(number, unit)
    # DSMR 2.2/3 gas: ...(0-1:24.2.1)(m3)(00001.001), the unit in a group of its own.
    if len(groups) >= 2 and groups[-2].lower() in _UNITS:
        return _scaled(groups[-1], groups[-2])
    return None


def _scaled(number: str, unit: str) -> Measurement | None:
    if _NUMBER.fullmatch(number) is None or _UNIT.fullmatch(unit) is None:
        return None
    name, power = _UNITS.get(unit.lower(), (unit, 0))
    # Decimal keeps "0000.308" kvar exactly 308 var (float would give 307.99999...).
    value = Decimal(number).scaleb(power)
    if value == value.to_integral_value():
        return Measurement(int(value), name)
    return Measurement(float(value), name)


def _timestamp(text: str) -> datetime | None:
    """The meter's clock as a naive local wall-clock time (None when unreadable).

    P1 gives no UTC offset, only W (winter) or S (summer time) after YYMMDDhhmmss,
    and the telegram does not say which time zone the meter is in; the reader
    attaches the zone. The W/S flag goes into `fold` (PEP 495) so the repeated hour
    at the end of summer time still maps to the right instant: W is the second pass.
    """
    match = _TIMESTAMP_DSMR.fullmatch(text)
    if match is not None:
        digits = "20" + match[1]
        fold = 1 if match[2] in ("W", "w") else 0
    else:
        match = _TIMESTAMP_NES.fullmatch(text)
        if match is None:
            return None
        digits = "".join(match.groups())
        fold = 0
    month, day, hour, minute, second = (int(digits[index : index + 2]) for index in range(4, 14, 2))
    try:
        return datetime(int(digits[:4]), month, day, hour, minute, second, fold=fold)
    except ValueError:
        return None
