"""From a notification body to a Reading: vendor rules kept as data.

Three body shapes occur on HAN ports:
- OBIS-tagged: (OBIS, value[, (scaler, unit)]) pairs, flat (Kamstrup, Kaifa SE) or
  as structures (Aidon, Kaifa MA309, most DLMS meters);
- positional: bare values whose meaning follows from the element count (Kaifa NO);
- capture-object list: element 0 lists (class, OBIS, attribute, index) for the
  values that follow (Landis+Gyr E450 push).
Values that come without a scaler/unit get the vendor's fixed scale from VENDORS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Final, TypeIs

from .axdr import AxdrValue, parse_datetime
from .model import Measurement, Obis, Reading

# Quantities by OBIS value group C (IEC 62056-61 / DLMS Blue Book 7.5) for D = 7
# (instantaneous) and D = 8 (cumulative). The unit follows from the quantity.
ACTIVE_POWER: Final = "active_power"
REACTIVE_POWER: Final = "reactive_power"
APPARENT_POWER: Final = "apparent_power"
ACTIVE_ENERGY: Final = "active_energy"
REACTIVE_ENERGY: Final = "reactive_energy"
APPARENT_ENERGY: Final = "apparent_energy"
CURRENT: Final = "current"
VOLTAGE: Final = "voltage"
POWER_FACTOR: Final = "power_factor"
FREQUENCY: Final = "frequency"

_ACTIVE_C: Final = frozenset({1, 2, 15, 16, 21, 22, 35, 36, 41, 42, 55, 56, 61, 62, 75, 76})
_REACTIVE_C: Final = frozenset({3, 4, 5, 6, 7, 8, 23, 24, 43, 44, 63, 64})
_APPARENT_C: Final = frozenset({9, 10, 29, 30, 49, 50, 69, 70})


def quantity(obis: Obis) -> str | None:
    """What an electricity OBIS code measures, or None for anything else."""
    if obis.a != 1:
        return None
    c, d = obis.c, obis.d
    if d == 8:
        if c in _ACTIVE_C:
            return ACTIVE_ENERGY
        if c in _REACTIVE_C:
            return REACTIVE_ENERGY
        if c in _APPARENT_C:
            return APPARENT_ENERGY
        return None
    if d not in (7, 4, 24, 25):  # instantaneous, current/last average
        return None
    if c in _ACTIVE_C:
        return ACTIVE_POWER
    if c in _REACTIVE_C:
        return REACTIVE_POWER
    if c in _APPARENT_C:
        return APPARENT_POWER
    if c in (11, 31, 51, 71, 91):
        return CURRENT
    if c in (12, 32, 52, 72):
        return VOLTAGE
    if c in (13, 33, 53, 73):
        return POWER_FACTOR
    if c == 14:
        return FREQUENCY
    return None


# Unit of each quantity as we hand it out; energy leaves the meter in Wh/varh and is
# given in kWh/kvarh, the unit the Energy dashboard and every bill use.
UNITS: Final[dict[str, str | None]] = {
    ACTIVE_POWER: "W",
    REACTIVE_POWER: "var",
    APPARENT_POWER: "VA",
    ACTIVE_ENERGY: "kWh",
    REACTIVE_ENERGY: "kvarh",
    APPARENT_ENERGY: "kVAh",
    CURRENT: "A",
    VOLTAGE: "V",
    POWER_FACTOR: None,
    FREQUENCY: "Hz",
}

# DLMS unit enumeration (Blue Book 4.3.2, class 3 scaler_unit) -> (our unit, power of
# ten that converts into it).
DLMS_UNITS: Final[dict[int, tuple[str | None, int]]] = {
    27: ("W", 0),
    28: ("VA", 0),
    29: ("var", 0),
    30: ("kWh", -3),  # Wh
    31: ("kVAh", -3),  # VAh
    32: ("kvarh", -3),  # varh
    33: ("A", 0),
    35: ("V", 0),
    44: ("Hz", 0),
    56: ("%", 0),
    255: (None, 0),  # no unit (counts, power factor)
}


@dataclass(frozen=True, slots=True)
class Vendor:
    """How one vendor's frames read when they carry no scaler/unit.

    exponents: power of ten from the raw integer to UNITS[quantity], per quantity.
    layouts: element count -> OBIS code per position, for lists without OBIS codes.
    """

    name: str | None
    exponents: dict[str, int]
    layouts: dict[int, tuple[Obis | None, ...]] = field(default_factory=dict)


def _o(text: str) -> Obis:
    return Obis.parse(text)


# Raw units without scaler: W, var, Wh, varh and the current/voltage steps below.
_BASE_EXPONENTS: Final = {
    ACTIVE_POWER: 0,
    REACTIVE_POWER: 0,
    APPARENT_POWER: 0,
    ACTIVE_ENERGY: -3,
    REACTIVE_ENERGY: -3,
    APPARENT_ENERGY: -3,
    CURRENT: -2,  # 0.01 A: Kamstrup, and Landis+Gyr E450 (gh740 capture)
    VOLTAGE: 0,
    POWER_FACTOR: -2,
    FREQUENCY: -2,
}

_LIST_VERSION: Final = _o("1-1:0.2.129")
_METER_ID: Final = _o("0-0:96.1.0")
_METER_TYPE: Final = _o("0-0:96.1.7")
_CLOCK: Final = _o("0-0:1.0.0")

# Kaifa NO (KFM_001) positional lists, from Kaifa's "HAN Interface Description" for
# Norway: list 1 = power; list 2 = id + instantaneous; list 3 = list 2 + clock + energy.
_KAIFA_L2_1PH: Final = (
    _LIST_VERSION, _METER_ID, _METER_TYPE,
    _o("1-0:1.7.0"), _o("1-0:2.7.0"), _o("1-0:3.7.0"), _o("1-0:4.7.0"),
    _o("1-0:31.7.0"), _o("1-0:32.7.0"),
)  # fmt: skip
_KAIFA_L2_3PH: Final = (
    _LIST_VERSION, _METER_ID, _METER_TYPE,
    _o("1-0:1.7.0"), _o("1-0:2.7.0"), _o("1-0:3.7.0"), _o("1-0:4.7.0"),
    _o("1-0:31.7.0"), _o("1-0:51.7.0"), _o("1-0:71.7.0"),
    _o("1-0:32.7.0"), _o("1-0:52.7.0"), _o("1-0:72.7.0"),
)  # fmt: skip
_KAIFA_L3_TAIL: Final = (
    _CLOCK, _o("1-0:1.8.0"), _o("1-0:2.8.0"), _o("1-0:3.8.0"), _o("1-0:4.8.0"),
)  # fmt: skip
# A bare single value is list 1 of every Norwegian meter that sends no OBIS codes.
_POWER_ONLY: Final = (_o("1-0:1.7.0"),)

GENERIC: Final = Vendor(None, _BASE_EXPONENTS, {1: _POWER_ONLY})
VENDORS: Final[dict[str, Vendor]] = {
    # Kamstrup NO/DK: 0.01 kWh energy (Sweden: Wh, chosen by country, see vendor_for).
    "Kamstrup": Vendor("Kamstrup", _BASE_EXPONENTS | {ACTIVE_ENERGY: -2, REACTIVE_ENERGY: -2}),
    "Kamstrup SE": Vendor("Kamstrup", _BASE_EXPONENTS),
    "Aidon": Vendor("Aidon", _BASE_EXPONENTS),
    # Kaifa: mA and 0.1 V, energy in Wh.
    "Kaifa": Vendor(
        "Kaifa",
        _BASE_EXPONENTS | {CURRENT: -3, VOLTAGE: -1},
        {
            1: _POWER_ONLY,
            9: _KAIFA_L2_1PH,
            13: _KAIFA_L2_3PH,
            14: _KAIFA_L2_1PH + _KAIFA_L3_TAIL,
            18: _KAIFA_L2_3PH + _KAIFA_L3_TAIL,
        },
    ),
    "Landis+Gyr": Vendor("Landis+Gyr", _BASE_EXPONENTS),
    "Iskra": Vendor("Iskra", _BASE_EXPONENTS),
    "Sagemcom": Vendor("Sagemcom", _BASE_EXPONENTS),
}

# List identifiers (the first string of the push list) -> vendor, by prefix.
LIST_PREFIXES: Final = (
    ("Kamstrup", "Kamstrup"),
    ("AIDON", "Aidon"),
    ("KFM", "Kaifa"),
    ("ISK", "Iskra"),
    ("LGF", "Landis+Gyr"),
)
# FLAG manufacturer ids at the start of a system title (DLMS UA) -> vendor.
FLAG_IDS: Final = {
    b"KFM": "Kaifa",
    b"KAM": "Kamstrup",
    b"LGZ": "Landis+Gyr",
    b"ISK": "Iskra",
    b"SAG": "Sagemcom",
    b"AID": "Aidon",
}
# GS1 company prefixes that open the meter ids (GIAI) Nordic meters send.
METER_ID_PREFIXES: Final = (
    ("5706567", "Kamstrup"),
    ("7359992", "Aidon"),
    ("6970631", "Kaifa"),
)

# Identity registers, keyed by (A, C, D, E): B varies by vendor and is ignored.
_IDENTITY: Final[dict[tuple[int, int, int, int], str]] = {
    (0, 96, 1, 0): "meter_id",
    (1, 0, 0, 5): "meter_id",  # Kamstrup 1-1:0.0.5
    (0, 96, 1, 1): "meter_id",  # DSMR equipment identifier
    (0, 96, 1, 7): "meter_type",
    (1, 96, 1, 1): "meter_type",  # Kamstrup 1-1:96.1.1
    (1, 0, 2, 129): "list_version",
    (0, 0, 2, 129): "list_version",
}


class LayoutError(ValueError):
    """The body has a shape no rule covers."""


# (OBIS, raw value, scaler, DLMS unit); scaler/unit are None when not sent.
type _Item = tuple[Obis, AxdrValue, int | None, int | None]

_CLOCK_ROLE: Final = "clock"
_ROLES: dict[Obis, str | None] = {}


def _role(obis: Obis) -> str | None:
    """What an OBIS code is to a reading: an identity field, the clock or a quantity."""
    role = _ROLES.get(obis, "")
    if role != "":
        return role
    role = _IDENTITY.get((obis.a, obis.c, obis.d, obis.e))
    if role is None:
        if obis.a == 0 and obis.c == 1 and obis.d == 0 and obis.e == 0:
            role = _CLOCK_ROLE
        else:
            role = quantity(obis)
    if len(_ROLES) < 4096:
        _ROLES[obis] = role
    return role


def vendor_for(
    list_id: str | None,
    system_title: bytes | None,
    meter_id: str | None,
    country: str | None,
) -> Vendor:
    """Pick the vendor rules from what the frame tells, most specific first."""
    name: str | None = None
    if list_id:
        name = next((v for prefix, v in LIST_PREFIXES if list_id.startswith(prefix)), None)
    if name is None and system_title:
        name = FLAG_IDS.get(system_title[:3])
    if name is None and meter_id:
        name = next((v for prefix, v in METER_ID_PREFIXES if meter_id.startswith(prefix)), None)
    if name == "Kamstrup" and country == "SE":
        name = "Kamstrup SE"
    return VENDORS.get(name, GENERIC) if name else GENERIC


def _scaler_unit(value: AxdrValue) -> tuple[int, int] | None:
    if type(value) is list and len(value) == 2:
        scaler, unit = value
        # The scaler is an A-XDR integer (int8) and the unit an enum: anything else
        # is not a scaler_unit, and a 32-bit "scaler" would ask for 10**2e9.
        if (
            isinstance(scaler, int)
            and isinstance(unit, int)
            and -128 <= scaler <= 127
            and 0 <= unit <= 255
            and not isinstance(scaler, bool)
        ):
            return scaler, unit
    return None


def _looks_like_obis(value: AxdrValue) -> TypeIs[bytes]:
    # Value group A is 0-15 (IEC 62056-61 7.3.2); a six-character identifier such as
    # Kaifa's meter type "MA304H" is an octet-string of six printable bytes, never that.
    return isinstance(value, bytes) and len(value) == 6 and value[0] <= 15


def _tagged_items(elements: Sequence[AxdrValue]) -> list[_Item] | None:
    """Read OBIS-tagged elements (flat pairs and/or structures); None if untagged."""
    items: list[_Item] = []
    index = 0
    count = len(elements)
    tagged = False
    from_bytes = Obis.from_bytes
    while index < count:
        element = elements[index]
        if _looks_like_obis(element) and index + 1 < count:
            tagged = True
            obis = from_bytes(element)
            value = elements[index + 1]
            index += 2
            if index < count and type(elements[index]) is list:
                su = _scaler_unit(elements[index])
                if su is not None:
                    items.append((obis, value, su[0], su[1]))
                    index += 1
                    continue
            items.append((obis, value, None, None))
            continue
        if type(element) is list and element and _looks_like_obis(element[0]):
            sub = _tagged_items(element)
            if sub is not None:
                tagged = True
                items.extend(sub)
            index += 1
            continue
        # Untagged elements: Kamstrup's leading list id, null-data placeholders.
        if type(element) is str and not items:
            items.append((_LIST_VERSION, element, None, None))
        index += 1
    return items if tagged else None


def _capture_items(elements: Sequence[AxdrValue]) -> list[_Item] | None:
    """Element 0 = capture objects [(class, OBIS, attribute, index), ...]."""
    first = elements[0] if elements else None
    if type(first) is not list or len(first) != len(elements) or len(first) < 2:
        return None
    items: list[_Item] = []
    for definition, value in zip(first, elements, strict=True):
        if (
            type(definition) is not list
            or len(definition) < 3
            or not _looks_like_obis(definition[1])
        ):
            return None
        if definition[2] == 2:  # attribute 2 = the value (1 is the logical name)
            items.append((Obis.from_bytes(definition[1]), value, None, None))
    return items


def _positional_items(elements: Sequence[AxdrValue], vendor: Vendor) -> list[_Item]:
    layout = vendor.layouts.get(len(elements))
    if layout is None:
        raise LayoutError(f"a list of {len(elements)} elements without OBIS codes is unknown")
    return [
        (obis, value, None, None)
        for obis, value in zip(layout, elements, strict=True)
        if obis is not None
    ]


def _text(value: AxdrValue) -> str | None:
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        if _printable(text):
            return text.decode("ascii")
    return None


def _printable(text: bytes) -> bool:
    return bool(text) and all(0x20 <= byte < 0x7F for byte in text)


def _scaled(raw: int | float, exponent: int) -> int | float:
    # One correctly rounded division gives the float nearest the decimal value
    # (9406459 / 100 == 94064.59), where multiplying by 10**-2 would not.
    if exponent >= 0:
        return raw * 10**exponent if exponent else raw
    divisor: int = 10**-exponent
    return raw / divisor


@dataclass(frozen=True, slots=True)
class Interpretation:
    """What a body means, before the values are scaled into a Reading."""

    vendor: Vendor
    fields: dict[str, str]
    clock: bytes | None
    # (OBIS, raw value, power of ten, unit) for each numeric value, in body order.
    values: list[tuple[Obis, int | float, int, str | None]]


def _is_number(value: object) -> bool:
    # isinstance, not type(): the values may be axdr.*Leaf subclasses (shapes.py).
    return isinstance(value, int | float) and not isinstance(value, bool)


def interpret(
    body: AxdrValue, *, country: str | None = None, system_title: bytes | None = None
) -> Interpretation:
    """Find identity, clock and scaled values in a body. Raises LayoutError."""
    elements: Sequence[AxdrValue] = body if type(body) is list else [body]
    items = _capture_items(elements) or _tagged_items(elements)
    if items is None:
        # No OBIS codes: the vendor comes from the list id in position 0.
        list_id = _text(elements[0]) if len(elements) > 1 else None
        items = _positional_items(elements, vendor_for(list_id, system_title, None, country))
    fields: dict[str, str] = {}
    clock: bytes | None = None
    numeric: list[tuple[str, _Item]] = []
    for item in items:
        role = _role(item[0])
        if role is None:
            continue
        value = item[1]
        if role in UNITS:
            if _is_number(value):
                numeric.append((role, item))
        elif role == _CLOCK_ROLE:
            if isinstance(value, bytes):
                clock = value
        elif role not in fields and (text := _text(value)) is not None:
            fields[role] = text
    vendor = vendor_for(fields.get("list_version"), system_title, fields.get("meter_id"), country)
    exponents = vendor.exponents
    values: list[tuple[Obis, int | float, int, str | None]] = []
    for role, (obis, raw, scaler, unit_code) in numeric:
        if unit_code is not None and scaler is not None:
            unit, shift = DLMS_UNITS.get(unit_code, (None, 0))
            values.append((obis, raw, scaler + shift, unit))  # type: ignore[arg-type]
        else:
            values.append((obis, raw, exponents[role], UNITS[role]))  # type: ignore[arg-type]
    return Interpretation(vendor, fields, clock, values)


def to_reading(
    body: AxdrValue,
    header_time: bytes | None,
    *,
    country: str | None = None,
    system_title: bytes | None = None,
    encrypted: bool = False,
    transport: str = "hdlc",
) -> Reading:
    """Interpret a data-notification body. Raises LayoutError for unknown shapes."""
    found = interpret(body, country=country, system_title=system_title)
    values: dict[Obis, Measurement] = {}
    for obis, raw, exponent, unit in found.values:
        value = _scaled(raw, exponent)
        # Checked after scaling: 1e308 with scaler +5 is as unreadable as a NaN.
        if isinstance(value, float) and not math.isfinite(value):
            continue
        values[obis] = Measurement(value, unit)
    fields = found.fields
    return Reading(
        values=values,
        meter_id=fields.get("meter_id"),
        meter_type=fields.get("meter_type"),
        manufacturer=found.vendor.name,
        list_version=fields.get("list_version"),
        timestamp=timestamp(header_time) or timestamp(found.clock),
        transport=transport,
        encrypted=encrypted,
        system_title=system_title,
    )


def timestamp(raw: bytes | None) -> datetime | None:
    """The instant a 12-byte COSEM date-time names (None if absent or unspecified)."""
    if raw is None:
        return None
    parsed = parse_datetime(raw)
    return parsed.to_datetime() if parsed else None
