"""The vendor table: who a frame names, which market's rules apply, Kaifa's positions."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from custom_components.han_port.han.cosem import Quantity, Tag
from custom_components.han_port.han.model import Obis
from custom_components.han_port.han.vendors import (
    AIDON,
    GENERIC,
    ISKRAEMECO,
    KAIFA,
    KAMSTRUP,
    LANDIS_GYR,
    VENDORS,
    Market,
    PushElement,
    PushList,
    Role,
    Style,
    Vendor,
    by_flag_id,
    by_name,
    vendor_for,
)

# landisgyr-ch-e570-vse2026-gbt4-scs: the capture objects with attribute 2.
E570_VSE_2026 = [
    "0-8:25.9.0",
    "0-0:42.0.0",
    "1-1:1.8.0",
    "1-1:2.8.0",
    "1-1:3.8.0",
    "1-1:4.8.0",
    "1-0:1.7.0",
    "1-0:2.7.0",
    "1-0:32.7.0",
    "1-0:52.7.0",
    "1-0:72.7.0",
    "1-0:31.7.0",
    "1-0:51.7.0",
    "1-0:71.7.0",
]


@pytest.mark.parametrize(
    ("list_id", "title", "meter_id", "vendor"),
    [
        ("Kamstrup_V0001", None, None, "Kamstrup"),
        ("AIDON_V0001", None, None, "Aidon"),
        ("KFM_001", None, None, "Kaifa"),
        # One maker, one name, whether it speaks DLMS or P1 (test_p1: "/ISk5").
        ("ISK1030775213859", None, None, "Iskraemeco"),
        (None, b"ISK12345", None, "Iskraemeco"),
        ("LGF5E360", None, None, "Landis+Gyr"),
        (None, b"KFM\x10\x10\x00\x00\x23", None, "Kaifa"),
        (None, b"LGZ12345", None, "Landis+Gyr"),
        (None, b"SAG12345", None, "Sagemcom"),
        (None, None, "5706567331323526", "Kamstrup"),
        (None, None, "7359992895913195", "Aidon"),
        (None, None, "6970631401753985", "Kaifa"),
        # The list id is the most specific: it beats the system title.
        ("AIDON_V0001", b"KFM\x10\x10\x00\x00\x23", "5706567331323526", "Aidon"),
        (None, b"XYZ12345", "6970631401753985", "Kaifa"),
        (None, None, None, None),
        ("Unknown_V1", b"XYZ12345", "1234", None),
    ],
)
def test_vendor_detection(
    list_id: str | None, title: bytes | None, meter_id: str | None, vendor: str | None
) -> None:
    assert vendor_for(list_id, title, meter_id).name == vendor


def test_kamstrup_sweden_is_its_own_market() -> None:
    norway, sweden = KAMSTRUP.market("NO"), KAMSTRUP.market("SE")
    assert norway.exponents[Quantity.ACTIVE_ENERGY] == -2
    assert sweden.exponents[Quantity.ACTIVE_ENERGY] == -3
    # Denmark, and a country nothing says anything about, read like Norway.
    assert KAMSTRUP.market("DK") is norway
    assert KAMSTRUP.market(None) is norway
    assert KAMSTRUP.market("FI") is norway
    # Kaifa's markets differ in framing, not in scale.
    assert KAIFA.market("SE").exponents == KAIFA.market("NO").exponents


def test_a_model_row_wins_over_its_country_row() -> None:
    # How per-model register maps fit: a row narrowed to meter types that start with
    # the model. Built here: no vendor in the table needs one yet.
    country = Market(("CH",))
    model = Market(("CH",), model="E450", exponents=MappingProxyType({Quantity.CURRENT: -3}))
    home = Market(("NO",))
    vendor = Vendor("Acme", markets=(home, country, model))
    assert vendor.market("CH", "E450 ZFF") is model
    assert vendor.market("CH", "E360") is country
    assert vendor.market("CH") is country
    assert vendor.market("AT", "E450") is home


def test_a_capture_object_list_names_the_model() -> None:
    """Swiss VSE lists send no meter type: the list's OBIS codes pick the model row."""
    e570 = LANDIS_GYR.market("CH", None, tuple(map(Obis.parse, E570_VSE_2026)))
    assert e570.model == "E570"
    assert e570.exponents[Quantity.CURRENT] == 0
    # The E360 list is the E570's with push setup 0-6:25.9.0 and L3 before L2.
    e360_list = ["0-6:25.9.0", *E570_VSE_2026[1:8], "1-0:32.7.0", "1-0:72.7.0", "1-0:52.7.0"]
    e360 = LANDIS_GYR.market("CH", None, tuple(map(Obis.parse, e360_list + E570_VSE_2026[11:])))
    assert e360.model == "E360"
    assert e360.exponents[Quantity.VOLTAGE] == -1
    # A list no row names, or a model row's list in another country: the E450 row.
    e450 = LANDIS_GYR.market("CH", None, tuple(map(Obis.parse, E570_VSE_2026[:-1])))
    assert e450 is LANDIS_GYR.markets[0]
    assert LANDIS_GYR.market("AT", None, tuple(map(Obis.parse, E570_VSE_2026))).model is None
    assert e450.exponents[Quantity.CURRENT] == -2
    assert e450.exponents[Quantity.POWER_FACTOR] == -3
    # A meter type still names its row.
    assert LANDIS_GYR.market("CH", "E570 ZMX").model == "E570"


def test_positional_lists_of_landis_gyr_and_iskraemeco() -> None:
    assert [str(obis) for obis in LANDIS_GYR.positional[14]][-1] == "0-0:96.1.0"
    eighteen = [str(obis) for obis in ISKRAEMECO.positional[18]]
    assert eighteen[:2] == ["0-0:42.0.0", "0-0:96.1.3"]
    assert eighteen[6:9] == ["1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0"]
    assert [str(obis) for obis in ISKRAEMECO.positional[12]][4:7] == [
        "1-0:1.8.0",
        "1-0:1.8.1",
        "1-0:1.8.2",
    ]


def test_logical_device_name_names_the_maker() -> None:
    assert vendor_for(None, None, "1935912", "LGZ1030655933512") is LANDIS_GYR
    assert vendor_for(None, None, "ISK1030789375606") is ISKRAEMECO
    # The list id and the system title are more specific.
    assert vendor_for("KFM_001", None, None, "LGZ1030655933512") is KAIFA
    assert vendor_for(None, b"KAM12345", None, "ISK1030789375606") is KAMSTRUP
    assert vendor_for(None, None, "1935912", "XYZ1") is GENERIC


def test_flag_ids_name_one_maker_in_any_case() -> None:
    assert by_flag_id("ISk") is by_flag_id("ISK")
    assert by_flag_id("LGF") is by_flag_id("LGZ")
    assert by_flag_id("ELL") is None
    ids = [flag_id for vendor in VENDORS for flag_id in vendor.flag_ids]
    assert len(ids) == len(set(ids))


def test_by_name_in_any_case() -> None:
    assert by_name("kaifa") is KAIFA
    with pytest.raises(ValueError, match="known: Kamstrup, Aidon"):
        by_name("acme")


def test_kaifa_positions_come_from_its_bare_lists() -> None:
    # 1- and 3-phase lists 1, 2 and 3 (Kaifa's HAN interface description for Norway).
    assert sorted(KAIFA.positional) == [1, 9, 13, 14, 18]
    nine = [str(obis) for obis in KAIFA.positional[9]]
    assert nine[3:] == [
        "1-0:1.7.0",
        "1-0:2.7.0",
        "1-0:3.7.0",
        "1-0:4.7.0",
        "1-0:31.7.0",
        "1-0:32.7.0",
    ]
    eighteen = KAIFA.positional[18]
    assert eighteen[:13] == KAIFA.positional[13]
    assert str(eighteen[13]) == "0-0:1.0.0"
    # Vendors that tag every value have no positions; an unknown maker has list 1.
    assert KAMSTRUP.positional == {}
    assert AIDON.positional == {}
    assert {n: [str(o) for o in layout] for n, layout in GENERIC.positional.items()} == {
        1: ["1-0:1.7.0"]
    }


def test_two_bare_lists_of_one_length_must_agree() -> None:
    def bare(code: str) -> PushList:
        return PushList("list1", Style.BARE, (PushElement(Role.VALUE, Obis.parse(code), Tag.LONG),))

    with pytest.raises(ValueError, match="two bare lists of 1 elements differ"):
        Vendor("Acme", markets=(Market(("NO",), lists=(bare("1-0:1.7.0"), bare("1-0:2.7.0"))),))


def test_market_lists_by_name() -> None:
    assert KAMSTRUP.market("NO").push_list("list2").elements[-1].obis == Obis(1, 1, 4, 8, 0)
    with pytest.raises(KeyError):
        KAMSTRUP.market("NO").push_list("list3")


def test_simulated_meter_ids_start_with_the_vendors_gs1_prefix() -> None:
    for vendor in VENDORS:
        for market in vendor.markets:
            if market.meter_ids is not None:
                assert market.meter_ids.startswith(vendor.gs1_prefixes)
