"""The numbers of the DLMS/COSEM, HDLC and M-Bus standards, named once.

The decoder and the frame builder (devtools/builder.py) both import these, so that
what one writes is what the other reads:

- `Tag`: A-XDR tags of the COSEM `Data` CHOICE (IEC 62056-6-2, 4.1.5);
- `ApduTag`: the APDUs a meter pushes (IEC 62056-5-3);
- `SecurityControl`, `BlockControl`: bits of the ciphering and block-transfer headers;
- `DlmsUnit`: the unit enumeration of a scaler_unit (Blue Book, 4.3.2);
- `Hdlc`, `Mbus`: framing bytes (IEC 62056-46 frame format type 3, EN 13757-2);
- the COSEM date-time's sizes and markers, and how a push's header carries one;
- `Quantity` and `quantity()`: what an electricity OBIS code measures (IEC 62056-61).

IntEnum members are ints, but looking one up (`Tag.OCTET_STRING`) and comparing with
one cost more than a plain int: the decoder's per-byte and per-value loops bind the
members they need to module-level ints (`_OCTET_STRING: Final = int(Tag.OCTET_STRING)`).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum
from typing import Final

from .model import Obis


class Tag(IntEnum):
    """A-XDR tags of the COSEM `Data` CHOICE (IEC 62056-6-2, clause 4.1.5)."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05
    DOUBLE_LONG_UNSIGNED = 0x06
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    BCD = 0x0D
    INTEGER = 0x0F
    LONG = 0x10
    UNSIGNED = 0x11
    LONG_UNSIGNED = 0x12
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18
    DATE_TIME = 0x19  # 12 bytes under a tag of its own, rare in push lists


class ApduTag(IntEnum):
    """The APDUs a meter pushes (IEC 62056-5-3)."""

    DATA_NOTIFICATION = 0x0F
    GENERAL_GLO_CIPHERING = 0xDB
    GENERAL_BLOCK_TRANSFER = 0xE0


class SecurityControl(IntFlag):
    """The security control byte of a ciphered APDU (Green Book, security suite 0)."""

    AUTHENTICATED = 0x10  # a 12-byte GMAC tag follows the content
    ENCRYPTED = 0x20


# Length of the authentication tag a meter appends (Green Book: 12 of GCM's 16 bytes).
AUTHENTICATION_TAG_LENGTH: Final = 12


class BlockControl(IntFlag):
    """The block-control byte of a general-block-transfer APDU (Green Book, 9.3.10)."""

    STREAMING = 0x40
    LAST_BLOCK = 0x80


class DlmsUnit(IntEnum):
    """The unit enumeration of a class 3 scaler_unit (Blue Book, 4.3.2), as meters use it."""

    WATT = 27
    VOLT_AMPERE = 28
    VAR = 29
    WATT_HOUR = 30
    VOLT_AMPERE_HOUR = 31
    VAR_HOUR = 32
    AMPERE = 33
    VOLT = 35
    HERTZ = 44
    PERCENT = 56
    COUNT = 255  # no unit: counts, power factor


class Hdlc(IntEnum):
    """HDLC frame format type 3 (IEC 62056-46, 6.4) as HAN ports send it."""

    FLAG = 0x7E
    FORMAT_TYPE_3 = 0xA0  # high nibble of the format field's first byte
    SEGMENTED = 0x08  # S bit of the format field's first byte: more segments follow
    MAX_LENGTH = 0x7FF  # the format field's 11-bit length
    CONTROL_UI = 0x13  # the UI frame with the poll/final bit that most meters push


# IEC 62056-46 LLC header for a response/push over HDLC: LSAP E6, E7 and a quality
# byte. Some meters send E6 E6 00; the first is what the builder writes.
LLC_HEADERS: Final = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")


class Mbus(IntEnum):
    """M-Bus long frames (EN 13757-2) carrying DLMS (IEC 62056-7-6)."""

    START = 0x68
    STOP = 0x16
    LAST_SEGMENT = 0x10  # CI bit: the last segment of a DLMS APDU
    MAX_DLMS_CI = 0x1F  # CI 0x00-0x1F carries DLMS segments, sequence in the low nibble


# COSEM date-time (IEC 62056-6-2, 4.1.6.1): 12 bytes. A deviation of 0x8000 and a
# field of 0xFF say "not specified"; bit 0x80 of the clock status is daylight saving.
DATE_TIME_LENGTH: Final = 12
DEVIATION_UNSPECIFIED: Final = 0x8000
NOT_SPECIFIED: Final = 0xFF
CLOCK_STATUS_DST: Final = 0x80


class DateTimeEncoding(StrEnum):
    """How a data-notification's optional date-time field is written.

    Green Book: `date-time OCTET STRING`, so the field is an A-XDR length and bytes:
    00 when the meter sends no time (Aidon, Kaifa SE), 0C + 12 bytes (Kamstrup). Kaifa
    and old Kamstrup firmware put the Data tag 09 in front, as if it were a COSEM value
    (kamstrup-no-list2-3ph-oldfw-2017, every Kaifa NO capture). The values are the
    corpus's `apdu_datetime_encoding` strings.
    """

    ABSENT = "absent"
    OCTET_STRING = "0C+12"
    TAGGED = "09 0C+12"


class Quantity(StrEnum):
    """What an electricity register measures (OBIS value group C with D = 7 or 8)."""

    ACTIVE_POWER = "active_power"
    REACTIVE_POWER = "reactive_power"
    APPARENT_POWER = "apparent_power"
    ACTIVE_ENERGY = "active_energy"
    REACTIVE_ENERGY = "reactive_energy"
    APPARENT_ENERGY = "apparent_energy"
    CURRENT = "current"
    VOLTAGE = "voltage"
    POWER_FACTOR = "power_factor"
    FREQUENCY = "frequency"


# IEC 62056-61 / Blue Book 7.5: value group C per quantity (totals, then L1, L2, L3).
_ACTIVE_C: Final = frozenset({1, 2, 15, 16, 21, 22, 35, 36, 41, 42, 55, 56, 61, 62, 75, 76})
_REACTIVE_C: Final = frozenset({3, 4, 5, 6, 7, 8, 23, 24, 43, 44, 63, 64})
_APPARENT_C: Final = frozenset({9, 10, 29, 30, 49, 50, 69, 70})
# Each kind of power as a register (D = 8) and as a value (D = 7 and the averages).
_POWER_KINDS: Final = (
    (_ACTIVE_C, Quantity.ACTIVE_ENERGY, Quantity.ACTIVE_POWER),
    (_REACTIVE_C, Quantity.REACTIVE_ENERGY, Quantity.REACTIVE_POWER),
    (_APPARENT_C, Quantity.APPARENT_ENERGY, Quantity.APPARENT_POWER),
)
_CUMULATIVE_BY_C: Final = {c: energy for cs, energy, _ in _POWER_KINDS for c in cs}
_INSTANT_BY_C: Final = {
    **{c: power for cs, _, power in _POWER_KINDS for c in cs},
    **dict.fromkeys((11, 31, 51, 71, 91), Quantity.CURRENT),
    **dict.fromkeys((12, 32, 52, 72), Quantity.VOLTAGE),
    **dict.fromkeys((13, 33, 53, 73), Quantity.POWER_FACTOR),
    14: Quantity.FREQUENCY,
}
# D = 7 instantaneous; 4, 24, 25 the current and last averages.
_INSTANT_D: Final = frozenset({7, 4, 24, 25})


def quantity(obis: Obis) -> Quantity | None:
    """What an electricity OBIS code measures, or None for anything else.

    D = 8 is cumulative (energy); D = 7 instantaneous and D = 4, 24, 25 the current and
    last averages (power, current, voltage, power factor, frequency).
    """
    if obis.a != 1:
        return None
    if obis.d == 8:
        return _CUMULATIVE_BY_C.get(obis.c)
    if obis.d in _INSTANT_D:
        return _INSTANT_BY_C.get(obis.c)
    return None


def phase(obis: Obis) -> int | None:
    """The phase an electricity register belongs to (1, 2, 3), None for totals.

    IEC 62056-61: C = 21..40 are L1 quantities, 41..60 L2, 61..80 L3.
    """
    if obis.a != 1 or not 21 <= obis.c <= 80:
        return None
    return (obis.c - 1) // 20
