"""M-Bus long frames (EN 13757-2) carrying DLMS (EN 13757-1 / IEC 62056-7-6 wrapping).

    68 L L 68 | C A CI | STSAP DTSAP | APDU fragment | CS 16

CS is the byte sum of C .. data. CI 0x00-0x1F marks DLMS segments: the low nibble
is the sequence number and 0x10 flags the last one (Kaifa MA309: 0x00 then 0x11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

START: Final = 0x68
STOP: Final = 0x16
LAST_SEGMENT: Final = 0x10


@dataclass(frozen=True, slots=True)
class MbusFrame:
    """One checksum-valid long frame's DLMS fragment."""

    fragment: bytes
    sequence: int
    last: bool
    end: int  # index after the stop byte


@dataclass(frozen=True, slots=True)
class MbusReject:
    """Not a frame ("" reason: junk) or a broken one."""

    reason: str
    detail: str
    end: int  # last index that belongs to the rejected frame
    bounded: bool = False  # both length bytes and the stop byte agree on the end


def parse_frame(buf: bytearray, pos: int) -> MbusFrame | MbusReject | None:
    """Check the long frame at buf[pos] (a 0x68); None when more bytes are needed."""
    size = len(buf)
    if pos + 4 > size:
        return None
    length = buf[pos + 1]
    if buf[pos + 2] != length or buf[pos + 3] != START or length < 3:
        return MbusReject("", "not an M-Bus long frame header", pos + 1)
    end = pos + length + 6
    if end > size:
        return None
    if buf[end - 1] != STOP:
        return MbusReject("truncated", f"no stop byte where length {length} says", end - 1)
    if sum(buf[pos + 4 : end - 2]) & 0xFF != buf[end - 2]:
        return MbusReject("crc", "M-Bus checksum mismatch", end - 1, bounded=True)
    ci = buf[pos + 6]
    if ci > 0x1F:
        detail = f"M-Bus CI field {ci:02X} does not carry DLMS"
        return MbusReject("unsupported", detail, end - 1, bounded=True)
    # STSAP and DTSAP precede the fragment in every segment.
    fragment = bytes(buf[pos + 9 : end - 2])
    return MbusFrame(fragment, ci & 0x0F, bool(ci & LAST_SEGMENT), end)
