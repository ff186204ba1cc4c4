"""A-XDR decoding of DLMS/COSEM data (IEC 62056-6-2 "Data" CHOICE, -5-3 encoding).

Values map onto Python types: integers and enums -> int, boolean -> bool,
octet-string and bit-string -> bytes, visible/utf8-string -> str, float -> float,
structure and array -> list, null-data -> None. A date-time travels as an
octet-string of 12 bytes; `parse_datetime` reads it where the OBIS code says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
import struct
from typing import Final

from .cosem import DATE_TIME_LENGTH, DEVIATION_UNSPECIFIED, NOT_SPECIFIED, Tag

type AxdrValue = int | float | bool | bytes | str | list[AxdrValue] | None


class AxdrError(ValueError):
    """The bytes are not valid A-XDR (or exceed our safety limits)."""


# Safety limits: a meter's push list nests 3 deep and holds < 100 elements; these
# bounds only stop hostile input from recursing or allocating without end.
MAX_DEPTH: Final = 16
MAX_ELEMENTS: Final = 4096

_U16: Final = struct.Struct(">H")
_I16: Final = struct.Struct(">h")
_U32: Final = struct.Struct(">I")
_I32: Final = struct.Struct(">i")
_U64: Final = struct.Struct(">Q")
_I64: Final = struct.Struct(">q")
_F32: Final = struct.Struct(">f")
_F64: Final = struct.Struct(">d")

# Tags as plain ints: the parser compares one per value (see cosem.py).
_NULL: Final = int(Tag.NULL_DATA)
_ARRAY: Final = int(Tag.ARRAY)
_STRUCTURE: Final = int(Tag.STRUCTURE)
_BOOLEAN: Final = int(Tag.BOOLEAN)
_BIT_STRING: Final = int(Tag.BIT_STRING)
_DOUBLE_LONG_UNSIGNED: Final = int(Tag.DOUBLE_LONG_UNSIGNED)
_OCTET_STRING: Final = int(Tag.OCTET_STRING)
_VISIBLE_STRING: Final = int(Tag.VISIBLE_STRING)
_UTF8_STRING: Final = int(Tag.UTF8_STRING)
_BCD: Final = int(Tag.BCD)
_INTEGER: Final = int(Tag.INTEGER)  # int8
_UNSIGNED: Final = int(Tag.UNSIGNED)  # uint8
_LONG_UNSIGNED: Final = int(Tag.LONG_UNSIGNED)
_ENUM: Final = int(Tag.ENUM)
_DATE_TIME: Final = int(Tag.DATE_TIME)
_NESTED: Final = frozenset({_STRUCTURE, _ARRAY})
# 0x8000 read as the signed 16-bit integer the deviation is.
_DEVIATION_UNSPECIFIED: Final = DEVIATION_UNSPECIFIED - 0x10000
_STRINGS: Final = frozenset({_OCTET_STRING, _VISIBLE_STRING, _UTF8_STRING})
_BYTE_VALUED: Final = frozenset({_UNSIGNED, _ENUM, _BCD})

# Fixed-size numeric tags: tag -> (struct, size).
_FIXED: Final[dict[int, tuple[struct.Struct, int]]] = {
    int(Tag.DOUBLE_LONG): (_I32, 4),
    _DOUBLE_LONG_UNSIGNED: (_U32, 4),
    int(Tag.LONG): (_I16, 2),
    _LONG_UNSIGNED: (_U16, 2),
    int(Tag.LONG64): (_I64, 8),
    int(Tag.LONG64_UNSIGNED): (_U64, 8),
    int(Tag.FLOAT32): (_F32, 4),
    int(Tag.FLOAT64): (_F64, 8),
}


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """A-XDR length: one byte < 0x80, or 0x8N followed by N big-endian bytes."""
    if pos >= len(buf):
        raise AxdrError("length runs past the end")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4 or pos + 1 + size > len(buf):
        raise AxdrError("bad length field")
    return int.from_bytes(buf[pos + 1 : pos + 1 + size]), pos + 1 + size


def parse(buf: bytes, pos: int = 0) -> tuple[AxdrValue, int]:
    """Decode one A-XDR value at buf[pos]; return it and the position after it."""
    try:
        return _parse(buf, pos, 0)
    except struct.error, IndexError:
        # unpack_from and indexing check bounds in C; we turn their complaint into ours
        # instead of testing every length in Python on the hot path.
        raise AxdrError("value runs past the end") from None


def _parse(buf: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    tag = buf[pos]
    pos += 1
    if tag in _NESTED:
        return _parse_elements(buf, pos, depth)
    fixed = _FIXED.get(tag)
    if fixed is not None:
        return fixed[0].unpack_from(buf, pos)[0], pos + fixed[1]
    if tag in _STRINGS:
        return _parse_string(buf, pos, tag)
    if tag == _INTEGER:
        byte = buf[pos]
        return (byte - 256 if byte > 127 else byte), pos + 1
    if tag in _BYTE_VALUED:
        return buf[pos], pos + 1
    if tag == _BOOLEAN:
        return buf[pos] != 0, pos + 1
    if tag == _NULL:
        return None, pos
    if tag == _BIT_STRING:
        bits, pos = read_length(buf, pos)
        size = (bits + 7) // 8
        if pos + size > len(buf):
            raise AxdrError("bit-string runs past the end")
        return buf[pos : pos + size], pos + size
    if tag == _DATE_TIME:
        end = pos + DATE_TIME_LENGTH
        if end > len(buf):
            raise AxdrError("date-time runs past the end")
        return buf[pos:end], end
    raise AxdrError(f"unknown A-XDR tag {tag:02X}")


def _parse_string(buf: bytes, pos: int, tag: int) -> tuple[AxdrValue, int]:
    size = buf[pos]
    if size < 0x80:
        pos += 1
    else:
        size, pos = read_length(buf, pos)
    end = pos + size
    if end > len(buf):
        raise AxdrError("string runs past the end")
    raw = buf[pos:end]
    if tag == _OCTET_STRING:
        return raw, end
    # Meters pad identifiers with NULs (L&G E350 meter id); they are not text.
    return raw.rstrip(b"\x00").decode("utf-8" if tag == _UTF8_STRING else "latin-1"), end


def _parse_elements(buf: bytes, pos: int, depth: int) -> tuple[list[AxdrValue], int]:
    if depth >= MAX_DEPTH:
        raise AxdrError("nested too deep")
    count = buf[pos]
    if count < 0x80:
        pos += 1
    else:
        count, pos = read_length(buf, pos)
    # Every element takes at least one byte: a count larger than what is left is a
    # lie, caught before it can make us loop or allocate.
    if count > len(buf) - pos or count > MAX_ELEMENTS:
        raise AxdrError(f"{count} elements cannot fit")
    items: list[AxdrValue] = []
    append = items.append
    depth += 1
    # The common tags are decoded inline: a push list is mostly OBIS octet-strings
    # and 16/32-bit integers, and a call per element would double the cost.
    for _ in range(count):
        tag = buf[pos]
        if tag == _DOUBLE_LONG_UNSIGNED:
            append(_U32.unpack_from(buf, pos + 1)[0])
            pos += 5
        elif tag == _OCTET_STRING and buf[pos + 1] == 6 and pos + 8 <= len(buf):
            append(buf[pos + 2 : pos + 8])
            pos += 8
        elif tag == _LONG_UNSIGNED:
            append(_U16.unpack_from(buf, pos + 1)[0])
            pos += 3
        elif tag in _NESTED:
            nested, pos = _parse_elements(buf, pos + 1, depth)
            append(nested)
        else:
            value, pos = _parse(buf, pos, depth)
            append(value)
    return items, pos


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """A COSEM date-time (IEC 62056-6-2 4.1.6.1) as the meter sent it."""

    local: datetime
    deviation: int | None  # minutes, COSEM sign: local = UTC - deviation; None = 0x8000
    clock_status: int | None  # 0xFF = not specified -> None; 0x80 = daylight saving

    def to_datetime(self) -> datetime:
        """Aware when the deviation is known, naive local wall-clock otherwise."""
        if self.deviation is None:
            return self.local
        return self.local.replace(tzinfo=_zone(-self.deviation))


_ZONES: dict[int, timezone] = {}


def _zone(offset_minutes: int) -> timezone:
    zone = _ZONES.get(offset_minutes)
    if zone is None:
        zone = timezone(timedelta(minutes=offset_minutes))
        _ZONES[offset_minutes] = zone
    return zone


def parse_datetime(raw: bytes) -> CosemDateTime | None:
    """Read a 12-byte COSEM date-time; None when it is not one or names no instant."""
    if len(raw) != DATE_TIME_LENGTH:
        return None
    year = (raw[0] << 8) | raw[1]
    month, day, hour, minute, second, hundredths = raw[2], raw[3], raw[5], raw[6], raw[7], raw[8]
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        return None
    micro = hundredths * 10_000 if hundredths < 100 else 0  # NOT_SPECIFIED
    try:
        local = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None
    deviation = _I16.unpack_from(raw, 9)[0]
    # Beyond +-14 h a deviation cannot be a real zone (0x8000 "not specified" is too).
    known = deviation != _DEVIATION_UNSPECIFIED and -840 <= deviation <= 840
    status = raw[11]
    return CosemDateTime(
        local, deviation if known else None, None if status == NOT_SPECIFIED else status
    )


class IntLeaf(int):
    """An integer that remembers where it was in the buffer (see parse_recording)."""

    offset: int
    code: str


class FloatLeaf(float):
    """A float that remembers where it was in the buffer."""

    offset: int
    code: str


class BytesLeaf(bytes):
    """An octet-string that remembers where its content was in the buffer."""

    offset: int
    code: str


_CODES: Final[dict[int, str]] = {
    int(Tag.DOUBLE_LONG): "i",
    _DOUBLE_LONG_UNSIGNED: "I",
    int(Tag.LONG): "h",
    _LONG_UNSIGNED: "H",
    int(Tag.LONG64): "q",
    int(Tag.LONG64_UNSIGNED): "Q",
    int(Tag.FLOAT32): "f",
    int(Tag.FLOAT64): "d",
    _INTEGER: "b",
    _UNSIGNED: "B",
    _ENUM: "B",
}


def parse_recording(buf: bytes, pos: int = 0) -> tuple[AxdrValue, int]:
    """Like parse, but numbers and octet-strings are *Leaf values carrying their offset.

    Used once per message shape to learn where each value sits, so that later
    messages of the same shape can be read with one struct.unpack (see shapes.py).
    """
    try:
        return _parse_recording(buf, pos, 0)
    except struct.error, IndexError:
        raise AxdrError("value runs past the end") from None


def _parse_recording(buf: bytes, pos: int, depth: int) -> tuple[AxdrValue, int]:
    tag = buf[pos]
    if tag in _NESTED:
        if depth >= MAX_DEPTH:
            raise AxdrError("nested too deep")
        count, pos = read_length(buf, pos + 1)
        if count > len(buf) - pos or count > MAX_ELEMENTS:
            raise AxdrError(f"{count} elements cannot fit")
        items: list[AxdrValue] = []
        for _ in range(count):
            item, pos = _parse_recording(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    value, end = _parse(buf, pos, depth)
    code = _CODES.get(tag)
    leaf: IntLeaf | FloatLeaf | BytesLeaf
    if code is not None and type(value) is int:
        leaf = IntLeaf(value)
    elif code is not None and type(value) is float:
        leaf = FloatLeaf(value)
    elif tag == _OCTET_STRING and type(value) is bytes:
        leaf = BytesLeaf(value)
        code = f"{len(value)}s"
    else:
        return value, end
    leaf.offset = end - struct.calcsize(">" + code)
    leaf.code = code
    return leaf, end
