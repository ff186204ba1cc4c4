"""Frame builder: real captures reproduced byte for byte, and the encoders' edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import struct
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.han_port.han import DecoderOptions, Event, Reading, StreamDecoder
from custom_components.han_port.han.cosem import CLOCK_STATUS_DST, DateTimeEncoding, Tag
from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.model import Obis
from custom_components.han_port.han.vendors import Role
from devtools.builder import (
    LAYOUTS,
    LLC_HEADER,
    NULL,
    Data,
    Element,
    HdlcLink,
    ListLayout,
    ListMessage,
    array,
    build_apdu,
    build_body,
    build_frame,
    data_notification,
    date_time,
    encode_date_time,
    encode_length,
    engineering_value,
    gbt_blocks,
    gbt_frames,
    hdlc_frame,
    hdlc_segments,
    layout_for,
    octet_string,
    raw_value,
    structure,
    visible_string,
)
from devtools.corpus import CORPUS

VENDORS = {"Kamstrup", "Aidon", "Kaifa"}
BUILDABLE = [
    entry
    for entry in CORPUS
    if entry["vendor"] in VENDORS and entry["transport"] == "hdlc" and entry["valid"]
]


def _local(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _frame_parts(entry: dict[str, Any]) -> dict[str, Any]:
    """Everything the builder takes that the entry states, or that the hex shows."""
    check = entry["frame_check"]
    link = HdlcLink(
        bytes.fromhex(check["dest"]), bytes.fromhex(check["src"]), int(check["control"], 16)
    )
    raw = bytes.fromhex(entry["hex"])
    llc = 1 + 2 + len(link.dest) + len(link.src) + 1 + 2
    assert raw[llc : llc + 3] == LLC_HEADER
    apdu = raw[llc + 3 :]
    return {
        "link": link,
        "invoke_id": int.from_bytes(apdu[1:5], "big"),
        "date_time_encoding": DateTimeEncoding(entry["expected"]["apdu_datetime_encoding"]),
        "phases": entry["phases"],
    }


def _sent_weekday(entry: dict[str, Any], when: datetime | None) -> int | None:
    """The weekday byte the meter sent with `when` (two meters get it wrong)."""
    if when is None:
        return None
    raw = bytes.fromhex(entry["hex"])
    date = when.year.to_bytes(2, "big") + bytes((when.month, when.day))
    return raw[raw.index(date) + 4]


def _message(expected: dict[str, Any], weekday: int | None = None) -> ListMessage:
    status = expected.get("timestamp_clock_status", 0)
    return ListMessage(
        weekday=weekday,
        values={Obis.parse(code): value for code, value in expected["values"].items()},
        meter_id=expected["meter_id"],
        meter_type=expected["meter_type"],
        list_version=expected["list_version"],
        timestamp=_local(expected["timestamp"]),
        clock=_local(expected.get("clock")),
        deviation=expected.get("timestamp_deviation_min"),
        clock_status=None if status == 0xFF else status,
    )


def test_every_kamstrup_aidon_kaifa_capture_is_covered() -> None:
    lists = {(e["vendor"], e["country"], e["list"], e["phases"]) for e in BUILDABLE}
    assert {("Kamstrup", "NO", "list1", 1), ("Kamstrup", "NO", "list2", 3)} <= lists
    assert {("Aidon", "NO", f"list{n}", 3) for n in (1, 2, 3)} <= lists
    assert {("Kaifa", "NO", f"list{n}", 3) for n in (1, 2, 3)} <= lists
    assert ("Kaifa", "NO", "list2", 1) in lists
    assert len(BUILDABLE) == 23  # two of them the blog frames with recomputed CRCs


@pytest.mark.parametrize("entry", BUILDABLE, ids=[e["id"] for e in BUILDABLE])
def test_builder_reproduces_capture(entry: dict[str, Any]) -> None:
    layout = layout_for(entry["vendor"], entry["list"], entry["country"])
    expected = entry["expected"]
    weekday = _sent_weekday(entry, _local(expected["timestamp"]))
    frame = build_frame(layout, _message(expected, weekday), **_frame_parts(entry))
    assert frame.hex().upper() == entry["hex"]


def test_weekday_quirks() -> None:
    """Where the weekday a meter sent is not the one of its date (see encode_date_time)."""
    wrong = {}
    for entry in BUILDABLE:
        when = _local(entry["expected"]["timestamp"])
        if when is not None and _sent_weekday(entry, when) != when.isoweekday():
            wrong[entry["id"]] = _sent_weekday(entry, when)
    assert wrong == {
        "kaifa-no-list2-3ph-2017-roarfred": 2,
        "kaifa-no-list3-3ph-2017-roarfred": 2,
        "aidon-se-3ph-hassams": 0,
    }


@pytest.mark.parametrize("entry", BUILDABLE, ids=[e["id"] for e in BUILDABLE])
def test_layout_defaults_match_capture(entry: dict[str, Any]) -> None:
    """Each vendor table holds the link, invoke id and header encoding its meters use."""
    layout = layout_for(entry["vendor"], entry["list"], entry["country"])
    parts = _frame_parts(entry)
    assert layout.link == parts["link"]
    expected = entry["expected"]
    message = _message(expected, _sent_weekday(entry, _local(expected["timestamp"])))
    frame = build_frame(layout, message, phases=entry["phases"])
    if entry["id"] == "kamstrup-no-list2-3ph-oldfw-2017":  # old firmware: 09 0C header
        assert layout.date_time_encoding is DateTimeEncoding.OCTET_STRING
    else:
        assert frame.hex().upper() == entry["hex"]


def test_blog_frames_with_altered_fcs_differ_only_in_fcs() -> None:
    """The blog author altered the FCS; the rest of the frame is what the builder makes."""
    for entry in CORPUS:
        if entry["id"].startswith("kamstrup-no-list") and entry["id"].endswith("fcs-altered"):
            payload = entry["expected"]["payload_if_fcs_ignored"]
            frame = build_frame(layout_for("kamstrup", entry["list"]), _message(payload))
            assert frame.hex().upper()[:-6] == entry["hex"][:-6]
            assert frame.hex().upper()[-6:] != entry["hex"][-6:]


def test_registers_are_scaled_by_the_table() -> None:
    layout = layout_for("kamstrup", "list2")
    current = next(e for e in layout.elements if e.obis == Obis.parse("1-1:31.7.0"))
    energy = next(e for e in layout.elements if e.obis == Obis.parse("1-1:1.8.0"))
    assert raw_value(current, 1.36) == 136
    assert raw_value(energy, 155232.51) == 15523251
    assert engineering_value(energy, 15523251) == 155232.51
    assert layout_for("kamstrup", "list2", "SE").registers()[-4].exponent == -3
    assert [e.unit for e in layout_for("aidon", "list3").registers()][-4:] == [
        "kWh",
        "kWh",
        "kvarh",
        "kvarh",
    ]


def test_single_phase_layouts_have_the_captured_element_counts() -> None:
    assert len(layout_for("kaifa", "list2").registers(1)) == 6
    one_phase = ListMessage(
        values=dict.fromkeys(
            (e.obis for e in layout_for("kaifa", "list3").registers(1) if e.obis), 1
        ),
        meter_id="6970631403460324",
        meter_type="MA105H2E",
        timestamp=datetime(2020, 3, 31, 22),
    )
    counts = {
        name: len(_tuple(build_body(layout_for("kaifa", name), one_phase, phases=1).value))
        for name in ("list2", "list3")
    }
    assert counts == {"list2": 9, "list3": 14}
    kamstrup = build_body(
        layout_for("kamstrup", "list2"),
        ListMessage(
            values=dict.fromkeys(
                (e.obis for e in layout_for("kamstrup", "list2").registers() if e.obis), 0
            ),
            meter_id="1",
            meter_type="2",
            timestamp=datetime(2022, 1, 1),
        ),
        phases=1,
    )
    assert len(_tuple(kamstrup.value)) == 35


def _tuple(value: object) -> tuple[Data, ...]:
    assert isinstance(value, tuple)
    return value


# ----------------------------------------------------------------------- A-XDR


@pytest.mark.parametrize(
    ("item", "encoded"),
    [
        (NULL, "00"),
        (Data(Tag.BOOLEAN, True), "0301"),
        (Data(Tag.BOOLEAN, False), "0300"),
        (Data(Tag.BIT_STRING, "1010000011"), "040AA0C0"),
        (Data(Tag.BIT_STRING, ""), "0400"),
        (Data(Tag.DOUBLE_LONG, -2), "05FFFFFFFE"),
        (Data(Tag.DOUBLE_LONG_UNSIGNED, 1703), "06000006A7"),
        (octet_string(b"\x01\x02"), "09020102"),
        (visible_string("AB"), "0A024142"),
        (visible_string(b"AB\x00"), "0A03414200"),
        (Data(Tag.UTF8_STRING, "ø"), "0C02C3B8"),
        (Data(Tag.INTEGER, -1), "0FFF"),
        (Data(Tag.LONG, -10), "10FFF6"),
        (Data(Tag.UNSIGNED, 200), "11C8"),
        (Data(Tag.LONG_UNSIGNED, 235), "1200EB"),
        (Data(Tag.LONG64, -1), "14FFFFFFFFFFFFFFFF"),
        (Data(Tag.LONG64_UNSIGNED, 2**64 - 1), "15FFFFFFFFFFFFFFFF"),
        (Data(Tag.ENUM, 27), "161B"),
        (Data(Tag.FLOAT32, 1.5), "173FC00000"),
        (Data(Tag.FLOAT64, -2.0), "18C000000000000000"),
        (structure(Data(Tag.INTEGER, -1), Data(Tag.ENUM, 33)), "02020FFF1621"),
        (array(), "0100"),
    ],
)
def test_axdr_encoding(item: Data, encoded: str) -> None:
    assert item.encode().hex().upper() == encoded


def test_long_lengths() -> None:
    assert encode_length(127) == b"\x7f"
    assert encode_length(128) == b"\x81\x80"
    assert encode_length(255) == b"\x81\xff"
    assert encode_length(256) == b"\x82\x01\x00"
    assert encode_length(70000) == b"\x83\x01\x11\x70"
    long_string = octet_string(bytes(300)).encode()
    assert long_string[:4] == b"\x09\x82\x01\x2c"
    assert len(long_string) == 304
    big_array = array(*[NULL] * 200).encode()
    assert big_array[:3] == b"\x01\x81\xc8"
    with pytest.raises(ValueError, match="negative"):
        encode_length(-1)
    with pytest.raises(ValueError, match="four"):
        encode_length(2**40)


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (Data(Tag.NULL_DATA, 0), ValueError),
        (Data(Tag.STRUCTURE, 3), TypeError),
        (Data(Tag.BOOLEAN, 1), TypeError),
        (Data(Tag.BIT_STRING, "012"), TypeError),
        (Data(Tag.UNSIGNED, 256), ValueError),
        (Data(Tag.LONG_UNSIGNED, -1), ValueError),
        (Data(Tag.LONG, True), TypeError),
        (Data(Tag.FLOAT32, "1"), TypeError),
        (Data(Tag.OCTET_STRING, "text"), TypeError),
        (Data(Tag.UTF8_STRING, b"raw"), TypeError),
    ],
)
def test_axdr_rejects_values_that_do_not_fit(item: Data, error: type[Exception]) -> None:
    with pytest.raises(error):
        item.encode()


def test_date_time_fields() -> None:
    # kamstrup-no-list1-3ph-blog-2019: Tuesday, hundredths FF, deviation 8000, DST status.
    assert encode_date_time(datetime(2019, 6, 18, 20, 47, 50), clock_status=0x80).hex().upper() == (
        "07E3061202142F32FF800080"
    )
    # kaifa-se-3ph-2022-hassams-obis: deviation -60 (CET) = FFC4.
    assert encode_date_time(datetime(2022, 10, 15, 15, 8, 15), deviation=-60).hex().upper() == (
        "07E60A0F060F080FFFFFC400"
    )
    cest = timezone(timedelta(hours=2))
    aware = encode_date_time(datetime(2024, 7, 1, 12, 0, 0, tzinfo=cest), hundredths=50)
    assert aware[8] == 50
    assert struct.unpack(">h", aware[9:11]) == (-120,)
    assert encode_date_time(datetime(2024, 7, 1, tzinfo=UTC), weekday=0xFF)[4] == 0xFF
    assert encode_date_time(datetime(2024, 7, 1, tzinfo=UTC))[9:11] == b"\x00\x00"
    assert encode_date_time(datetime(2024, 7, 1), clock_status=None)[11] == 0xFF
    assert date_time(datetime(2024, 7, 1)).encode()[:2] == b"\x09\x0c"


@pytest.mark.parametrize(
    "kwargs", [{"deviation": 721}, {"hundredths": 100}, {"clock_status": 0xFF}, {"weekday": 8}]
)
def test_date_time_rejects_out_of_range_fields(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="outside"):
        encode_date_time(datetime(2024, 1, 1), **kwargs)


# ------------------------------------------------------------------------ APDU


def test_data_notification_date_time_forms() -> None:
    stamp = encode_date_time(datetime(2017, 9, 12, 23, 18, 42))
    body = structure(Data(Tag.DOUBLE_LONG_UNSIGNED, 1320))
    absent = data_notification(body)
    assert absent.hex().upper() == "0F400000000002010600000528"
    plain = data_notification(body, invoke_id=0, date_time=stamp)
    assert plain[:6] == b"\x0f\x00\x00\x00\x00\x0c"
    tagged = data_notification(body, date_time=stamp, encoding=DateTimeEncoding.TAGGED)
    assert tagged[5:7] == b"\x09\x0c"
    assert tagged[7:19] == stamp
    with pytest.raises(ValueError, match="does not fit"):
        data_notification(body, encoding=DateTimeEncoding.TAGGED)
    with pytest.raises(ValueError, match="does not fit"):
        data_notification(body, date_time=stamp, encoding=DateTimeEncoding.ABSENT)
    with pytest.raises(ValueError, match="12 bytes"):
        data_notification(body, date_time=stamp[:11])


def test_build_errors_name_what_is_missing() -> None:
    layout = layout_for("kamstrup", "list2")
    full = {e.obis: 1 for e in layout.registers() if e.obis}
    with pytest.raises(ValueError, match="header"):
        build_apdu(layout, ListMessage(values=full, meter_id="1", meter_type="2"))
    with pytest.raises(ValueError, match="clock time"):
        build_body(layout, ListMessage(values=full, meter_id="1", meter_type="2"))
    with pytest.raises(ValueError, match=r"1-1:1\.7\.0"):
        build_body(layout, ListMessage(values={}, meter_id="1", meter_type="2"))
    with pytest.raises(ValueError, match="meter_id"):
        build_body(layout, ListMessage(values=full))
    with pytest.raises(ValueError, match="1 or 3 phases"):
        build_body(layout, ListMessage(values=full), phases=2)
    with pytest.raises(ValueError, match="known"):
        layout_for("kamstrup", "list3")
    with pytest.raises(ValueError, match="does not fit"):
        build_body(
            layout_for("aidon", "list1"),
            ListMessage(values={Obis.parse("1-0:1.7.0"): -5}),
        ).encode()


def test_layout_tables_are_consistent() -> None:
    for (vendor, country, name), layout in LAYOUTS.items():
        assert (layout.vendor, layout.country, layout.name) == (vendor, country, name)
        for element in layout.elements:
            assert isinstance(element, Element)
            if element.role is Role.VALUE:
                assert element.obis is not None
                assert element.unit in {"W", "var", "A", "V", "kWh", "kvarh"}


# ------------------------------------------------------------------------ HDLC


def _check_frame(frame: bytes) -> tuple[int, bytes]:
    """Parse one frame the way IEC 62056-46 says; return the format field and information."""
    assert frame[0] == frame[-1] == 0x7E
    frame_format = int.from_bytes(frame[1:3], "big")
    assert frame_format >> 12 == 0xA
    assert frame_format & 0x7FF == len(frame) - 2
    body = frame[1:-1]
    assert crc16_x25(body[:-2]) == int.from_bytes(body[-2:], "little")
    position = 3
    for _ in range(2):  # destination, source: extend until a byte with LSB 1
        while not frame[position] & 1:
            position += 1
        position += 1
    position += 1  # control
    if position + 3 >= len(frame):
        return frame_format, b""
    assert crc16_x25(frame[1:position]) == int.from_bytes(frame[position : position + 2], "little")
    return frame_format, frame[position + 2 : -3]


def test_hdlc_frame_without_information_has_no_hcs() -> None:
    frame = hdlc_frame(b"", HdlcLink(b"\x41", b"\x08\x83"))
    assert len(frame) == 1 + 2 + 1 + 2 + 1 + 2 + 1
    assert _check_frame(frame) == (0xA000 | 8, b"")


def test_hdlc_link_validation() -> None:
    HdlcLink(b"\x00\x02\x00\x01", b"\x03")
    for dest, src in (
        (b"", b"\x21"),
        (b"\x2a", b"\x21"),
        (b"\x03\x01", b"\x21"),
        (b"\x02" * 4 + b"\x01", b"\x21"),
    ):
        with pytest.raises(ValueError, match="address"):
            HdlcLink(dest, src)
    with pytest.raises(ValueError, match="control"):
        HdlcLink(b"\x41", b"\x21", 0x100)
    with pytest.raises(ValueError, match="segment"):
        hdlc_frame(bytes(2040), HdlcLink(b"\x41", b"\x21"))


@pytest.mark.parametrize("size", [1, 50, 128, 1000])
def test_hdlc_segments_carry_the_information_in_order(size: int) -> None:
    link = HdlcLink(b"\x41", b"\x08\x83")
    information = LLC_HEADER + bytes(range(256)) * 3
    frames = hdlc_segments(information, link, max_information=size)
    assert len(frames) == -(-len(information) // size)
    parts = [_check_frame(frame) for frame in frames]
    assert [fmt >> 8 & 0xF8 for fmt, _ in parts] == [0xA8] * (len(frames) - 1) + [0xA0]
    assert b"".join(info for _, info in parts) == information


def test_hdlc_segments_at_given_sizes() -> None:
    frames = hdlc_segments(bytes(10), HdlcLink(b"\x41", b"\x21"), max_information=[3, 7])
    assert [len(_check_frame(f)[1]) for f in frames] == [3, 7]
    with pytest.raises(ValueError, match="do not cut"):
        hdlc_segments(bytes(10), HdlcLink(b"\x41", b"\x21"), max_information=[3, 6])
    with pytest.raises(ValueError, match="positive"):
        gbt_blocks(bytes(10), 0)


def test_gbt_reproduces_the_landis_gyr_capture() -> None:
    entry = next(e for e in CORPUS if e["id"] == "landisgyr-ch-e450-gbt-3frames-amsreader-gh740")
    apdu = bytes.fromhex(entry["reassembled_apdu_hex"])
    frames = gbt_frames(apdu, HdlcLink(b"\xce\xff", b"\x03", 0x13), [112, 108, 121])
    assert b"".join(frames).hex().upper() == entry["hex"]


def test_gbt_blocks_by_size() -> None:
    blocks = gbt_blocks(bytes(300), 200, first_block=7)
    assert blocks[0][:8] == bytes.fromhex("E0400007000081C8")
    assert blocks[1][:7] == bytes.fromhex("E0C00008000064")
    assert gbt_blocks(b"", 10) == [bytes.fromhex("E0C0000100000000")[:-1]]


# ------------------------------------------------- round trips through the decoder

_RAW_RANGES: dict[Tag, tuple[int, int]] = {
    Tag.DOUBLE_LONG_UNSIGNED: (0, 2**32 - 1),
    Tag.LONG: (-(2**15), 2**15 - 1),
    Tag.LONG_UNSIGNED: (0, 2**16 - 1),
}
ROUND_TRIP_LAYOUTS = sorted(LAYOUTS)


@st.composite
def _messages(draw: st.DrawFn, layout: ListLayout, phases: int) -> ListMessage:
    """Any values a meter with this layout can send, in engineering units as floats."""
    values: dict[Obis, float] = {}
    for element in layout.registers(phases):
        assert element.obis is not None
        low, high = (float(engineering_value(element, bound)) for bound in _RAW_RANGES[element.tag])
        values[element.obis] = draw(st.floats(low, high, allow_nan=False))
    stamp = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
    ).replace(microsecond=0)
    # Any length, six included: a six-character Kaifa meter type must not pass for an
    # OBIS code (see test_kaifa_six_byte_meter_type).
    text = st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=1, max_size=20)
    return ListMessage(
        values=values,
        meter_id=draw(st.text(alphabet="0123456789", min_size=16, max_size=16)),
        meter_type=draw(text),
        timestamp=stamp,
        deviation=draw(st.one_of(st.none(), st.integers(-720, 720))),
        clock_status=draw(st.sampled_from([0, CLOCK_STATUS_DST])),
    )


def _decode(frames: list[bytes], country: str) -> list[Event]:
    decoder = StreamDecoder(DecoderOptions(country=country))
    events: list[Event] = []
    for frame in frames:
        events += decoder.feed(frame)
    return events + decoder.flush()


def _assert_decodes_to(
    events: list[Event], layout: ListLayout, message: ListMessage, phases: int
) -> None:
    assert [type(event) for event in events] == [Reading], events
    reading = events[0]
    assert isinstance(reading, Reading)
    registers = layout.registers(phases)
    assert set(reading.values) == {element.obis for element in registers}
    for element in registers:
        assert element.obis is not None
        sent = message.values[element.obis]
        decoded = reading.values[element.obis]
        assert decoded.unit == element.unit, element.obis
        assert isinstance(decoded.value, (int, float))
        # The meter sends whole units of 10**exponent: half a unit either way, at most.
        assert abs(decoded.value - sent) <= 10.0**element.exponent / 2 * (1 + 1e-9), element.obis
        assert decoded.value == pytest.approx(
            engineering_value(element, raw_value(element, sent)), rel=1e-12, abs=1e-12
        )
    roles = {element.role for element in layout.elements}
    assert reading.meter_id == (message.meter_id if Role.METER_ID in roles else None)
    assert reading.meter_type == (message.meter_type if Role.METER_TYPE in roles else None)
    assert reading.list_version == layout.list_version
    has_time = Role.CLOCK in roles or layout.date_time_encoding is not DateTimeEncoding.ABSENT
    if not has_time:
        assert reading.timestamp is None
        return
    assert reading.timestamp is not None
    assert message.timestamp is not None
    assert reading.timestamp.replace(tzinfo=None) == message.timestamp
    offset = None if message.deviation is None else timedelta(minutes=-message.deviation)
    assert reading.timestamp.utcoffset() == offset


@pytest.mark.parametrize("key", ROUND_TRIP_LAYOUTS, ids="/".join)
@pytest.mark.parametrize("phases", [1, 3])
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_round_trip_every_layout(
    key: tuple[str, str, str], phases: int, data: st.DataObject
) -> None:
    layout = LAYOUTS[key]
    message = data.draw(_messages(layout, phases))
    frame = build_frame(layout, message, phases=phases)
    _assert_decodes_to(_decode([frame], layout.country), layout, message, phases)


@pytest.mark.parametrize("key", ROUND_TRIP_LAYOUTS, ids="/".join)
@given(data=st.data(), size=st.integers(1, 200))
@settings(max_examples=25, deadline=None)
def test_round_trip_segmented_and_block_transfer(
    key: tuple[str, str, str], data: st.DataObject, size: int
) -> None:
    """A list cut into HDLC segments (A8xx) or GBT blocks decodes like one frame."""
    layout = LAYOUTS[key]
    message = data.draw(_messages(layout, 3))
    apdu = build_apdu(layout, message)
    segmented = hdlc_segments(LLC_HEADER + apdu, layout.link, max_information=size)
    _assert_decodes_to(_decode(segmented, layout.country), layout, message, 3)
    blocks = gbt_frames(apdu, layout.link, size)
    _assert_decodes_to(_decode(blocks, layout.country), layout, message, 3)


def test_kaifa_six_byte_meter_type() -> None:
    """A six-character meter type is an identifier, not an OBIS code (no OBIS in Kaifa NO)."""
    layout = layout_for("kaifa", "list2")
    message = ListMessage(
        values=dict.fromkeys((e.obis for e in layout.registers() if e.obis), 1.0),
        meter_id="6970631403275928",
        meter_type="MA304H",
        timestamp=datetime(2024, 1, 1),
    )
    _assert_decodes_to(_decode([build_frame(layout, message)], "NO"), layout, message, 3)
