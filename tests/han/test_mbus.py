"""M-Bus long frames: header, checksum, stop byte, CI field and DLMS segment order."""

from __future__ import annotations

import pytest

from custom_components.han_port.han import mbus
from custom_components.han_port.han.apdu import strip_llc
from custom_components.han_port.han.model import FrameReject, Reason
from custom_components.han_port.han.stream import StreamDecoder
from devtools.builder import mbus_frame
from devtools.corpus import BY_ID, raw_bytes

from .conftest import (
    GBT_ID,
    MBUS_ID,
    decode_all,
    decode_chunks,
    errors,
    hdlc_information,
    options_for,
    readings,
    reasons,
    split_hdlc_stream,
    split_mbus_stream,
)

ENTRY = BY_ID[MBUS_ID]
OPTIONS = options_for(ENTRY)
FIRST, LAST = split_mbus_stream(raw_bytes(ENTRY))
# 260 bytes: too long for one M-Bus frame (L <= 255), as the meter's two segments show.
PLAIN_APDU = bytes.fromhex(ENTRY["plaintext_apdu_hex"])
# Aidon list 1 (data-notification, 1 value) fits one frame.
SHORT_APDU = hdlc_information(raw_bytes(BY_ID["aidon-no-list1-3ph-hassams"]))[3:]


def _parse(data: bytes) -> mbus.MbusFrame | FrameReject | None:
    return mbus.parse_frame(bytearray(data), 0)


def test_capture_segments_parse() -> None:
    first = _parse(FIRST)
    last = _parse(LAST)

    assert isinstance(first, mbus.MbusFrame)
    assert isinstance(last, mbus.MbusFrame)
    assert (first.sequence, first.last, first.end) == (0, False, len(FIRST))
    assert (last.sequence, last.last) == (1, True)
    # STSAP 01 / DTSAP 67 are not part of the APDU.
    assert first.fragment[:1] == b"\xdb"
    assert first.fragment == FIRST[9:-2]


@pytest.mark.parametrize("size", [0, 1, 3, 4, 10, len(FIRST) - 1])
def test_partial_frame_needs_more(size: int) -> None:
    assert _parse(FIRST[:size]) is None


@pytest.mark.parametrize(
    "header",
    [
        b"\x68\xfa\xfb\x68",  # the two lengths differ
        b"\x68\xfa\xfa\x69",  # no second start byte
        b"\x68\x02\x02\x68",  # too short for C, A and CI
    ],
)
def test_bad_header_is_not_a_frame(header: bytes) -> None:
    result = _parse(header + FIRST[4:])
    assert isinstance(result, FrameReject)
    assert result.reason is None
    assert result.end == 1


def test_wrong_stop_byte_is_truncated() -> None:
    result = _parse(FIRST[:-1] + b"\x17")
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.TRUNCATED
    assert result.end == len(FIRST) - 1  # the last byte that belongs to the frame


def test_checksum_error_is_crc() -> None:
    frame = bytearray(FIRST)
    frame[-2] ^= 0x01
    result = _parse(bytes(frame))
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.CRC

    events = decode_all(bytes(frame) + LAST, OPTIONS)
    assert readings(events) == []
    # The checksum error, then the orphaned last segment.
    assert reasons(events) == [Reason.CRC, Reason.MALFORMED]


@pytest.mark.parametrize("ci", [0x20, 0x72, 0xFF])
def test_ci_outside_dlms_range_is_unsupported(ci: int) -> None:
    frame = mbus_frame(SHORT_APDU, ci=ci)
    result = _parse(frame)
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.UNSUPPORTED
    assert reasons(decode_all(frame)) == [Reason.UNSUPPORTED]


def test_single_last_segment_carries_a_whole_apdu() -> None:
    events = decode_all(mbus_frame(SHORT_APDU, ci=0x10))
    [reading] = readings(events)
    assert reading.transport == "mbus"
    assert not reading.encrypted
    assert {str(o): m.value for o, m in reading.values.items()} == {"1-0:1.7.0": 733}


def test_segments_out_of_order_are_malformed_and_the_next_message_decodes() -> None:
    decoder = StreamDecoder(OPTIONS)
    events = decoder.feed(LAST + FIRST + FIRST + LAST)

    assert reasons(events) == [Reason.MALFORMED]
    assert "out of order" in errors(events)[0].detail
    # The second FIRST restarts the message; the repeated one is not glued twice.
    assert len(readings(events)) == 1


def test_skipped_sequence_number_is_malformed() -> None:
    fragments = [PLAIN_APDU[:100], PLAIN_APDU[100:200], PLAIN_APDU[200:]]
    frames = [
        mbus_frame(fragments[0], ci=0x00),
        mbus_frame(fragments[1], ci=0x01),
        mbus_frame(fragments[2], ci=0x13),  # sequence 3 where 2 is due
    ]
    events = decode_all(b"".join(frames), OPTIONS)
    assert readings(events) == []
    assert reasons(events) == [Reason.MALFORMED]


def test_three_segments_in_order_reassemble() -> None:
    fragments = [PLAIN_APDU[:100], PLAIN_APDU[100:200], PLAIN_APDU[200:]]
    frames = [
        mbus_frame(fragments[0], ci=0x00),
        mbus_frame(fragments[1], ci=0x01),
        mbus_frame(fragments[2], ci=0x12),
    ]
    events = decode_chunks(frames, OPTIONS)
    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == ENTRY["expected"]["values"]


def test_block_transfer_over_mbus_decodes() -> None:
    # The L&G GBT blocks, carried in M-Bus frames instead of HDLC.
    gbt = BY_ID[GBT_ID]
    [reading] = readings(decode_all(_gbt_over_mbus(), options_for(gbt)))
    assert {str(o): m.value for o, m in reading.values.items()} == gbt["expected"]["values"]


def _gbt_over_mbus() -> bytes:
    # Only the first GBT frame carries the LLC header.
    frames = split_hdlc_stream(raw_bytes(BY_ID[GBT_ID]))
    blocks = [strip_llc(hdlc_information(frame)) for frame in frames]
    assert all(block[:1] == b"\xe0" for block in blocks)
    return b"".join(mbus_frame(block, ci=0x10) for block in blocks)


def test_block_transfer_over_mbus_keeps_the_mbus_transport() -> None:
    decoder = StreamDecoder(options_for(BY_ID[GBT_ID]))
    events = decoder.feed(_gbt_over_mbus())
    events += decoder.feed(_gbt_over_mbus()) + decoder.flush()

    assert [r.transport for r in readings(events)] == ["mbus", "mbus"]
    assert decoder.transport == "mbus"


@pytest.mark.parametrize("index", [4, 5, 6, 7, 8, 100])
def test_checksum_covers_control_to_data(index: int) -> None:
    frame = bytearray(FIRST)
    frame[index] ^= 0x04  # C, A, CI, STSAP, DTSAP, APDU
    result = _parse(bytes(frame))
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.CRC
