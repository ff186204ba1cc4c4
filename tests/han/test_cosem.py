"""The standards' numbers: what an OBIS code measures, and the tags both sides share."""

from __future__ import annotations

import pytest

from custom_components.han_port.han import axdr
from custom_components.han_port.han.cosem import DlmsUnit, Quantity, Tag, phase, quantity
from custom_components.han_port.han.meters import DLMS_UNITS, UNITS
from custom_components.han_port.han.model import Obis
from devtools.builder import Data


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1-0:1.8.0", Quantity.ACTIVE_ENERGY),
        ("1-1:2.8.0", Quantity.ACTIVE_ENERGY),
        ("1-0:21.8.0", Quantity.ACTIVE_ENERGY),
        ("1-0:3.8.0", Quantity.REACTIVE_ENERGY),
        ("1-1:8.8.0", Quantity.REACTIVE_ENERGY),
        ("1-0:9.8.0", Quantity.APPARENT_ENERGY),
        ("1-0:1.7.0", Quantity.ACTIVE_POWER),
        ("1-0:41.7.0", Quantity.ACTIVE_POWER),
        ("1-0:1.4.0", Quantity.ACTIVE_POWER),  # current average
        ("1-0:1.24.0", Quantity.ACTIVE_POWER),
        ("1-0:4.7.0", Quantity.REACTIVE_POWER),
        ("1-0:10.7.0", Quantity.APPARENT_POWER),
        ("1-0:31.7.0", Quantity.CURRENT),
        ("1-0:91.7.0", Quantity.CURRENT),  # neutral
        ("1-0:72.7.0", Quantity.VOLTAGE),
        ("1-0:13.7.0", Quantity.POWER_FACTOR),
        ("1-0:14.7.0", Quantity.FREQUENCY),
        ("1-0:99.8.0", None),
        ("1-0:31.8.0", None),  # no such cumulative
        ("1-0:1.6.0", None),  # maximum demand: not a momentary value
        ("1-0:99.7.0", None),
        ("0-0:1.7.0", None),  # abstract, not electricity
        ("7-0:1.8.0", None),  # gas
    ],
)
def test_quantity_from_obis(code: str, expected: Quantity | None) -> None:
    assert quantity(Obis.parse(code)) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1-0:1.7.0", None),
        ("1-0:21.7.0", 1),
        ("1-0:31.7.0", 1),
        ("1-0:52.7.0", 2),
        ("1-0:64.7.0", 3),
        ("1-0:72.7.0", 3),
        ("1-0:91.7.0", None),  # neutral current
        ("0-0:96.1.0", None),
        ("1-1:96.1.1", None),
    ],
)
def test_phase_from_obis(code: str, expected: int | None) -> None:
    assert phase(Obis.parse(code)) == expected


def test_every_quantity_has_a_unit_and_every_unit_a_dlms_code() -> None:
    assert set(UNITS) == set(Quantity)
    assert set(DLMS_UNITS) == {int(unit) for unit in DlmsUnit}
    # The builder sends, for each quantity, the DLMS unit the decoder maps back to it.
    targets = [unit for unit, _shift in DLMS_UNITS.values()]
    assert all(targets.count(UNITS[kind]) == 1 for kind in Quantity)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (Tag.DOUBLE_LONG, -5),
        (Tag.DOUBLE_LONG_UNSIGNED, 5),
        (Tag.LONG, -300),
        (Tag.LONG_UNSIGNED, 300),
        (Tag.LONG64, -(2**40)),
        (Tag.LONG64_UNSIGNED, 2**40),
        (Tag.INTEGER, -7),
        (Tag.UNSIGNED, 7),
        (Tag.ENUM, 27),
        (Tag.FLOAT32, 1.5),
        (Tag.FLOAT64, 2.25),
        (Tag.OCTET_STRING, b"\x01\x02"),
        (Tag.VISIBLE_STRING, "KFM_001"),
        (Tag.UTF8_STRING, "Ø"),
        (Tag.BOOLEAN, True),
        (Tag.NULL_DATA, None),
    ],
)
def test_what_the_builder_encodes_under_a_tag_the_decoder_reads_back(
    tag: Tag, value: object
) -> None:
    encoded = Data(tag, value).encode()  # type: ignore[arg-type]
    assert encoded[0] == tag
    assert axdr.parse(encoded) == (value, len(encoded))
