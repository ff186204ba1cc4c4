"""HDLC frame format type 3: addresses, HCS/FCS, lengths, shared/idle flags, segmentation."""

from __future__ import annotations

import pytest

from custom_components.han_port.han import hdlc
from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.model import FrameReject, Reason
from custom_components.han_port.han.stream import MAX_MESSAGE, StreamDecoder
from devtools.corpus import BY_ID, raw_bytes

from .conftest import (
    AIDON_L3_ID,
    KAMSTRUP_L1_ID,
    KAMSTRUP_L2_ID,
    LLC,
    as_plain,
    decode_all,
    decode_chunks,
    errors,
    hdlc_frame,
    hdlc_information,
    readings,
    reasons,
)

AIDON_L1 = raw_bytes(BY_ID["aidon-no-list1-3ph-hassams"])
APDU = hdlc_information(AIDON_L1)[3:]  # the data-notification, without LLC


def _parse(data: bytes) -> hdlc.HdlcFrame | FrameReject | None:
    return hdlc.parse_frame(bytearray(data), 0)


@pytest.mark.parametrize("dest_size", [1, 2, 3, 4])
@pytest.mark.parametrize("src_size", [1, 2, 4])
def test_addresses_of_one_to_four_bytes(dest_size: int, src_size: int) -> None:
    # An address ends at the byte whose least significant bit is 1.
    dest = b"\x02" * (dest_size - 1) + b"\x41"
    src = b"\x10" * (src_size - 1) + b"\x23"
    frame = hdlc_frame(LLC + APDU, dest=dest, src=src)

    result = _parse(frame)

    assert isinstance(result, hdlc.HdlcFrame)
    assert result.information == LLC + APDU
    assert result.end == len(frame) - 1
    assert not result.segmented
    assert [as_plain(r) for r in readings(decode_all(frame))] == [
        as_plain(r) for r in readings(decode_all(AIDON_L1))
    ]


def test_five_byte_address_is_not_a_frame() -> None:
    # The builder makes no 5-byte address: one more 02 before a 4-byte one. The
    # address is read before any check sum, so the sums need not match.
    four = hdlc_frame(LLC + APDU, dest=b"\x02\x02\x02\x41")
    frame = four[:3] + b"\x02" + four[3:]
    result = _parse(frame)
    assert isinstance(result, FrameReject)
    assert result.reason is None  # junk, not worth an event by itself


def test_format_type_other_than_3_is_not_a_frame() -> None:
    result = _parse(b"\x7e\x13\x2b\x48\xa2")
    assert isinstance(result, FrameReject)
    assert result.reason is None
    assert result.end == 1


@pytest.mark.parametrize("size", [1, 2, 3, 5, 6, 8, 20, len(AIDON_L1) - 1])
def test_partial_frame_needs_more(size: int) -> None:
    assert _parse(AIDON_L1[:size]) is hdlc.NEED_MORE


def test_partial_source_address_needs_more() -> None:
    frame = hdlc_frame(LLC + APDU, src=b"\x02\x02\x23")
    assert _parse(frame[:5]) is hdlc.NEED_MORE


def test_hcs_mismatch_is_rejected_before_the_frame_is_complete() -> None:
    frame = bytearray(AIDON_L1)
    frame[7] ^= 0xFF  # first HCS byte
    # Only the header is needed to tell: junk must not make the decoder wait for 2 KiB.
    result = _parse(bytes(frame[:10]))
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.CRC
    assert result.detail == "HCS mismatch"


def test_fcs_mismatch_with_closing_flag_is_crc() -> None:
    frame = bytearray(AIDON_L1)
    frame[-2] ^= 0x01
    result = _parse(bytes(frame))
    assert isinstance(result, FrameReject)
    assert (result.reason, result.detail, result.end) == (Reason.CRC, "FCS mismatch", 43)


def test_fcs_mismatch_without_closing_flag_is_truncated() -> None:
    # Two bytes dropped inside the frame: the length points past its closing flag.
    frame = AIDON_L1[:20] + AIDON_L1[22:] + b"\x00\x00"
    result = _parse(frame)
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.TRUNCATED
    assert "have 42 bytes, need 44" in result.detail


def test_fcs_mismatch_with_no_flag_anywhere_is_truncated() -> None:
    frame = bytearray(AIDON_L1)
    frame[-1] = 0x00
    frame[-2] ^= 0x01
    result = _parse(bytes(frame) + b"\x00")
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.TRUNCATED
    assert "no closing flag" in result.detail


def test_good_fcs_without_closing_flag_is_accepted() -> None:
    # The next frame may open with its own flag; the FCS already vouches for this one.
    frame = AIDON_L1[:-1] + b"\x00"
    result = _parse(frame)
    assert isinstance(result, hdlc.HdlcFrame)
    assert result.information == LLC + APDU


def _with_length(frame: bytes, length: int) -> bytes:
    """Rewrite the length field and reseal the header so only the length is wrong."""
    body = bytearray(frame[1:6])
    body[1] = length
    body += crc16_x25(bytes(body)).to_bytes(2, "little")
    return b"\x7e" + bytes(body) + b"\x00" * 40


@pytest.mark.parametrize(
    ("length", "detail"),
    [(6, "shorter than the header"), (8, "leaves no room for the HCS")],
)
def test_length_that_cannot_hold_the_header_is_a_length_error(length: int, detail: str) -> None:
    # Header = format(2) + dest(1) + src(1) + control(1) = 5 bytes.
    frame = hdlc_frame(LLC + APDU, dest=b"\x41", src=b"\x21")
    result = _parse(_with_length(frame, length))
    assert isinstance(result, FrameReject)
    assert result.reason == Reason.LENGTH
    assert detail in result.detail


def test_frame_without_information_field() -> None:
    # An RR/UI frame with no information: format, addresses, control and FCS only.
    frame = hdlc_frame(b"", dest=b"\x41", src=b"\x21")
    assert len(frame) == 9

    result = _parse(frame)
    assert isinstance(result, hdlc.HdlcFrame)
    assert result.information == b""

    decoder = StreamDecoder()
    events = decoder.feed(frame + AIDON_L1) + decoder.flush()
    # Counted as a frame, yields nothing, and does not disturb the next one.
    assert decoder.stats.frames == 2
    assert len(readings(events)) == 1
    assert errors(events) == []


def test_shared_flags_between_frames() -> None:
    first = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    second = raw_bytes(BY_ID[KAMSTRUP_L2_ID])
    third = raw_bytes(BY_ID[AIDON_L3_ID])
    # One flag closes a frame and opens the next.
    shared = first + second[1:] + third[1:]

    events = decode_all(shared)

    assert errors(events) == []
    expected = readings(decode_all(first + second + third))
    assert [as_plain(r) for r in readings(events)] == [as_plain(r) for r in expected]


def test_idle_flags_before_between_and_after_frames() -> None:
    frame = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    decoder = StreamDecoder()
    events = decoder.feed(b"\x7e" * 5 + frame + b"\x7e" * 7 + frame + b"\x7e" * 3)
    events += decoder.flush()

    assert len(readings(events)) == 2
    assert errors(events) == []
    assert decoder.stats.bytes_skipped == 0


def test_flag_inside_the_information_field_is_not_a_frame_boundary() -> None:
    # HAN meters do not byte-stuff, so 7E may appear in the payload.
    apdu = b"\x0f\x00\x00\x00\x01\x00\x02\x02\x09\x06\x01\x00\x01\x07\x00\xff\x06\x00\x00\x7e\x7e"
    frame = hdlc_frame(LLC + apdu)
    assert frame.count(b"\x7e") > 2

    [reading] = readings(decode_chunks([frame[:21], frame[21:]]))
    assert [m.value for m in reading.values.values()] == [0x7E7E]


# -- segmentation bit ------------------------------------------------------------------


def _segmented(information: bytes, sizes: list[int]) -> list[bytes]:
    """Cut an information field into frames, the segmentation bit on all but the last."""
    frames = []
    pos = 0
    for size in sizes:
        frames.append(hdlc_frame(information[pos : pos + size], segmented=True))
        pos += size
    frames.append(hdlc_frame(information[pos:]))
    return frames


def test_segmented_frames_are_reassembled() -> None:
    information = hdlc_information(raw_bytes(BY_ID[AIDON_L3_ID]))
    frames = _segmented(information, [120, 100])

    first = _parse(frames[0])
    assert isinstance(first, hdlc.HdlcFrame)
    assert first.segmented

    events = decode_chunks(frames)

    assert errors(events) == []
    [reading] = readings(events)
    assert as_plain(reading) == as_plain(readings(decode_all(raw_bytes(BY_ID[AIDON_L3_ID])))[0])


def test_segmented_message_followed_by_a_plain_frame() -> None:
    information = hdlc_information(raw_bytes(BY_ID[AIDON_L3_ID]))
    stream = b"".join(_segmented(information, [50])) + AIDON_L1
    assert len(readings(decode_all(stream))) == 2


def test_segmented_message_larger_than_the_bound_is_malformed() -> None:
    chunk = hdlc_frame(b"\x00" * 2000, segmented=True)
    decoder = StreamDecoder()
    events = []
    for _ in range(MAX_MESSAGE // 2000 + 1):
        events += decoder.feed(chunk)

    assert reasons(events) == [Reason.MALFORMED]
    # The segments were dropped, not kept: the next (unsegmented) message would
    # otherwise be joined to them and fail; it decodes on its own.
    assert len(readings(decoder.feed(AIDON_L1))) == 1


def test_frame_missing_only_its_closing_flag_at_end_of_input_decodes() -> None:
    events = decode_all(AIDON_L1[:-1])
    assert len(readings(events)) == 1
