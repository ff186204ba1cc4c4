"""StreamDecoder: every real capture end to end, chunking/junk/bit-flip properties, stats.

The corpus tests are the contract with the outside world: each capture of
tests/fixtures/corpus.json, fed as a meter would send it, gives exactly the values
that independent decoders agreed on, or is rejected for the reason the capture shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools
from typing import Any

from hypothesis import example, given, strategies as st
import pytest

from custom_components.han_port.han import mbus
from custom_components.han_port.han.model import FrameError, Reading, Reason
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.stream import JUNK_REPORT, StreamDecoder
from devtools.builder import glo_ciphering
from devtools.corpus import BY_ID, Entry, raw_bytes

from .. import more_meters
from .conftest import (
    AIDON_L3_ID,
    GBT_ID,
    HDLC_SINGLE,
    INVALID,
    KAMSTRUP_L1_ID,
    KAMSTRUP_L2_ID,
    MBUS_ID,
    P1_VALID,
    VALID,
    as_plain,
    bounded,
    decode_all,
    decode_chunks,
    errors,
    hdlc_apdu,
    hdlc_information,
    options_for,
    readings,
    reasons,
    split_hdlc_stream,
    split_mbus_stream,
    wall_clock,
)

# Deterministic and bounded: the same examples on every run, the suite stays fast.
FAST = bounded(150)

WRONG_KEY = bytes(range(16))
AUTH_KEY = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


def _expected_reason(entry: Entry) -> str:
    """The decoder's reason for the first problem the corpus names in a capture."""
    first: str = entry["expected"]["reasons"][0]
    if first in ("FCS mismatch", "HCS mismatch"):
        return Reason.CRC
    if first.startswith("truncated"):
        return Reason.TRUNCATED
    if first.startswith("format"):
        return Reason.FORMAT
    raise AssertionError(f"corpus reason {first!r} has no mapping")


# -- the corpus --------------------------------------------------------------------------


@pytest.mark.parametrize("entry", VALID, ids=[entry["id"] for entry in VALID])
def test_valid_capture_decodes_to_expected_values(entry: Entry) -> None:
    events = decode_all(raw_bytes(entry), options_for(entry))

    assert errors(events) == []
    [reading] = readings(events)
    expected = entry["expected"]
    # Exact equality: the decoder divides once by a power of ten, so 9406459 / 100 is
    # the float nearest 94064.59, the same float the JSON parser makes of "94064.59".
    # The corpus lists what has a unit; a P1 sub-meter's equipment id comes on top.
    measured = {obis: m for obis, m in reading.values.items() if not isinstance(m.value, str)}
    assert {str(obis): m.value for obis, m in measured.items()} == expected["values"]
    assert {str(obis): m.unit for obis, m in measured.items()} == expected["units"]
    assert reading.meter_id == expected["meter_id"]
    assert reading.meter_type == expected["meter_type"]
    assert reading.list_version == expected["list_version"]
    assert reading.encrypted == entry["encrypted"]


@pytest.mark.parametrize("entry", VALID, ids=[entry["id"] for entry in VALID])
def test_valid_capture_timestamp(entry: Entry) -> None:
    [reading] = readings(decode_all(raw_bytes(entry), options_for(entry)))
    expected = entry["expected"]

    if expected["timestamp"] is None:
        assert reading.timestamp is None
        return
    assert wall_clock(reading) == datetime.fromisoformat(expected["timestamp"])
    assert reading.timestamp is not None
    if "timestamp_deviation_min" not in expected:
        return  # P1: the corpus says nothing about the offset
    deviation = expected["timestamp_deviation_min"]
    if deviation is None:
        # 0x8000 "not specified": local wall-clock time, and the reading says so.
        assert reading.timestamp.tzinfo is None
        assert reading.timestamp_is_local
    else:
        # COSEM deviation is UTC minus local: -60 is CET, UTC+1.
        assert reading.timestamp.utcoffset() == timedelta(minutes=-deviation)
        assert not reading.timestamp_is_local


@pytest.mark.parametrize("entry", INVALID, ids=[entry["id"] for entry in INVALID])
def test_invalid_capture_is_rejected_once_for_its_reason(entry: Entry) -> None:
    events = decode_all(raw_bytes(entry), options_for(entry))

    assert readings(events) == []
    # One broken frame, one event: neither silence nor an event per byte.
    assert reasons(events) == [_expected_reason(entry)]
    assert all(len(error.raw) > 0 for error in errors(events))


def test_valid_frame_after_a_capture_with_dropped_bytes_still_decodes() -> None:
    # A frame short of bytes claims some of the next frame's bytes; the hunt must
    # resume inside it rather than lose the good frame as well.
    broken = raw_bytes(BY_ID["neg-kamstrup-no-dropped-bytes-2017-roarfred"])
    good = raw_bytes(BY_ID[KAMSTRUP_L1_ID])

    events = decode_all(broken + good)

    assert [as_plain(r) for r in readings(events)] == [
        as_plain(r) for r in readings(decode_all(good))
    ]
    assert reasons(events) == [Reason.TRUNCATED]


def test_valid_frame_after_an_fcs_error_still_decodes() -> None:
    broken = raw_bytes(BY_ID["neg-kamstrup-no-fcs-error-amsreader-gh175-1"])
    good = raw_bytes(BY_ID[KAMSTRUP_L2_ID])

    events = decode_all(broken + good + broken + good)

    assert len(readings(events)) == 2
    assert reasons(events) == [Reason.CRC, Reason.CRC]


# -- encryption ----------------------------------------------------------------------------


def test_encrypted_capture_with_wrong_key_is_a_decrypt_error(corpus: dict[str, Entry]) -> None:
    entry = corpus[MBUS_ID]
    events = decode_all(raw_bytes(entry), options_for(entry, key=WRONG_KEY))

    assert readings(events) == []
    assert reasons(events) == [Reason.DECRYPT]


def test_encrypted_capture_without_key_is_a_no_key_error(corpus: dict[str, Entry]) -> None:
    entry = corpus[MBUS_ID]
    events = decode_all(raw_bytes(entry), options_for(entry, key=None))

    assert readings(events) == []
    assert reasons(events) == [Reason.NO_KEY]


def _gcm_frame(**overrides: Any) -> bytes:
    """The MA309 capture's plaintext, sealed with an authentication tag (SC 0x30)."""
    entry = BY_ID[MBUS_ID]
    settings_: dict[str, Any] = {
        "system_title": bytes.fromhex(entry["expected"]["gcm"]["system_title"]),
        "invocation_counter": 0x00295B9A,
        "key": bytes.fromhex(entry["key_hex"]),
        "auth_key": AUTH_KEY,
        "security_control": 0x30,
    }
    settings_.update(overrides)
    return glo_ciphering(bytes.fromhex(entry["plaintext_apdu_hex"]), **settings_)


def test_authenticated_gcm_frame_decodes_to_the_capture_values() -> None:
    entry = BY_ID[MBUS_ID]
    events = decode_all(hdlc_apdu(_gcm_frame()), options_for(entry, auth_key=AUTH_KEY))

    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == entry["expected"]["values"]
    assert reading.encrypted
    assert reading.system_title == bytes.fromhex(entry["expected"]["gcm"]["system_title"])
    assert reading.transport == "hdlc"


@pytest.mark.parametrize("bit", [0, 7, 100, 8 * 200 + 3])
def test_flipped_ciphertext_bit_is_a_decrypt_error_never_a_reading(bit: int) -> None:
    apdu = bytearray(_gcm_frame())
    # Ciphertext starts after DB 08 <title> 82 LLLL SC FC(4).
    apdu[17 + bit // 8] ^= 1 << (bit % 8)
    entry = BY_ID[MBUS_ID]

    events = decode_all(hdlc_apdu(bytes(apdu)), options_for(entry, auth_key=AUTH_KEY))

    assert readings(events) == []
    assert reasons(events) == [Reason.DECRYPT]


def test_flipped_tag_bit_and_wrong_auth_key_are_decrypt_errors() -> None:
    apdu = bytearray(_gcm_frame())
    apdu[-1] ^= 0x80
    entry = BY_ID[MBUS_ID]

    flipped = decode_all(hdlc_apdu(bytes(apdu)), options_for(entry, auth_key=AUTH_KEY))
    wrong_ak = decode_all(hdlc_apdu(_gcm_frame()), options_for(entry, auth_key=WRONG_KEY))

    for events in (flipped, wrong_ak):
        assert readings(events) == []
        assert reasons(events) == [Reason.DECRYPT]


def test_without_auth_key_a_tagged_frame_is_read_unauthenticated() -> None:
    """No authentication key configured: the tag goes unchecked, and the stats say so."""
    entry = BY_ID[MBUS_ID]
    decoder = StreamDecoder(options_for(entry, auth_key=None))
    events = decoder.feed(hdlc_apdu(_gcm_frame())) + decoder.flush()
    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == entry["expected"]["values"]
    assert (decoder.stats.readings, decoder.stats.unauthenticated) == (1, 1)
    # The same frame with its authentication key: checked, not counted.
    checked = StreamDecoder(options_for(entry, auth_key=AUTH_KEY))
    assert len(readings(checked.feed(hdlc_apdu(_gcm_frame())))) == 1
    assert (checked.stats.readings, checked.stats.unauthenticated) == (1, 0)


def test_decrypted_message_that_does_not_parse_is_a_decrypt_error() -> None:
    # Without a tag, a wrong key shows only as a plaintext that does not parse; a
    # plaintext that starts like a notification but has junk after the body is that case.
    entry = BY_ID[MBUS_ID]
    plaintext = bytes.fromhex(entry["plaintext_apdu_hex"]) + b"\x00\x00"
    apdu = glo_ciphering(
        plaintext,
        system_title=b"KFM\x10\x10\x00\x00\x23",
        invocation_counter=7,
        key=bytes.fromhex(entry["key_hex"]),
        security_control=0x20,
    )

    events = decode_all(hdlc_apdu(apdu), options_for(entry))

    assert readings(events) == []
    [error] = errors(events)
    assert error.reason == Reason.DECRYPT
    assert "wrong key" in error.detail


# -- multi-frame messages --------------------------------------------------------------


def test_gbt_frames_fed_one_by_one_with_junk_between(corpus: dict[str, Entry]) -> None:
    entry = corpus[GBT_ID]
    frames = split_hdlc_stream(raw_bytes(entry))
    assert len(frames) == 3
    decoder = StreamDecoder(options_for(entry))
    events = decoder.feed(b"\x00\x11junk")
    for frame in frames:
        events += decoder.feed(frame)
        events += decoder.feed(b"\x42" * 17)
    events += decoder.flush()

    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == entry["expected"]["values"]
    assert decoder.stats.frames == 3
    assert set(reasons(events)) == {Reason.FORMAT}


def test_mbus_segments_fed_one_by_one_with_junk_between(corpus: dict[str, Entry]) -> None:
    entry = corpus[MBUS_ID]
    segments = split_mbus_stream(raw_bytes(entry))
    assert len(segments) == 2
    decoder = StreamDecoder(options_for(entry))
    events: list[Reading | FrameError] = []
    for segment in segments:
        events += decoder.feed(b"\x01\x02\x03")
        for index in range(0, len(segment), 7):
            events += decoder.feed(segment[index : index + 7])
    events += decoder.feed(b"\x55" * 9) + decoder.flush()

    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == entry["expected"]["values"]
    assert reading.transport == "mbus"
    assert decoder.transport == "mbus"


def test_gbt_block_missing_drops_the_message_then_recovers() -> None:
    entry = BY_ID[GBT_ID]
    first, _second, third = split_hdlc_stream(raw_bytes(entry))

    events = decode_all(first + third + raw_bytes(entry), options_for(entry))

    assert reasons(events) == [Reason.MALFORMED]
    assert len(readings(events)) == 1


def test_block_transfer_carrying_a_ciphered_apdu(corpus: dict[str, Entry]) -> None:
    # GBT and GCM compose: the blocks reassemble to a general-glo-ciphering APDU.
    entry = corpus[GBT_ID]
    plain = bytes.fromhex(entry["reassembled_apdu_hex"])
    key = bytes.fromhex(corpus[MBUS_ID]["key_hex"])
    ciphered = glo_ciphering(
        plain,
        system_title=b"LGZ\x01\x02\x03\x04\x05",
        invocation_counter=9,
        key=key,
        auth_key=AUTH_KEY,
    )
    pieces = [ciphered[:100], ciphered[100:250], ciphered[250:]]
    frames = b""
    for number, piece in enumerate(pieces, start=1):
        control = 0xC0 if number == len(pieces) else 0x40
        header = bytes((0xE0, control)) + number.to_bytes(2) + b"\x00\x00"
        length = bytes((len(piece),)) if len(piece) < 0x80 else b"\x81" + bytes((len(piece),))
        frames += hdlc_apdu(header + length + piece)

    events = decode_all(frames, options_for(entry, key=key, auth_key=AUTH_KEY))

    [reading] = readings(events)
    assert {str(o): m.value for o, m in reading.values.items()} == entry["expected"]["values"]
    assert reading.encrypted
    assert reading.manufacturer == "Landis+Gyr"  # from the system title, LGZ


# -- properties ------------------------------------------------------------------------

HDLC_FRAMES = [frame for entry in HDLC_SINGLE for frame in split_hdlc_stream(raw_bytes(entry))]
HDLC_FRAMES += split_hdlc_stream(raw_bytes(BY_ID[GBT_ID]))
HDLC_STREAM = b"".join(HDLC_FRAMES)
P1_FRAMES = [raw_bytes(entry) for entry in P1_VALID]
P1_STREAM = b"".join(P1_FRAMES)
MBUS_ENTRY = BY_ID[MBUS_ID]
MBUS_FRAMES = split_mbus_stream(raw_bytes(MBUS_ENTRY)) * 3
MBUS_STREAM = b"".join(MBUS_FRAMES)
MBUS_OPTIONS = options_for(MBUS_ENTRY)

# Readings from feeding each stream whole: the reference for every property below.
HDLC_READINGS = [as_plain(r) for r in readings(decode_all(HDLC_STREAM))]
P1_READINGS = [as_plain(r) for r in readings(decode_all(P1_STREAM))]
MBUS_READINGS = [as_plain(r) for r in readings(decode_all(MBUS_STREAM, MBUS_OPTIONS))]


def test_reference_streams_decode_every_capture() -> None:
    # The properties compare against these; they must hold one reading per message.
    assert len(HDLC_READINGS) == len(HDLC_SINGLE) + 1
    assert len(P1_READINGS) == len(P1_VALID)
    assert len(MBUS_READINGS) == 3
    for entry, reading in zip(HDLC_SINGLE, HDLC_READINGS, strict=False):
        values = {key: value for key, (value, _unit) in reading["values"].items()}
        if entry["country"] != "SE":  # the stream decoder was not told the country
            assert values == entry["expected"]["values"]


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


@FAST
@given(st.lists(st.integers(min_value=0), max_size=80))
@example([])
@example(list(range(len(HDLC_STREAM))))  # one byte at a time
def test_any_chunking_of_hdlc_stream_gives_same_readings(cuts: list[int]) -> None:
    events = decode_chunks(_chunks(HDLC_STREAM, cuts))
    assert [as_plain(r) for r in readings(events)] == HDLC_READINGS
    assert errors(events) == []


@FAST
@given(st.lists(st.integers(min_value=0), max_size=80))
@example(list(range(len(P1_STREAM))))
def test_any_chunking_of_p1_stream_gives_same_readings(cuts: list[int]) -> None:
    events = decode_chunks(_chunks(P1_STREAM, cuts))
    assert [as_plain(r) for r in readings(events)] == P1_READINGS
    assert errors(events) == []


@FAST
@given(st.lists(st.integers(min_value=0), max_size=80))
@example(list(range(len(MBUS_STREAM))))
def test_any_chunking_of_mbus_stream_gives_same_readings(cuts: list[int]) -> None:
    events = decode_chunks(_chunks(MBUS_STREAM, cuts), MBUS_OPTIONS)
    assert [as_plain(r) for r in readings(events)] == MBUS_READINGS
    assert errors(events) == []


def _interleave(frames: list[bytes], junk: list[bytes]) -> bytes:
    parts = [junk[0]]
    for frame, after in zip(frames, junk[1:], strict=True):
        parts += [frame, after]
    return b"".join(parts)


# Junk with flags, M-Bus start bytes and "/" but no HDLC format byte (0xA0-0xAF): a
# flag or a closing flag followed by one opens a candidate whose failed HCS makes the
# decoder skip good frames (see the xfail test below).
_QUIET_JUNK = st.binary(max_size=24).map(lambda raw: bytes(b for b in raw if b >> 4 != 0xA))


@FAST
@given(st.lists(_QUIET_JUNK, min_size=len(HDLC_FRAMES) + 1, max_size=len(HDLC_FRAMES) + 1))
@example([b"\x68\x2f\x68\x68"] * (len(HDLC_FRAMES) + 1))
@example([b"\x7e\x7e\x68\x7e\x2f\x7e"] * (len(HDLC_FRAMES) + 1))
def test_junk_between_hdlc_frames_loses_no_frame(junk: list[bytes]) -> None:
    events = decode_all(_interleave(HDLC_FRAMES, junk))
    assert [as_plain(r) for r in readings(events)] == HDLC_READINGS


@FAST
@given(st.lists(st.binary(max_size=24), min_size=len(HDLC_FRAMES) + 1))
# Junk before the last frame whose claimed end lies past the buffer: the decoder jumps
# to the buffer's last byte, the last frame's closing flag.
@example([b""] * (len(HDLC_FRAMES) - 1) + [b"\x7e\xa7\xff\x03\x03\x13", b""])
def test_any_junk_between_hdlc_frames_loses_no_frame(junk: list[bytes]) -> None:
    events = decode_all(_interleave(HDLC_FRAMES, junk[: len(HDLC_FRAMES) + 1]))
    assert [as_plain(r) for r in readings(events)] == HDLC_READINGS


def test_hcs_failure_does_not_skip_following_frames() -> None:
    good = raw_bytes(BY_ID["aidon-no-list1-3ph-hassams"])
    # 7E A0 FF: a header claiming 255 bytes, addresses 03/03, control 13, bad HCS.
    events = decode_all(b"\x7e\xa0\xff\x03\x03\x13" + good)
    assert len(readings(events)) == 1


@FAST
@given(st.lists(_QUIET_JUNK, min_size=len(P1_FRAMES) + 1, max_size=len(P1_FRAMES) + 1))
def test_junk_between_p1_telegrams_loses_no_telegram(junk: list[bytes]) -> None:
    events = decode_all(_interleave(P1_FRAMES, junk))
    assert [as_plain(r) for r in readings(events)] == P1_READINGS


def test_telegram_after_a_telegram_cut_short_still_decodes() -> None:
    telegram = raw_bytes(BY_ID["p1-se-kamstrup-2022-amshan"])
    cut = telegram[: telegram.index(b"1-0:2.8.0")]  # the adapter dropped the tail
    events = decode_all(cut + telegram)
    assert len(readings(events)) == 1


@FAST
@given(st.lists(_QUIET_JUNK, min_size=len(MBUS_FRAMES) + 1, max_size=len(MBUS_FRAMES) + 1))
def test_junk_between_mbus_frames_loses_no_frame(junk: list[bytes]) -> None:
    events = decode_all(_interleave(MBUS_FRAMES, junk), MBUS_OPTIONS)
    assert [as_plain(r) for r in readings(events)] == MBUS_READINGS


def test_flush_does_not_drop_frames_behind_a_false_start() -> None:
    good = raw_bytes(BY_ID["aidon-no-list1-3ph-hassams"])
    events = decode_all(b"\x68\xff\xff\x68" + good)
    assert len(readings(events)) == 1


_BUFFER_BAIT = st.sampled_from(
    [
        b"",
        b"\x7e\xa7\xff\x03\x03\x13",  # an HDLC header claiming 2047 bytes
        b"\x68\xff\xff\x68",  # an M-Bus header claiming 255 bytes
        b"/KAM5\r\n" + b"1-0:1.8.0(1)\r\n" * 40,  # a P1 telegram that never ends
        b"/ABCD" + b"x" * 90,
    ]
)


@FAST
@given(
    st.lists(st.tuples(_BUFFER_BAIT, st.binary(max_size=3000)), min_size=1, max_size=12),
    st.sampled_from(["auto", "hdlc", "mbus", "p1"]),
)
def test_buffer_stays_bounded(chunks: list[tuple[bytes, bytes]], transport: str) -> None:
    decoder = StreamDecoder(DecoderOptions(transport=transport))
    for bait, noise in chunks:
        decoder.feed(bait + noise)
        assert decoder.stats.buffered < 10 * 1024


def test_buffer_stays_bounded_under_a_never_ending_telegram() -> None:
    decoder = StreamDecoder()
    decoder.feed(b"/KAM5\r\n")
    largest = 0
    for _ in range(2000):
        decoder.feed(b"1-0:1.8.0(00060995.424*kWh)\r\n")
        largest = max(largest, decoder.stats.buffered)
    # The candidate grew to the P1 size limit, then was given up as junk.
    assert 4096 < largest < 10 * 1024
    assert decoder.stats.bytes_skipped > 0


@FAST
@given(st.binary(max_size=4000), st.sampled_from(["auto", "hdlc", "mbus", "p1"]))
@example(b"\x7e\xa0\x07\x03\x03\x13\x00\x00\x7e", "hdlc")
@example(b"\x68\x03\x03\x68\x53\xff\x20\x72\x16", "mbus")
@example(b"/AB", "p1")
def test_feed_never_raises_on_arbitrary_bytes(data: bytes, transport: str) -> None:
    decoder = StreamDecoder(DecoderOptions(transport=transport))
    events = decoder.feed(data) + decoder.feed(data[::-1]) + decoder.flush()
    assert all(isinstance(event, Reading | FrameError) for event in events)
    assert decoder.stats.buffered == 0


@FAST
@given(
    st.sampled_from(HDLC_FRAMES[:-3]),
    st.lists(st.integers(min_value=0), min_size=1, max_size=3),
)
def test_bit_flips_in_an_hdlc_frame_never_change_a_reading(frame: bytes, bits: list[int]) -> None:
    original = as_plain(readings(decode_all(frame))[0])
    flipped = bytearray(frame)
    for bit in bits:
        flipped[(bit // 8) % len(frame)] ^= 1 << (bit % 8)

    # A flip is caught by the HCS/FCS, or hit a byte nothing needs (the closing flag).
    for reading in readings(decode_all(bytes(flipped))):
        assert as_plain(reading) == original


@FAST
@given(st.sampled_from(range(2)), st.integers(min_value=0))
def test_bit_flip_in_an_mbus_segment_never_changes_a_reading(segment: int, bit: int) -> None:
    # One flip only: the M-Bus checksum is a byte sum, and two flips of the same bit in
    # two bytes cancel out; the MA309 sends no GCM tag, so nothing else would notice.
    frames = [bytearray(frame) for frame in split_mbus_stream(raw_bytes(MBUS_ENTRY))]
    target = frames[segment]
    target[(bit // 8) % len(target)] ^= 1 << (bit % 8)

    events = decode_all(b"".join(frames), MBUS_OPTIONS)

    assert readings(events) == []
    assert errors(events) != []


_MUTATION = st.tuples(
    st.sampled_from(["delete", "duplicate", "insert", "flip", "cut"]),
    st.integers(min_value=0),
    st.integers(min_value=0, max_value=255),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    """Dropped, doubled and stray bytes, bit errors and lost runs, as a bad line makes."""
    buf = bytearray(data)
    for kind, where, byte in mutations:
        index = where % len(buf)
        if kind == "delete":
            del buf[index]
        elif kind == "duplicate":
            buf.insert(index, buf[index])
        elif kind == "insert":
            buf.insert(index, byte)
        elif kind == "flip":
            buf[index] ^= 1 << (byte % 8)
        else:
            del buf[index : index + byte]
    return bytes(buf)


@FAST
@given(st.lists(_MUTATION, min_size=1, max_size=4), st.sampled_from(["hdlc", "p1"]))
def test_damaged_stream_never_invents_a_reading(
    mutations: list[tuple[str, int, int]], transport: str
) -> None:
    # Readings may be lost to the damage; any that come out must be ones the meter sent.
    stream, reference = {
        "hdlc": (HDLC_STREAM, HDLC_READINGS),
        "p1": (P1_STREAM, P1_READINGS),
    }[transport]
    for reading in readings(decode_all(_mutate(stream, mutations))):
        assert as_plain(reading) in reference


@FAST
@given(_MUTATION)
def test_one_damage_in_an_mbus_stream_never_invents_a_reading(
    mutation: tuple[str, int, int],
) -> None:
    # One only: two flips of one bit in two bytes keep the M-Bus byte sum, and the
    # MA309 sends no GCM tag, so such a pair is undetectable by any decoder.
    damaged = _mutate(MBUS_STREAM, [mutation])
    for reading in readings(decode_all(damaged, MBUS_OPTIONS)):
        assert as_plain(reading) in MBUS_READINGS


# -- stats, flush and junk reporting ----------------------------------------------------


def test_stats_count_frames_readings_errors_and_skipped_bytes() -> None:
    good = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    bad = bytearray(good)
    bad[50] ^= 0x01
    junk = b"\x01" * 10
    data = junk + good + bytes(bad) + good

    decoder = StreamDecoder()
    events = decoder.feed(data) + decoder.flush()

    assert reasons(events) == [Reason.FORMAT, Reason.CRC]
    assert decoder.stats.bytes_in == len(data)
    assert decoder.stats.frames == 3
    assert decoder.stats.readings == 2
    assert decoder.stats.errors == {Reason.FORMAT: 1, Reason.CRC: 1}
    # The junk and the rejected frame, its closing flag aside (it is the next one's).
    assert decoder.stats.bytes_skipped == len(junk) + len(bad) - 1


def test_flush_reports_a_partial_frame_as_truncated() -> None:
    frame = raw_bytes(BY_ID[KAMSTRUP_L1_ID])
    decoder = StreamDecoder()

    assert decoder.feed(frame[:100]) == []
    [error] = decoder.flush()

    assert error.reason == Reason.TRUNCATED
    assert f"need {len(frame)}" in error.detail
    assert error.raw == frame[:100]
    assert decoder.stats.buffered == 0
    assert decoder.flush() == []


def test_flush_ignores_trailing_flags_and_line_ends() -> None:
    decoder = StreamDecoder()
    decoder.feed(raw_bytes(BY_ID[KAMSTRUP_L1_ID]) + b"\x7e\x7e")
    assert decoder.stats.buffered > 0  # a flag may open the next frame: kept
    assert decoder.flush() == []

    decoder = StreamDecoder()
    decoder.feed(raw_bytes(BY_ID["p1-se-kamstrup-2022-amshan"]) + b"\r\n\r\n")
    assert decoder.flush() == []


def test_flush_reports_leftover_junk_as_format() -> None:
    decoder = StreamDecoder()
    decoder.feed(b"\x7e\x13")  # a flag, then not a format type 3 field
    [error] = decoder.flush()
    assert error.reason == Reason.FORMAT


def test_junk_run_fed_byte_by_byte_is_reported_once() -> None:
    decoder = StreamDecoder()
    events = []
    for _ in range(1000):
        events += decoder.feed(b"\x01")
    assert events == []  # the run has not ended yet
    events += decoder.feed(raw_bytes(BY_ID[KAMSTRUP_L1_ID]))

    assert reasons(events) == [Reason.FORMAT]
    assert isinstance(events[1], Reading)
    assert "1000 bytes" in events[0].detail
    assert events[0].raw == b"\x01" * 512  # a sample, bounded


def test_long_junk_run_is_reported_every_junk_report_bytes() -> None:
    decoder = StreamDecoder()
    events = []
    for _ in range(3 * JUNK_REPORT // 64):
        events += decoder.feed(b"\x02" * 64)
    assert reasons(events) == [Reason.FORMAT] * 3
    assert decoder.flush() == []


def test_junk_after_a_rejected_frame_is_reported() -> None:
    bad = bytearray(raw_bytes(BY_ID[KAMSTRUP_L1_ID]))
    bad[50] ^= 0x01
    events = decode_all(bytes(bad) + b"\x01" * 5000)
    assert reasons(events) == [Reason.CRC, Reason.FORMAT]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_buffer_type_can_be_fed(kind: type) -> None:
    decoder = StreamDecoder()
    assert len(readings(decoder.feed(kind(raw_bytes(BY_ID[KAMSTRUP_L1_ID]))))) == 1
    telegram = raw_bytes(BY_ID["p1-se-kamstrup-2022-amshan"])
    decoder = StreamDecoder()
    events = [event for byte in telegram for event in decoder.feed(kind(bytes((byte,))))]
    assert len(readings(events)) == 1


def test_empty_chunk_is_a_no_op() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b"") == []
    assert decoder.stats.bytes_in == 0


# -- transport locking -------------------------------------------------------------------


def test_decoder_locks_onto_the_first_transport_that_decodes() -> None:
    telegram = raw_bytes(BY_ID["p1-se-kamstrup-2022-amshan"])
    decoder = StreamDecoder()
    assert decoder.transport is None

    events = decoder.feed(raw_bytes(BY_ID[KAMSTRUP_L1_ID]))
    assert decoder.transport == "hdlc"
    # Locked to HDLC, a telegram is only bytes without a flag.
    events += decoder.feed(telegram)
    assert len(readings(events)) == 1

    # A long silence of junk releases the lock and the telegram decodes again.
    decoder.feed(b"\x00" * 70_000)
    assert decoder.transport is None
    assert len(readings(decoder.feed(telegram) + decoder.flush())) == 1
    assert decoder.transport == "p1"


@pytest.mark.parametrize(
    ("transport", "entry_id"),
    [
        ("mbus", KAMSTRUP_L1_ID),
        ("p1", KAMSTRUP_L1_ID),
        ("hdlc", MBUS_ID),
        ("hdlc", "p1-se-kamstrup-2022-amshan"),
    ],
)
def test_named_transport_ignores_the_others(transport: str, entry_id: str) -> None:
    entry = BY_ID[entry_id]
    decoder = StreamDecoder(options_for(entry, transport=transport))
    events = decoder.feed(raw_bytes(entry) + b"\x00" * 70_000) + decoder.flush()

    assert readings(events) == []
    assert decoder.transport == transport  # a named transport never unlocks


@pytest.mark.parametrize(
    ("transport", "entry_id"),
    [("hdlc", KAMSTRUP_L1_ID), ("mbus", MBUS_ID), ("p1", "p1-se-kamstrup-2022-amshan")],
)
def test_named_transport_decodes_its_own(transport: str, entry_id: str) -> None:
    entry = BY_ID[entry_id]
    events = decode_all(raw_bytes(entry), options_for(entry, transport=transport))
    assert len(readings(events)) == 1


def test_p1_telegram_with_bad_crc_is_a_crc_error() -> None:
    telegram = bytearray(raw_bytes(BY_ID["p1-se-kamstrup-2022-amshan"]))
    telegram[telegram.index(b"60995")] = ord("7")

    events = decode_all(bytes(telegram))

    assert readings(events) == []
    assert reasons(events) == [Reason.CRC]


def test_unsupported_apdu_is_reported_as_unsupported() -> None:
    # C4 = get-response: a valid frame, but not something a meter pushes.
    events = decode_all(hdlc_apdu(b"\xc4\x01\xc1\x00\x06\x00\x00\x00\x01"))
    assert reasons(events) == [Reason.UNSUPPORTED]


def test_broken_body_in_a_valid_frame_is_malformed() -> None:
    # Data-notification whose body claims a structure of 5 and holds 1 element.
    events = decode_all(hdlc_apdu(b"\x0f\x00\x00\x00\x01\x00\x02\x05\x12\x00\x01"))
    assert reasons(events) == [Reason.MALFORMED]


def test_aidon_list3_reading_is_aware_utc() -> None:
    # Aidon sends deviation 0 with status 0: UTC, not "unknown".
    [reading] = readings(decode_all(raw_bytes(BY_ID[AIDON_L3_ID])))
    assert reading.timestamp is not None
    assert reading.timestamp.utcoffset() == timedelta(0)


# -- APDUs without a frame (MQTT bridges) ---------------------------------------------


@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=lambda e: e["id"])
def test_feed_apdu_reads_what_the_frame_carried(entry: Entry) -> None:
    """The APDU alone, with or without its LLC header: the frame's reading, as "apdu"."""
    information = hdlc_information(raw_bytes(entry))
    want = [as_plain(r) for r in readings(decode_all(raw_bytes(entry), options_for(entry)))]
    for apdu in (information, information[3:]):
        decoder = StreamDecoder(options_for(entry))
        got = [as_plain(r) for r in readings(decoder.feed_apdu(apdu))]
        assert got == [{**reading, "transport": "apdu"} for reading in want]
        assert decoder.stats.frames == 1
        assert decoder.stats.bytes_in == len(apdu)


def test_feed_apdu_decrypts_and_checks_the_key() -> None:
    entry = BY_ID[MBUS_ID]
    apdu = b"".join(_mbus_fragments(raw_bytes(entry)))
    assert apdu[0] == 0xDB
    [reading] = readings(StreamDecoder(options_for(entry)).feed_apdu(apdu))
    assert reading.encrypted
    assert reasons(StreamDecoder().feed_apdu(apdu)) == [Reason.NO_KEY]
    wrong = options_for(entry, key=bytes(16))
    assert reasons(StreamDecoder(wrong).feed_apdu(apdu)) == [Reason.DECRYPT]


def _mbus_fragments(data: bytes) -> list[bytes]:
    fragments = []
    for raw in split_mbus_stream(data):
        frame = mbus.parse_frame(bytearray(raw), 0)
        assert isinstance(frame, mbus.MbusFrame)
        fragments.append(frame.fragment)
    return fragments


def test_feed_apdu_joins_block_transfer_blocks() -> None:
    """General-block-transfer blocks published one by one: one reading at the last."""
    entry = BY_ID[GBT_ID]
    blocks = [hdlc_information(frame) for frame in split_hdlc_stream(raw_bytes(entry))]
    assert len(blocks) == 3
    decoder = StreamDecoder(options_for(entry))
    events = [decoder.feed_apdu(block) for block in blocks]
    assert [len(readings(batch)) for batch in events] == [0, 0, 1]
    want = readings(decode_all(raw_bytes(entry), options_for(entry)))
    assert as_plain(events[-1][0])["values"] == as_plain(want[0])["values"]


@pytest.mark.parametrize(
    ("apdu", "reason"),
    [
        (b"", Reason.MALFORMED),
        (b"\x0f\x00\x00\x00\x01", Reason.MALFORMED),
        (b"\xc4\x01\xc1\x00", Reason.UNSUPPORTED),
    ],
)
def test_feed_apdu_reports_what_it_cannot_read(apdu: bytes, reason: str) -> None:
    assert reasons(StreamDecoder().feed_apdu(apdu)) == [reason]


def test_feed_apdu_leaves_the_stream_unlocked() -> None:
    """A bare APDU says nothing of the framing: a P1 telegram still decodes afterwards."""
    decoder = StreamDecoder()
    entry = BY_ID[KAMSTRUP_L2_ID]
    assert readings(decoder.feed_apdu(hdlc_information(raw_bytes(entry))))
    assert decoder.transport is None
    telegram = raw_bytes(P1_VALID[0])
    assert readings(decoder.feed(telegram) + decoder.flush())


def test_in_frame_tells_a_started_frame_from_a_finished_one() -> None:
    frame = raw_bytes(BY_ID[KAMSTRUP_L2_ID])
    decoder = StreamDecoder()
    assert not decoder.in_frame
    decoder.feed(frame[:1])
    assert not decoder.in_frame  # a lone flag: a closing flag as much as an opening one
    decoder.feed(frame[1:100])
    assert decoder.in_frame
    assert readings(decoder.feed(frame[100:]))
    assert not decoder.in_frame  # the closing flag is held for the next frame
    decoder.feed(frame[1:3])
    assert decoder.in_frame
    mbus_decoder = StreamDecoder()
    mbus_decoder.feed(b"\x68\x10")
    assert mbus_decoder.in_frame


# -- P1 in the field: gateway trailers, encrypted telegrams (issue #13) -----------------


def _more(entry_id: str) -> bytes:
    return more_meters.raw_bytes(more_meters.BY_ID[entry_id])


def test_gateway_lines_after_a_telegram_are_skipped_without_an_error() -> None:
    """EasyMeter's COM-1 gateway appends two lines after each Q3D telegram."""
    for entry_id in (more_meters.EASYMETER_FF, more_meters.EASYMETER_DE):
        capture = _more(entry_id)
        decoder = StreamDecoder()
        events = decoder.feed(capture * 3) + decoder.flush()
        assert len(readings(events)) == 3
        assert errors(events) == []
        assert decoder.stats.errors == {}
        # Skipped all the same: 10 + 33 bytes after each telegram.
        assert decoder.stats.bytes_skipped == 3 * 43


def test_junk_after_a_telegram_is_still_junk() -> None:
    telegram = _more(more_meters.EASYMETER_DE).split(b"  2581")[0]
    for junk in (
        b"\x00\x81\x92" * 10,  # not text: a wrong baud rate
        b"x" * 300,  # more than a gateway appends
    ):
        decoder = StreamDecoder()
        events = decoder.feed(telegram + junk + b"\r\n" + telegram) + decoder.flush()
        assert len(readings(events)) == 2
        assert reasons(events) == [Reason.FORMAT]


def test_a_trailer_needs_a_telegram_before_it() -> None:
    """After end of input a new stream starts: its first text line is junk."""
    capture = _more(more_meters.EASYMETER_DE)
    trailer = capture.split(b"!\r\n")[1]
    decoder = StreamDecoder()
    assert len(readings(decoder.feed(capture) + decoder.flush())) == 1
    assert reasons(decoder.feed(trailer) + decoder.flush()) == [Reason.FORMAT]
    fresh = StreamDecoder()
    assert reasons(fresh.feed(trailer) + fresh.flush()) == [Reason.FORMAT]


def test_unpadded_crc_telegram_is_read_not_reported_as_junk() -> None:
    decoder = StreamDecoder()
    events = decoder.feed(_more(more_meters.UNPADDED_CRC) * 2) + decoder.flush()
    assert len(readings(events)) == 2
    assert errors(events) == []
    assert decoder.stats.bytes_skipped == 0


_T210 = more_meters.BY_ID[more_meters.T210_ENCRYPTED]
_T210_KEY = bytes.fromhex(_T210["key_hex"])
_T210_AUTH = bytes.fromhex(_T210["auth_key_hex"])


def _sealed_telegram(telegram: bytes, *, auth_key: bytes | None, control: int = 0x30) -> bytes:
    """A telegram as an encrypted P1 port sends it, under the T210 capture's key."""
    return glo_ciphering(
        telegram,
        system_title=b"SAGgp\x00\x01\x02",
        invocation_counter=42,
        key=_T210_KEY,
        auth_key=auth_key,
        security_control=control,
    )


@pytest.mark.parametrize(
    ("key", "auth_key", "reason"),
    [
        (None, None, Reason.NO_KEY),
        (WRONG_KEY, None, Reason.DECRYPT),
        (WRONG_KEY, _T210_AUTH, Reason.DECRYPT),
        (_T210_KEY, WRONG_KEY, Reason.DECRYPT),
    ],
)
def test_encrypted_p1_without_the_right_keys_names_the_cause(
    key: bytes | None, auth_key: bytes | None, reason: str
) -> None:
    """One error per telegram, for its cause; never junk ("check the baud rate")."""
    decoder = StreamDecoder(DecoderOptions(key=key, auth_key=auth_key))
    capture = more_meters.raw_bytes(_T210)
    events = decoder.feed(b"\r\n".join([capture] * 3)) + decoder.flush()
    assert readings(events) == []
    assert reasons(events) == [reason] * 3
    assert decoder.stats.errors == {reason: 3}
    assert decoder.stats.bytes_skipped == 0


@pytest.mark.parametrize("auth_key", [_T210_AUTH, None])
def test_encrypted_p1_with_its_key_gives_the_plain_telegram_values(
    auth_key: bytes | None,
) -> None:
    """With the authentication key the tag is checked; without, the telegram's CRC."""
    decoder = StreamDecoder(DecoderOptions(key=_T210_KEY, auth_key=auth_key))
    events = decoder.feed(more_meters.raw_bytes(_T210)) + decoder.flush()
    [reading] = readings(events)
    plain = readings(decode_all(_more(more_meters.T210_PLAIN)))[0]
    assert as_plain(reading) == {**as_plain(plain), "encrypted": True}
    assert reading.system_title == b"SYSTEMID"
    assert decoder.transport == "p1"


def test_smarty_needs_only_its_encryption_key() -> None:
    """Smarty's fixed authentication key is tried when none is configured."""
    entry = more_meters.BY_ID[more_meters.SMARTY_ENCRYPTED]
    key = bytes.fromhex(entry["key_hex"])
    [reading] = readings(decode_all(more_meters.raw_bytes(entry), DecoderOptions(key=key)))
    assert reading.meter_id == entry["expected"]["meter_id"]
    assert reading.encrypted
    # The same key under another authentication key is refused.
    other = DecoderOptions(key=key, auth_key=_T210_AUTH)
    assert reasons(decode_all(more_meters.raw_bytes(entry), other)) == [Reason.DECRYPT]


def test_unchecked_decryption_needs_the_telegram_crc() -> None:
    """No authentication key and an unknown one sealed it: the CRC must vouch for the key."""
    options = DecoderOptions(key=_T210_KEY)
    telegram = _more(more_meters.T210_PLAIN)
    without_crc = telegram[: telegram.index(b"\n!") + 2] + b"\r\n"
    assert readings(decode_all(_sealed_telegram(without_crc, auth_key=None), options))
    unknown_auth = _sealed_telegram(without_crc, auth_key=WRONG_KEY)
    [error] = errors(decode_all(unknown_auth, options))
    assert error.reason == Reason.DECRYPT
    assert "wrong key" in error.detail
    bad_crc = telegram.replace(b"!7EF9", b"!7EF8")
    assert reasons(decode_all(_sealed_telegram(bad_crc, auth_key=WRONG_KEY), options)) == [
        Reason.DECRYPT
    ]
    # Checked by its tag, a telegram with a bad CRC is the meter's broken content: the
    # line delivered what the meter sealed, so no framing (CRC, baud rate) error.
    [error] = errors(decode_all(_sealed_telegram(bad_crc, auth_key=None), options))
    assert error.reason == Reason.MALFORMED
    assert error.detail == "decrypted P1 CRC mismatch: telegram says 7EF8, computed 7EF9"


def test_encrypted_p1_without_a_tag() -> None:
    """Security control 0x20: no tag; the telegram's CRC tells a wrong key."""
    apdu = _sealed_telegram(_more(more_meters.T210_PLAIN), auth_key=None, control=0x20)
    assert readings(decode_all(apdu, DecoderOptions(key=_T210_KEY)))
    assert reasons(decode_all(apdu, DecoderOptions(key=WRONG_KEY))) == [Reason.DECRYPT]


def test_encrypted_and_plain_telegrams_on_one_line() -> None:
    """Plain telegrams, encrypted ones and CR LF between them: each one read."""
    plain = _more(more_meters.T210_PLAIN)
    ciphered = more_meters.raw_bytes(_T210)
    stream = plain + ciphered + b"\r\n" + ciphered + plain
    for transport in ("auto", "p1"):
        options = DecoderOptions(transport=transport, key=_T210_KEY, auth_key=_T210_AUTH)
        events = decode_chunks([stream[i : i + 5] for i in range(0, len(stream), 5)], options)
        assert [r.encrypted for r in readings(events)] == [False, True, True, False]
        assert errors(events) == []


def test_hdlc_line_does_not_hunt_for_encrypted_telegrams() -> None:
    ciphered = more_meters.raw_bytes(_T210)
    options = DecoderOptions(transport="hdlc", key=_T210_KEY, auth_key=_T210_AUTH)
    assert reasons(decode_all(ciphered, options)) == [Reason.FORMAT]


def test_encrypted_telegram_cut_short_is_truncated() -> None:
    ciphered = more_meters.raw_bytes(_T210)
    decoder = StreamDecoder(DecoderOptions(key=_T210_KEY))
    assert decoder.feed(ciphered[:-20]) == []
    assert decoder.in_frame
    assert reasons(decoder.flush()) == [Reason.TRUNCATED]


def test_feed_apdu_reads_an_encrypted_telegram() -> None:
    """An MQTT bridge publishing the Smarty's bytes as they come: the same reading."""
    decoder = StreamDecoder(DecoderOptions(key=_T210_KEY, auth_key=_T210_AUTH))
    [reading] = readings(decoder.feed_apdu(more_meters.raw_bytes(_T210)))
    assert reading.transport == "apdu"
    assert reading.encrypted
    assert decoder.transport is None


def test_ciphered_notification_in_a_damaged_frame_gives_no_reading() -> None:
    """A bare ciphered APDU stands on a P1 line only: in a broken HDLC frame it is junk.

    Its tag still matches (the APDU inside is intact), but the frame around it failed
    its checks, and a reading from a frame that failed them is never given.
    """
    entry = BY_ID[MBUS_ID]
    frame = bytearray(hdlc_apdu(_gcm_frame()))
    frame[3] ^= 0x01  # the HDLC header check fails
    options = options_for(entry, auth_key=AUTH_KEY)
    events = decode_all(bytes(frame), options)
    assert readings(events) == []
    assert Reason.DECRYPT not in reasons(events)
    # The same APDU on its own after a P1 telegram: not a telegram either.
    telegram = _more(more_meters.T210_PLAIN)
    events = decode_all(telegram + _gcm_frame() + telegram, options)
    assert len(readings(events)) == 2
    assert all(reading.transport == "p1" and not reading.encrypted for reading in readings(events))


@pytest.mark.parametrize(
    ("lost", "noise"),
    [(1, b""), (50, b""), (300, b""), (50, b"\xdb\x08\x00")],
)
def test_encrypted_telegram_cut_short_does_not_take_the_next_one_along(
    lost: int, noise: bytes
) -> None:
    """Bytes lost mid-telegram: its length runs into the next one, which still decodes.

    A DB 08 in the lost telegram's ciphertext that opens no header is passed over.
    """
    ciphered = more_meters.raw_bytes(_T210)
    damaged = ciphered[:100] + noise + ciphered[100 + lost :]
    decoder = StreamDecoder(DecoderOptions(key=_T210_KEY, auth_key=_T210_AUTH))
    events: list[Any] = []
    for chunk in (damaged, ciphered, ciphered):
        events += decoder.feed(chunk)
    events += decoder.flush()
    assert len(readings(events)) == 2
    assert reasons(events) == [Reason.DECRYPT]
