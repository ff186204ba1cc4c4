"""From a notification body to a Reading: the vendor rules of vendors.py applied.

Three body shapes occur on HAN ports:
- OBIS-tagged: (OBIS, value[, (scaler, unit)]) pairs, flat (Kamstrup, Kaifa SE) or
  as structures (Aidon, Kaifa MA309, most DLMS meters);
- positional: bare values whose meaning follows from the element count (Kaifa NO);
- capture-object list: element 0 lists (class, OBIS, attribute, index) for the
  values that follow (Landis+Gyr E450 push).
Values that come without a scaler/unit get the market's fixed scale (vendors.py).

`interpret` finds what a body means; `build_reading` scales raw values into a
Reading. Both decode paths use them: the full one here (`to_reading`) and the
compiled shapes of shapes.py, which read later messages' raw values with one unpack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
import math
from types import MappingProxyType
from typing import Final, TypeIs

from .axdr import AxdrValue, parse_datetime
from .cosem import DlmsUnit, Quantity, quantity
from .model import Measurement, Obis, Reading, Transport, Unit
from .vendors import Role, Vendor, vendor_for

# Unit of each quantity as we hand it out; energy leaves the meter in Wh/varh and is
# given in kWh/kvarh, the unit the Energy dashboard and every bill use.
UNITS: Final[Mapping[Quantity, Unit | None]] = MappingProxyType(
    {
        Quantity.ACTIVE_POWER: Unit.WATT,
        Quantity.REACTIVE_POWER: Unit.VAR,
        Quantity.APPARENT_POWER: Unit.VOLT_AMPERE,
        Quantity.ACTIVE_ENERGY: Unit.KILO_WATT_HOUR,
        Quantity.REACTIVE_ENERGY: Unit.KILO_VAR_HOUR,
        Quantity.APPARENT_ENERGY: Unit.KILO_VOLT_AMPERE_HOUR,
        Quantity.CURRENT: Unit.AMPERE,
        Quantity.VOLTAGE: Unit.VOLT,
        Quantity.POWER_FACTOR: None,
        Quantity.FREQUENCY: Unit.HERTZ,
    }
)

# DLMS unit of a scaler_unit -> (our unit, power of ten that converts into it).
DLMS_UNITS: Final[Mapping[int, tuple[Unit | None, int]]] = MappingProxyType(
    {
        int(DlmsUnit.WATT): (Unit.WATT, 0),
        int(DlmsUnit.VOLT_AMPERE): (Unit.VOLT_AMPERE, 0),
        int(DlmsUnit.VAR): (Unit.VAR, 0),
        int(DlmsUnit.WATT_HOUR): (Unit.KILO_WATT_HOUR, -3),
        int(DlmsUnit.VOLT_AMPERE_HOUR): (Unit.KILO_VOLT_AMPERE_HOUR, -3),
        int(DlmsUnit.VAR_HOUR): (Unit.KILO_VAR_HOUR, -3),
        int(DlmsUnit.AMPERE): (Unit.AMPERE, 0),
        int(DlmsUnit.VOLT): (Unit.VOLT, 0),
        int(DlmsUnit.HERTZ): (Unit.HERTZ, 0),
        int(DlmsUnit.PERCENT): (Unit.PERCENT, 0),
        int(DlmsUnit.COUNT): (None, 0),
    }
)

_LIST_VERSION: Final = Obis(1, 1, 0, 2, 129)
_METER_NUMBER: Final = Obis(0, 0, 96, 1, 0)

# Identity registers, keyed by (A, C, D, E): B varies by vendor and is ignored.
_IDENTITY: Final[Mapping[tuple[int, int, int, int], Role]] = MappingProxyType(
    {
        (0, 96, 1, 0): Role.METER_ID,
        (1, 0, 0, 5): Role.METER_ID,  # Kamstrup 1-1:0.0.5
        (0, 96, 1, 1): Role.METER_ID,  # DSMR equipment identifier
        (0, 96, 1, 7): Role.METER_TYPE,
        (1, 96, 1, 1): Role.METER_TYPE,  # Kamstrup 1-1:96.1.1
        (1, 0, 2, 129): Role.LIST_VERSION,
        (0, 0, 2, 129): Role.LIST_VERSION,
        # Elektro Ljubljana's AM550 lists: the same value (16820005, 16820006) on
        # every meter, one per list: it names the list, not the meter (gh615, gh956).
        (0, 96, 1, 3): Role.LIST_VERSION,
        (0, 42, 0, 0): Role.DEVICE_NAME,
    }
)


class LayoutError(ValueError):
    """The body has a shape no rule covers."""


# (OBIS, raw value, scaler, DLMS unit); scaler/unit are None when not sent.
type _Item = tuple[Obis, AxdrValue, int | None, int | None]

_ROLES: dict[Obis, Role | Quantity | None] = {}


def _role(obis: Obis) -> Role | Quantity | None:
    """What an OBIS code is to a reading: an identity field, the clock or a quantity."""
    try:
        return _ROLES[obis]
    except KeyError:
        pass
    found: Role | Quantity | None = _IDENTITY.get((obis.a, obis.c, obis.d, obis.e))
    if found is Role.METER_ID and obis.a == 0 and obis.b != 0:
        # 0-n:96.1.0 with n > 0 is the id of the M-Bus sub-meter on channel n, not
        # the electricity meter's (landisgyr-ch-e450-gbt-mbus-channels-scs).
        found = None
    elif found is None:
        if obis.a == 0 and obis.c == 1 and obis.d == 0 and obis.e == 0:
            found = Role.CLOCK
        else:
            found = quantity(obis)
    if len(_ROLES) < 4096:
        _ROLES[obis] = found
    return found


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
        elif index == count - 1 and items and isinstance(element, bytes):
            # Netz Niederösterreich's lists end with the meter number as a bare
            # octet-string, no OBIS code before it ("Zählernummer", Kundenschnittstelle
            # document 218_12; sagemcom-at-t210d-evn-mbus-encrypted-energyagent).
            items.append((_METER_NUMBER, element, None, None))
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
    layout = vendor.positional.get(len(elements))
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


@dataclass(frozen=True, slots=True)
class Scale:
    """How one raw value becomes a Measurement: raws[index] * multiplier / divisor.

    `is_float`: the raw value is a float, which may be NaN or infinite.
    """

    index: int
    obis: Obis
    multiplier: int
    divisor: int
    unit: Unit | None
    is_float: bool


@dataclass(frozen=True, slots=True)
class Interpretation:
    """What a body means, before the values are scaled into a Reading.

    `values` holds (OBIS, raw value, power of ten, unit) for each numeric value, in
    body order (the raw values may be axdr.*Leaf, which say where they sit: shapes.py);
    `scales` says how build_reading turns them into measurements, `scales[n].index`
    being n (a compiled shape re-indexes them to its unpacked fields).
    """

    manufacturer: str | None
    meter_id: str | None
    meter_type: str | None
    list_version: str | None
    device_name: str | None
    clock: bytes | None
    values: list[tuple[Obis, int | float, int, Unit | None]]
    scales: tuple[Scale, ...]


def _is_number(value: object) -> bool:
    # isinstance, not type(): the values may be axdr.*Leaf subclasses (shapes.py).
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scale(index: int, obis: Obis, raw: int | float, exponent: int, unit: Unit | None) -> Scale:
    # A division by a power of ten, not a multiplication by 10**-n: one correctly
    # rounded division gives the float nearest the decimal value (9406459 / 100 ==
    # 94064.59), where multiplying by 10**-2 would not.
    multiplier = 10**exponent if exponent > 0 else 1
    divisor = 10**-exponent if exponent < 0 else 1
    return Scale(index, obis, multiplier, divisor, unit, isinstance(raw, float))


def interpret(
    body: AxdrValue, *, country: str | None = None, system_title: bytes | None = None
) -> Interpretation:
    """Find identity, clock and scaled values in a body. Raises LayoutError."""
    elements: Sequence[AxdrValue] = body if type(body) is list else [body]
    items = _capture_items(elements)
    # The capture-object list names the model of meters that send no meter type.
    shape = None if items is None else tuple(item[0] for item in items)
    items = items or _tagged_items(elements)
    if items is None:
        # No OBIS codes: the vendor comes from the list id in position 0.
        list_id = _text(elements[0]) if len(elements) > 1 else None
        items = _positional_items(elements, vendor_for(list_id, system_title, None))
    fields: dict[Role, str] = {}
    clock: bytes | None = None
    numeric: list[tuple[Quantity, _Item]] = []
    for item in items:
        role = _role(item[0])
        if role is None:
            continue
        value = item[1]
        if isinstance(role, Quantity):
            if _is_number(value):
                numeric.append((role, item))
        elif role is Role.CLOCK:
            if isinstance(value, bytes):
                clock = value
        elif role not in fields and (text := _text(value)) is not None:
            fields[role] = text
    # A list without a meter id names the meter by its COSEM logical device name
    # (0-0:42.0.0, "LGZ1030781910790"): the one identifier Swiss VSE lists send.
    meter_id = fields.get(Role.METER_ID) or fields.get(Role.DEVICE_NAME)
    meter_type = fields.get(Role.METER_TYPE)
    list_version = fields.get(Role.LIST_VERSION)
    vendor = vendor_for(list_version, system_title, meter_id, fields.get(Role.DEVICE_NAME))
    exponents = vendor.market(country, meter_type, shape).exponents
    values: list[tuple[Obis, int | float, int, Unit | None]] = []
    for role, (obis, raw, scaler, unit_code) in numeric:
        if unit_code is not None and scaler is not None:
            unit, shift = DLMS_UNITS.get(unit_code, (None, 0))
            values.append((obis, raw, scaler + shift, unit))  # type: ignore[arg-type]
        else:
            values.append((obis, raw, exponents[role], UNITS[role]))  # type: ignore[arg-type]
    return Interpretation(
        vendor.name,
        meter_id,
        meter_type,
        list_version,
        fields.get(Role.DEVICE_NAME),
        clock,
        values,
        tuple(_scale(index, *value) for index, value in enumerate(values)),
    )


def build_reading(
    found: Interpretation,
    scales: Iterable[Scale],
    raws: Sequence[int | float],
    stamp: datetime | None,
    *,
    transport: Transport,
    encrypted: bool,
    system_title: bytes | None,
) -> Reading:
    """The Reading of `found` with the raw values `raws`, scaled by `scales`.

    The one place both decode paths assemble a reading: to_reading with the values of
    a full A-XDR walk and `found.scales`, shapes.Shape with the fields of a compiled
    shape's unpack and the same scales indexed into them.
    """
    values: dict[Obis, Measurement] = {}
    for scale in scales:
        raw = raws[scale.index]
        if scale.divisor != 1:
            raw = raw / scale.divisor
        elif scale.multiplier != 1:
            raw = raw * scale.multiplier
        # Checked after scaling: 1e308 with scaler +5 is as unreadable as a NaN.
        if scale.is_float and not math.isfinite(raw):
            continue
        values[scale.obis] = Measurement(raw, scale.unit)
    return Reading(
        values=values,
        meter_id=found.meter_id,
        meter_type=found.meter_type,
        manufacturer=found.manufacturer,
        list_version=found.list_version,
        timestamp=stamp,
        transport=transport,
        encrypted=encrypted,
        system_title=system_title,
        device_name=found.device_name,
    )


def to_reading(
    body: AxdrValue,
    header_time: bytes | None,
    *,
    country: str | None = None,
    system_title: bytes | None = None,
    encrypted: bool = False,
    transport: Transport = Transport.HDLC,
) -> Reading:
    """Interpret a data-notification body. Raises LayoutError for unknown shapes."""
    found = interpret(body, country=country, system_title=system_title)
    return build_reading(
        found,
        found.scales,
        [raw for _obis, raw, _exponent, _unit in found.values],
        timestamp(header_time) or timestamp(found.clock),
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
