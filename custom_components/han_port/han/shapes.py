"""Compiled message shapes: the second and later messages of a kind in one unpack.

A meter repeats a handful of message shapes forever: the same OBIS codes, types,
identifiers and lengths, only the numbers and clocks change. The first message of a
shape is decoded in full (A-XDR walk, vendor rules) while recording where each value
sits; that yields a Shape: the bytes that must stay the same, and one struct format
that reads every value at once. A later message with the same length and the same
static bytes has, by construction, the same A-XDR structure and meaning, so reading
its values through the Shape gives exactly what the full decode would.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from operator import itemgetter
import struct
from typing import Final

from .apdu import Plain, datetime_offset
from .axdr import AxdrError, BytesLeaf, FloatLeaf, IntLeaf, parse, parse_recording
from .meters import Interpretation, interpret, timestamp, to_reading
from .model import Measurement, Obis, Reading

# Enough for every list a meter sends (NO meters: 3, AT/CH: 1-2) with room for
# odd ones; a stream of ever-new shapes (garbage that passed a CRC) just clears it.
MAX_SHAPES: Final = 32


@dataclass(frozen=True, slots=True)
class _Slot:
    index: int  # position in the unpacked tuple
    obis: Obis
    multiplier: int  # raw * multiplier / divisor, the division done once
    divisor: int
    unit: str | None
    is_float: bool


class Shape:
    """One message shape: static bytes to compare and a struct to read the values."""

    __slots__ = ("_clock", "_found", "_header", "_slots", "_static", "_static_parts", "_struct")

    def __init__(self, apdu: bytes, header: int | None, found: Interpretation) -> None:
        # (offset, struct code, what) for every byte range that may change.
        spans: list[tuple[int, str, object]] = [(1, "4x", None)]  # long-invoke-id
        if header is not None:
            spans.append((header, "12s", "header"))
        if found.clock is not None:
            if not isinstance(found.clock, BytesLeaf):
                raise TypeError("clock position unknown")
            spans.append((found.clock.offset, found.clock.code, "clock"))
        for position, (_obis, raw, _exponent, _unit) in enumerate(found.values):
            if not isinstance(raw, IntLeaf | FloatLeaf):
                raise TypeError("value position unknown")
            spans.append((raw.offset, raw.code, position))
        spans.sort(key=lambda span: span[0])
        fmt = [">"]
        static: list[slice] = []
        cursor = 0
        index = 0
        where: dict[object, int] = {}
        for offset, code, what in spans:
            if offset < cursor:
                raise ValueError("overlapping values")
            if offset > cursor:
                fmt.append(f"{offset - cursor}x")
                static.append(slice(cursor, offset))
            fmt.append(code)
            cursor = offset + struct.calcsize(">" + code)
            if what is not None:
                where[what] = index
                index += 1
        if cursor < len(apdu):
            fmt.append(f"{len(apdu) - cursor}x")
            static.append(slice(cursor, len(apdu)))
        self._struct = struct.Struct("".join(fmt))
        # itemgetter over slices cuts every static run in one C call.
        self._static = itemgetter(*static, slice(0, 0))
        self._static_parts = self._static(apdu)
        self._header = where.get("header")
        self._clock = where.get("clock")
        self._found = found
        slots = []
        for position, (obis, raw, exponent, unit) in enumerate(found.values):
            slots.append(
                _Slot(
                    where[position],
                    obis,
                    10**exponent if exponent > 0 else 1,
                    10**-exponent if exponent < 0 else 1,
                    unit,
                    isinstance(raw, FloatLeaf),
                )
            )
        self._slots = tuple(slots)

    def matches(self, apdu: bytes) -> bool:
        """Whether apdu has this shape (its length was checked by the caller)."""
        return bool(self._static(apdu) == self._static_parts)

    def read(self, apdu: bytes, plain: Plain, transport: str) -> Reading:
        """The reading in an APDU of this shape."""
        raws = self._struct.unpack(apdu)
        values: dict[Obis, Measurement] = {}
        for slot in self._slots:
            raw = raws[slot.index]
            if slot.divisor != 1:
                # One correctly rounded division: 9406459 / 100 == 94064.59 exactly.
                raw = raw / slot.divisor
            elif slot.multiplier != 1:
                raw = raw * slot.multiplier
            # Checked after scaling: 1e308 with scaler +5 is as unreadable as a NaN.
            if slot.is_float and not math.isfinite(raw):
                continue
            values[slot.obis] = Measurement(raw, slot.unit)
        stamp = None
        if self._header is not None:
            stamp = timestamp(raws[self._header])
        if stamp is None and self._clock is not None:
            stamp = timestamp(raws[self._clock])
        fields = self._found.fields
        return Reading(
            values=values,
            meter_id=fields.get("meter_id"),
            meter_type=fields.get("meter_type"),
            manufacturer=self._found.vendor.name,
            list_version=fields.get("list_version"),
            timestamp=stamp,
            transport=transport,
            encrypted=plain.encrypted,
            system_title=plain.system_title,
        )


class ShapeCache:
    """Decodes plain data-notifications, compiling each new shape on first sight."""

    __slots__ = ("_by_length", "_count", "country")

    def __init__(self, country: str | None = None) -> None:
        self.country = country
        self._by_length: dict[tuple[int, bytes | None], list[Shape]] = {}
        self._count = 0

    def read(self, plain: Plain, transport: str) -> Reading:
        """Decode plain.apdu. Raises AxdrError or meters.LayoutError."""
        apdu = plain.apdu
        # The vendor rules may come from the system title: two meters with the
        # same plaintext but other titles must not share a shape.
        key = (len(apdu), plain.system_title)
        shapes = self._by_length.get(key)
        if shapes:
            for shape in shapes:
                if shape.matches(apdu):
                    return shape.read(apdu, plain, transport)
        header, pos = datetime_offset(apdu)
        body, end = parse_recording(apdu, pos)
        if end != len(apdu):
            raise AxdrError(f"{len(apdu) - end} bytes after the notification body")
        found = interpret(body, country=self.country, system_title=plain.system_title)
        try:
            shape = Shape(apdu, header, found)
        except TypeError, ValueError:
            # A value we cannot locate (e.g. BCD): decode this shape in full each time.
            plain_body, _ = parse(apdu, pos)
            header_raw = apdu[header : header + 12] if header is not None else None
            return to_reading(
                plain_body,
                header_raw,
                country=self.country,
                system_title=plain.system_title,
                encrypted=plain.encrypted,
                transport=transport,
            )
        if self._count >= MAX_SHAPES:
            self._by_length.clear()
            self._count = 0
        self._by_length.setdefault(key, []).append(shape)
        self._count += 1
        return shape.read(apdu, plain, transport)
