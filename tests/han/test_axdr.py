"""A-XDR: every Data tag, lengths, safety limits, COSEM date-time, recorded offsets."""

from __future__ import annotations

from datetime import datetime, timedelta
import struct
import tracemalloc

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port.han import axdr
from custom_components.han_port.han.axdr import AxdrError, parse, parse_recording, read_length

from .conftest import bounded


@pytest.mark.parametrize(
    ("data", "value"),
    [
        ("00", None),  # null-data
        ("0300", False),
        ("0301", True),
        ("03FF", True),
        ("0F7F", 127),  # integer (int8)
        ("0F80", -128),
        ("0FFF", -1),
        ("11FF", 255),  # unsigned
        ("161B", 27),  # enum
        ("0D42", 0x42),  # bcd: the raw byte
        ("107FFF", 32767),  # long
        ("10FFF6", -10),
        ("12FFFF", 65535),  # long-unsigned
        ("05FFFFFFFE", -2),  # double-long
        ("06FFFFFFFF", 4294967295),  # double-long-unsigned
        ("14FFFFFFFFFFFFFFFF", -1),  # long64
        ("15FFFFFFFFFFFFFFFF", 2**64 - 1),  # long64-unsigned
        ("173FC00000", 1.5),  # float32
        ("18C059000000000000", -100.0),  # float64
        ("0903010203", b"\x01\x02\x03"),  # octet-string
        ("0A03414243", "ABC"),  # visible-string
        ("0C03C3A961", "éa"),  # utf8-string
        ("0A02E9E9", "éé"),  # visible-string read as latin-1, never failing
        ("040C ABCD", b"\xab\xcd"),  # bit-string: 12 bits in 2 bytes
        ("0400", b""),
        ("19" + "07E8021D04163032FF800000", bytes.fromhex("07E8021D04163032FF800000")),
        ("020212000A0F01", [10, 1]),  # structure
        ("0100", []),  # empty array
    ],
)
def test_every_tag_decodes(data: str, value: object) -> None:
    raw = bytes.fromhex(data.replace(" ", ""))
    parsed, end = parse(raw)
    assert parsed == value
    assert type(parsed) is type(value)
    assert end == len(raw)


def test_parse_starts_at_the_given_position() -> None:
    assert parse(b"\xff\xff\x12\x01\x02", 2) == (0x0102, 5)


def test_nul_padded_strings_lose_the_padding_but_octet_strings_keep_it() -> None:
    # L&G E350 pads its meter id with NULs; they are not part of the text.
    assert parse(b"\x0a\x06AB\x00\x00\x00\x00")[0] == "AB"
    assert parse(b"\x0c\x04\xc3\xa9\x00\x00")[0] == "é"
    assert parse(b"\x09\x04AB\x00\x00")[0] == b"AB\x00\x00"


@pytest.mark.parametrize("size", [0x80, 0xFF, 0x100, 0x1234])
def test_long_string_lengths(size: int) -> None:
    length = bytes((0x81, size)) if size < 0x100 else b"\x82" + size.to_bytes(2)
    raw = b"\x09" + length + bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    parsed, end = parse(raw)
    assert isinstance(parsed, bytes)
    assert len(parsed) == size
    assert end == len(raw)


def test_long_element_counts() -> None:
    raw = b"\x01\x81\x90" + b"\x11\x07" * 0x90
    assert parse(raw) == ([7] * 0x90, len(raw))
    raw = b"\x02\x82\x01\x00" + b"\x00" * 0x100
    assert parse(raw) == ([None] * 0x100, len(raw))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x05", (5, 1)),
        (b"\x81\x80", (128, 2)),
        (b"\x82\x01\x00", (256, 3)),
        (b"\x84" + b"\x00\x00\x01\x00", (256, 5)),
    ],
)
def test_read_length(data: bytes, expected: tuple[int, int]) -> None:
    assert read_length(data, 0) == expected


@pytest.mark.parametrize("data", [b"", b"\x80", b"\x85\x00\x00\x00\x00\x01", b"\x82\x01"])
def test_read_length_rejects_bad_fields(data: bytes) -> None:
    with pytest.raises(AxdrError):
        read_length(data, 0)


@pytest.mark.parametrize(
    "data",
    [
        "",  # nothing at all
        "12",  # long-unsigned without its bytes
        "0601020304"[:6],  # double-long-unsigned cut short
        "1800",  # float64 cut short
        "0F",  # integer without its byte
        "03",
        "0905010203",  # octet-string shorter than its length
        "0A8205",  # long length cut short
        "0AFF",  # 0xFF is not a length form A-XDR allows (size 0x7F)
        "0410FF",  # bit-string of 16 bits with 8
        "19010203",  # date-time cut short
        "020212",  # structure element cut short
        "01020600",  # inline double-long-unsigned cut short
        "0101090601",  # inline OBIS octet-string cut short
        "010112",  # inline long-unsigned cut short
        "0201",  # structure whose element is missing
        "FE",  # unknown tag
        "1300",  # tag 0x13 is not defined
    ],
)
def test_truncated_or_unknown_input_raises_axdr_error(data: str) -> None:
    raw = bytes.fromhex(data)
    with pytest.raises(AxdrError):
        parse(raw)
    with pytest.raises(AxdrError):
        parse_recording(raw)


@pytest.mark.parametrize("tag", [b"\x02", b"\x01"])
def test_nesting_depth_limit(tag: bytes) -> None:
    # A push list nests 3 deep; 16 is allowed, 17 is hostile input.
    allowed = (tag + b"\x01") * axdr.MAX_DEPTH + b"\x00"
    value, _ = parse(allowed)
    for _ in range(axdr.MAX_DEPTH):
        assert isinstance(value, list)
        value = value[0]
    assert value is None
    assert parse_recording(allowed)[1] == len(allowed)

    too_deep = (tag + b"\x01") * (axdr.MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(AxdrError, match="too deep"):
        parse(too_deep)
    with pytest.raises(AxdrError, match="too deep"):
        parse_recording(too_deep)


def test_very_deep_nesting_fails_without_recursion_error() -> None:
    hostile = b"\x02\x01" * 100_000
    with pytest.raises(AxdrError):
        parse(hostile)
    with pytest.raises(AxdrError):
        parse_recording(hostile)


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x84\xff\xff\xff\xff",  # 4 billion elements, no bytes
        b"\x02\x83\xff\xff\xff" + b"\x00" * 100,
        b"\x01\x82\x10\x01" + b"\x00" * 10_000,  # fits the bytes, over MAX_ELEMENTS
        b"\x01\x7f\x00",  # 127 elements in 1 byte
    ],
    ids=["4G-elements", "16M-elements", "max-elements+1", "127-in-1-byte"],
)
def test_absurd_element_counts_raise_before_allocating(data: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(AxdrError, match="cannot fit"):
            parse(data)
        with pytest.raises(AxdrError, match="cannot fit"):
            parse_recording(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Rejected from the count alone: a list of 4 billion (or even 4 097) elements was
    # never built. A loop over the elements would allocate one object per element.
    assert peak < 16 * 1024


def test_max_elements_is_allowed() -> None:
    raw = b"\x01\x82" + axdr.MAX_ELEMENTS.to_bytes(2) + b"\x00" * axdr.MAX_ELEMENTS
    value, _ = parse(raw)
    assert isinstance(value, list)
    assert len(value) == axdr.MAX_ELEMENTS


@bounded(300)
@given(st.binary(max_size=64))
def test_parse_raises_only_axdr_error(data: bytes) -> None:
    # Hostile input is a value error of one named type, never IndexError/struct.error.
    for parser in (parse, parse_recording):
        try:
            _value, end = parser(data)
        except AxdrError:
            continue
        assert 0 < end <= len(data)


# -- parse_recording --------------------------------------------------------------------

_RECORDED = bytes.fromhex(
    "0207"
    "0906 0100010700FF"  # OBIS octet-string
    "06 000003E8"  # double-long-unsigned 1000
    "10 FFF6"  # long -10
    "17 3FC00000"  # float32 1.5
    "0F FE"  # integer -2
    "0A02 4142"  # visible-string: not a leaf
    "0202 0F FF 16 1B".replace(" ", "")  # nested structure (scaler, unit)
)


def test_recording_leaves_know_where_they_are() -> None:
    value, end = parse_recording(_RECORDED)
    assert end == len(_RECORDED)
    assert value == parse(_RECORDED)[0]
    assert isinstance(value, list)
    leaves = [item for item in value if not isinstance(item, str | list)]
    leaves += value[6]
    for leaf in leaves:
        assert isinstance(leaf, axdr.IntLeaf | axdr.FloatLeaf | axdr.BytesLeaf)
        # The recorded offset and code read the same value back out of the buffer.
        assert struct.unpack_from(">" + leaf.code, _RECORDED, leaf.offset)[0] == leaf
    assert [leaf.code for leaf in leaves] == ["6s", "I", "h", "f", "b", "b", "B"]
    assert value[5] == "AB"
    assert type(value[5]) is str


def test_recording_leaves_nothing_for_null_and_booleans() -> None:
    value, _ = parse_recording(b"\x02\x02\x00\x03\x01")
    assert value == [None, True]
    assert type(value[1]) is bool


# -- COSEM date-time ----------------------------------------------------------------------


def _dt(  # noqa: PLR0917 - the fields in the order the 12 bytes hold them
    year: int = 2024,
    month: int = 2,
    day: int = 29,
    hour: int = 22,
    minute: int = 48,
    second: int = 50,
    hundredths: int = 0xFF,
    deviation: int = -0x8000,
    status: int = 0xFF,
) -> bytes:
    return (
        year.to_bytes(2)
        + bytes((month, day, 0xFF, hour, minute, second, hundredths))
        + deviation.to_bytes(2, signed=True)
        + bytes((status,))
    )


def test_date_time_with_unspecified_fields_is_naive_local() -> None:
    parsed = axdr.parse_datetime(_dt())
    assert parsed is not None
    assert parsed.local == datetime(2024, 2, 29, 22, 48, 50)
    assert parsed.deviation is None  # 0x8000: not specified
    assert parsed.clock_status is None  # 0xFF: not specified
    assert parsed.to_datetime() == datetime(2024, 2, 29, 22, 48, 50)
    assert parsed.to_datetime().tzinfo is None


def test_date_time_with_deviation_is_aware() -> None:
    # COSEM deviation = UTC - local: -120 is CEST (UTC+2), with the DST status bit.
    parsed = axdr.parse_datetime(_dt(2021, 7, 19, 15, 46, 35, 0, -120, 0x80))
    assert parsed is not None
    assert parsed.clock_status == 0x80
    aware = parsed.to_datetime()
    assert aware.utcoffset() == timedelta(hours=2)
    assert aware.replace(tzinfo=None) == datetime(2021, 7, 19, 15, 46, 35)


def test_date_time_hundredths() -> None:
    parsed = axdr.parse_datetime(_dt(hundredths=42, deviation=0, status=0))
    assert parsed is not None
    assert parsed.local.microsecond == 420_000
    assert parsed.to_datetime().utcoffset() == timedelta(0)
    assert parsed.clock_status == 0


@pytest.mark.parametrize("deviation", [841, -841, 0x7FFF])
def test_deviation_beyond_any_zone_is_unspecified(deviation: int) -> None:
    parsed = axdr.parse_datetime(_dt(deviation=deviation))
    assert parsed is not None
    assert parsed.deviation is None


@pytest.mark.parametrize(
    "raw",
    [
        _dt(year=0xFFFF),
        _dt(month=0xFF),
        _dt(month=13),
        _dt(day=0xFF),
        _dt(day=32),
        _dt(hour=0xFF),
        _dt(minute=60),
        _dt(second=0xFF),
        _dt(2023, 2, 29),  # no such day
        _dt(month=0),
        _dt()[:11],
        _dt() + b"\x00",
    ],
)
def test_date_time_that_names_no_instant_is_none(raw: bytes) -> None:
    assert axdr.parse_datetime(raw) is None
