"""Vendor rules: body shapes (tagged, positional, capture list), scalers, identity, vendor."""

from __future__ import annotations

from datetime import datetime, timedelta
import math

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import pytest

from custom_components.han_port.han import meters
from custom_components.han_port.han.axdr import AxdrValue
from custom_components.han_port.han.meters import LayoutError, interpret, to_reading
from custom_components.han_port.han.model import Obis, Reading, Reason
from devtools.corpus import BY_ID, raw_bytes

from ..more_meters import (
    BY_ID as MORE,
    DENMARK,
    DK_ENCRYPTED,
    DK_PLAIN,
    IDENTITY,
    POSITIONAL,
    REGISTER_MAP,
    TRAILING_METER_NUMBER,
    Entry as MoreEntry,
    expected_values,
)
from .conftest import decode_all, errors, hdlc_apdu, options_for, readings, reasons, wall_clock


def _obis(text: str) -> bytes:
    return Obis.parse(text).to_bytes()


def _values(reading: Reading) -> dict[str, object]:
    return {str(obis): m.value for obis, m in reading.values.items()}


def _units(reading: Reading) -> dict[str, str | None]:
    return {str(obis): m.unit for obis, m in reading.values.items()}


# 2017-09-13 00:00:10, deviation and status unspecified.
CLOCK = bytes.fromhex("07E1090D0200000AFF800000")
CLOCK_TIME = datetime(2017, 9, 13, 0, 0, 10)
HEADER = bytes.fromhex("07E6011801123A32FF800000")


# -- Kamstrup: OBIS inline, fixed scalers, country decides energy ---------------------------


def _kamstrup_body(energy_raw: int) -> list[AxdrValue]:
    return [
        "Kamstrup_V0001",
        _obis("1-1:0.0.5"),
        "5706567331323526",
        _obis("1-1:96.1.1"),
        "6841131BN245101092",
        _obis("1-1:1.7.0"),
        2269,
        _obis("1-1:31.7.0"),
        287,
        _obis("1-1:32.7.0"),
        241,
        _obis("1-1:1.8.0"),
        energy_raw,
        _obis("1-1:3.8.0"),
        energy_raw,
    ]


@pytest.mark.parametrize(
    ("country", "energy"),
    [("NO", 320141.58), ("DK", 320141.58), (None, 320141.58), ("SE", 32014.158)],
)
def test_kamstrup_energy_unit_follows_the_country(country: str | None, energy: float) -> None:
    # Kamstrup sends energy without a scaler: 0.01 kWh in Norway, Wh in Sweden.
    reading = to_reading(_kamstrup_body(32014158), None, country=country)

    assert _values(reading)["1-1:1.8.0"] == energy
    assert _values(reading)["1-1:3.8.0"] == energy
    assert _units(reading)["1-1:1.8.0"] == "kWh"
    assert _units(reading)["1-1:3.8.0"] == "kvarh"
    # Power, current and voltage do not depend on the country.
    assert _values(reading)["1-1:1.7.0"] == 2269
    assert _values(reading)["1-1:31.7.0"] == 2.87
    assert _values(reading)["1-1:32.7.0"] == 241
    assert reading.manufacturer == "Kamstrup"
    assert reading.list_version == "Kamstrup_V0001"
    assert reading.meter_id == "5706567331323526"
    assert reading.meter_type == "6841131BN245101092"


def test_kamstrup_se_capture_with_norwegian_setting_is_ten_times_higher() -> None:
    # The frame cannot tell: the option is what makes the Swedish capture right.
    entry = BY_ID["kamstrup-se-list2-3ph-2022-amsreader-gh239-2"]
    [se] = readings(decode_all(raw_bytes(entry), options_for(entry)))
    [no] = readings(decode_all(raw_bytes(entry), options_for(entry, country="NO")))
    assert _values(se)["1-1:1.8.0"] == 32014.158
    assert _values(no)["1-1:1.8.0"] == 320141.58


def test_null_data_placeholders_are_skipped() -> None:
    # Kamstrup 1-phase keeps its 3-phase layout with null-data for L2 and L3.
    body: list[AxdrValue] = [
        "Kamstrup_V0001",
        _obis("1-1:31.7.0"),
        512,
        _obis("1-1:51.7.0"),
        None,
        _obis("1-1:71.7.0"),
        None,
        None,
    ]
    reading = to_reading(body, None, country="NO")
    assert _values(reading) == {"1-1:31.7.0": 5.12}


def test_kamstrup_header_time_wins_over_the_clock_register() -> None:
    body = [*_kamstrup_body(1), _obis("0-1:1.0.0"), CLOCK]
    reading = to_reading(body, HEADER, country="NO")
    assert reading.timestamp == datetime(2022, 1, 24, 18, 58, 50)

    reading = to_reading(body, None, country="NO")
    assert reading.timestamp == CLOCK_TIME


def test_unparseable_header_time_falls_back_to_the_clock() -> None:
    body = [*_kamstrup_body(1), _obis("0-1:1.0.0"), CLOCK]
    reading = to_reading(body, b"\xff" * 12, country="NO")
    assert reading.timestamp == CLOCK_TIME


# -- Aidon and the generic path: scaler/unit structures ------------------------------------


def _item(code: str, value: AxdrValue, scaler: int, unit: int) -> list[AxdrValue]:
    return [_obis(code), value, [scaler, unit]]


def test_scaler_unit_structures() -> None:
    body: list[AxdrValue] = [
        [_obis("1-1:0.2.129"), "AIDON_V0001"],
        [_obis("0-0:96.1.0"), "7359992895913195"],
        [_obis("0-0:96.1.7"), "6534"],
        _item("1-0:1.7.0", 1769, 0, 27),
        _item("1-0:31.7.0", -10, -1, 33),  # signed: exporting
        _item("1-0:32.7.0", 2349, -1, 35),
        _item("1-0:1.8.0", 9406459, 1, 30),  # 10 Wh steps
        _item("1-0:3.8.0", 751, 1, 32),
        _item("1-0:14.7.0", 4999, -2, 44),
        _item("1-0:13.7.0", 98, -2, 255),
        [_obis("0-0:1.0.0"), CLOCK],
    ]
    reading = to_reading(body, None, country="NO")

    assert _values(reading) == {
        "1-0:1.7.0": 1769,
        "1-0:31.7.0": -1,
        "1-0:32.7.0": 234.9,
        "1-0:1.8.0": 94064.59,
        "1-0:3.8.0": 7.51,
        "1-0:14.7.0": 49.99,
        "1-0:13.7.0": 0.98,
    }
    assert _units(reading) == {
        "1-0:1.7.0": "W",
        "1-0:31.7.0": "A",
        "1-0:32.7.0": "V",
        "1-0:1.8.0": "kWh",
        "1-0:3.8.0": "kvarh",
        "1-0:14.7.0": "Hz",
        "1-0:13.7.0": None,
    }
    assert reading.manufacturer == "Aidon"
    assert reading.list_version == "AIDON_V0001"
    assert reading.meter_id == "7359992895913195"
    assert reading.meter_type == "6534"
    assert reading.timestamp == CLOCK_TIME


def test_positive_scaler_multiplies() -> None:
    reading = to_reading([_item("1-0:1.7.0", 17, 2, 27)], None)
    assert _values(reading) == {"1-0:1.7.0": 1700}


def test_unknown_dlms_unit_keeps_the_scaler_and_names_no_unit() -> None:
    reading = to_reading([_item("1-0:1.7.0", 17, -1, 99)], None)
    assert _values(reading) == {"1-0:1.7.0": 1.7}
    assert _units(reading) == {"1-0:1.7.0": None}


def test_unknown_vendor_with_obis_codes_decodes_generically() -> None:
    body: list[AxdrValue] = [
        [_obis("0-0:96.1.0"), b"ZZZ0000001"],  # meter id as an octet-string
        [_obis("1-0:1.7.0"), 500],
        [_obis("1-0:1.8.0"), 123456],
    ]
    reading = to_reading(body, None)
    assert reading.manufacturer is None
    assert reading.meter_id == "ZZZ0000001"
    assert _values(reading) == {"1-0:1.7.0": 500, "1-0:1.8.0": 123.456}


def test_non_numbers_and_non_finite_floats_are_dropped() -> None:
    body: list[AxdrValue] = [
        [_obis("1-0:1.7.0"), True],  # a boolean is not a power
        [_obis("1-0:2.7.0"), "12"],
        [_obis("1-0:3.7.0"), math.nan],
        [_obis("1-0:4.7.0"), math.inf],
        [_obis("1-0:32.7.0"), 230.5],
        [_obis("0-0:96.1.0"), b"\x01\x02"],  # not text: no meter id
        [_obis("0-0:96.1.0"), 42],
        [_obis("0-0:1.0.0"), "not a clock"],
        [_obis("0-0:96.13.0"), "unrelated"],  # a text message, not an identity
    ]
    reading = to_reading(body, None)
    assert _values(reading) == {"1-0:32.7.0": 230.5}
    assert reading.meter_id is None
    assert reading.timestamp is None


def test_first_identity_wins() -> None:
    body: list[AxdrValue] = [
        [_obis("0-0:96.1.0"), "first"],
        [_obis("0-0:96.1.1"), "second"],
        [_obis("1-0:1.7.0"), 1],
    ]
    assert to_reading(body, None).meter_id == "first"


def test_nul_padded_octet_string_identity() -> None:
    body: list[AxdrValue] = [[_obis("0-0:96.1.0"), b"7359992\x00\x00\x00"], [_obis("1-0:1.7.0"), 1]]
    reading = to_reading(body, None)
    assert reading.meter_id == "7359992"
    assert reading.manufacturer == "Aidon"  # from the GS1 prefix of the meter id


# -- Kaifa Norway: positional layouts ---------------------------------------------------


_KAIFA_HEAD: list[AxdrValue] = ["KFM_001", b"6970631401753985", b"MA304H3E"]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (
            9,
            {
                "1-0:1.7.0": 1000,
                "1-0:2.7.0": 1001,
                "1-0:3.7.0": 1002,
                "1-0:4.7.0": 1003,
                "1-0:31.7.0": 1.004,
                "1-0:32.7.0": 100.5,
            },
        ),
        (
            13,
            {
                "1-0:1.7.0": 1000,
                "1-0:2.7.0": 1001,
                "1-0:3.7.0": 1002,
                "1-0:4.7.0": 1003,
                "1-0:31.7.0": 1.004,
                "1-0:51.7.0": 1.005,
                "1-0:71.7.0": 1.006,
                "1-0:32.7.0": 100.7,
                "1-0:52.7.0": 100.8,
                "1-0:72.7.0": 100.9,
            },
        ),
    ],
)
def test_kaifa_list2_layouts(count: int, expected: dict[str, float]) -> None:
    body = _KAIFA_HEAD + [1000 + index for index in range(count - 3)]
    reading = to_reading(body, None, country="NO")

    assert _values(reading) == expected
    assert reading.manufacturer == "Kaifa"
    assert reading.list_version == "KFM_001"
    assert reading.meter_id == "6970631401753985"
    assert reading.meter_type == "MA304H3E"


@pytest.mark.parametrize("phases", [1, 3])
def test_kaifa_list3_layouts(phases: int) -> None:
    instantaneous = 6 if phases == 1 else 10
    body = [*_KAIFA_HEAD, *[500] * instantaneous, CLOCK, 112727, 0, 101, 13220]
    assert len(body) == (14 if phases == 1 else 18)

    reading = to_reading(body, None, country="NO")

    values = _values(reading)
    assert values["1-0:1.8.0"] == 112.727
    assert values["1-0:2.8.0"] == 0
    assert values["1-0:3.8.0"] == 0.101
    assert values["1-0:4.8.0"] == 13.22
    assert values["1-0:31.7.0"] == 0.5  # mA
    assert values["1-0:32.7.0"] == 50  # 0.1 V
    assert len(values) == instantaneous + 4
    assert reading.timestamp == CLOCK_TIME


def test_kaifa_list1_single_value() -> None:
    reading = to_reading([1234], None, country="NO")
    assert _values(reading) == {"1-0:1.7.0": 1234}
    assert _units(reading) == {"1-0:1.7.0": "W"}


def test_bare_value_body_is_list1() -> None:
    # A body that is one value, not a structure, reads as a one-element list.
    assert _values(to_reading(4321, None)) == {"1-0:1.7.0": 4321}


@pytest.mark.parametrize("count", [2, 7, 10, 12, 15, 19])
def test_unknown_positional_count_is_a_layout_error(count: int) -> None:
    body = _KAIFA_HEAD + [1] * (count - 3) if count > 3 else [1] * count
    with pytest.raises(LayoutError, match=f"{count} elements"):
        to_reading(body, None, country="NO")


def test_unknown_positional_count_in_a_frame_is_unsupported() -> None:
    # A structure of 7 bare numbers: a valid frame nobody's layout covers.
    body = b"\x02\x07" + b"\x06\x00\x00\x00\x01" * 7
    events = decode_all(hdlc_apdu(b"\x0f\x40\x00\x00\x00\x00" + body))
    assert readings(events) == []
    assert reasons(events) == [Reason.UNSUPPORTED]


def test_positional_layout_from_system_title_when_no_list_id() -> None:
    # 9 untagged numbers: no list id in position 0, the system title names Kaifa.
    body: list[AxdrValue] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    reading = to_reading(body, None, system_title=b"KFM\x10\x10\x00\x00\x23")
    assert reading.manufacturer == "Kaifa"
    assert _values(reading)["1-0:31.7.0"] == 0.008


# -- capture-object list (Landis+Gyr E450) ----------------------------------------------


def test_capture_object_list_names_the_values() -> None:
    objects: list[AxdrValue] = [
        [40, _obis("0-0:25.9.0"), 2, 0],  # the push list itself
        [1, _obis("0-0:96.1.0"), 2, 0],
        [3, _obis("1-0:1.7.0"), 2, 0],
        [3, _obis("1-0:2.7.0"), 1, 0],  # attribute 1: the logical name, not a value
        [3, _obis("1-1:1.8.0"), 2, 0],
    ]
    body: list[AxdrValue] = [objects, "63326413", 362, _obis("1-0:2.7.0"), 2302502]

    reading = to_reading(body, None)

    assert reading.meter_id == "63326413"
    assert _values(reading) == {"1-0:1.7.0": 362, "1-1:1.8.0": 2302.502}


@pytest.mark.parametrize(
    "objects",
    [
        [[3, b"short", 2, 0], [3, _obis("1-0:1.7.0"), 2, 0]],  # not a 6-byte OBIS
        [[3, _obis("1-0:1.7.0")], [3, _obis("1-0:1.7.0"), 2, 0]],  # too few fields
        [7, [3, _obis("1-0:1.7.0"), 2, 0]],  # a definition that is not a structure
    ],
)
def test_malformed_capture_list_is_not_taken_for_one(objects: list[AxdrValue]) -> None:
    with pytest.raises(LayoutError):
        interpret([objects, 1])


def test_capture_list_capture_entry_decodes() -> None:
    entry = BY_ID["landisgyr-ch-e450-gbt-3frames-amsreader-gh740"]
    [reading] = readings(decode_all(raw_bytes(entry), options_for(entry)))
    assert reading.meter_id == "63326413"
    assert reading.timestamp == datetime(2024, 2, 29, 22, 48, 50)


def test_timestamp_helper() -> None:
    assert meters.timestamp(None) is None
    assert meters.timestamp(b"\x00" * 12) is None  # month 0: no instant
    aware = meters.timestamp(bytes.fromhex("07E50713010F2E2300FF8880"))
    assert aware is not None
    assert aware.utcoffset() == timedelta(hours=2)


def test_six_byte_meter_type_is_not_taken_for_an_obis_code() -> None:
    # Kaifa MA304H: a six-character octet-string, the size of an OBIS code. Value
    # group A is at most 15, so "M" (0x4D) cannot open one.
    body: list[AxdrValue] = ["KFM_001", b"6970631401753985", b"MA304H", *range(1000, 1010)]
    reading = to_reading(body, None, country="NO")
    assert reading.meter_type == "MA304H"
    assert _values(reading)["1-0:1.7.0"] == 1000
    assert len(reading.values) == 10


@pytest.mark.parametrize("odd", [[b"x", 35], [-1, 35, 0], []])
def test_scaler_unit_that_is_not_two_integers_is_ignored(odd: list[AxdrValue]) -> None:
    # The vendor's fixed scale applies; the odd structure is not read as a value.
    body: list[AxdrValue] = [_obis("1-0:32.7.0"), 2301, odd, _obis("1-0:1.7.0"), 5]
    reading = to_reading(body, None)
    assert _values(reading) == {"1-0:32.7.0": 2301, "1-0:1.7.0": 5}


def test_structure_with_a_lone_obis_code_is_skipped() -> None:
    body: list[AxdrValue] = [[_obis("1-0:2.7.0")], [_obis("1-0:1.7.0"), 5]]
    assert _values(to_reading(body, None)) == {"1-0:1.7.0": 5}


def test_role_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    full = {Obis(9, 9, 9, 9, index // 256, index % 256): None for index in range(4096)}
    monkeypatch.setattr(meters, "_ROLES", full)
    reading = to_reading([[_obis("1-0:1.7.0"), 7]], None)
    assert _values(reading) == {"1-0:1.7.0": 7}
    assert len(full) == 4096


def test_one_maker_has_one_name_over_dlms_and_p1() -> None:
    # Iskraemeco's FLAG id ISK names it in a DLMS system title and in a P1
    # identification line ("/ISk5"); the device registry must show one manufacturer.
    dlms = to_reading([[_obis("1-0:1.7.0"), 5]], None, system_title=b"ISK\x00\x00\x00\x00\x01")
    entry = BY_ID["p1-nl-dsmr5-dsmrparser"]
    [p1] = readings(decode_all(raw_bytes(entry), options_for(entry)))
    assert dlms.manufacturer == p1.manufacturer == "Iskraemeco"


# -- more meters (issue #13): Swiss VSE, Austrian and Slovenian lists ---------------------


def assert_decodes_as_expected(entry: MoreEntry) -> None:
    """The capture gives one reading, equal to `expected` in every field it names."""
    events = decode_all(raw_bytes(entry), options_for(entry))
    assert errors(events) == []
    [reading] = readings(events)
    expected = entry["expected"]
    measured = {obis: m for obis, m in reading.values.items() if not isinstance(m.value, str)}
    assert measured == expected_values(entry)
    assert {obis: m.unit for obis, m in measured.items()} == {
        obis: m.unit for obis, m in expected_values(entry).items()
    }
    assert reading.meter_id == expected["meter_id"]
    assert reading.meter_type == expected["meter_type"]
    assert reading.list_version == expected["list_version"]
    # The maker, where the frame names it: logical device name or system title.
    if expected.get("logical_device_name") or entry["encrypted"]:
        assert reading.manufacturer == entry["vendor"]
    assert reading.encrypted == entry["encrypted"]
    # The fixture gives the wall clock to the second; the E360 also sends hundredths.
    stamp = wall_clock(reading)
    assert stamp is not None
    assert stamp.replace(microsecond=0) == datetime.fromisoformat(expected["timestamp"])
    deviation = expected["timestamp_deviation_min"]
    assert reading.timestamp is not None
    if deviation is None:
        assert reading.timestamp.tzinfo is None
    else:
        assert reading.timestamp.utcoffset() == timedelta(minutes=-deviation)


@pytest.mark.parametrize("entry", IDENTITY, ids=lambda entry: entry["id"])
def test_logical_device_name_identifies_a_meter_without_meter_id(entry: MoreEntry) -> None:
    """0-0:42.0.0 is the meter id of lists without one; a sub-meter's id never is."""
    assert_decodes_as_expected(entry)


def test_identity_registers_of_a_list_without_meter_id() -> None:
    body: list[AxdrValue] = [
        [_obis("0-1:96.1.0"), "24521662"],  # M-Bus channel 1's meter
        [_obis("0-0:96.1.3"), "16820005"],  # Elektro Ljubljana's list identifier
        [_obis("0-0:42.0.0"), b"ISK1030789375606"],
        [_obis("1-0:1.7.0"), 1393],
    ]
    reading = to_reading(body, None)
    assert reading.meter_id == "ISK1030789375606"
    assert reading.list_version == "16820005"
    assert reading.manufacturer == "Iskraemeco"
    # A meter id, where one is sent, wins over the logical device name.
    reading = to_reading([*body, [_obis("0-0:96.1.1"), "1935912"]], None)
    assert reading.meter_id == "1935912"
    assert reading.device_name == "ISK1030789375606"
    assert reading.manufacturer == "Iskraemeco"


@pytest.mark.parametrize("entry", REGISTER_MAP, ids=lambda entry: entry["id"])
def test_per_model_units_of_lists_without_scaler(entry: MoreEntry) -> None:
    """E450, E570, E360 and AM550 units from the model the capture-object list names."""
    assert_decodes_as_expected(entry)


@pytest.mark.parametrize("entry", POSITIONAL, ids=lambda entry: entry["id"])
def test_lists_without_obis_codes_by_position(entry: MoreEntry) -> None:
    """Netz Burgenland's 14-element E450 list, Elektro Ljubljana's 18 and 12 (AM550)."""
    assert_decodes_as_expected(entry)


@pytest.mark.parametrize("entry", TRAILING_METER_NUMBER, ids=lambda entry: entry["id"])
def test_meter_number_that_ends_a_list_without_obis_code(entry: MoreEntry) -> None:
    """Netz NÖ's T210-D: two M-Bus frames, and the meter number last, bare."""
    assert_decodes_as_expected(entry)


def test_bare_octet_string_after_the_last_register_is_the_meter_number() -> None:
    def body(last: AxdrValue) -> list[AxdrValue]:
        return [CLOCK, _obis("1-0:1.8.0"), 6842204, [0, 30], last]

    assert to_reading(body(b"178210193075"), None).meter_id == "178210193075"
    # Not text, or not last: no meter id.
    assert to_reading(body(b"\x01\x02\x03"), None).meter_id is None
    assert to_reading([*body(b"178210193075"), None], None).meter_id is None
    # A list whose first element is bare text keeps it as the list version only.
    assert to_reading([b"178210193075"], None).meter_id is None
    # A meter id sent with its OBIS code wins.
    tagged = [_obis("0-0:96.1.0"), "1KFM0100000035", *body(b"178210193075")]
    assert to_reading(tagged, None).meter_id == "1KFM0100000035"


@pytest.mark.parametrize("entry", DENMARK, ids=lambda entry: entry["id"])
def test_danish_kamstrup_omnipower(entry: MoreEntry) -> None:
    """The Danish list as sent in the clear, and as grid companies encrypt it."""
    assert_decodes_as_expected(entry)


def test_danish_synthetic_capture_is_the_real_list_sealed() -> None:
    """The synthetic frame decrypts, outside HAN Port, to the real capture's APDU."""
    entry = MORE[DK_ENCRYPTED]
    frame = raw_bytes(entry)
    plain = raw_bytes(MORE[DK_PLAIN])
    # Same HDLC addresses and LLC header as the real frame, then general-glo-ciphering.
    assert frame[3:5] == plain[3:5] == b"\x2b\x21"
    assert frame[8:11] == plain[8:11] == b"\xe6\xe7\x00"
    apdu = frame[11:-3]
    assert apdu[:2] == b"\xdb\x08"
    system_title = apdu[2:10]
    assert apdu[10] == 0x81  # one length byte follows
    content = apdu[12 : 12 + apdu[11]]
    assert len(content) == apdu[11] == len(apdu) - 12
    security, counter, sealed = content[0], content[1:5], content[5:]
    assert security == 0x30
    gcm = entry["expected"]["gcm"]
    assert (system_title.hex().upper(), counter.hex().upper()) == (gcm["system_title"], gcm["fc"])
    key = bytes.fromhex(entry["key_hex"])
    auth_key = bytes.fromhex(entry["auth_key_hex"])
    # A 12-byte tag: AESGCM wants 16, so check it with the streaming API.
    decryptor = Cipher(
        algorithms.AES(key), modes.GCM(system_title + counter, sealed[-12:], min_tag_length=12)
    ).decryptor()
    decryptor.authenticate_additional_data(bytes((security,)) + auth_key)
    clear = decryptor.update(sealed[:-12]) + decryptor.finalize()
    assert clear == plain[11:-3] == bytes.fromhex(entry["plaintext_apdu_hex"])
    # HAN Port refuses it under another authentication key.
    events = decode_all(frame, options_for(entry, auth_key=bytes(16)))
    assert readings(events) == []
    assert reasons(events) == [Reason.DECRYPT]


def test_e450_authenticated_and_encrypted_with_the_encryption_key_alone() -> None:
    """SC 0x30 in GBT blocks, only the encryption key published (security.py's policy)."""
    assert_decodes_as_expected(MORE["landisgyr-ch-e450-gbt3-encrypted-obis-list-scs"])
