"""P1 ASCII telegrams: framing (find_end) and decoding (decode_telegram) on real captures."""

from __future__ import annotations

from datetime import UTC, datetime
import random
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port.han.crc import crc16_arc
from custom_components.han_port.han.model import (
    MBUS_CHANNELS,
    MEDIUM_COOLING,
    MEDIUM_GAS,
    MEDIUM_HEAT,
    MEDIUM_WATER,
    Event,
    FrameError,
    Measurement,
    Obis,
    Reading,
    Reason,
    SubMeter,
)
from custom_components.han_port.han.p1 import (
    NEED_MORE,
    NOT_A_TELEGRAM,
    P1_MAX_LENGTH,
    decode_telegram,
    find_ciphered_end,
    find_end,
    has_crc,
    is_trailer,
)
from custom_components.han_port.han.stream import StreamDecoder
from devtools.corpus import CORPUS, FIXTURES, load

from ..more_meters import (
    BY_ID as MORE,
    DK_NES,
    EASYMETER_DE,
    EASYMETER_FF,
    EON_HU,
    FLUVIUS,
    ISKRA_IE,
    P1 as MORE_P1,
    SMARTY_ENCRYPTED,
    SMARTY_PLAIN,
    T210_ENCRYPTED,
    T210_PLAIN,
    UNPADDED_CRC,
    Entry,
    expected_timestamp,
    expected_values,
    options_for,
    raw_bytes,
)
from ..p1_telegrams import (
    FLUVIUS_GAS_ID,
    FLUVIUS_WATER_ID,
    GAS_ID,
    WATER_ID,
    dsmr5,
    dsmr5_gas_and_water,
    fluvius_gas_and_water,
    mbus_lines,
)
from .conftest import errors, readings, reasons

P1_ENTRIES = [entry for entry in CORPUS if entry["transport"] == "p1-ascii"]
BINARY_ENTRIES = [entry for entry in CORPUS if entry.get("hex")]
HU_SAGEMCOM = "p1-hu-eon-sagemcom-dsmrparser"
DSMR5 = next(entry for entry in P1_ENTRIES if entry["id"] == "p1-nl-dsmr5-dsmrparser")


def telegram_of(entry: dict[str, Any]) -> bytes:
    """The capture from "/" on: a stream decoder hunts for "/" past stray CR LF."""
    text: bytes = entry["text"].encode("ascii")
    return text[text.index(b"/") :]


def crc_end(telegram: bytes) -> int:
    """Index just past the four CRC digits."""
    return telegram.index(b"\n!") + 6


def with_crc(text: str) -> bytes:
    """A telegram from "/" through "!", completed with its CRC-16/ARC and CR LF."""
    body = text.replace("\n", "\r\n").encode("ascii")
    return body + f"{crc16_arc(body):04X}\r\n".encode()


def decoded(telegram: bytes) -> Reading:
    result = decode_telegram(telegram)
    assert isinstance(result, Reading), result
    return result


def rejected(telegram: bytes) -> FrameError:
    result = decode_telegram(telegram)
    assert isinstance(result, FrameError), result
    return result


def value_of(reading: Reading, code: str) -> Measurement:
    return reading.values[Obis.parse(code)]


# ---------------------------------------------------------------- corpus captures


@pytest.mark.parametrize("entry", P1_ENTRIES, ids=lambda entry: entry["id"])
def test_find_end_delimits_corpus_telegram(entry: dict[str, Any]) -> None:
    text = entry["text"].encode("ascii")
    start = text.index(b"/")
    end = find_end(text, start)
    assert end == start + crc_end(text[start:])
    assert text[end - 5 : end] == b"!" + entry["frame_check"]["crc_given"].encode()


@pytest.mark.parametrize("entry", P1_ENTRIES, ids=lambda entry: entry["id"])
def test_decode_corpus_telegram(entry: dict[str, Any]) -> None:
    expected = entry["expected"]
    telegram = telegram_of(entry)
    reading = decoded(telegram[: find_end(telegram, 0)])

    # The corpus lists what has a unit; sub-meter equipment ids come on top, as text.
    ids = {obis: m.value for obis, m in reading.values.items() if m.unit is None}
    assert all(obis.b in (1, 2, 3, 4) and obis[2:5] == (96, 1, 0) for obis in ids)
    values = {
        str(obis): measurement.value
        for obis, measurement in reading.values.items()
        if obis not in ids
    }
    assert values == expected["values"]
    # int where the scaled value is whole (244 W, not 244.0), float otherwise.
    assert {code: type(value) for code, value in values.items()} == {
        code: type(value) for code, value in expected["values"].items()
    }
    units = {str(obis): m.unit for obis, m in reading.values.items() if obis not in ids}
    assert units == expected["units"]
    assert reading.timestamp == datetime.fromisoformat(expected["timestamp"])
    assert reading.timestamp is not None
    assert reading.timestamp.tzinfo is None
    assert reading.timestamp.fold == (0 if expected["timestamp_dst"] else 1)
    assert reading.meter_id == expected["meter_id"]
    assert reading.list_version == expected["list_version"]
    assert reading.meter_type == expected["meter_type"]
    assert reading.transport == "p1"
    assert not reading.encrypted


@pytest.mark.parametrize("entry", P1_ENTRIES, ids=lambda entry: entry["id"])
def test_decode_whole_capture_with_stray_and_trailing_line_ends(entry: dict[str, Any]) -> None:
    reading = decoded(entry["text"].encode("ascii"))
    measured = [m for m in reading.values.values() if m.unit is not None]
    assert len(measured) == len(entry["expected"]["values"])


def test_manufacturer_from_flag_id() -> None:
    by_id = {entry["id"]: decoded(telegram_of(entry)).manufacturer for entry in P1_ENTRIES}
    assert by_id == {
        "p1-se-landisgyr-e360-2021-amshan-a": "Landis+Gyr",
        "p1-se-ell5-2020-amshan-c": None,  # ELL: maker unknown
        "p1-se-kamstrup-2022-amshan": "Kamstrup",
        "p1-se-kamstrup-2025-amsreader-gh934": "Kamstrup",
        "p1-se-landisgyr-e360-2022-amsreader-gh382": "Landis+Gyr",
        "p1-nl-dsmr5-dsmrparser": "Iskraemeco",  # sent as "ISk"
    }


def test_the_flag_ids_of_dlms_meters_name_p1_meters_too() -> None:
    # One FLAG id table (vendors.py) for system titles and identification lines: the
    # Hungarian Sagemcom telegram ("/SAG5SAG-METER") names its maker like a DLMS
    # meter's system title "SAG..." does.
    entry = next(e for e in load(FIXTURES / "more_meters.json") if e["id"] == HU_SAGEMCOM)
    assert entry["vendor"] == "Sagemcom"
    assert decoded(telegram_of(entry)).manufacturer == "Sagemcom"


def test_danish_nes_meter_is_named_and_read_whole() -> None:
    # "/NES5:83335-3E": Networked Energy Services (formerly Echelon), a Danish meter
    # that writes its clock "20240111 09:35:00" and sends no meter id line.
    entry = MORE[DK_NES]
    reading = decoded(raw_bytes(entry))
    assert reading.manufacturer == "Networked Energy Services"
    assert reading.meter_id is None
    assert reading.timestamp == datetime(2024, 1, 11, 9, 35)
    # Per-phase reactive power too: every line with a unit is a value.
    assert value_of(reading, "1-0:24.7.0") == Measurement(221, "var")
    assert value_of(reading, "1-0:4.8.0") == Measurement(27.954, "kvarh")
    assert len(reading.values) == entry["expected"]["n_items"] - 1  # the clock line


def test_multi_value_lines() -> None:
    reading = decoded(telegram_of(DSMR5))
    assert value_of(reading, "0-1:24.2.1") == Measurement(0.107, "m3")
    assert Obis.parse("1-0:99.97.0") not in reading.values
    for status in ("0-0:96.14.0", "0-0:96.7.21", "0-0:96.13.0", "0-1:24.1.0", "0-0:96.1.1"):
        assert Obis.parse(status) not in reading.values


# ---------------------------------------------------------------- M-Bus sub-meters


def test_sub_meter_of_the_dsmr5_capture() -> None:
    """Channel 1 is a gas meter; channel 2 names a device type but sends no reading."""
    reading = decoded(telegram_of(DSMR5))
    assert reading.sub_meters == (
        SubMeter(
            channel=1,
            register=Obis.parse("0-1:24.2.1"),
            medium=MEDIUM_GAS,
            device_type=3,
            equipment_id="3232323241424344313233343536373839",
            captured=datetime(2017, 1, 2, 16, 10, 5, fold=1),
        ),
    )
    # The id stays a value under its own code; the empty id of channel 2 is no value.
    assert value_of(reading, "0-1:96.1.0") == Measurement("3232323241424344313233343536373839")
    assert Obis.parse("0-2:96.1.0") not in reading.values


def test_gas_and_water_on_two_channels() -> None:
    """Each channel keeps its own reading, id and capture time."""
    reading = decoded(dsmr5_gas_and_water())
    assert reading.sub_meters == (
        SubMeter(
            channel=1,
            register=Obis.parse("0-1:24.2.1"),
            medium=MEDIUM_GAS,
            device_type=3,
            equipment_id=GAS_ID,
            captured=datetime(2010, 12, 9, 11, 25, fold=1),
        ),
        SubMeter(
            channel=2,
            register=Obis.parse("0-2:24.2.1"),
            medium=MEDIUM_WATER,
            device_type=7,
            equipment_id=WATER_ID,
            captured=datetime(2010, 12, 9, 11, 20, fold=1),
        ),
    )
    assert value_of(reading, "0-1:24.2.1") == Measurement(12785.123, "m3")
    assert value_of(reading, "0-2:24.2.1") == Measurement(872.234, "m3")
    assert value_of(reading, "0-1:96.1.0") == Measurement(GAS_ID)
    assert value_of(reading, "0-2:96.1.0") == Measurement(WATER_ID)
    assert reading.meter_id == "4B384547303034303436333935353037"


def test_fluvius_gas_on_24_2_3_and_ids_on_96_1_1() -> None:
    reading = decoded(fluvius_gas_and_water())
    gas, water = reading.sub_meters
    assert (gas.register, gas.medium, gas.equipment_id) == (
        Obis.parse("0-1:24.2.3"),
        MEDIUM_GAS,
        FLUVIUS_GAS_ID,
    )
    assert gas.captured == datetime(2020, 5, 12, 13, 45, 58)
    assert (water.register, water.medium, water.equipment_id) == (
        Obis.parse("0-2:24.2.1"),
        MEDIUM_WATER,
        FLUVIUS_WATER_ID,
    )
    assert value_of(reading, "0-1:24.2.3") == Measurement(112.384, "m3")
    assert value_of(reading, "0-1:96.1.1") == Measurement(FLUVIUS_GAS_ID)
    assert value_of(reading, "0-2:96.1.1") == Measurement(FLUVIUS_WATER_ID)
    # The valve state 0-1:24.4.0 is status, not a reading.
    assert Obis.parse("0-1:24.4.0") not in reading.values


@pytest.mark.parametrize(
    ("device_type", "reading", "medium"),
    [
        ("003", "00012.345*m3", MEDIUM_GAS),
        ("007", "00012.345*m3", MEDIUM_WATER),
        ("006", "00012.345*m3", MEDIUM_WATER),  # warm water
        ("022", "00012.345*m3", MEDIUM_WATER),  # cold water (0x16)
        ("004", "00012.34*GJ", MEDIUM_HEAT),
        ("012", "00012.34*GJ", MEDIUM_HEAT),  # heat, inlet (0x0C)
        ("012", "01234.567*kWh", MEDIUM_HEAT),
        ("004", "00001.234*MWh", MEDIUM_HEAT),
        ("010", "00012.34*GJ", MEDIUM_COOLING),  # 0x0A
        # The device type and the unit disagree, or the type is not a meter we show.
        ("003", "00012.34*GJ", None),
        ("007", "01234.567*kWh", None),
        ("002", "01234.567*kWh", None),  # electricity sub-meter
        ("000", "00012.345*m3", None),
        # A device type that is no number is as good as none: the unit decides.
        ("xyz", "00012.345*m3", MEDIUM_GAS),
    ],
)
def test_medium_from_device_type_and_unit(
    device_type: str, reading: str, medium: str | None
) -> None:
    (sub_meter,) = decoded(dsmr5(mbus_lines(3, device_type, GAS_ID, reading))).sub_meters
    assert sub_meter.channel == 3
    assert sub_meter.medium == medium
    assert sub_meter.device_type == (int(device_type) if device_type.isdecimal() else None)


@pytest.mark.parametrize(
    ("reading", "medium"),
    [("00012.345*m3", MEDIUM_GAS), ("00012.34*GJ", MEDIUM_HEAT), ("01234.567*kWh", None)],
)
def test_medium_from_the_unit_alone(reading: str, medium: str | None) -> None:
    """No device type line: m3 is the gas meter, GJ a heat meter, kWh says nothing."""
    telegram = dsmr5([f"0-1:24.2.1(101209112500W)({reading})"])
    (sub_meter,) = decoded(telegram).sub_meters
    assert (sub_meter.medium, sub_meter.device_type, sub_meter.equipment_id) == (
        medium,
        None,
        None,
    )


def test_sub_meter_edge_cases() -> None:
    reading = decoded(
        dsmr5(
            # DSMR 4's heat example sends the value without a capture time.
            ["0-1:24.1.0(004)", "0-1:24.2.1(12.34*GJ)"],
            # Both readings: the temperature-converted one counts.
            [*mbus_lines(2, "003", GAS_ID, "00100.000*m3"), "0-2:24.2.3(101209112500W)(1*m3)"],
            # A reading without a number is no reading: the channel is left out.
            mbus_lines(3, "007", WATER_ID, "ABCDE*m3"),
            # Channel 5 does not exist in DSMR.
            mbus_lines(5, "003", GAS_ID, "00001.000*m3"),
        )
    )
    heat, gas = reading.sub_meters
    assert (heat.channel, heat.medium, heat.captured) == (1, MEDIUM_HEAT, None)
    assert value_of(reading, "0-1:24.2.1") == Measurement(12.34, "GJ")
    assert (gas.channel, gas.register) == (2, Obis.parse("0-2:24.2.1"))
    assert value_of(reading, "0-2:24.2.3") == Measurement(1, "m3")
    assert Obis.parse("0-5:96.1.0") not in reading.values


def test_no_sub_meters_on_swedish_telegrams() -> None:
    for entry in P1_ENTRIES:
        if entry is not DSMR5:
            assert decoded(telegram_of(entry)).sub_meters == ()


# ---------------------------------------------------------------- CRC


@pytest.mark.parametrize("entry", P1_ENTRIES, ids=lambda entry: entry["id"])
def test_one_changed_character_is_a_crc_error(entry: dict[str, Any]) -> None:
    telegram = bytearray(telegram_of(entry))
    digit = telegram.index(b"1-0:1.7.0(") + len(b"1-0:1.7.0(") + 3
    telegram[digit] = ord("9") if telegram[digit] != ord("9") else ord("8")
    error = rejected(bytes(telegram))
    given_crc = entry["frame_check"]["crc_given"]
    assert error.reason == Reason.CRC
    assert error.detail.startswith(f"P1 CRC mismatch: telegram says {given_crc}, computed ")
    assert error.detail[-4:] == f"{crc16_arc(telegram[: telegram.index(b'\n!') + 2]):04X}"
    assert error.raw == bytes(telegram[:512])


def test_crc_detail_names_both_values() -> None:
    telegram = telegram_of(DSMR5).replace(b"!6EEE", b"!6EEF")
    assert rejected(telegram).detail == "P1 CRC mismatch: telegram says 6EEF, computed 6EEE"


def test_lower_case_crc_digits_are_accepted() -> None:
    telegram = telegram_of(DSMR5).replace(b"!6EEE", b"!6eee")
    assert find_end(telegram, 0) == crc_end(telegram)
    assert decoded(telegram).meter_id == DSMR5["expected"]["meter_id"]


# ---------------------------------------------------------------- framing


@pytest.mark.parametrize("entry", P1_ENTRIES, ids=lambda entry: entry["id"])
def test_byte_by_byte_growth_needs_more_until_complete(entry: dict[str, Any]) -> None:
    telegram = telegram_of(entry)
    end = crc_end(telegram)
    buffer = bytearray(b"\x7e\x00\r\n")  # the tail of whatever came before
    start = len(buffer)
    for byte in telegram[: end - 1]:
        buffer.append(byte)
        assert find_end(buffer, start) == NEED_MORE, bytes(buffer[start:])
    buffer.append(telegram[end - 1])
    assert find_end(buffer, start) == start + end


def test_telegram_without_crc() -> None:
    """DSMR 2.2/3: "!" CR LF, nothing to check."""
    with_digits = telegram_of(DSMR5)
    bang = with_digits.index(b"\n!") + 2
    telegram = with_digits[:bang] + b"\r\n"
    assert find_end(telegram[:bang], 0) == NEED_MORE
    assert find_end(telegram[: bang + 1], 0) == bang
    assert find_end(telegram, 0) == bang
    assert find_end(with_digits[:bang] + b"\n", 0) == bang
    reading = decoded(telegram[:bang])
    assert {
        str(obis): m.value for obis, m in reading.values.items() if m.unit is not None
    } == DSMR5["expected"]["values"]


def test_dsmr22_telegram_with_gas_on_a_continuation_line() -> None:
    telegram = (
        b"/ISk5\\2MT382-1004\r\n\r\n"
        b"0-0:96.1.1(30303030303030303030303030303030)\r\n"
        b"1-0:1.8.1(00001.001*kWh)\r\n"
        b"1-0:1.7.0(0001.01*kW)\r\n"
        b"0-0:17.0.0(0999.00*kW)\r\n"
        b"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n"
        b"(00001.001)\r\n"
        b"0-1:24.4.0(1)\r\n"
        b"!\r\n"
    )
    end = find_end(telegram, 0)
    assert end == len(telegram) - 2
    reading = decoded(telegram[:end])
    assert dict(reading.values) == {
        Obis.parse("1-0:1.8.1"): Measurement(1.001, "kWh"),
        Obis.parse("1-0:1.7.0"): Measurement(1010, "W"),
        Obis.parse("0-0:17.0.0"): Measurement(999000, "W"),
        Obis.parse("0-1:24.3.0"): Measurement(1.001, "m3"),
    }
    assert reading.timestamp is None
    # No device type in DSMR 2.2: the m3 meter is the gas meter.
    assert reading.sub_meters == (
        SubMeter(
            channel=1,
            register=Obis.parse("0-1:24.3.0"),
            medium=MEDIUM_GAS,
            captured=datetime(2016, 11, 7, 19),
        ),
    )
    assert reading.list_version is None


def test_find_end_with_start_inside_a_buffer() -> None:
    telegram = telegram_of(DSMR5)
    buffer = bytearray(b"\x7e\xa0\x2f\x00" + telegram + b"/KAM5\r\n")
    assert find_end(buffer, 2) == NOT_A_TELEGRAM
    assert find_end(buffer, 4) == 4 + crc_end(telegram)
    assert find_end(buffer, 4 + len(telegram)) == NEED_MORE


def test_random_binary_after_slash_is_rejected_within_a_few_bytes() -> None:
    rng = random.Random(62056)
    for _ in range(10_000):
        data = b"/" + rng.randbytes(200)
        decided_at = next(
            length for length in range(1, len(data) + 1) if find_end(data[:length], 0) != NEED_MORE
        )
        assert find_end(data[:decided_at], 0) == NOT_A_TELEGRAM
        assert decided_at <= 16, data[:decided_at]


@pytest.mark.parametrize("entry", BINARY_ENTRIES, ids=lambda entry: entry["id"])
def test_slash_inside_hdlc_and_mbus_captures_is_not_a_telegram(entry: dict[str, Any]) -> None:
    frame = bytes.fromhex(entry["hex"])
    slashes = [index for index, byte in enumerate(frame) if byte == ord("/")]
    for index in slashes:
        assert find_end(frame, index) == NOT_A_TELEGRAM
        assert find_end(frame[: index + 4], index) in (NOT_A_TELEGRAM, NEED_MORE)


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"", NOT_A_TELEGRAM),
        (b"K", NOT_A_TELEGRAM),
        (b"/", NEED_MORE),
        (b"/K", NEED_MORE),
        (b"/KAM", NEED_MORE),
        (b"/K1", NOT_A_TELEGRAM),  # maker id is three letters
        (b"/KA\x00", NOT_A_TELEGRAM),
        (b"/KAM ", NOT_A_TELEGRAM),  # baud-rate character is printable, not blank
        (b"/KAM5", NEED_MORE),
        (b"/KAM5\r", NEED_MORE),
        (b"/KAM5\r\r", NOT_A_TELEGRAM),
        (b"/KAM5\n", NOT_A_TELEGRAM),  # identification line ends in CR LF
        (b"/KAM5abc\x81", NOT_A_TELEGRAM),
        (b"/KAM5" + b"x" * 95, NEED_MORE),
        (b"/KAM5" + b"x" * 96, NOT_A_TELEGRAM),  # identification line too long
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n", NEED_MORE),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\x00", NOT_A_TELEGRAM),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n\xff!", NOT_A_TELEGRAM),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!", NEED_MORE),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A", NEED_MORE),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1G", NOT_A_TELEGRAM),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n! ", NOT_A_TELEGRAM),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A2B", 32),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A2B\r\n/", 32),
        (b"/KAM5\r\n!\r\n", 8),  # no data objects still ends
        (b"/KAM5\r\n\r\nmessage(Hi!)\r\n!\r\n", 24),  # "!" inside a line is text
    ],
)
def test_find_end_cases(data: bytes, answer: int) -> None:
    assert find_end(data, 0) == answer


def test_no_end_mark_within_max_length_is_not_a_telegram() -> None:
    header = b"/KAM5\r\n\r\n"
    line = b"1-0:1.8.0(00000001.000*kWh)\r\n"
    data = header + line * ((P1_MAX_LENGTH - len(header)) // len(line) + 1)
    assert find_end(data[: P1_MAX_LENGTH - 1], 0) == NEED_MORE
    assert find_end(data, 0) == NOT_A_TELEGRAM
    fits = data[: P1_MAX_LENGTH - 2] + b"\n!"
    assert find_end(fits + b"\r\n", 0) == P1_MAX_LENGTH


# ---------------------------------------------------------------- content


def test_units_scaling_and_case() -> None:
    reading = decoded(
        with_crc(
            "/XYZ5 test\n\n"
            "1-0:1.7.0(00.244*kW)\n"
            "1-0:3.7.0(0000.308*kVAr)\n"
            "1-0:4.7.0(0000.308*kvar)\n"
            "1-0:2.7.0(0001.5*W)\n"
            "1-0:9.7.0(01.234*kVA)\n"
            "1-0:1.8.0(00001234*Wh)\n"
            "1-0:1.8.1(00001.2345*MWh)\n"
            "1-0:3.8.0(00000518.309*KVARH)\n"
            "1-0:4.8.0(00000700*varh)\n"
            "1-0:32.7.0(230.0*v)\n"
            "1-0:31.7.0(-001.5*A)\n"
            "1-0:14.7.0(50.00*Hz)\n"
            "0-1:24.2.1(231003120000S)(00012.345*GJ)\n"
            "0-2:24.2.1(231003120000S)(00000.500*m3)\n"
            "0-0:96.99.9(7*kbit)\n"
            "!"
        )
    )
    assert dict(reading.values) == {
        Obis.parse("1-0:1.7.0"): Measurement(244, "W"),
        Obis.parse("1-0:3.7.0"): Measurement(308, "var"),
        Obis.parse("1-0:4.7.0"): Measurement(308, "var"),
        Obis.parse("1-0:2.7.0"): Measurement(1.5, "W"),
        Obis.parse("1-0:9.7.0"): Measurement(1234, "VA"),
        Obis.parse("1-0:1.8.0"): Measurement(1.234, "kWh"),
        Obis.parse("1-0:1.8.1"): Measurement(1234.5, "kWh"),
        Obis.parse("1-0:3.8.0"): Measurement(518.309, "kvarh"),
        Obis.parse("1-0:4.8.0"): Measurement(0.7, "kvarh"),
        Obis.parse("1-0:32.7.0"): Measurement(230, "V"),
        Obis.parse("1-0:31.7.0"): Measurement(-1.5, "A"),
        Obis.parse("1-0:14.7.0"): Measurement(50, "Hz"),
        Obis.parse("0-1:24.2.1"): Measurement(12.345, "GJ"),
        Obis.parse("0-2:24.2.1"): Measurement(0.5, "m3"),
        Obis.parse("0-0:96.99.9"): Measurement(7, "kbit"),  # unknown unit: as sent
    }
    assert isinstance(value_of(reading, "1-0:3.7.0").value, int)
    assert reading.manufacturer is None
    assert reading.meter_id is None


def test_lines_that_do_not_parse_are_skipped() -> None:
    """The DSMR 4 spec's own example telegram has "1-0:99:97.0" and "1-0:72:32.0"."""
    reading = decoded(
        with_crc(
            "/ISk5\\2MT382-1000\n\n"
            "(orphan continuation)\n"
            "1-3:0.2.8(40)\n"
            "1-0:1.8.1(123456.789*kWh)\n"
            "1-0:4:24.7.0(0000.146*kVAr)\n"
            "1-0:99:97.0(2)(0:96.7.19)(101208152415W)(0000000240*s)\n"
            "1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)\n"
            "0-0:98.1.0(1)(1-0:1.6.0)(1-0:1.6.0)(230101000000W)(221206183000W)(02.915*kW)\n"
            "1-0:1.6.0(230202100000W)(03.118*kW)\n"
            "1-0:2.8.1(12x456.789*kWh)\n"
            "1-0:2.8.2(000001.000*k W)\n"
            "1-0:2.8.3(000001.000*)\n"
            "just text\n"
            "1-0:32.7.0(230.0*V)trailing\n"
            "1-0:52.7.0(230.0*V\n"
            "(bad continuation)\n"
            "0-0:96.13.0()\n"
            "0-0:96.13.1(3031)(kWh)\n"
            "!"
        )
    )
    assert dict(reading.values) == {
        Obis.parse("1-0:1.8.1"): Measurement(123456.789, "kWh"),
        Obis.parse("1-0:1.6.0"): Measurement(3118, "W"),
    }
    assert reading.list_version == "P1 version 40"


def test_identity_and_version_fallbacks() -> None:
    reading = decoded(
        with_crc(
            "/FLU5\\253769484_A\n\n"
            "0-0:96.1.4(50217)\n"
            "0-0:96.1.1()\n"
            "0-0:96.1.0(3153414123456789)\n"
            "0-1:96.1.1(37464C4F32313139303333373333)\n"
            "0-0:1.0.0(231003121500S)\n"
            "1-0:1.8.1(000123.456*kWh)\n"
            "!"
        )
    )
    assert reading.meter_id == "3153414123456789"
    assert reading.list_version == "P1 version 50217"
    assert reading.meter_type is None


@pytest.mark.parametrize(
    ("clock", "expected", "fold"),
    [
        ("170102192002W", datetime(2017, 1, 2, 19, 20, 2), 1),
        ("250525184215S", datetime(2025, 5, 25, 18, 42, 15), 0),
        ("250525184215", datetime(2025, 5, 25, 18, 42, 15), 0),
        ("20240111 09:35:00", datetime(2024, 1, 11, 9, 35), 0),
        ("241327000000W", None, 0),  # month 13
        ("2024-01-11T09:35", None, 0),
        ("", None, 0),
    ],
)
def test_timestamp_forms(clock: str, expected: datetime | None, fold: int) -> None:
    reading = decoded(with_crc(f"/KAM5\n\n0-0:1.0.0({clock})\n1-0:1.8.0(1.000*kWh)\n!"))
    assert reading.timestamp == expected
    assert reading.timestamp is None or reading.timestamp.fold == fold
    assert reading.timestamp_is_local == (expected is not None)


def test_summer_winter_flag_resolves_the_repeated_autumn_hour() -> None:
    """02:30 happens twice on 27 Oct 2024 in Amsterdam; S is the first, W the second."""
    zone = ZoneInfo("Europe/Amsterdam")
    instants = []
    for flag in "SW":
        reading = decoded(with_crc(f"/KAM5\n\n0-0:1.0.0(241027023000{flag})\n1-0:1.7.0(1*kW)\n!"))
        assert reading.timestamp is not None
        instants.append(reading.timestamp.replace(tzinfo=zone).astimezone(UTC))
    assert instants == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("telegram", "reason", "detail"),
    [
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n\x8a!\r\n", Reason.FORMAT, "byte 0x8A at offset 27"),
        (b"KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!\r\n", Reason.MALFORMED, "does not start with '/'"),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n", Reason.TRUNCATED, "no end line"),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A\r\n", Reason.CRC, "telegram says 1A, computed"),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A2G", Reason.MALFORMED, "not 1-4 CRC hex digits"),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!1A2B3", Reason.MALFORMED, "not 1-4 CRC hex digits"),
        (b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!\r\n/KAM5", Reason.MALFORMED, "'\\r\\n/KAM5'"),
        (b"/K5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!\r\n", Reason.MALFORMED, "identification line '/K5'"),
        (b"/KAM5\r\n\r\nno data here\r\n!\r\n", Reason.MALFORMED, "no OBIS data lines"),
    ],
)
def test_decode_rejects_with_a_reason(telegram: bytes, reason: str, detail: str) -> None:
    error = rejected(telegram)
    assert error.reason == reason
    assert detail in error.detail


def test_raw_is_bounded() -> None:
    telegram = b"/KAM5\r\n\r\n" + b"0-0:96.13.0()\r\n" * 100
    error = rejected(telegram)
    assert error.reason == Reason.TRUNCATED
    assert error.raw == telegram[:512]


# ---------------------------------------------------------------- properties

_TEXT_BYTES = st.binary(max_size=300).map(
    lambda raw: bytes(32 + byte % 95 if byte % 7 else b"\r\n"[byte % 2] for byte in raw)
)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    answer = find_end(b"/" + data, 0)
    assert answer in (NEED_MORE, NOT_A_TELEGRAM) or 1 < answer <= len(data) + 1
    assert isinstance(decode_telegram(b"/" + data), Reading | FrameError)


@given(_TEXT_BYTES)
def test_arbitrary_text_after_a_header_never_raises(body: bytes) -> None:
    data = b"/KAM5\r\n\r\n" + body + b"\r\n!"
    answer = find_end(data, 0)
    assert answer in (NEED_MORE, NOT_A_TELEGRAM) or 8 <= answer <= len(data)
    for candidate in (data, data + f"{crc16_arc(data):04X}".encode()):
        assert isinstance(decode_telegram(candidate), Reading | FrameError)


_LINES = st.lists(
    st.tuples(
        st.integers(1, 96),
        st.integers(0, 255),
        st.integers(0, 999_999),
        st.integers(0, 3),
        st.sampled_from(["kWh", "kW", "kvarh", "kVAr", "V", "A"]),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda line: (line[0], line[1]),
)


@given(_LINES)
def test_generated_telegrams_round_trip(lines: list[tuple[int, int, int, int, str]]) -> None:
    text = "/ABC5\n\n" + "".join(
        f"1-0:{c}.{d}.0({_decimal_text(raw, places)}*{unit})\n" for c, d, raw, places, unit in lines
    )
    telegram = with_crc(text + "!")
    assert find_end(telegram + b"/ABC5", 0) == len(telegram) - 2
    for length in range(1, len(telegram) - 2, 37):
        assert find_end(telegram[:length], 0) == NEED_MORE
    reading = decoded(telegram)
    for c, d, raw, places, unit in lines:
        measurement = value_of(reading, f"1-0:{c}.{d}.0")
        scale = 1000 if unit in ("kW", "kVAr") else 1
        whole = raw * scale % 10**places == 0
        # int / int is correctly rounded, as is float(Decimal): equal bit for bit.
        assert measurement.value == (
            raw * scale // 10**places if whole else raw * scale / 10**places
        )
        assert isinstance(measurement.value, int) == whole
        assert measurement.unit == {"kW": "W", "kVAr": "var"}.get(unit, unit)


def _decimal_text(raw: int, places: int) -> str:
    """raw / 10**places written with `places` decimals, zero-padded like a meter does."""
    if not places:
        return f"{raw:08d}"
    return f"{raw // 10**places:06d}.{raw % 10**places:0{places}d}"


# ---------------------------------------------------------------- more meters (issue #13)


@pytest.mark.parametrize("entry", MORE_P1, ids=lambda entry: entry["id"])
def test_more_meters_capture_decodes_as_expected(entry: Entry) -> None:
    """Every P1 capture of more_meters.json, whole and as captured, through the stream."""
    decoder = StreamDecoder(options_for(entry))
    events = decoder.feed(raw_bytes(entry)) + decoder.flush()
    if not entry["valid"]:
        assert readings(events) == []
        assert reasons(events) == [Reason.CRC]
        return
    # Nothing else: a gateway's lines after the telegram are not a frame error.
    assert errors(events) == []
    (reading,) = readings(events)
    expected = entry["expected"]
    measured = {o: m for o, m in reading.values.items() if not isinstance(m.value, str)}
    assert measured == expected_values(entry)
    # int where the scaled value is whole (2589 W), float otherwise.
    assert {o: type(m.value) for o, m in measured.items()} == {
        o: type(m.value) for o, m in expected_values(entry).items()
    }
    # The only text values are sub-meter equipment ids.
    texts = set(reading.values) - set(measured)
    assert all(obis.b in MBUS_CHANNELS and obis[2:4] == (96, 1) for obis in texts)
    assert reading.meter_id == expected["meter_id"]
    assert reading.meter_type == expected["meter_type"]
    assert reading.list_version == expected["list_version"]
    assert reading.timestamp == expected_timestamp(entry)
    assert reading.timestamp is None or reading.timestamp.fold == expected_timestamp(entry).fold
    assert reading.transport == "p1"
    assert reading.encrypted == entry["encrypted"]
    if entry["encrypted"]:
        assert reading.system_title == bytes.fromhex(entry["frame_check"]["gcm"]["system_title"])
    assert decoder.stats.readings == 1


@pytest.mark.parametrize("entry", [e for e in MORE_P1 if e["valid"]], ids=lambda e: e["id"])
def test_more_meters_capture_fed_in_small_chunks(entry: Entry) -> None:
    """A USB adapter hands over a few bytes at a time: the same reading, no error."""
    data = raw_bytes(entry)
    decoder = StreamDecoder(options_for(entry))
    events: list[Event] = []
    for start in range(0, len(data), 7):
        events += decoder.feed(data[start : start + 7])
    events += decoder.flush()
    assert errors(events) == []
    (reading,) = readings(events)
    assert {o: m for o, m in reading.values.items() if not isinstance(m.value, str)} == (
        expected_values(entry)
    )


def test_crc_without_leading_zero_is_the_number_it_writes() -> None:
    """'!B9F' is CRC 0B9F (dsmr_parser's TELEGRAM_UNPADDED_CRC, a Warmtelink heat meter)."""
    telegram = raw_bytes(MORE[UNPADDED_CRC])
    bang = telegram.index(b"\n!") + 2
    assert telegram[bang : bang + 5] == b"B9F\r\n"
    assert find_end(telegram, 0) == bang + 3
    assert find_end(telegram[: bang + 3], 0) == NEED_MORE  # a fourth digit may follow
    reading = decoded(telegram)
    assert value_of(reading, "0-1:24.2.1") == Measurement(240.86, "GJ")
    # Written as 1, 2 or 4 digits with leading zeros: the same CRC.
    for written in (b"0B9F", b"0b9f"):
        assert isinstance(decode_telegram(telegram[:bang] + written + b"\r\n"), Reading)
    # Another three-digit number is a CRC error, not junk.
    error = rejected(telegram[:bang] + b"B9E\r\n")
    assert error.reason == Reason.CRC
    assert "telegram says B9E, computed 0B9F" in error.detail


def test_short_crc_needs_its_line_end() -> None:
    body = with_crc("/KAM5\n\n1-0:1.8.0(1*kWh)\n!")[:-6]
    assert find_end(body + b"12\r\n", 0) == len(body) + 2
    assert find_end(body + b"12\n", 0) == len(body) + 2
    assert find_end(body + b"12/", 0) == NOT_A_TELEGRAM
    assert find_end(body + b"12", 0) == NEED_MORE


def test_power_factor_without_unit_is_a_value() -> None:
    """E.ON Hungary sends 1-0:13.7.0(4.556): a value with unit None; status lines stay out."""
    reading = decoded(raw_bytes(MORE[EON_HU]))
    for code, value in (
        ("1-0:13.7.0", 4.556),
        ("1-0:33.7.0", 4.591),
        ("1-0:53.7.0", 4.542),
        ("1-0:73.7.0", 4.552),
    ):
        assert value_of(reading, code) == Measurement(value, None)
    for status in ("0-0:96.14.0", "0-0:96.3.10", "0-0:42.0.0", "0-0:96.1.0"):
        assert Obis.parse(status) not in reading.values


def test_only_unitless_quantities_are_read_without_a_unit() -> None:
    reading = decoded(
        with_crc(
            "/XYZ5\n\n"
            "1-0:13.7.0(0.98)\n"
            "1-0:33.7.0(1)\n"
            "1-0:53.7.0(x.5)\n"  # not a number
            "1-0:73.7.0(0.5)(0.6)\n"  # two bare numbers: not one value
            "1-0:1.7.0(1.000)\n"  # power needs its unit
            "1-0:32.32.0(00003)\n"  # voltage sag count
            "0-0:96.7.21(00015)\n"
            "!"
        )
    )
    assert dict(reading.values) == {
        Obis.parse("1-0:13.7.0"): Measurement(0.98, None),
        Obis.parse("1-0:33.7.0"): Measurement(1, None),
    }


def test_easymeter_names_itself_in_96_1_255() -> None:
    """Q3D: serial 1ESY... in 0-0:96.1.255, a property number in 1-0:0.0.0."""
    for entry_id, meter_id in ((EASYMETER_FF, "1ESY1313002565"), (EASYMETER_DE, "1ESY1336001560")):
        telegram = raw_bytes(MORE[entry_id])
        reading = decoded(telegram[: find_end(telegram, 0)])
        assert reading.meter_id == meter_id
        assert reading.manufacturer == "EasyMeter"


def test_meter_id_falls_back_to_the_logical_device_name() -> None:
    """A Smarty sends no 96.1.x: its logical device name 0-0:42.0.0 is its id."""
    assert decoded(raw_bytes(MORE[SMARTY_PLAIN])).meter_id == (
        "53414731303330373030303132373031"  # "SAG1030700012701"
    )
    # With 96.1.0 beside it (E.ON Hungary), 96.1.0 is the id.
    assert decoded(raw_bytes(MORE[EON_HU])).meter_id == "383930303832323030303032313630"


def test_first_of_several_values_is_the_value() -> None:
    """Smarty's 1-1:31.4.0(040*A)(-040*A): 40 A, as dsmr_parser reads it."""
    reading = decoded(raw_bytes(MORE[SMARTY_PLAIN]))
    assert value_of(reading, "1-1:31.4.0") == Measurement(40, "A")


def test_iskra_ie_identification_line_with_a_control_byte() -> None:
    """dsmr_parser's TELEGRAM_ISKRA_IE has 0x02 where the meter sends the pair '\\2'."""
    telegram = raw_bytes(MORE[ISKRA_IE])
    assert telegram.startswith(b"/ISk5\x02MIE5T-200\r\n")
    assert find_end(telegram, 0) == crc_end(telegram)
    reading = decoded(telegram)
    assert reading.manufacturer == "Iskraemeco"
    assert reading.meter_id == "09610"
    # As the meter sends it, with the CRC over the backslash pair: the same reading.
    bang = telegram.index(b"\n!") + 2
    real = telegram[:bang].replace(b"\x02", b"\\2", 1)
    assert crc16_arc(real) == 0xF2A8
    as_sent = decoded(real + b"F2A8\r\n")
    assert dict(as_sent.values) == dict(reading.values)
    # NUL and bytes above 0x7E still end a line that is no identification.
    for byte in (b"\x00", b"\x80"):
        assert find_end(telegram.replace(b"\x02", byte, 1), 0) == NOT_A_TELEGRAM
        assert not isinstance(decode_telegram(telegram.replace(b"\x02", byte, 1)), Reading)
    # A control byte in a data line is not text.
    broken = telegram.replace(b"1-0:1.8.1", b"1-0:1.8\x02", 1)
    assert find_end(broken, 0) == NOT_A_TELEGRAM
    assert rejected(broken).reason == Reason.FORMAT


def test_month_peak_comes_with_its_time() -> None:
    """Fluvius 1-0:1.6.0(200509134558S)(02.589*kW): 2589 W, reached 9 May 13:45:58 CEST."""
    reading = decoded(raw_bytes(MORE[FLUVIUS]))
    peak = Obis.parse("1-0:1.6.0")
    assert reading.values[peak] == Measurement(2589, "W")
    assert reading.values[Obis.parse("1-0:1.4.0")] == Measurement(2351, "W")
    when = reading.captured[peak]
    assert when == datetime(2020, 5, 9, 13, 45, 58)
    assert when.fold == 0  # S: summer time
    # The sub-meters' reading times are there too; the 13-month history (98.1.0) is not.
    assert set(reading.captured) == {peak, Obis.parse("0-1:24.2.3"), Obis.parse("0-2:24.2.1")}
    assert reading.captured[Obis.parse("0-1:24.2.3")] == reading.sub_meters[0].captured
    # A value whose time does not parse keeps its value, without a time.
    telegram = raw_bytes(MORE[FLUVIUS]).replace(b"(200509134558S)", b"(632525252525W)")
    body = telegram[: telegram.index(b"\n!") + 2]
    alt = decoded(body + f"{crc16_arc(body):04X}\r\n".encode())
    assert alt.values[peak] == Measurement(2589, "W")
    assert peak not in alt.captured


def test_no_captured_times_without_timed_values() -> None:
    assert not decoded(raw_bytes(MORE[T210_PLAIN])).captured


def test_has_crc() -> None:
    assert has_crc(b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!B9F\r\n")
    assert not has_crc(b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n!\r\n")
    assert not has_crc(b"/KAM5\r\n\r\n1-0:1.8.0(1*kWh)\r\n")


# ---------------------------------------------------------------- encrypted P1 framing


def _ciphered(
    length: bytes = b"\x82\x01\xf2", control: int = 0x30, title: bytes = b"SYSTEMID"
) -> bytes:
    return b"\xdb\x08" + title + length + bytes((control,)) + b"\x10\x00\x00\x01"


def test_find_ciphered_end_on_the_captures() -> None:
    for entry_id in (T210_ENCRYPTED, SMARTY_ENCRYPTED):
        apdu = raw_bytes(MORE[entry_id])
        assert find_ciphered_end(apdu, 0) == len(apdu)
        assert find_ciphered_end(b"\r\n" + apdu + b"\xdb", 2) == 2 + len(apdu)
        for length in range(1, len(apdu), 41):
            assert find_ciphered_end(apdu[:length], 0) == NEED_MORE


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"", NOT_A_TELEGRAM),
        (b"\xdb", NEED_MORE),
        (b"\xdb\x09", NOT_A_TELEGRAM),  # system title is 8 bytes
        (b"\xdb\x08SY1", NOT_A_TELEGRAM),  # it opens with a FLAG id: 3 letters
        (b"\xdb\x08SAGgp", NEED_MORE),
        (_ciphered(b"\x83\x00\x01\xf2"), NOT_A_TELEGRAM),  # no 3-byte lengths
        (_ciphered()[:11], NEED_MORE),
        (_ciphered()[:13], NEED_MORE),
        (_ciphered(control=0x31), NOT_A_TELEGRAM),  # security suite 1
        (_ciphered(control=0x40), NOT_A_TELEGRAM),
        (_ciphered(b"\x18"), NOT_A_TELEGRAM),  # too short for a telegram and a tag
        (_ciphered(b"\x82\x21\x00"), NOT_A_TELEGRAM),  # longer than any telegram
        (_ciphered(b"\x16", control=0x20) + b"\x00" * 17, 11 + 0x16),
        (_ciphered(b"\x81\x80", control=0x20) + b"\x00" * 0x80, 12 + 0x80),
        (_ciphered() + b"\x00" * 100, NEED_MORE),
    ],
)
def test_find_ciphered_end_cases(data: bytes, answer: int) -> None:
    assert find_ciphered_end(data, 0) == answer


def test_find_ciphered_end_on_other_bytes() -> None:
    assert find_ciphered_end(b"/KAM5", 0) == NOT_A_TELEGRAM


@given(st.binary(max_size=64))
def test_find_ciphered_end_never_raises(data: bytes) -> None:
    answer = find_ciphered_end(b"\xdb" + data, 0)
    assert answer in (NEED_MORE, NOT_A_TELEGRAM) or 20 < answer <= len(data) + 1


def test_trailer_bytes() -> None:
    trailer = raw_bytes(MORE[EASYMETER_FF]).split(b"!\r\n", 1)[1]
    assert trailer == b"  25803103\r\n" + b"\xff" * 33 + b"\r\n"
    for line in trailer.split(b"\r\n"):
        assert is_trailer(line, 0, len(line))
    assert not is_trailer(b"  2580\x00", 0, 7)
    assert is_trailer(b"\x00DE00", 1, 5)
