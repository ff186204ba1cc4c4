"""HDLC frame format type 3 (IEC 62056-46 6.4) as HAN ports send it.

    7E | A0 LL | dest 1-4 | src 1-4 | control | HCS | information | FCS | 7E

The 11-bit length counts format to FCS. HAN meters do not byte-stuff: 7E may
occur inside the information field, so frames are delimited by the length,
never by searching for the closing flag. Two frames may share one flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .cosem import Hdlc
from .crc import crc16_x25
from .model import FrameReject, Reason

# Plain ints on the hot path (see cosem.py).
_FLAG: Final = int(Hdlc.FLAG)
_SEGMENTED: Final = int(Hdlc.SEGMENTED)
_FORMAT_TYPE_3: Final = int(Hdlc.FORMAT_TYPE_3)


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One frame whose HCS and FCS are right."""

    information: bytes
    segmented: bool
    end: int  # buffer index of the closing flag


NEED_MORE: Final = None


def _address_end(buf: bytearray, start: int, limit: int) -> int:
    """Index after an HDLC address (the byte with LSB 1 ends it); -1 bad, -2 need more."""
    for index in range(start, start + 4):
        if index >= limit:
            return -2
        if buf[index] & 1:
            return index + 1
    return -1


def parse_frame(buf: bytearray, pos: int) -> HdlcFrame | FrameReject | None:
    """Check the frame that opens with the flag at buf[pos].

    Returns the frame, a rejection, or None when more bytes are needed.
    """
    size = len(buf)
    if pos + 3 > size:
        return NEED_MORE
    fmt = buf[pos + 1]
    if fmt & 0xF0 != _FORMAT_TYPE_3:
        return FrameReject(None, "not a frame format type 3 field", pos + 1)
    length = ((fmt & 0x07) << 8) | buf[pos + 2]
    end = pos + 1 + length  # index of the closing flag
    dest_end = _address_end(buf, pos + 3, size)
    if dest_end == -2:
        return NEED_MORE
    src_end = _address_end(buf, dest_end, size) if dest_end > 0 else -1
    if src_end == -2:
        return NEED_MORE
    if dest_end < 0 or src_end < 0:
        return FrameReject(None, "address longer than 4 bytes", pos + 1)
    header = src_end + 1 - (pos + 1)  # format .. control
    if length < header + 2:
        return FrameReject(Reason.LENGTH, f"length {length} is shorter than the header", pos + 1)
    has_information = length > header + 2
    if has_information:
        hcs_end = src_end + 3
        if hcs_end > size:
            return NEED_MORE
        if length < header + 4:
            return FrameReject(
                Reason.LENGTH, f"length {length} leaves no room for the HCS", pos + 1
            )
        hcs = buf[src_end + 1] | (buf[src_end + 2] << 8)
        # Checking the header early rejects junk without waiting for up to 2 KiB.
        if crc16_x25(buf[pos + 1 : src_end + 1]) != hcs:
            # The length cannot be trusted for resuming the hunt (bounded stays False),
            # but it is the best guess of which bytes to report with this frame.
            return FrameReject(Reason.CRC, "HCS mismatch", min(end, size - 1))
    if end >= size:
        return NEED_MORE
    fcs = buf[end - 2] | (buf[end - 1] << 8)
    if crc16_x25(buf[pos + 1 : end - 2]) == fcs:
        # A frame whose FCS is right is taken even if the closing flag is missing:
        # the next frame may open with its own flag.
        information = bytes(buf[src_end + 3 : end - 2]) if has_information else b""
        return HdlcFrame(information, bool(fmt & _SEGMENTED), end)
    if buf[end] == _FLAG:
        return FrameReject(Reason.CRC, "FCS mismatch", end, bounded=True)
    closing = buf.find(_FLAG, src_end + 3, end)
    if closing > 0:
        return FrameReject(
            Reason.TRUNCATED, f"have {closing - pos + 1} bytes, need {length + 2}", closing
        )
    return FrameReject(Reason.TRUNCATED, f"no closing flag where length {length} says", end)
