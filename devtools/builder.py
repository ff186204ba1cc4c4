"""Frame builder: the inverse of the decoder, from engineering values to HDLC bytes.

Layers, each a function a test can call on its own:

    Data (typed A-XDR value)  --encode()-->             A-XDR bytes (IEC 62056-6-2)
    body + header fields      --data_notification()-->  APDU 0F ... (IEC 62056-5-3)
    LLC_HEADER + APDU         --hdlc_frame()-->         7E A0xx ... 7E (IEC 62056-46)
    long APDU                 --hdlc_segments()/gbt_frames()-->  several frames

On top, `build_frame(layout, message)` turns engineering values (W, A, V, kWh) into
the exact bytes a vendor's meter would send. The layouts are not written here: each
`ListLayout` is a list of the vendor table (custom_components/han_port/han/vendors.py)
resolved against its market, the same rows the decoder reads Kaifa's positional lists
and fixed scalers from. The tests prove it by reproducing real captures byte for byte.
Nothing here does I/O or reads a clock. The A-XDR tags, APDU tags and framing bytes
are the decoder's own (han/cosem.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
import struct
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custom_components.han_port.han.cosem import (
    AUTHENTICATION_TAG_LENGTH,
    DATE_TIME_LENGTH,
    DEVIATION_UNSPECIFIED,
    LLC_HEADERS,
    NOT_SPECIFIED,
    ApduTag,
    BlockControl,
    DateTimeEncoding,
    DlmsUnit,
    Hdlc,
    Mbus,
    SecurityControl,
    Tag,
    quantity,
)
from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.meters import DLMS_UNITS, UNITS
from custom_components.han_port.han.model import Obis, Unit
from custom_components.han_port.han.vendors import (
    VENDORS,
    Market,
    PushElement,
    PushList,
    Role,
    Style,
    Vendor,
)

# --------------------------------------------------------------------------- A-XDR


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

LLC_HEADER: Final = LLC_HEADERS[0]  # LSAP 0xE6 (DLMS), 0xE7 (response), quality 0


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
    out = bytearray((ApduTag.DATA_NOTIFICATION,))
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
        control = BlockControl.STREAMING | (BlockControl.LAST_BLOCK if last else 0)
        block = bytearray((ApduTag.GENERAL_BLOCK_TRANSFER, control))
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
    authenticated = security_control & SecurityControl.AUTHENTICATED
    if authenticated and not security_control & SecurityControl.ENCRYPTED:
        signer = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        signer.authenticate_additional_data(aad + plaintext)
        signer.finalize()
        body = plaintext + signer.tag[:AUTHENTICATION_TAG_LENGTH]
    elif authenticated:
        sealer = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        sealer.authenticate_additional_data(aad)
        body = sealer.update(plaintext) + sealer.finalize() + sealer.tag[:AUTHENTICATION_TAG_LENGTH]
    else:
        # GCM without a tag is AES-CTR from counter block 2 (NIST SP 800-38D, 96-bit IV).
        counter = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
        body = counter.update(plaintext) + counter.finalize()
    content = bytes((security_control,)) + invocation_counter.to_bytes(4) + body
    return (
        bytes((ApduTag.GENERAL_GLO_CIPHERING, 8))
        + system_title
        + encode_length(len(content))
        + content
    )


# --------------------------------------------------------------------------- HDLC

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
    control: int = Hdlc.CONTROL_UI

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
    if length > Hdlc.MAX_LENGTH:
        raise ValueError(f"frame of {length} bytes exceeds the 11-bit length; segment it")
    segment_bit = Hdlc.SEGMENTED if segmented else 0
    frame_format = ((Hdlc.FORMAT_TYPE_3 | segment_bit) << 8) | length
    body = bytearray(frame_format.to_bytes(2, "big"))
    body += link.dest + link.src
    body.append(link.control)
    if information:
        body += crc16_x25(body).to_bytes(2, "little")
        body += information
    body += crc16_x25(body).to_bytes(2, "little")
    return bytes((Hdlc.FLAG,)) + bytes(body) + bytes((Hdlc.FLAG,))


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


# ------------------------------------------------------------------ M-Bus


def mbus_frame(fragment: bytes, *, ci: int, c: int = 0x53, a: int = 0xFF) -> bytes:
    """An M-Bus long frame (EN 13757-2) carrying one DLMS fragment behind STSAP 01 DTSAP 67.

    `ci` is the sequence number, with Mbus.LAST_SEGMENT on the last segment (Kaifa
    MA309: 0x00 then 0x11). The checksum is the byte sum of C through the fragment.
    """
    user = bytes((c, a, ci, 0x01, 0x67)) + fragment
    length = len(user)
    if length > 0xFF:
        raise ValueError(f"an M-Bus long frame holds 255 bytes, not {length}: segment it")
    head = bytes((Mbus.START, length, length, Mbus.START))
    return head + user + bytes((sum(user) & 0xFF, Mbus.STOP))


# ------------------------------------------------------------------ vendor lists


@dataclass(frozen=True, slots=True)
class Element:
    """One element of a vendor list, with what the builder needs to write a value.

    For a VALUE, the builder sends round(value / 10**exponent) as `tag`, the value
    being in `unit` (W, var, A, V, kWh, kvarh). `cosem` is the (scaler, unit enum)
    structure sent alongside (Aidon style). `phase` 2 or 3 marks what a single-phase
    meter leaves out or nulls. All of it follows from the vendor table (vendors.py):
    the element's row and its market's exponents.
    """

    role: Role
    obis: Obis | None
    tag: Tag
    exponent: int = 0
    unit: Unit | None = None
    cosem: tuple[int, DlmsUnit] | None = None
    phase: int | None = None


@dataclass(frozen=True, slots=True)
class ListLayout:
    """A vendor's push list as the builder writes it: elements, frame around them."""

    vendor: str
    country: str
    name: str
    style: Style
    elements: tuple[Element, ...]
    link: HdlcLink
    invoke_id: int
    date_time_encoding: DateTimeEncoding
    list_version: str | None = None
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


# The DLMS unit a scaled list sends beside a quantity: the one the decoder turns into
# the quantity's unit (Wh for kWh, W for W).
_DLMS_UNIT_OF: Final[Mapping[Unit | None, DlmsUnit]] = {
    unit: DlmsUnit(code) for code, (unit, _shift) in DLMS_UNITS.items()
}


def _element(item: PushElement, market: Market) -> Element:
    """A table row resolved against its market: exponent, unit and scaler_unit."""
    if item.role is not Role.VALUE:
        return Element(item.role, item.obis, item.tag)
    assert item.obis is not None
    kind = quantity(item.obis)
    if kind is None:
        raise ValueError(f"{item.obis} is not a register the decoder knows")
    unit = UNITS[kind]
    if item.scaler is None:
        return Element(
            item.role, item.obis, item.tag, market.exponents[kind], unit, None, item.phase
        )
    dlms_unit = _DLMS_UNIT_OF[unit]
    exponent = item.scaler + DLMS_UNITS[dlms_unit][1]
    return Element(
        item.role, item.obis, item.tag, exponent, unit, (item.scaler, dlms_unit), item.phase
    )


def _layout(vendor: Vendor, market: Market, country: str, push_list: PushList) -> ListLayout:
    framing = market.framing
    assert framing is not None
    assert vendor.name is not None
    return ListLayout(
        vendor.name.lower(),
        country,
        push_list.name,
        push_list.style,
        tuple(_element(item, market) for item in push_list.elements),
        HdlcLink(framing.hdlc_dest, framing.hdlc_src, framing.hdlc_control),
        framing.invoke_id,
        framing.date_time,
        push_list.list_version,
        framing.null_missing_phases,
    )


# Every list of every market the table says how to frame, keyed (vendor, country, list):
# ("kamstrup", "NO", "list2"). Derived from vendors.VENDORS, never written here.
LAYOUTS: Final[Mapping[tuple[str, str, str], ListLayout]] = {
    (layout.vendor, layout.country, layout.name): layout
    for vendor in VENDORS
    for market in vendor.markets
    if market.framing is not None
    for country in market.countries
    for layout in (_layout(vendor, market, country, push_list) for push_list in market.lists)
}


def layout_for(vendor: str, name: str, country: str = "NO") -> ListLayout:
    """The layout of `vendor`'s list `name` ("list1", "list2", "list3", "list-se")."""
    try:
        return LAYOUTS[vendor.lower(), country.upper(), name]
    except KeyError:
        known = ", ".join("/".join(key) for key in LAYOUTS)
        raise ValueError(f"no layout {vendor}/{country}/{name}; known: {known}") from None


# ------------------------------------------------------------------ messages


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
