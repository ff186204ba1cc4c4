"""Values the decoder hands out: OBIS codes, measurements, readings and frame errors.

`FrameReject` stays inside the decoder: the framers' word on a candidate frame.

All are frozen, slotted dataclasses so that a reading can be shared between the
decoder, the coordinator and the entities without anybody changing it. What crosses
into the integration as a word is a StrEnum here (`Unit`, `Reason`, `Transport`): the
integration compares against members, never against a string it spelled itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import re
from typing import Final, NamedTuple

_OBIS_TEXT: Final = re.compile(
    r"^\s*(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[.*&](\d{1,3}))?\s*$"
)


class Obis(NamedTuple):
    """An OBIS code A-B:C.D.E.F (IEC 62056-61); F is 255 when unused.

    A NamedTuple rather than a frozen dataclass: every value of every frame is
    keyed by one, and tuple hashing and equality run in C.
    """

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    @classmethod
    def from_bytes(cls, raw: bytes) -> Obis:
        """Build from the six-byte logical name a meter sends (OctetString of 6)."""
        cached = _OBIS_BY_BYTES.get(raw)
        if cached is None:
            if len(raw) != 6:
                raise ValueError(f"an OBIS code has 6 bytes, not {len(raw)}")
            cached = cls(*raw)
            if len(_OBIS_BY_BYTES) < 4096:
                _OBIS_BY_BYTES[bytes(raw)] = cached
        return cached

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Parse "1-0:1.8.0" or "1-0:1.8.0.255" (also the "*" and "&" F separators)."""
        match = _OBIS_TEXT.match(text)
        if match is None:
            raise ValueError(f"not an OBIS code: {text!r}")
        parts = [int(group) for group in match.groups(default="255")]
        if any(part > 255 for part in parts):
            raise ValueError(f"not an OBIS code: {text!r}")
        return cls(*parts)

    def to_bytes(self) -> bytes:
        """The six-byte logical name."""
        return bytes(self)

    def __str__(self) -> str:
        text = f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}"
        return text if self.f == 255 else f"{text}.{self.f}"

    @property
    def key(self) -> str:
        """A stable identifier usable in entity unique ids ("1-0:1.8.0" -> "1_0_1_8_0")."""
        return str(self).replace("-", "_").replace(":", "_").replace(".", "_")


_OBIS_BY_BYTES: dict[bytes, Obis] = {}

type Value = int | float | str | datetime | None


class Unit(StrEnum):
    """The units the decoder gives measurements in.

    Power in W/var/VA, energy in kWh/kvarh/kVAh (the unit of the Energy dashboard and of
    every bill, whatever the meter counts in), sub-meters in m3 or GJ. A P1 line with a
    unit not listed here keeps the unit as the meter wrote it (a plain str).
    """

    WATT = "W"
    VAR = "var"
    VOLT_AMPERE = "VA"
    KILO_WATT_HOUR = "kWh"
    KILO_VAR_HOUR = "kvarh"
    KILO_VOLT_AMPERE_HOUR = "kVAh"
    AMPERE = "A"
    VOLT = "V"
    HERTZ = "Hz"
    PERCENT = "%"
    CUBIC_METERS = "m3"
    GIGA_JOULE = "GJ"


class Transport(StrEnum):
    """How the bytes were framed.

    AUTO is a decoder option only (hunt for all three framings); APDU a label of
    readings only, for an APDU that came without a frame (StreamDecoder.feed_apdu).
    """

    AUTO = "auto"
    HDLC = "hdlc"  # HDLC frame format type 3 (Norwegian, Swedish, Danish HAN ports)
    MBUS = "mbus"  # M-Bus long frames (Austrian, Polish push meters)
    P1 = "p1"  # P1 ASCII telegrams (DSMR, e-MUCS, Swedish P1)
    APDU = "apdu"  # a bare DLMS APDU a bridge published without its frame


@dataclass(frozen=True, slots=True)
class Measurement:
    """One register value, already scaled to the unit it names (None: no unit)."""

    value: Value
    unit: Unit | str | None = None


# What a sub-meter measures (SubMeter.medium); sensor keys and device names use them.
MEDIUM_GAS: Final = "gas"
MEDIUM_WATER: Final = "water"
MEDIUM_HEAT: Final = "heat"
MEDIUM_COOLING: Final = "cooling"
MEDIA: Final = (MEDIUM_GAS, MEDIUM_WATER, MEDIUM_HEAT, MEDIUM_COOLING)
# The M-Bus channels (OBIS B) a P1 port relays sub-meters on.
MBUS_CHANNELS: Final = range(1, 5)


@dataclass(frozen=True, slots=True)
class SubMeter:
    """A meter the main meter relays from its M-Bus: gas, water or heat on P1 channel 1-4.

    Its reading stays in Reading.values under its own OBIS code (`register`, e.g.
    0-1:24.2.1), and so does its equipment id (0-n:96.1.0 or 0-n:96.1.1); this says
    which meter they belong to. `medium` is None when neither the device type nor the
    unit says what the meter measures. `captured` is the meter's own time of the
    reading (naive local time, like Reading.timestamp on P1), often minutes older than
    the telegram.
    """

    channel: int
    register: Obis
    medium: str | None = None
    device_type: int | None = None
    equipment_id: str | None = None
    captured: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything one complete message from the meter said.

    `timestamp` is timezone-aware when the message carried the UTC deviation, and a
    naive local wall-clock time when it did not (Kamstrup and Kaifa send deviation
    0x8000 = "not specified"); `timestamp_is_local` says which. It is None when the
    message carried no time at all (Aidon list 1). `sub_meters` lists the gas, water
    and heat meters a P1 telegram relays (empty for every other transport).
    """

    values: Mapping[Obis, Measurement]
    meter_id: str | None = None
    meter_type: str | None = None
    manufacturer: str | None = None
    list_version: str | None = None
    timestamp: datetime | None = None
    transport: Transport = Transport.HDLC
    encrypted: bool = False
    system_title: bytes | None = field(default=None, repr=False)
    sub_meters: tuple[SubMeter, ...] = ()
    # The COSEM logical device name (0-0:42.0.0, "LGZ1030655933512"): the meter id of
    # lists without one; beside a meter id it still carries the serial number, and
    # diagnostics remove it like one.
    device_name: str | None = field(default=None, repr=False)

    @property
    def timestamp_is_local(self) -> bool:
        """True when the timestamp is naive local time (no UTC offset known)."""
        return self.timestamp is not None and self.timestamp.tzinfo is None


@dataclass(frozen=True, slots=True)
class P1Reading(Reading):
    """A Reading from a P1 telegram, whose values may come with a time of their own.

    `captured` holds the time of each such value, naive local time like the P1
    timestamp: the Belgian month peak 1-0:1.6.0 (when the peak was reached) and the
    sub-meter readings. A class of its own so that the frames of every other meter,
    read many times a second, do not pay for a field they never fill.
    """

    captured: Mapping[Obis, datetime] = field(default_factory=dict, repr=False)


class Reason(StrEnum):
    """Why a frame was rejected. Stable words: counters, diagnostics and the CLI use them."""

    CRC = "crc"  # HCS/FCS, M-Bus checksum or P1 CRC mismatch
    TRUNCATED = "truncated"  # the frame ended before its length said
    LENGTH = "length"  # a length field that cannot be right
    FORMAT = "format"  # bytes that are not a frame (wrong baud/parity?)
    UNSUPPORTED = "unsupported"  # a valid frame with content we do not read
    MALFORMED = "malformed"  # a valid frame whose A-XDR/P1 content is broken
    NO_KEY = "no_key"  # encrypted, and no key was given
    DECRYPT = "decrypt"  # wrong key or authentication tag mismatch


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame or message that was rejected, with why and the bytes concerned.

    detail is a short human sentence; raw holds at most MAX_RAW bytes so that a
    flood of garbage cannot grow memory.
    """

    reason: Reason
    detail: str
    raw: bytes = field(default=b"", repr=False)


MAX_RAW: Final = 512


@dataclass(frozen=True, slots=True)
class FrameReject:
    """Why the framing layer (hdlc.py, mbus.py) refused the candidate frame at a flag or
    start byte, and where that candidate ends: the stream decoder makes a FrameError of
    it and resumes its hunt by it."""

    reason: Reason | None  # None for plain junk (not worth an event)
    detail: str
    end: int  # last index that belongs to the rejected frame
    # True when the frame's bounds are sure (HDLC: HCS right and the closing flag where
    # the length says; M-Bus: both length bytes and the stop byte agree): the hunt may
    # resume after it. Otherwise a good frame may hide inside.
    bounded: bool = False


type Event = Reading | FrameError
