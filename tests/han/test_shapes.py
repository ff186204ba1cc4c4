"""Compiled message shapes: the fast path must give what a full decode gives, always.

Each test decodes a variant frame twice: through a decoder that has already compiled
the shape from the original frame (fast path), and through a fresh decoder (full
A-XDR walk). The two readings must be equal, and the variant must really differ from
the original, or the test would prove nothing.
"""

from __future__ import annotations

import math
import struct

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port.han.apdu import (
    Plain,
    data_notification,
    datetime_offset,
    strip_llc,
    unwrap,
)
from custom_components.han_port.han.axdr import BytesLeaf, FloatLeaf, IntLeaf, parse_recording
from custom_components.han_port.han.meters import Interpretation, Scale, to_reading
from custom_components.han_port.han.model import Obis, Reading, Transport, Unit
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.shapes import MAX_SHAPES, Shape, ShapeCache
from custom_components.han_port.han.stream import StreamDecoder
from devtools.corpus import BY_ID, raw_bytes

from .conftest import (
    AIDON_L3_ID,
    HDLC_SINGLE,
    KAMSTRUP_L1_ID,
    KAMSTRUP_L2_ID,
    LLC,
    MBUS_ID,
    as_plain,
    bounded,
    decode_all,
    hdlc_apdu,
    hdlc_information,
    options_for,
    readings,
    reseal,
)


def _apdu(frame: bytes) -> bytes:
    return hdlc_information(frame)[len(LLC) :]


def _leaves(apdu: bytes) -> list[IntLeaf | FloatLeaf | BytesLeaf]:
    """Every number and octet-string in the body, with where it sits in the APDU."""
    _start, pos = datetime_offset(apdu)
    body, _ = parse_recording(apdu, pos)
    found: list[IntLeaf | FloatLeaf | BytesLeaf] = []

    def walk(value: object) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, IntLeaf | FloatLeaf | BytesLeaf):
            found.append(value)

    walk(body)
    return found


def _full_decode(frame: bytes, options: DecoderOptions) -> Reading:
    """The reading by the slow path alone: A-XDR walk and vendor rules, no shape."""
    plain = unwrap(strip_llc(hdlc_information(frame)), options.key, options.auth_key)
    notification = data_notification(plain.apdu)
    return to_reading(
        notification.body,
        notification.datetime_raw,
        country=options.country,
        system_title=plain.system_title,
        encrypted=plain.encrypted,
    )


def _value_after(frame: bytes, code: str) -> tuple[int, int]:
    """(offset in the frame, size) of the value that follows an OBIS code."""
    obis = b"\x09\x06" + Obis.parse(code).to_bytes()
    at = frame.index(obis) + 8
    size = {0x06: 4, 0x12: 2, 0x10: 2, 0x05: 4}[frame[at]]
    return at + 1, size


def _patched(frame: bytes, offset: int, data: bytes) -> bytes:
    changed = frame[:offset] + data + frame[offset + len(data) :]
    return reseal(changed)


def _cached_and_fresh(original: bytes, variant: bytes, **options: object) -> tuple[dict, dict]:
    entry_options = options_for(BY_ID[KAMSTRUP_L1_ID], **options)
    decoder = StreamDecoder(entry_options)
    [first] = readings(decoder.feed(original))
    [cached] = readings(decoder.feed(variant))
    [fresh] = readings(decode_all(variant, entry_options))
    assert as_plain(cached) != as_plain(first), "the variant must differ from the original"
    # A fresh decoder compiles its own shape; the slow path is the independent reference.
    assert as_plain(fresh) == as_plain(_full_decode(variant, entry_options))
    return as_plain(cached), as_plain(fresh)


def test_same_shape_new_values_read_through_the_cache() -> None:
    original = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    offset, size = _value_after(original, "1-1:1.7.0")
    variant = _patched(original, offset, (123456).to_bytes(size))

    cached, fresh = _cached_and_fresh(original, variant)

    assert cached == fresh
    assert cached["values"]["1-1:1.7.0"] == (123456, "W")


def test_cache_holds_one_shape_for_one_layout() -> None:
    original = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    offset, size = _value_after(original, "1-1:31.7.0")
    decoder = StreamDecoder()
    for value in range(5):
        decoder.feed(_patched(original, offset, value.to_bytes(size)))
    assert decoder.stats.shapes == 1


def test_new_header_time_reads_through_the_cache() -> None:
    original = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    header = original.index(bytes.fromhex("0C07E6011801"))
    later = bytes.fromhex("07E7061005173B3B00FF8880")  # 2023-06-16 23:59:59, -120 min, DST
    variant = _patched(original, header + 1, later)

    cached, fresh = _cached_and_fresh(original, variant)

    assert cached == fresh
    assert cached["timestamp"].hour == 23
    assert cached["utcoffset"] is not None


def test_new_clock_register_reads_through_the_cache() -> None:
    # Aidon list 3 has no header time, only the 0-0:1.0.0 register.
    original = raw_bytes(BY_ID[AIDON_L3_ID])
    clock = original.index(bytes.fromhex("090C07E40715"))
    variant = _patched(original, clock + 2, bytes.fromhex("07E40716031700000000000000"[:24]))

    cached, fresh = _cached_and_fresh(original, variant)

    assert cached == fresh
    assert cached["timestamp"].day == 22


def test_different_obis_does_not_reuse_the_shape() -> None:
    original = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    at = original.index(bytes.fromhex("0101020700FF"))
    # Same length, same types: only a static byte (the OBIS code's E group) differs.
    variant = _patched(original, at + 4, b"\x01")

    cached, fresh = _cached_and_fresh(original, variant)

    assert cached == fresh
    assert "1-1:2.7.1" in cached["values"]
    assert "1-1:2.7.0" not in cached["values"]
    decoder = StreamDecoder()
    decoder.feed(original + variant)
    assert decoder.stats.shapes == 2  # two shapes of one length


def test_different_meter_id_does_not_reuse_the_shape() -> None:
    original = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    at = original.index(b"5706567326590407")
    variant = _patched(original, at, b"5706567399999999")

    cached, fresh = _cached_and_fresh(original, variant)

    assert cached == fresh
    assert cached["meter_id"] == "5706567399999999"


@bounded(60)
@given(st.sampled_from(HDLC_SINGLE), st.data())
def test_random_values_in_any_capture_read_like_a_full_decode(
    entry: dict, data: st.DataObject
) -> None:
    original = raw_bytes(entry)
    apdu = _apdu(original)
    base = len(original) - 3 - len(apdu)  # where the APDU starts in the frame
    variant = original
    for leaf in _leaves(apdu):
        if isinstance(leaf, BytesLeaf):
            continue  # OBIS codes and identities: static bytes, tested above
        size = struct.calcsize(">" + leaf.code)
        new = data.draw(st.binary(min_size=size, max_size=size))
        variant = variant[: base + leaf.offset] + new + variant[base + leaf.offset + size :]
    variant = reseal(variant)
    options = options_for(entry)

    decoder = StreamDecoder(options)
    decoder.feed(original)
    cached = readings(decoder.feed(variant))
    fresh = readings(decode_all(variant, options))

    assert [as_plain(r) for r in cached] == [as_plain(r) for r in fresh]
    assert len(fresh) == 1
    assert as_plain(fresh[0]) == as_plain(_full_decode(variant, options))


@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=[entry["id"] for entry in HDLC_SINGLE])
def test_shape_read_equals_the_slow_path_on_every_capture(entry: dict) -> None:
    frame = raw_bytes(entry)
    options = options_for(entry)
    decoder = StreamDecoder(options)
    first, second = readings(decoder.feed(frame + frame))
    reference = as_plain(_full_decode(frame, options))
    assert as_plain(first) == reference
    assert as_plain(second) == reference


def test_encrypted_frames_keep_title_and_flag_through_the_cache() -> None:
    entry = BY_ID[MBUS_ID]
    decoder = StreamDecoder(options_for(entry))
    events = decoder.feed(raw_bytes(entry) * 2)

    first, second = readings(events)
    assert as_plain(first) == as_plain(second)
    assert second.encrypted
    assert second.system_title == first.system_title is not None
    assert decoder.stats.shapes == 1


def _float_frame(value: float) -> bytes:
    body = b"\x02\x02\x09\x06" + bytes((1, 0, 32, 7, 0, 255)) + b"\x17" + struct.pack(">f", value)
    return hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00" + body)


def test_float_values_and_non_finite_floats_through_the_cache() -> None:
    decoder = StreamDecoder()
    [first] = readings(decoder.feed(_float_frame(230.5)))
    [second] = readings(decoder.feed(_float_frame(231.25)))
    [third] = readings(decoder.feed(_float_frame(math.nan)))

    assert first.values[next(iter(first.values))].value == 230.5
    assert as_plain(second) == as_plain(readings(decode_all(_float_frame(231.25)))[0])
    # A NaN is no voltage: dropped, on the fast path as on the full one.
    assert third.values == {}
    assert readings(decode_all(_float_frame(math.nan)))[0].values == {}
    assert decoder.stats.shapes == 1


def _scaled_frame(raw: int) -> bytes:
    # {OBIS 1-0:1.7.0, long-unsigned raw, {scaler +2, unit W}}: hundreds of watts.
    body = (
        b"\x02\x03\x09\x06\x01\x00\x01\x07\x00\xff\x12"
        + raw.to_bytes(2)
        + b"\x02\x02\x0f\x02\x16\x1b"
    )
    return hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00" + body)


def test_positive_exponent_multiplies_through_the_cache() -> None:
    decoder = StreamDecoder()
    decoder.feed(_scaled_frame(3))
    [reading] = readings(decoder.feed(_scaled_frame(17)))
    assert [m.value for m in reading.values.values()] == [1700]
    assert as_plain(reading) == as_plain(readings(decode_all(_scaled_frame(17)))[0])


def _bcd_frame(raw: int) -> bytes:
    body = b"\x02\x02\x09\x06\x01\x00\x01\x07\x00\xff\x0d" + bytes((raw,))
    return hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00" + body)


def test_value_without_a_struct_code_is_decoded_in_full_every_time() -> None:
    # BCD has no struct code: the shape cannot be compiled, every frame is walked.
    decoder = StreamDecoder()
    [first] = readings(decoder.feed(_bcd_frame(0x12)))
    [second] = readings(decoder.feed(_bcd_frame(0x34)))
    assert [m.value for m in first.values.values()] == [0x12]
    assert [m.value for m in second.values.values()] == [0x34]
    assert decoder.stats.shapes == 0


def test_clock_as_date_time_tag_is_decoded_in_full() -> None:
    # A clock sent with the date-time tag (0x19) instead of an octet-string.
    clock = bytes.fromhex("07E1090D0200000AFF800000")
    body = b"\x02\x04\x09\x06\x00\x00\x01\x00\x00\xff\x19" + clock
    body += b"\x09\x06\x01\x00\x01\x07\x00\xff\x12\x00\x05"
    frame = hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00" + body)

    decoder = StreamDecoder()
    [reading] = readings(decoder.feed(frame))

    assert reading.timestamp is not None
    assert reading.timestamp.year == 2017
    assert decoder.stats.shapes == 0


def test_cache_bound_clears_and_keeps_decoding() -> None:
    decoder = StreamDecoder()
    frames = []
    for index in range(MAX_SHAPES + 1):
        # Each OBIS E group makes a new shape.
        body = b"\x02\x02\x09\x06" + bytes((1, 0, 1, 7, index, 255)) + b"\x12\x00\x07"
        frames.append(hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00" + body))
    for frame in frames[:MAX_SHAPES]:
        assert len(readings(decoder.feed(frame))) == 1
    assert decoder.stats.shapes == MAX_SHAPES

    [reading] = readings(decoder.feed(frames[MAX_SHAPES]))

    # Full: cleared, and the new shape is the only one.
    assert decoder.stats.shapes == 1
    assert [str(obis) for obis in reading.values] == [f"1-0:1.7.{MAX_SHAPES}"]
    # The first shape is compiled again and still reads right.
    [again] = readings(decoder.feed(frames[0]))
    assert [str(obis) for obis in again.values] == ["1-0:1.7.0"]


def test_shape_cache_used_directly() -> None:
    apdu = _apdu(raw_bytes(BY_ID[KAMSTRUP_L2_ID]))
    cache = ShapeCache("NO")
    first = cache.read(Plain(apdu), Transport.HDLC)
    second = cache.read(Plain(apdu), Transport.HDLC)
    assert as_plain(first) == as_plain(second)
    assert first.values == second.values
    assert cache.country == "NO"


def test_trailing_bytes_after_the_body_are_rejected_not_cached() -> None:
    apdu = _apdu(raw_bytes(BY_ID[KAMSTRUP_L1_ID])) + b"\x00"
    with pytest.raises(ValueError, match="after the notification body"):
        ShapeCache().read(Plain(apdu), Transport.HDLC)


def _leaf(value: int, offset: int) -> IntLeaf:
    leaf = IntLeaf(value)
    leaf.offset = offset
    leaf.code = "H"
    return leaf


def _interpretation(*values: tuple[Obis, IntLeaf]) -> Interpretation:
    found: list[tuple[Obis, int | float, int, Unit | None]] = [
        (obis, raw, 0, Unit.WATT) for obis, raw in values
    ]
    scales = tuple(
        Scale(index, obis, 1, 1, Unit.WATT, False) for index, (obis, _raw) in enumerate(values)
    )
    return Interpretation(None, None, None, None, None, None, found, scales)


def test_shape_reads_adjacent_values_and_refuses_overlapping_ones() -> None:
    # A-XDR puts a tag before every value, so a meter never sends these; the Shape
    # still must not mis-read if an interpretation ever locates values like this.
    apdu = b"\x0f\x00\x00\x00\x01\x00" + b"\x00\x07\x00\x09"
    power, other = Obis(1, 0, 1, 7, 0), Obis(1, 0, 2, 7, 0)
    adjacent = _interpretation((power, _leaf(7, 6)), (other, _leaf(9, 8)))
    shape = Shape.compile(apdu, None, adjacent)
    assert shape is not None
    reading = shape.read(apdu, Plain(apdu), Transport.HDLC)
    assert {str(o): m.value for o, m in reading.values.items()} == {"1-0:1.7.0": 7, "1-0:2.7.0": 9}

    overlapping = _interpretation((power, _leaf(7, 6)), (other, _leaf(9, 7)))
    assert Shape.compile(apdu, None, overlapping) is None


@pytest.mark.parametrize("count", [0, 1])
def test_shape_of_no_value_or_one_value(count: int) -> None:
    # A struct of one field, or of none: the scales still index the unpacked fields.
    apdu = b"\x0f\x00\x00\x00\x01\x00" + b"\x00\x07"
    found = _interpretation(*[(Obis(1, 0, 1, 7, 0), _leaf(7, 6))][:count])
    shape = Shape.compile(apdu, None, found)
    assert shape is not None
    reading = shape.read(apdu, Plain(apdu), Transport.HDLC)
    assert [m.value for m in reading.values.values()] == [7][:count]
