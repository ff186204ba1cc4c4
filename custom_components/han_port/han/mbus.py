"""M-Bus long frames (EN 13757-2) carrying DLMS (EN 13757-1 / IEC 62056-7-6 wrapping).

    68 L L 68 | C A CI | STSAP DTSAP | APDU fragment | CS 16

CS is the byte sum of C .. data. CI 0x00-0x1F marks DLMS segments: the low nibble
is the sequence number and 0x10 flags the last one (Kaifa MA309: 0x00 then 0x11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .cosem import Mbus
from .model import FrameReject, Reason

_START: Final = int(Mbus.START)
_STOP: Final = int(Mbus.STOP)
_LAST_SEGMENT: Final = int(Mbus.LAST_SEGMENT)
_MAX_DLMS_CI: Final = int(Mbus.MAX_DLMS_CI)


@dataclass(frozen=True, slots=True)
class MbusFrame:
    """One checksum-valid long frame's DLMS fragment."""

    fragment: bytes
    sequence: int
    last: bool
    end: int  # index after the stop byte


def parse_frame(buf: bytearray, pos: int) -> MbusFrame | FrameReject | None:
    """Check the long frame at buf[pos] (a 0x68); None when more bytes are needed."""
    size = len(buf)
    if pos + 4 > size:
        return None
    length = buf[pos + 1]
    if buf[pos + 2] != length or buf[pos + 3] != _START or length < 3:
        return FrameReject(None, "not an M-Bus long frame header", pos + 1)
    end = pos + length + 6
    if end > size:
        return None
    if buf[end - 1] != _STOP:
        return FrameReject(Reason.TRUNCATED, f"no stop byte where length {length} says", end - 1)
    if sum(buf[pos + 4 : end - 2]) & 0xFF != buf[end - 2]:
        return FrameReject(Reason.CRC, "M-Bus checksum mismatch", end - 1, bounded=True)
    ci = buf[pos + 6]
    if ci > _MAX_DLMS_CI:
        detail = f"M-Bus CI field {ci:02X} does not carry DLMS"
        return FrameReject(Reason.UNSUPPORTED, detail, end - 1, bounded=True)
    # STSAP and DTSAP precede the fragment in every segment.
    fragment = bytes(buf[pos + 9 : end - 2])
    return MbusFrame(fragment, ci & 0x0F, bool(ci & _LAST_SEGMENT), end)
