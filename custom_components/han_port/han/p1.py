"""P1 ASCII telegrams: IEC 62056-21 mode D as used by DSMR 2.2-5 (NL), e-MUCS (BE) and HAN P1 (SE).

A telegram is text, one data object a line:

    /XXXZ<identification> CR LF         XXX: maker's FLAG id, Z: baud-rate character
    CR LF
    1-0:1.8.0(00001605.055*kWh) CR LF   OBIS code, then one or more (value[*unit]) groups
    ...
    !<CRC> CR LF                        CRC: 4 hex digits of CRC-16/ARC over "/" ... "!"

DSMR 2.2 and 3 send no CRC: their telegrams end with "!" CR LF. Some meters leave out
the CRC's leading zeros ("!B9F" for 0B9F, a Warmtelink heat meter in dsmr_parser's
TELEGRAM_UNPADDED_CRC): 1-4 digits are read as the number they write.

`find_end` delimits a telegram in a byte stream that may also carry binary HDLC or
M-Bus frames; `decode_telegram` turns one telegram into a Reading.

Luxembourg's Smarty and Austria's Sagemcom T210-D-r encrypt the telegram: each one
leaves the port as a bare DLMS general-glo-ciphering APDU, no frame around it,

    DB 08 <system title> <length> 30 <frame counter> <ciphertext> <12-byte GCM tag>

whose plaintext is the telegram, "/" to its CRC. `find_ciphered_end` delimits one.

Gateways may append lines of their own after a telegram (`is_trailer`).

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

from .cosem import AUTHENTICATION_TAG_LENGTH, ApduTag, SecurityControl, quantity
from .crc import crc16_arc
from .meters import UNITS
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
    P1Reading,
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
_CRC_DIGITS: Final = re.compile(rb"[0-9A-Fa-f]{1,4}")
_NOT_TEXT: Final = re.compile(rb"[^\x20-\x7e\r\n]")
# The identification line is the one place a control byte is let through: dsmr_parser's
# TELEGRAM_ISKRA_IE has 0x02 where Iskraemeco meters send the enhanced-identification
# pair "\2" (its Python source wrote '\2' unescaped, an octal escape, and the CRC AD3B
# was computed over that byte). HAN Port reads only the FLAG id from the line and the
# CRC covers it, so a control byte there loses nothing; NUL, bytes above 0x7E and a
# lone LF still end the line as not-a-telegram.
_NOT_IDENT: Final = re.compile(rb"[^\x01-\x09\x0b\x0c\x0e-\x7e]")
_NOT_IDENT_TEXT: Final = re.compile(rb"[^\x01-\x7e]")

_IDENT: Final = re.compile(r"/([A-Za-z]{3})[\x21-\x7e][\x01-\x09\x0b\x0c\x0e-\x7e]*")
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

# Quantities measured without a unit (power factor): their lines carry a bare number.
_UNITLESS: Final = frozenset(measured for measured, unit in UNITS.items() if unit is None)

# OBIS C = 98 (billing-period data) and 99 (load profiles, event logs such as the
# DSMR power-failure log 1-0:99.97.0) hold history rows, not present values, even
# though their rows carry units ("(0000000240*s)").
_PROFILE_GROUPS: Final = frozenset({98, 99})

_CLOCK: Final = Obis(0, 0, 1, 0, 0)
# DSMR 0-0:96.1.1 (electricity equipment id, hex-encoded ASCII in NL), else the
# generic device id 0-0:96.1.0, else 0-0:96.1.255: EasyMeter Q3D puts its serial
# number there ("1ESY1313002565", beside a property number in 1-0:0.0.0), else the
# COSEM logical device name 0-0:42.0.0, all a Luxembourg Smarty sends (hex of
# "SAG1030700012701"). Channels B > 0 are sub-meters (gas, water).
_METER_ID_CODES: Final = (
    Obis(0, 0, 96, 1, 1),
    Obis(0, 0, 96, 1, 0),
    Obis(0, 0, 96, 1, 255),
    Obis(0, 0, 42, 0, 0),
)
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


CIPHERED_START: Final = int(ApduTag.GENERAL_GLO_CIPHERING)
# DB, the system title's length (8), the system title.
_CIPHERED_HEADER: Final = 10
_AUTHENTICATED: Final = int(SecurityControl.AUTHENTICATED)
_ENCRYPTED: Final = int(SecurityControl.ENCRYPTED)
# Security suite 0 (the low nibble): authenticated and/or encrypted, nothing else.
_SECURITY_CONTROLS: Final = frozenset({_AUTHENTICATED, _ENCRYPTED, _AUTHENTICATED | _ENCRYPTED})
_SHORTEST_TELEGRAM: Final = len(b"/XXX5\r\n!")
# The length counts security control and frame counter (5 bytes), the telegram, the tag.
_CIPHERED_MAX: Final = 5 + P1_MAX_LENGTH + AUTHENTICATION_TAG_LENGTH

# EasyMeter's COM-1 Ethernet gateway appends two lines after each Q3D telegram's
# "!" CR LF (dsmr_parser's TELEGRAM_ESY5Q3DB1024_V304 and _ESY5Q3DA1004_V304): a
# right-aligned number ("  25803103", different in each capture) and a 33-byte field,
# which reads "DE0000000000000000000000000000003" (the form of a German metering
# point id, 33 characters from "DE") or is 33 bytes 0xFF, unset. Text and 0xFF fill
# up to TRAILER_MAX bytes after a telegram belong to the sender, not to a wrong baud
# rate: they are skipped without a frame error.
TRAILER_MAX: Final = 256
_NOT_TRAILER: Final = re.compile(rb"[^\x20-\x7e\xff]")


def is_trailer(buf: bytes | bytearray, start: int, end: int) -> bool:
    """Whether buf[start:end] can be what a gateway appends after a telegram."""
    return _NOT_TRAILER.search(buf, start, end) is None


def find_ciphered_end(buf: bytes | bytearray, start: int) -> int:
    """Index just past the encrypted telegram whose 0xDB is at buf[start], or NEED_MORE /
    NOT_A_TELEGRAM.

    Only the length bounds the APDU and only the key can check it, so the header has
    to look like one before the stream waits for it: a system title of 8 bytes that
    opens with a FLAG id (3 letters), security suite 0, and a length a telegram can
    have.
    """
    size = len(buf)
    if start >= size or buf[start] != CIPHERED_START:
        return NOT_A_TELEGRAM
    if start + 1 < size and buf[start + 1] != 8:
        return NOT_A_TELEGRAM
    for index in range(start + 2, min(start + 5, size)):
        if buf[index] not in _LETTERS:
            return NOT_A_TELEGRAM
    header = start + _CIPHERED_HEADER
    if size <= header:
        return NEED_MORE
    first = buf[header]
    if first < 0x80:
        length, pos = first, header + 1
    elif first in (0x81, 0x82):  # A-XDR length in the next 1 or 2 bytes
        pos = header + 1 + (first & 0x7F)
        if size < pos:
            return NEED_MORE
        length = int.from_bytes(buf[header + 1 : pos])
    else:
        return NOT_A_TELEGRAM
    if size <= pos:
        return NEED_MORE
    control = buf[pos]
    if control not in _SECURITY_CONTROLS:
        return NOT_A_TELEGRAM
    tag = AUTHENTICATION_TAG_LENGTH if control & _AUTHENTICATED else 0
    shortest = 5 + _SHORTEST_TELEGRAM + tag
    if not shortest <= length <= _CIPHERED_MAX:
        return NOT_A_TELEGRAM
    end = pos + length
    return end if size >= end else NEED_MORE


def find_end(buf: bytes | bytearray, start: int) -> int:
    """Index just past the telegram whose "/" is at buf[start], NEED_MORE or NOT_A_TELEGRAM.

    The end is past the CRC digits after "!" (4, or 1-3 followed by CR or LF), or
    just past "!" when CR or LF follows it (no CRC, DSMR 2.2/3). NOT_A_TELEGRAM comes
    as soon as the bytes cannot be a telegram, within a few bytes for binary data, so
    that a 0x2F inside an HDLC frame never holds up the stream.
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
    stop = _NOT_IDENT.search(buf, start + 5, window_end)
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
    digits = _CRC_DIGITS.match(buf, after, after + 4)
    if digits is None:
        return NOT_A_TELEGRAM
    end = digits.end()
    if end == after + 4:
        return end
    # Fewer than 4 digits: the CRC ends at the line end, or more digits are coming.
    if end == len(buf):
        return NEED_MORE
    return end if buf[end] in (_CR, _LF) else NOT_A_TELEGRAM


# What a byte that is not text in a telegram off the line says about the line.
LINE_HINT: Final = "; P1 is ASCII text (wrong baud rate, or 7E1 parity read as 8N1?)"


def decode_telegram(telegram: bytes | bytearray) -> Reading | FrameError:
    """Check the CRC and read one telegram; bad input gives a FrameError, never an exception.

    Leading CR/LF (the tail of the previous telegram) and trailing CR/LF are allowed.
    """
    data = bytes(telegram)
    raw = data[:MAX_RAW]
    lead = len(data) - len(data.lstrip(b"\r\n"))
    ident_end = data.find(b"\n", lead)
    if ident_end < 0:
        ident_end = len(data)
    not_text = _NOT_IDENT_TEXT.search(data, lead, ident_end) or _NOT_TEXT.search(data, ident_end)
    if not_text is not None:
        return FrameError(
            Reason.FORMAT,
            f"P1 telegram has byte 0x{data[not_text.start()]:02X} at offset {not_text.start()}"
            + LINE_HINT,
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
        if _CRC_DIGITS.fullmatch(check) is None:
            return FrameError(
                Reason.MALFORMED,
                f"P1 end mark '!' is followed by {check[:12].decode()!r}, not 1-4 CRC hex digits",
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


def has_crc(telegram: bytes | bytearray) -> bool:
    """Whether the telegram's end mark "!" is followed by a CRC (DSMR 2.2/3 send none)."""
    bang = telegram.find(b"\n!")
    return bang >= 0 and _CRC_DIGITS.match(telegram, bang + 2) is not None


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


def _reading(flag_id: str, objects: Sequence[tuple[Obis, list[str]]]) -> P1Reading:
    registers = dict(objects)
    version = _first_text(registers, _VERSION_CODES)
    clock = registers.get(_CLOCK)
    values: dict[Obis, Measurement] = {}
    captured: dict[Obis, datetime] = {}
    for obis, groups in objects:
        measurement = _measurement(obis, groups)
        if measurement is not None:
            values[obis] = measurement
            # (time)(value*unit): the e-MUCS month peak 1-0:1.6.0 says when it was
            # reached, a sub-meter's reading when it was taken.
            if len(groups) >= 2 and (when := _timestamp(groups[0])) is not None:
                captured[obis] = when
        elif obis in _SUB_METER_IDS and groups and groups[0]:
            values[obis] = Measurement(groups[0])
    return P1Reading(
        values=values,
        meter_id=_first_text(registers, _METER_ID_CODES),
        manufacturer=vendor.name if (vendor := by_flag_id(flag_id)) else None,
        list_version=f"P1 version {version}" if version else None,
        timestamp=_timestamp(clock[0]) if clock else None,
        transport=Transport.P1,
        sub_meters=_sub_meters(registers, values),
        captured=captured,
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
    status, not measurements, unless the OBIS code names a quantity that has no
    unit: power factor, 1-0:13.7.0(4.556) from E.ON Hungary's Sagemcom. With several
    groups the value is the one with a unit: the gas line 0-1:24.2.1(capture
    time)(00000.107*m3); of several values the first, as dsmr_parser reads them: the
    Smarty's current limits 1-1:31.4.0(040*A)(-040*A) give 40 A.
    """
    if obis.c in _PROFILE_GROUPS:
        return None
    for content in groups:
        number, star, unit = content.partition("*")
        if star:
            return _scaled(number, unit)
    # DSMR 2.2/3 gas: ...(0-1:24.2.1)(m3)(00001.001), the unit in a group of its own.
    if len(groups) >= 2 and groups[-2].lower() in _UNITS:
        return _scaled(groups[-1], groups[-2])
    if len(groups) == 1 and quantity(obis) in _UNITLESS:
        return _scaled(groups[0], None)
    return None


def _scaled(number: str, unit: str | None) -> Measurement | None:
    if _NUMBER.fullmatch(number) is None:
        return None
    if unit is None:
        name: str | None = None
        power = 0
    elif _UNIT.fullmatch(unit) is None:
        return None
    else:
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
