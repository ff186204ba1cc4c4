"""Compiled message shapes: the second and later messages of a kind in one unpack.

A meter repeats a handful of message shapes forever: the same OBIS codes, types,
identifiers and lengths, only the numbers and clocks change. The first message of a
shape is decoded in full (A-XDR walk, vendor rules) while recording where each value
sits; that yields a Shape: the bytes that must stay the same, and one struct format
that reads every value at once. A later message with the same length and the same
static bytes has, by construction, the same A-XDR structure and meaning, so reading
its values through the Shape gives exactly what the full decode would. Both paths
assemble the Reading with meters.build_reading (the same scales, only indexed into the
unpacked fields here), so scaling and identity cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from operator import itemgetter
import struct
from typing import Final

from .apdu import Plain, datetime_offset
from .axdr import AxdrError, BytesLeaf, FloatLeaf, IntLeaf, parse, parse_recording
from .cosem import DATE_TIME_LENGTH
from .meters import Interpretation, Scale, build_reading, interpret, timestamp, to_reading
from .model import Reading, Transport

# Enough for every list a meter sends (NO meters: 3, AT/CH: 1-2) with room for
# odd ones; a stream of ever-new shapes (garbage that passed a CRC) just clears it.
MAX_SHAPES: Final = 32


class Shape:
    """One message shape: static bytes to compare and a struct to read the values."""

    __slots__ = ("_clock", "_found", "_header", "_scales", "_static", "_static_parts", "_struct")

    def __init__(
        self,
        *,
        found: Interpretation,
        unpack: struct.Struct,
        static: Callable[[bytes], object],
        static_parts: object,
        header: int | None,
        clock: int | None,
        scales: tuple[Scale, ...],
    ) -> None:
        self._found = found
        self._struct = unpack
        self._static = static
        self._static_parts = static_parts
        self._header = header
        self._clock = clock
        self._scales = scales

    @classmethod
    def compile(cls, apdu: bytes, header: int | None, found: Interpretation) -> Shape | None:
        """The shape of `apdu` as `found` reads it; None when a value's place is unknown.

        Values the recording parse could not locate (BCD, a date-time tag) or that
        overlap leave the shape uncompiled: such messages are decoded in full each time.
        """
        # (offset, struct code, what) for every byte range that may change.
        spans: list[tuple[int, str, object]] = [(1, "4x", None)]  # long-invoke-id
        if header is not None:
            spans.append((header, "12s", "header"))
        if found.clock is not None:
            if not isinstance(found.clock, BytesLeaf):
                return None
            spans.append((found.clock.offset, found.clock.code, "clock"))
        for position, (_obis, raw, _exponent, _unit) in enumerate(found.values):
            if not isinstance(raw, IntLeaf | FloatLeaf):
                return None
            spans.append((raw.offset, raw.code, position))
        spans.sort(key=lambda span: span[0])
        fmt = [">"]
        static: list[slice] = []
        cursor = 0
        index = 0
        where: dict[object, int] = {}
        for offset, code, what in spans:
            if offset < cursor:
                return None  # overlapping values: no A-XDR walk locates them so
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
        # itemgetter over slices cuts every static run in one C call.
        static_parts = itemgetter(*static, slice(0, 0))
        return cls(
            found=found,
            unpack=struct.Struct("".join(fmt)),
            static=static_parts,
            static_parts=static_parts(apdu),
            header=where.get("header"),
            clock=where.get("clock"),
            # The value at position n of the body is field where[n] of the unpack.
            scales=tuple(replace(scale, index=where[scale.index]) for scale in found.scales),
        )

    def matches(self, apdu: bytes) -> bool:
        """Whether apdu has this shape (its length was checked by the caller)."""
        return bool(self._static(apdu) == self._static_parts)

    def read(self, apdu: bytes, plain: Plain, transport: Transport) -> Reading:
        """The reading in an APDU of this shape."""
        fields = self._struct.unpack(apdu)
        stamp = None
        if self._header is not None:
            stamp = timestamp(fields[self._header])
        if stamp is None and self._clock is not None:
            stamp = timestamp(fields[self._clock])
        return build_reading(
            self._found,
            self._scales,
            fields,
            stamp,
            transport=transport,
            encrypted=plain.encrypted,
            system_title=plain.system_title,
        )


class ShapeCache:
    """Decodes plain data-notifications, compiling each new shape on first sight."""

    __slots__ = ("_by_length", "count", "country")

    def __init__(self, country: str | None = None) -> None:
        self.country = country
        self._by_length: dict[tuple[int, bytes | None], list[Shape]] = {}
        self.count = 0  # shapes compiled and kept

    def read(self, plain: Plain, transport: Transport) -> Reading:
        """Decode plain.apdu. Raises AxdrError or meters.LayoutError."""
        apdu = plain.apdu
        # The vendor rules may come from the system title: two meters with the
        # same plaintext but other titles must not share a shape.
        key = (len(apdu), plain.system_title)
        shapes = self._by_length.get(key)
        if shapes:
            for known in shapes:
                if known.matches(apdu):
                    return known.read(apdu, plain, transport)
        header, pos = datetime_offset(apdu)
        body, end = parse_recording(apdu, pos)
        if end != len(apdu):
            raise AxdrError(f"{len(apdu) - end} bytes after the notification body")
        found = interpret(body, country=self.country, system_title=plain.system_title)
        shape = Shape.compile(apdu, header, found)
        if shape is None:
            # Decoded in full, from a plain walk: no *Leaf value leaves the decoder.
            plain_body, _ = parse(apdu, pos)
            return to_reading(
                plain_body,
                apdu[header : header + DATE_TIME_LENGTH] if header is not None else None,
                country=self.country,
                system_title=plain.system_title,
                encrypted=plain.encrypted,
                transport=transport,
            )
        if self.count >= MAX_SHAPES:
            self._by_length.clear()
            self.count = 0
        self._by_length.setdefault(key, []).append(shape)
        self.count += 1
        return shape.read(apdu, plain, transport)
