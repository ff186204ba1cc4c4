"""Frame builder: the inverse of the decoder, from engineering values to HDLC bytes.

Layers, each a function a test can call on its own:

    Data (typed A-XDR value)  --encode()-->             A-XDR bytes (IEC 62056-6-2)
    body + header fields      --data_notification()-->  APDU 0F ... (IEC 62056-5-3)
    LLC_HEADER + APDU         --hdlc_frame()-->         7E A0xx ... 7E (IEC 62056-46)
    long APDU                 --hdlc_segments()/gbt_frames()-->  several frames

On top, the vendors' push lists are tables (`LAYOUTS`), not code: a `ListLayout` says
in which order a meter sends which register, with which A-XDR type and resolution,
and `build_frame(layout, message)` turns engineering values (W, A, V, kWh) into the
exact bytes that meter would send. The tests prove it by reproducing real captures
byte for byte. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import IntEnum, StrEnum
import struct
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.model import Obis
from custom_components.han_port.han.security import (
    SC_AUTHENTICATED,
    SC_ENCRYPTED,
    TAG_GENERAL_GLO_CIPHERING,
    TAG_LENGTH,
)

# --------------------------------------------------------------------------- A-XDR


class Tag(IntEnum):
    """A-XDR tags of the COSEM `Data` CHOICE (IEC 62056-6-2, clause 4.1.5)."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05
    DOUBLE_LONG_UNSIGNED = 0x06
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    INTEGER = 0x0F
    LONG = 0x10
    UNSIGNED = 0x11
    LONG_UNSIGNED = 0x12
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18


# Fixed-size integer types: (bytes, signed). Big-endian, two's complement (A-XDR).
_INTEGERS: Final[Mapping[Tag, tuple[int, bool]]] = {
    Tag.DOUBLE_LONG: (4, True),
    Tag.DOUBLE_LONG_UNSIGNED: (4, False),
    Tag.INTEGER: (1, True),
    Tag.LONG: (2, True),
    Tag.UNSIGNED: (1, False),
    Tag.LONG_UNSIGNED: (2, False),
    Tag.LONG64: (8, True),
    Tag.LONG64_UNSIGNED: (8, False),
    Tag.ENUM: (1, False),
}

type DataValue = bool | int | float | bytes | str | tuple[Data, ...] | None


@dataclass(frozen=True, slots=True)
class Data:
    """One typed COSEM value. `value` fits the tag:

    null-data: None; boolean: bool; bit-string: str of "0"/"1"; integer types: int;
    float32/64: float; octet-string: bytes; visible-string: str (ASCII) or bytes
    (to send NUL padding as some meters do); utf8-string: str; array/structure:
    tuple of Data.
    """

    tag: Tag
    value: DataValue = None

    def encode(self) -> bytes:
        """The A-XDR bytes, tag first."""
        out = bytearray()
        _encode_into(out, self)
        return bytes(out)


def structure(*items: Data) -> Data:
    """A structure (tag 02) of the given elements."""
    return Data(Tag.STRUCTURE, items)


def array(*items: Data) -> Data:
    """An array (tag 01); A-XDR does not check that the elements share a type."""
    return Data(Tag.ARRAY, items)


def octet_string(raw: bytes) -> Data:
    """An octet-string (tag 09)."""
    return Data(Tag.OCTET_STRING, raw)


def visible_string(text: str | bytes) -> Data:
    """A visible-string (tag 0A)."""
    return Data(Tag.VISIBLE_STRING, text)


NULL: Final = Data(Tag.NULL_DATA)


def encode_length(length: int) -> bytes:
    """A-XDR length: one byte below 128, else 0x80|n followed by n big-endian bytes.

    Meters use 0x81 (up to 255) and 0x82 (up to 65535); the general form is the BER
    definite long form that A-XDR inherits.
    """
    if length < 0:
        raise ValueError(f"a length cannot be negative: {length}")
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    if size > 4:
        raise ValueError(f"length {length} needs more than four length bytes")
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def _encode_into(out: bytearray, item: Data) -> None:
    tag, value = item.tag, item.value
    out.append(tag)
    if tag is Tag.NULL_DATA:
        if value is not None:
            raise ValueError("null-data carries no value")
    elif tag in (Tag.ARRAY, Tag.STRUCTURE):
        if not isinstance(value, tuple):
            raise TypeError(f"{tag.name} needs a tuple of Data")
        out += encode_length(len(value))
        for element in value:
            _encode_into(out, element)
    elif tag is Tag.BOOLEAN:
        if not isinstance(value, bool):
            raise TypeError("boolean needs a bool")
        # A-XDR (IEC 61334-6) encodes FALSE as 0 and TRUE as any other value; 0x01 is
        # what DLMS stacks emit.
        out.append(1 if value else 0)
    elif tag is Tag.BIT_STRING:
        if not isinstance(value, str) or value.strip("01"):
            raise TypeError('bit-string needs a str of "0" and "1"')
        # Length counts bits; the bits fill bytes from the most significant end and the
        # last byte is padded with zero bits (X.690 clause 8.6, as A-XDR reuses it).
        out += encode_length(len(value))
        padded = value + "0" * (-len(value) % 8)
        out += bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))
    elif tag in _INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{tag.name} needs an int")
        size, signed = _INTEGERS[tag]
        try:
            out += value.to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise ValueError(f"{value} does not fit {tag.name}") from None
    elif tag in (Tag.FLOAT32, Tag.FLOAT64):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"{tag.name} needs a float")
        out += struct.pack(">f" if tag is Tag.FLOAT32 else ">d", value)
    else:
        out += _string_bytes(tag, value)


def _string_bytes(tag: Tag, value: DataValue) -> bytes:
    if tag is Tag.OCTET_STRING and isinstance(value, bytes):
        raw = value
    elif tag is Tag.VISIBLE_STRING and isinstance(value, (str, bytes)):
        raw = value.encode("ascii") if isinstance(value, str) else value
    elif tag is Tag.UTF8_STRING and isinstance(value, str):
        raw = value.encode("utf-8")
    else:
        raise TypeError(f"{tag.name} cannot hold {type(value).__name__}")
    return encode_length(len(raw)) + raw


# ---------------------------------------------------------------------- date-time

DATE_TIME_LENGTH: Final = 12
DEVIATION_UNSPECIFIED: Final = 0x8000
CLOCK_STATUS_DST: Final = 0x80
NOT_SPECIFIED: Final = 0xFF


def encode_date_time(
    when: datetime,
    *,
    deviation: int | None = None,
    clock_status: int | None = 0,
    hundredths: int | None = None,
    weekday: int | None = None,
) -> bytes:
    """COSEM date-time, 12 bytes (IEC 62056-6-2, clause 4.1.6.1).

    Wall-clock fields come from `when` as it stands. `deviation` is in minutes with the
    COSEM sign (local time = UTC - deviation, so CET is -60, as the Kaifa SE capture
    shows); None means 0x8000 "not specified" for a naive `when`, and is derived from
    the UTC offset of an aware one. `clock_status` None and `hundredths` None give 0xFF.
    `weekday` None is derived from the date (1 = Monday .. 7 = Sunday); give it to
    copy a meter that gets it wrong: Kaifa keeps the previous day's weekday just
    after midnight (kaifa-no-list2-3ph-2017-roarfred: Wednesday 2017-09-13 00:00:20
    sent as 02), an Aidon SE sends Sunday as 00 (aidon-se-3ph-hassams, 2022-10-16).
    """
    if weekday is None:
        weekday = when.isoweekday()
    elif not 0 <= weekday <= 7 and weekday != NOT_SPECIFIED:
        raise ValueError(f"weekday {weekday} is outside 1..7 (0xFF = not specified)")
    if deviation is None and when.utcoffset() is not None:
        offset = when.utcoffset()
        assert offset is not None
        deviation = -int(offset.total_seconds() // 60)
    if deviation is None:
        deviation_raw = DEVIATION_UNSPECIFIED
    elif -720 <= deviation <= 720:
        deviation_raw = deviation & 0xFFFF
    else:
        raise ValueError(f"deviation {deviation} min is outside -720..720")
    if hundredths is not None and not 0 <= hundredths <= 99:
        raise ValueError(f"hundredths {hundredths} is outside 0..99")
    if clock_status is not None and not 0 <= clock_status <= 0xFE:
        raise ValueError(f"clock status {clock_status} is outside 0..254 (None = 0xFF)")
    return struct.pack(
        ">HBBBBBBBHB",
        when.year,
        when.month,
        when.day,
        weekday,
        when.hour,
        when.minute,
        when.second,
        NOT_SPECIFIED if hundredths is None else hundredths,
        deviation_raw,
        NOT_SPECIFIED if clock_status is None else clock_status,
    )


def date_time(
    when: datetime,
    *,
    deviation: int | None = None,
    clock_status: int | None = 0,
    hundredths: int | None = None,
    weekday: int | None = None,
) -> Data:
    """A clock register value: the 12-byte date-time as an octet-string (09 0C ...)."""
    return octet_string(
        encode_date_time(
            when,
            deviation=deviation,
            clock_status=clock_status,
            hundredths=hundredths,
            weekday=weekday,
        )
    )


# --------------------------------------------------------------------------- APDU

LLC_HEADER: Final = b"\xe6\xe7\x00"  # LSAP 0xE6 (DLMS), 0xE7 (response), quality 0
DATA_NOTIFICATION: Final = 0x0F
GENERAL_BLOCK_TRANSFER: Final = 0xE0


class DateTimeEncoding(StrEnum):
    """How the data-notification's date-time field is written.

    Green Book: `date-time OCTET STRING`, so the field is an A-XDR length and bytes:
    00 when the meter sends no time (Aidon, Kaifa SE), 0C + 12 bytes (Kamstrup). Kaifa
    and old Kamstrup firmware put the Data tag 09 in front, as if it were a COSEM value
    (kamstrup-no-list2-3ph-oldfw-2017, every Kaifa NO capture). The values are the
    corpus's `apdu_datetime_encoding` strings.
    """

    ABSENT = "absent"
    OCTET_STRING = "0C+12"
    TAGGED = "09 0C+12"


def data_notification(
    body: Data,
    *,
    invoke_id: int = 0x40000000,
    date_time: bytes | None = None,
    encoding: DateTimeEncoding | None = None,
) -> bytes:
    """A data-notification APDU (tag 0F), without the LLC header.

    `invoke_id` is the 32-bit long-invoke-id-and-priority (Kamstrup sends 0,
    Aidon and Kaifa 0x40000000). `date_time` is the 12-byte header time or None;
    `encoding` defaults to 0C+12 when a time is given and to absent otherwise.
    """
    if encoding is None:
        encoding = DateTimeEncoding.ABSENT if date_time is None else DateTimeEncoding.OCTET_STRING
    if (date_time is None) != (encoding is DateTimeEncoding.ABSENT):
        raise ValueError(f"date-time encoding {encoding.value!r} does not fit {date_time!r}")
    out = bytearray((DATA_NOTIFICATION,))
    out += invoke_id.to_bytes(4, "big")
    if date_time is None:
        out.append(0)
    else:
        if len(date_time) != DATE_TIME_LENGTH:
            raise ValueError(f"a COSEM date-time has 12 bytes, not {len(date_time)}")
        if encoding is DateTimeEncoding.TAGGED:
            out.append(Tag.OCTET_STRING)
        out.append(DATE_TIME_LENGTH)
        out += date_time
    return bytes(out + body.encode())


def gbt_blocks(apdu: bytes, sizes: int | Sequence[int], *, first_block: int = 1) -> list[bytes]:
    """Split an APDU into general-block-transfer APDUs (Green Book, clause 9.3.10).

    Each block is E0, block-control (0x40 = streaming; 0xC0 = last too), block number
    (u16), acknowledged block number (u16, 0 when pushing), A-XDR length, data: the
    layout of landisgyr-ch-e450-gbt-3frames-amsreader-gh740. `sizes` is the largest
    block, or the exact sizes one after another (that meter cuts blocks of 112, 108 and
    121 bytes, at element boundaries).
    """
    chunks = _split(apdu, sizes)
    blocks = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        block = bytearray((GENERAL_BLOCK_TRANSFER, 0xC0 if last else 0x40))
        block += (first_block + index).to_bytes(2, "big")
        block += b"\x00\x00"
        block += encode_length(len(chunk))
        blocks.append(bytes(block + chunk))
    return blocks


def _split(payload: bytes, sizes: int | Sequence[int]) -> list[bytes]:
    if isinstance(sizes, int):
        if sizes <= 0:
            raise ValueError(f"a block size must be positive, not {sizes}")
        return [payload[i : i + sizes] for i in range(0, len(payload), sizes)] or [b""]
    if sum(sizes) != len(payload) or any(size <= 0 for size in sizes):
        raise ValueError(f"block sizes {list(sizes)} do not cut {len(payload)} bytes")
    chunks, start = [], 0
    for size in sizes:
        chunks.append(payload[start : start + size])
        start += size
    return chunks


def glo_ciphering(
    plaintext: bytes,
    *,
    system_title: bytes,
    invocation_counter: int,
    key: bytes,
    auth_key: bytes | None = None,
    security_control: int = 0x30,
) -> bytes:
    """A general-glo-ciphering APDU (tag DB, Green Book security suite 0) around `plaintext`.

    security_control: 0x30 authenticated and encrypted, 0x20 encrypted, 0x10
    authenticated only (plaintext + GMAC tag).
    """
    iv = system_title + invocation_counter.to_bytes(4)
    aad = bytes((security_control,)) + (auth_key or b"")
    if security_control & SC_AUTHENTICATED and not security_control & SC_ENCRYPTED:
        signer = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        signer.authenticate_additional_data(aad + plaintext)
        signer.finalize()
        body = plaintext + signer.tag[:TAG_LENGTH]
    elif security_control & SC_AUTHENTICATED:
        sealer = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        sealer.authenticate_additional_data(aad)
        body = sealer.update(plaintext) + sealer.finalize() + sealer.tag[:TAG_LENGTH]
    else:
        # GCM without a tag is AES-CTR from counter block 2 (NIST SP 800-38D, 96-bit IV).
        counter = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
        body = counter.update(plaintext) + counter.finalize()
    content = bytes((security_control,)) + invocation_counter.to_bytes(4) + body
    return (
        bytes((TAG_GENERAL_GLO_CIPHERING, 8)) + system_title + encode_length(len(content)) + content
    )


# --------------------------------------------------------------------------- HDLC

HDLC_FLAG: Final = 0x7E
HDLC_MAX_LENGTH: Final = 0x7FF  # 11-bit frame length
HDLC_SEGMENTED: Final = 0x0800  # S bit of the format field
HDLC_DEFAULT_MAX_INFORMATION: Final = 128  # IEC 62056-46 default maximum information field


@dataclass(frozen=True, slots=True)
class HdlcLink:
    """Addresses and control byte of an HDLC frame, as raw bytes on the wire.

    Each address is 1-4 bytes; every byte but the last has LSB 0 and the last has LSB
    1 (IEC 62056-46, clause 6.4.2): Kamstrup dest 2B src 21, Aidon dest 41 src 08 83,
    Kaifa dest 01 src 02 01 (or 00 01 on the Swedish meter). Meters push UI frames:
    control 0x13 (UI with the poll/final bit), Kaifa 0x10.
    """

    dest: bytes
    src: bytes
    control: int = 0x13

    def __post_init__(self) -> None:
        for name, address in (("dest", self.dest), ("src", self.src)):
            if not 1 <= len(address) <= 4:
                raise ValueError(f"HDLC {name} address has 1-4 bytes, not {len(address)}")
            if address[-1] & 1 == 0 or any(byte & 1 for byte in address[:-1]):
                raise ValueError(
                    f"HDLC {name} address {address.hex()}: only the last byte may have LSB 1"
                )
        if not 0 <= self.control <= 0xFF:
            raise ValueError(f"control byte {self.control} is outside 0..255")


def hdlc_frame(information: bytes, link: HdlcLink, *, segmented: bool = False) -> bytes:
    """One HDLC frame format type 3 (IEC 62056-46, clause 6.4), flags included.

    The length counts everything between the flags. HCS (over format..control) is only
    present when there is an information field; FCS covers format..information. Both
    are CRC-16/X-25 sent LSB first.
    """
    header_length = 2 + len(link.dest) + len(link.src) + 1
    length = header_length + (2 + len(information) if information else 0) + 2
    if length > HDLC_MAX_LENGTH:
        raise ValueError(f"frame of {length} bytes exceeds the 11-bit length; segment it")
    frame_format = 0xA000 | (HDLC_SEGMENTED if segmented else 0) | length
    body = bytearray(frame_format.to_bytes(2, "big"))
    body += link.dest + link.src
    body.append(link.control)
    if information:
        body += crc16_x25(body).to_bytes(2, "little")
        body += information
    body += crc16_x25(body).to_bytes(2, "little")
    return bytes((HDLC_FLAG,)) + bytes(body) + bytes((HDLC_FLAG,))


def hdlc_segments(
    information: bytes,
    link: HdlcLink,
    *,
    max_information: int | Sequence[int] = HDLC_DEFAULT_MAX_INFORMATION,
) -> list[bytes]:
    """Frames carrying one information field cut into pieces (IEC 62056-46, 6.4.3.2).

    All frames but the last have the segmentation bit (format A8xx). The LLC header
    belongs to the information field, so it travels in the first segment only.
    """
    chunks = _split(information, max_information)
    return [
        hdlc_frame(chunk, link, segmented=index < len(chunks) - 1)
        for index, chunk in enumerate(chunks)
    ]


def gbt_frames(
    apdu: bytes, link: HdlcLink, sizes: int | Sequence[int], *, first_block: int = 1
) -> list[bytes]:
    """An APDU as general-block-transfer blocks, one unsegmented HDLC frame each.

    Only the first frame carries the LLC header: the L&G E450 capture
    (landisgyr-ch-e450-gbt-3frames-amsreader-gh740) starts frames 2 and 3 with E0.
    """
    blocks = gbt_blocks(apdu, sizes, first_block=first_block)
    return [
        hdlc_frame((LLC_HEADER if index == 0 else b"") + block, link)
        for index, block in enumerate(blocks)
    ]


# ------------------------------------------------------------------ vendor lists


class Role(StrEnum):
    """What a list element carries."""

    LIST_VERSION = "list_version"
    METER_ID = "meter_id"
    METER_TYPE = "meter_type"
    CLOCK = "clock"
    VALUE = "value"


class Style(StrEnum):
    """How a vendor wraps its elements (the body of the data-notification)."""

    # Flat structure: [list id], then OBIS octet-string and value, one after the other
    # (Kamstrup, Kaifa SE). An element without OBIS is sent bare (Kamstrup's list id).
    PAIRS = "pairs"
    # Array of structures (OBIS, value[, structure(scaler, unit)]) (Aidon).
    SCALED = "scaled"
    # Structure of bare values; the decoder knows them by position (Kaifa NO).
    BARE = "bare"


# COSEM unit enumeration (IEC 62056-6-2, table 4) for the units these lists use.
UNIT_WH: Final = 30
UNIT_VARH: Final = 32
UNIT_W: Final = 27
UNIT_VAR: Final = 29
UNIT_A: Final = 33
UNIT_V: Final = 35


@dataclass(frozen=True, slots=True)
class Element:
    """One element of a vendor list.

    For a VALUE, the builder sends round(value / 10**exponent) as `tag`, the value
    being in `unit` (W, var, A, V, kWh, kvarh). `cosem` is the (scaler, unit enum)
    structure sent alongside (Aidon style). `phase` 2 or 3 marks what a single-phase
    meter leaves out or nulls.
    """

    role: Role
    obis: Obis | None
    tag: Tag
    exponent: int = 0
    unit: str | None = None
    cosem: tuple[int, int] | None = None
    phase: int | None = None


@dataclass(frozen=True, slots=True)
class ListLayout:
    """A vendor's push list as data: element order, types and the frame around it."""

    vendor: str
    country: str
    name: str
    style: Style
    elements: tuple[Element, ...]
    link: HdlcLink
    invoke_id: int
    date_time_encoding: DateTimeEncoding
    list_version: str | None = None
    # Single-phase meters: Kamstrup keeps its 25/35 elements and sends null-data for
    # the missing phases' OBIS and value (kamstrup-no-list1-1ph-2022-amsreader); Kaifa
    # leaves them out (9 and 14 elements, kaifa-no-list2-1ph-2020-hassams).
    null_missing_phases: bool = False

    def registers(self, phases: int = 3) -> tuple[Element, ...]:
        """The VALUE elements a meter with `phases` phases sends."""
        return tuple(
            element
            for element in self.elements
            if element.role is Role.VALUE and _has_phase(element, phases)
        )


def _has_phase(element: Element, phases: int) -> bool:
    return element.phase is None or element.phase <= phases


@dataclass(frozen=True, slots=True)
class ListMessage:
    """What one push list says, in engineering units (W, var, A, V, kWh, kvarh).

    `timestamp` goes in the APDU header (when the layout has one); `clock` in the
    clock register (when the layout has one) and defaults to `timestamp`. Both use
    `deviation`, `clock_status` and `weekday` (see `encode_date_time`).
    `list_version` defaults to the layout's identifier.
    """

    values: Mapping[Obis, float]
    meter_id: str | None = None
    meter_type: str | None = None
    timestamp: datetime | None = None
    clock: datetime | None = None
    deviation: int | None = None
    clock_status: int | None = 0
    weekday: int | None = None
    list_version: str | None = None


def raw_value(element: Element, value: float) -> int:
    """The integer a meter sends for `value` in the element's unit.

    Decimal on the float's shortest repr keeps 155232.51 kWh at 15523251, not ...50.
    """
    scaled = Decimal(repr(value)).scaleb(-element.exponent)
    return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))


def engineering_value(element: Element, raw: int) -> float:
    """The inverse of `raw_value`: what a correct decoder reports."""
    return float(Decimal(raw).scaleb(element.exponent))


def _text(element: Element, text: str) -> Data:
    if element.tag is Tag.OCTET_STRING:
        return octet_string(text.encode("ascii"))
    return Data(element.tag, text)


def _element_value(element: Element, message: ListMessage, layout: ListLayout) -> Data:
    if element.role is Role.VALUE:
        assert element.obis is not None
        try:
            value = message.values[element.obis]
        except KeyError:
            raise ValueError(
                f"{layout.vendor} {layout.name} needs a value for {element.obis}"
            ) from None
        return Data(element.tag, raw_value(element, value))
    if element.role is Role.CLOCK:
        when = message.clock or message.timestamp
        if when is None:
            raise ValueError(f"{layout.vendor} {layout.name} needs a clock time")
        return date_time(
            when,
            deviation=message.deviation,
            clock_status=message.clock_status,
            weekday=message.weekday,
        )
    text = {
        Role.LIST_VERSION: message.list_version or layout.list_version,
        Role.METER_ID: message.meter_id,
        Role.METER_TYPE: message.meter_type,
    }[element.role]
    if text is None:
        raise ValueError(f"{layout.vendor} {layout.name} needs a {element.role.value}")
    return _text(element, text)


def build_body(layout: ListLayout, message: ListMessage, *, phases: int = 3) -> Data:
    """The notification body for `message` laid out as `layout`."""
    if phases not in (1, 3):
        raise ValueError(f"a meter has 1 or 3 phases, not {phases}")
    items: list[Data] = []
    for element in layout.elements:
        present = _has_phase(element, phases)
        if not present and not layout.null_missing_phases:
            continue
        if layout.style is Style.PAIRS:
            if not present:
                items += (NULL, NULL)
                continue
            if element.obis is not None:
                items.append(octet_string(element.obis.to_bytes()))
            items.append(_element_value(element, message, layout))
        elif layout.style is Style.SCALED:
            assert element.obis is not None
            parts = [
                octet_string(element.obis.to_bytes()),
                _element_value(element, message, layout),
            ]
            if element.cosem is not None:
                scaler, unit = element.cosem
                parts.append(structure(Data(Tag.INTEGER, scaler), Data(Tag.ENUM, unit)))
            items.append(structure(*parts))
        else:
            items.append(_element_value(element, message, layout))
    return Data(Tag.ARRAY if layout.style is Style.SCALED else Tag.STRUCTURE, tuple(items))


def build_apdu(
    layout: ListLayout,
    message: ListMessage,
    *,
    phases: int = 3,
    invoke_id: int | None = None,
    date_time_encoding: DateTimeEncoding | None = None,
) -> bytes:
    """The data-notification APDU (no LLC header) for `message` laid out as `layout`."""
    encoding = date_time_encoding or layout.date_time_encoding
    header_time = None
    if encoding is not DateTimeEncoding.ABSENT:
        if message.timestamp is None:
            raise ValueError(f"{layout.vendor} {layout.name} sends a time in its header")
        header_time = encode_date_time(
            message.timestamp,
            deviation=message.deviation,
            clock_status=message.clock_status,
            weekday=message.weekday,
        )
    return data_notification(
        build_body(layout, message, phases=phases),
        invoke_id=layout.invoke_id if invoke_id is None else invoke_id,
        date_time=header_time,
        encoding=encoding,
    )


def build_frame(
    layout: ListLayout,
    message: ListMessage,
    *,
    phases: int = 3,
    link: HdlcLink | None = None,
    invoke_id: int | None = None,
    date_time_encoding: DateTimeEncoding | None = None,
) -> bytes:
    """One HDLC frame with `message` as `layout`'s meter would send it."""
    apdu = build_apdu(
        layout,
        message,
        phases=phases,
        invoke_id=invoke_id,
        date_time_encoding=date_time_encoding,
    )
    return hdlc_frame(LLC_HEADER + apdu, link or layout.link)


# ------------------------------------------------------------------ layout tables


def _obis(text: str) -> Obis:
    return Obis.parse(text)


def _registers(
    channel: int, rows: Iterable[tuple[str, Tag, int, str, tuple[int, int] | None]]
) -> tuple[Element, ...]:
    """VALUE elements from (C.D.E, tag, exponent, unit, cosem) rows, A=1, B=channel."""
    elements = []
    for code, tag, exponent, unit, cosem in rows:
        obis = _obis(f"1-{channel}:{code}")
        # IEC 62056-61: C = 21..40 are L1 quantities, 41..60 L2, 61..80 L3.
        phase = 2 if 41 <= obis.c <= 60 else 3 if 61 <= obis.c <= 80 else None
        elements.append(Element(Role.VALUE, obis, tag, exponent, unit, cosem, phase))
    return tuple(elements)


_U32 = Tag.DOUBLE_LONG_UNSIGNED
_I16 = Tag.LONG
_U16 = Tag.LONG_UNSIGNED

_POWERS: Final = (
    ("1.7.0", "W", UNIT_W),
    ("2.7.0", "W", UNIT_W),
    ("3.7.0", "var", UNIT_VAR),
    ("4.7.0", "var", UNIT_VAR),
)
_ENERGIES: Final = (
    ("1.8.0", "kWh", UNIT_WH),
    ("2.8.0", "kWh", UNIT_WH),
    ("3.8.0", "kvarh", UNIT_VARH),
    ("4.8.0", "kvarh", UNIT_VARH),
)
_CURRENTS: Final = ("31.7.0", "51.7.0", "71.7.0")
_VOLTAGES: Final = ("32.7.0", "52.7.0", "72.7.0")
# Aidon SE adds per-phase active/reactive power: C = 21..24, 41..44, 61..64.
_PHASE_POWERS: Final = tuple(
    (f"{base + offset}.7.0", unit, cosem)
    for base in (20, 40, 60)
    for offset, unit, cosem in (
        (1, "W", UNIT_W),
        (2, "W", UNIT_W),
        (3, "var", UNIT_VAR),
        (4, "var", UNIT_VAR),
    )
)

# Kamstrup (NO/DK/SE): OBIS with B=1, no scaler sent; currents in 0.01 A, voltages
# long-unsigned in V; energy 0.01 kWh in Norway but Wh in Sweden
# (kamstrup-se-list2-3ph-2022-amsreader-gh239-2: 0x01E87F4E = 32014.158 kWh).
_KAMSTRUP_LINK: Final = HdlcLink(b"\x2b", b"\x21", 0x13)
_KAMSTRUP_HEAD: Final = (
    Element(Role.LIST_VERSION, None, Tag.VISIBLE_STRING),
    Element(Role.METER_ID, _obis("1-1:0.0.5"), Tag.VISIBLE_STRING),
    Element(Role.METER_TYPE, _obis("1-1:96.1.1"), Tag.VISIBLE_STRING),
)
_KAMSTRUP_INSTANT: Final = _registers(
    1,
    [(code, _U32, 0, unit, None) for code, unit, _ in _POWERS]
    + [(code, _U32, -2, "A", None) for code in _CURRENTS]
    + [(code, _U16, 0, "V", None) for code in _VOLTAGES],
)
_KAMSTRUP_CLOCK: Final = Element(Role.CLOCK, _obis("0-1:1.0.0"), Tag.OCTET_STRING)


def _kamstrup(country: str, name: str, energy_exponent: int | None) -> ListLayout:
    elements = _KAMSTRUP_HEAD + _KAMSTRUP_INSTANT
    if energy_exponent is not None:
        energies = _registers(1, [(c, _U32, energy_exponent, u, None) for c, u, _ in _ENERGIES])
        elements += (_KAMSTRUP_CLOCK, *energies)
    return ListLayout(
        "kamstrup",
        country,
        name,
        Style.PAIRS,
        elements,
        _KAMSTRUP_LINK,
        invoke_id=0,
        date_time_encoding=DateTimeEncoding.OCTET_STRING,
        list_version="Kamstrup_V0001",
        null_missing_phases=True,
    )


# Aidon: every value carries structure(scaler int8, unit enum); current is a signed
# long in 0.1 A (negative when exporting, aidon-se-3ph-hassams), voltage 0.1 V,
# energy scaler 1 Wh in Norway (10 Wh) but scaler 0 in Sweden.
_AIDON_LINK: Final = HdlcLink(b"\x41", b"\x08\x83", 0x13)
_AIDON_HEAD: Final = (
    Element(Role.LIST_VERSION, _obis("1-1:0.2.129"), Tag.VISIBLE_STRING),
    Element(Role.METER_ID, _obis("0-0:96.1.0"), Tag.VISIBLE_STRING),
    Element(Role.METER_TYPE, _obis("0-0:96.1.7"), Tag.VISIBLE_STRING),
)
_AIDON_POWERS: Final = _registers(0, [(c, _U32, 0, u, (0, e)) for c, u, e in _POWERS])
_AIDON_PHASES: Final = _registers(
    0,
    [(code, _I16, -1, "A", (-1, UNIT_A)) for code in _CURRENTS]
    + [(code, _U16, -1, "V", (-1, UNIT_V)) for code in _VOLTAGES],
)
_AIDON_CLOCK: Final = Element(Role.CLOCK, _obis("0-0:1.0.0"), Tag.OCTET_STRING)


def _aidon(country: str, name: str, elements: tuple[Element, ...]) -> ListLayout:
    return ListLayout(
        "aidon",
        country,
        name,
        Style.SCALED,
        elements,
        _AIDON_LINK,
        invoke_id=0x40000000,
        date_time_encoding=DateTimeEncoding.ABSENT,
        list_version="AIDON_V0001" if name != "list1" and country == "NO" else None,
    )


_AIDON_NO_ENERGIES: Final = _registers(0, [(c, _U32, -2, u, (1, e)) for c, u, e in _ENERGIES])
_AIDON_SE_PHASE_POWERS: Final = _registers(
    0, [(c, _U32, 0, u, (0, e)) for c, u, e in _PHASE_POWERS]
)
_AIDON_SE_ENERGIES: Final = _registers(0, [(c, _U32, -3, u, (0, e)) for c, u, e in _ENERGIES])

# Kaifa: no scaler; currents in mA, voltages in 0.1 V, energies in Wh, strings as
# octet-strings. Norway sends no OBIS codes (the position says what a value is);
# the Swedish list pairs them like Kamstrup (kaifa-se-3ph-2022-hassams-obis).
_KAIFA_HEAD: Final = (
    Element(Role.LIST_VERSION, _obis("1-0:0.2.129"), Tag.OCTET_STRING),
    Element(Role.METER_ID, _obis("0-0:96.1.0"), Tag.OCTET_STRING),
    Element(Role.METER_TYPE, _obis("0-0:96.1.7"), Tag.OCTET_STRING),
)
_KAIFA_INSTANT: Final = _registers(
    0,
    [(code, _U32, 0, unit, None) for code, unit, _ in _POWERS]
    + [(code, _U32, -3, "A", None) for code in _CURRENTS]
    + [(code, _U32, -1, "V", None) for code in _VOLTAGES],
)
_KAIFA_TAIL: Final = (
    Element(Role.CLOCK, _obis("0-0:1.0.0"), Tag.OCTET_STRING),
    *_registers(0, [(c, _U32, -3, u, None) for c, u, _ in _ENERGIES]),
)


def _kaifa(country: str, name: str, style: Style, elements: tuple[Element, ...]) -> ListLayout:
    norway = country == "NO"
    return ListLayout(
        "kaifa",
        country,
        name,
        style,
        elements,
        HdlcLink(b"\x01", b"\x02\x01" if norway else b"\x00\x01", 0x10),
        invoke_id=0x40000000,
        date_time_encoding=DateTimeEncoding.TAGGED if norway else DateTimeEncoding.ABSENT,
        list_version="KFM_001" if len(elements) > 1 else None,
    )


def _table(*layouts: ListLayout) -> dict[tuple[str, str, str], ListLayout]:
    return {(layout.vendor, layout.country, layout.name): layout for layout in layouts}


_KAMSTRUP_LIST1: Final = _kamstrup("NO", "list1", None)
LAYOUTS: Final[Mapping[tuple[str, str, str], ListLayout]] = _table(
    _KAMSTRUP_LIST1,
    _kamstrup("NO", "list2", -2),
    # Kamstrup SE: list 1 is the Norwegian one; list 2 differs in the energy unit only.
    replace(_KAMSTRUP_LIST1, country="SE"),
    _kamstrup("SE", "list2", -3),
    _aidon("NO", "list1", _AIDON_POWERS[:1]),
    _aidon("NO", "list2", _AIDON_HEAD + _AIDON_POWERS + _AIDON_PHASES),
    _aidon(
        "NO",
        "list3",
        _AIDON_HEAD + _AIDON_POWERS + _AIDON_PHASES + (_AIDON_CLOCK,) + _AIDON_NO_ENERGIES,
    ),
    _aidon(
        "SE",
        "list-se",
        (
            _AIDON_CLOCK,
            *_AIDON_POWERS,
            *_AIDON_PHASES,
            *_AIDON_SE_PHASE_POWERS,
            *_AIDON_SE_ENERGIES,
        ),
    ),
    _kaifa("NO", "list1", Style.BARE, _KAIFA_INSTANT[:1]),
    _kaifa("NO", "list2", Style.BARE, _KAIFA_HEAD + _KAIFA_INSTANT),
    _kaifa("NO", "list3", Style.BARE, _KAIFA_HEAD + _KAIFA_INSTANT + _KAIFA_TAIL),
    _kaifa("SE", "list-se", Style.PAIRS, _KAIFA_HEAD + _KAIFA_INSTANT + _KAIFA_TAIL),
)


def layout_for(vendor: str, name: str, country: str = "NO") -> ListLayout:
    """The layout of `vendor`'s list `name` ("list1", "list2", "list3", "list-se")."""
    try:
        return LAYOUTS[vendor.lower(), country.upper(), name]
    except KeyError:
        known = ", ".join("/".join(key) for key in LAYOUTS)
        raise ValueError(f"no layout {vendor}/{country}/{name}; known: {known}") from None
