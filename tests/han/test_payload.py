"""PayloadReader: every real capture in every form a bridge publishes gives the readings
the raw capture gives; messages without a frame are counted and ignored.

The reference is the StreamDecoder fed the capture as it came off the port; each
form is unwrapped and fed the way the MQTT source feeds the hub (stream bytes to
feed(), a bare APDU to feed_apdu()).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
import itertools
import json
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port.han import hdlc, mbus
from custom_components.han_port.han.apdu import strip_llc
from custom_components.han_port.han.cosem import Hdlc
from custom_components.han_port.han.model import Event
from custom_components.han_port.han.payload import (
    CONTENT_APDU,
    CONTENT_CONTINUATION,
    CONTENT_HDLC,
    CONTENT_HDLC_NO_FLAGS,
    CONTENT_MBUS,
    CONTENT_P1,
    ENCODING_BASE64,
    ENCODING_BINARY,
    ENCODING_HEX,
    ENCODING_TEXT,
    IGNORED_EMPTY,
    IGNORED_JSON,
    IGNORED_NO_FRAME,
    IGNORED_TEXT,
    IGNORED_TOO_LARGE,
    MAX_PAYLOAD,
    PayloadForm,
    PayloadReader,
    Unwrapped,
    decode_base64,
    decode_hex,
    frame_content,
)
from custom_components.han_port.han.stream import StreamDecoder
from devtools.corpus import BY_ID, Entry, raw_bytes

from .conftest import (
    GBT_ID,
    HDLC_SINGLE,
    KAMSTRUP_L2_ID,
    MBUS_ID,
    P1_VALID,
    as_plain,
    bounded,
    decode_all,
    hdlc_frame,
    options_for,
    readings,
)

FAST = bounded(200)


def feed(messages: Sequence[bytes], entry: Entry) -> tuple[list[Event], PayloadReader]:
    """Unwrap `messages` in turn and decode them as the MQTT source does."""
    decoder = StreamDecoder(options_for(entry))
    reader = PayloadReader()
    events: list[Event] = []
    for message in messages:
        unwrapped = reader.unwrap(message, in_frame=decoder.in_frame)
        if unwrapped.apdu is not None:
            events += decoder.feed_apdu(unwrapped.apdu)
        else:
            events += decoder.feed(unwrapped.stream)
    return events + decoder.flush(), reader


def expected_readings(entry: Entry) -> list[dict[str, Any]]:
    return [as_plain(r) for r in readings(decode_all(raw_bytes(entry), options_for(entry)))]


def same_values(got: list[Event], entry: Entry) -> bool:
    """The readings match the raw capture's in everything but the transport label."""

    def plain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**event, "transport": None} for event in events]

    want = expected_readings(entry)
    return bool(want) and plain([as_plain(r) for r in readings(got)]) == plain(want)


def hdlc_frames(data: bytes) -> list[bytes]:
    """The frames of a capture of back-to-back HDLC frames, each with both flags."""
    frames, pos, buf = [], 0, bytearray(data)
    while pos < len(buf) - 1:
        frame = hdlc.parse_frame(buf, pos)
        assert isinstance(frame, hdlc.HdlcFrame)
        frames.append(bytes(buf[pos : frame.end + 1]))
        pos = frame.end
        while pos + 1 < len(buf) and buf[pos + 1] == Hdlc.FLAG:
            pos += 1  # each frame has its own opening flag
    return frames


def information(frame: bytes) -> bytes:
    parsed = hdlc.parse_frame(bytearray(frame), 0)
    assert isinstance(parsed, hdlc.HdlcFrame)
    return parsed.information


def pretty_hex(data: bytes) -> bytes:
    """ESPHome's format_hex_pretty: upper case, dots, and the length in brackets."""
    return (".".join(f"{byte:02X}" for byte in data) + f" ({len(data)})").encode()


# Every form a frame (or a stream of frames) can take on the wire, one message each.
FRAME_FORMS: dict[str, Callable[[bytes], bytes]] = {
    "binary": lambda data: data,
    "hex upper": lambda data: data.hex().upper().encode(),
    "hex lower": lambda data: data.hex().encode(),
    "hex spaced": lambda data: data.hex(" ").upper().encode(),
    "hex lines": lambda data: data.hex("\n", 16).encode() + b"\n",
    "hex esphome pretty": pretty_hex,
    "hex 0x": lambda data: b"0x" + data.hex().encode(),
    "base64": base64.b64encode,
    "json data hex (amsreader)": lambda data: json.dumps({"data": data.hex().upper()}).encode(),
    "json raw base64": lambda data: json.dumps({"raw": base64.b64encode(data).decode()}).encode(),
    "json Frame any case": lambda data: json.dumps({"Frame": data.hex()}).encode(),
    "json unknown key among others": lambda data: json.dumps(
        {"id": "a4cf12", "rssi": -61, "uptime": 1234, "bytes": data.hex()}
    ).encode(),
    "json string": lambda data: json.dumps(data.hex()).encode(),
    "json urlsafe base64": lambda data: json.dumps(
        {"payload": base64.urlsafe_b64encode(data).decode()}
    ).encode(),
}


@pytest.mark.parametrize("form", FRAME_FORMS)
@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=lambda e: e["id"])
def test_every_hdlc_capture_in_every_form(entry: Entry, form: str) -> None:
    """One message per frame, in any encoding and wrapping: the capture's readings."""
    events, reader = feed([FRAME_FORMS[form](raw_bytes(entry))], entry)
    assert same_values(events, entry)
    assert reader.ignored == {}
    assert [f.content for f in reader.forms] == [CONTENT_HDLC]


@pytest.mark.parametrize("form", ["binary", "hex upper", "json data hex (amsreader)"])
@pytest.mark.parametrize("entry_id", [MBUS_ID, GBT_ID])
def test_multi_frame_messages_in_every_form(entry_id: str, form: str) -> None:
    """A two-segment M-Bus message and a three-frame block transfer: one message each."""
    entry = BY_ID[entry_id]
    events, _ = feed([FRAME_FORMS[form](raw_bytes(entry))], entry)
    assert same_values(events, entry)


@pytest.mark.parametrize("form", ["binary", "hex spaced", "json data hex (amsreader)"])
@pytest.mark.parametrize("entry_id", [MBUS_ID, GBT_ID])
def test_one_message_per_frame_of_a_multi_frame_message(entry_id: str, form: str) -> None:
    """Bridges publish each frame (segment, block) as it comes: joined by the decoder."""
    entry = BY_ID[entry_id]
    data = raw_bytes(entry)
    if entry["transport"] == "mbus":
        frames, pos = [], 0
        while pos < len(data):
            parsed = mbus.parse_frame(bytearray(data), pos)
            assert isinstance(parsed, mbus.MbusFrame)
            frames.append(data[pos : parsed.end])
            pos = parsed.end
    else:
        frames = hdlc_frames(data)
    assert len(frames) > 1
    events, reader = feed([FRAME_FORMS[form](frame) for frame in frames], entry)
    assert same_values(events, entry)
    assert sum(reader.forms.values()) == len(frames)


@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=lambda e: e["id"])
def test_hdlc_without_flags(entry: Entry) -> None:
    """A bridge that strips the 7E flags: the length field says the frame is whole."""
    frame = raw_bytes(entry)
    events, reader = feed([frame[1:-1], frame[1:-1].hex().encode()], entry)
    assert [as_plain(r) for r in readings(events)] == expected_readings(entry) * 2
    assert {f.content for f in reader.forms} == {CONTENT_HDLC_NO_FLAGS}


def test_frame_without_closing_flag_decodes_at_once() -> None:
    """No closing flag: the reading comes with this message, not with the next one."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    decoder = StreamDecoder(options_for(entry))
    unwrapped = PayloadReader().unwrap(frame[:-1])
    assert as_plain(readings(decoder.feed(unwrapped.stream))[0]) == expected_readings(entry)[0]


def test_tibber_pulse_leading_byte() -> None:
    """Some Pulse firmware sends a byte before the 7E: skipped, not reported as junk."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    events, reader = feed([b"\x08" + raw_bytes(entry)], entry)
    assert same_values(events, entry)
    assert [e for e in events if not hasattr(e, "values")] == []
    assert reader.ignored == {}


APDU_FORMS: dict[str, Callable[[bytes], bytes]] = {
    "binary": lambda apdu: apdu,
    "binary behind LLC": lambda apdu: b"\xe6\xe7\x00" + apdu,
    "hex": lambda apdu: apdu.hex().upper().encode(),
    "json data hex": lambda apdu: json.dumps({"data": apdu.hex()}).encode(),
    "json base64": lambda apdu: json.dumps({"apdu": base64.b64encode(apdu).decode()}).encode(),
}


@pytest.mark.parametrize("form", APDU_FORMS)
@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=lambda e: e["id"])
def test_bare_data_notification(entry: Entry, form: str) -> None:
    """The APDU the frame carried, published on its own: the same values."""
    apdu = strip_llc(information(raw_bytes(entry)))
    assert apdu[0] == 0x0F
    events, reader = feed([APDU_FORMS[form](apdu)], entry)
    assert same_values(events, entry)
    assert [r.transport for r in readings(events)] == ["apdu"]
    assert [f.content for f in reader.forms] == [CONTENT_APDU]


@pytest.mark.parametrize("form", APDU_FORMS)
def test_bare_ciphered_apdu(form: str) -> None:
    """The glo-ciphering APDU of the encrypted M-Bus capture, joined from its segments."""
    entry = BY_ID[MBUS_ID]
    data = bytearray(raw_bytes(entry))
    apdu, pos = b"", 0
    while pos < len(data):
        parsed = mbus.parse_frame(data, pos)
        assert isinstance(parsed, mbus.MbusFrame)
        apdu += parsed.fragment
        pos = parsed.end
    assert apdu[0] == 0xDB
    events, _ = feed([APDU_FORMS[form](apdu)], entry)
    assert same_values(events, entry)
    assert [r.encrypted for r in readings(events)] == [True]


P1_FORMS: dict[str, Callable[[bytes], bytes]] = {
    "text (ESPHome dsmr telegram)": lambda text: text,
    "text after a line break": lambda text: b"\r\n" + text,
    "hex (amsreader)": lambda text: text.hex().upper().encode(),
    "json telegram": lambda text: json.dumps({"telegram": text.decode()}).encode(),
    "json data hex": lambda text: json.dumps({"data": text.hex()}).encode(),
}


@pytest.mark.parametrize("form", P1_FORMS)
@pytest.mark.parametrize("entry", P1_VALID, ids=lambda e: e["id"])
def test_every_p1_telegram_in_every_form(entry: Entry, form: str) -> None:
    events, reader = feed([P1_FORMS[form](raw_bytes(entry))], entry)
    assert same_values(events, entry)
    assert [f.content for f in reader.forms] == [CONTENT_P1]


# -- frames split over messages --------------------------------------------------------


@pytest.mark.parametrize("form", ["binary", "hex upper", "hex spaced", "json data hex (amsreader)"])
@pytest.mark.parametrize("cuts", [(2,), (3,), (40,), (40, 41, 200), (300,)])
def test_frame_split_over_messages(form: str, cuts: tuple[int, ...]) -> None:
    """Pieces of one frame, each published on its own, in the same form: one reading.

    The first piece must hold the flag and the format byte (7E Ax) to be known as
    the start of a frame; a piece that is the flag alone opens nothing.
    """
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    bounds = [0, *cuts, len(frame)]
    pieces = [frame[a:b] for a, b in itertools.pairwise(bounds)]
    events, reader = feed([FRAME_FORMS[form](piece) for piece in pieces], entry)
    assert same_values(events, entry)
    assert reader.ignored == {}
    assert sum(f.content == CONTENT_CONTINUATION for f in reader.forms.elements()) == len(cuts)


def test_lone_closing_flag_after_a_whole_frame() -> None:
    """A frame whose closing flag came in the next message: read at once, the flag ignored."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    events, reader = feed([frame[:-1], frame[-1:]], entry)
    assert same_values(events, entry)
    assert reader.ignored == {IGNORED_TEXT: 1}


@pytest.mark.parametrize("entry", P1_VALID, ids=lambda e: e["id"])
def test_p1_telegram_split_over_messages(entry: Entry) -> None:
    text = raw_bytes(entry)
    middle = len(text) // 2
    events, _ = feed([text[:middle], text[middle:]], entry)
    assert same_values(events, entry)


def test_status_json_between_pieces_of_a_raw_frame() -> None:
    """The Pulse's status JSON arrives between two pieces: ignored, the frame completes."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    status = json.dumps({"status": {"rssi": -60, "Uptime": 1000}}).encode()
    events, reader = feed([frame[:100], status, frame[100:]], entry)
    assert same_values(events, entry)
    assert reader.ignored == {IGNORED_JSON: 1}


def test_base64_pieces_continue_a_base64_frame() -> None:
    """A base64 piece of a frame opens no frame by itself; it continues the open one."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    messages = [base64.b64encode(frame[:150]), base64.b64encode(frame[150:])]
    events, reader = feed(messages, entry)
    assert same_values(events, entry)
    forms = list(reader.forms.elements())
    assert forms == [
        PayloadForm(ENCODING_BASE64, CONTENT_HDLC),
        PayloadForm(ENCODING_BASE64, CONTENT_CONTINUATION),
    ]


def test_continuation_only_while_a_frame_is_open() -> None:
    """The same piece without an open frame is not a frame: ignored, nothing decoded."""
    frame = raw_bytes(BY_ID[KAMSTRUP_L2_ID])
    reader = PayloadReader()
    reader.unwrap(frame[:100])
    assert reader.unwrap(frame[100:], in_frame=False).ignored == IGNORED_NO_FRAME
    assert reader.unwrap(frame[100:].hex().encode(), in_frame=False).ignored == IGNORED_NO_FRAME


# -- messages that are not frames --------------------------------------------------------

NOT_FRAMES: dict[str, tuple[bytes, str]] = {
    "empty (a retained message cleared)": (b"", IGNORED_EMPTY),
    "whitespace": (b" \r\n", IGNORED_EMPTY),
    "tibber status json": (
        json.dumps({"status": {"rssi": -60, "ssid": "IOT", "Build": "1.2.5"}}).encode(),
        IGNORED_JSON,
    ),
    "amsreader values json": (
        json.dumps({"id": "7c9ebd1a2b3c", "P": 1703, "U1": 231.2, "name": "ams-3c"}).encode(),
        IGNORED_JSON,
    ),
    "json with a word": (json.dumps({"state": "online"}).encode(), IGNORED_JSON),
    "json number string": (json.dumps("1703").encode(), IGNORED_JSON),
    "hello": (b"H", IGNORED_TEXT),
    "debug text": (b"[I] HDLC: unknown tag 0x13, skipping", IGNORED_TEXT),
    "a number": (b"1703", IGNORED_TEXT),
    "a decimal": (b"230.5", IGNORED_TEXT),
    "a negative number": (b"-12", IGNORED_TEXT),
    "a word that is base64": (b"true", IGNORED_TEXT),
    "json array": (b"[1, 2, 3]", IGNORED_TEXT),
    "broken json": (b'{"data": "7EA0', IGNORED_TEXT),
    "amsreader notification body hex": (
        bytes.fromhex("0219" + "0A0E4B616D73747275705F5630303031" * 2).hex().upper().encode(),
        IGNORED_NO_FRAME,
    ),
    "binary junk": (bytes(range(0x80, 0xC0)), IGNORED_NO_FRAME),
    "7E without a frame format": (b"\x7e\x01\x02\x03\x7e\x90", IGNORED_NO_FRAME),
    "too large": (b"7E" * (MAX_PAYLOAD // 2 + 1), IGNORED_TOO_LARGE),
    "utf-8 text": ("Måler tilkoblet".encode(), IGNORED_NO_FRAME),
}


@pytest.mark.parametrize("name", NOT_FRAMES)
def test_messages_without_a_frame_are_counted_and_ignored(name: str) -> None:
    payload, kind = NOT_FRAMES[name]
    reader = PayloadReader()
    for _ in range(3):
        assert reader.unwrap(payload) == Unwrapped(ignored=kind)
    assert reader.ignored == {kind: 3}
    assert reader.messages == 3
    assert not reader.forms


def test_junk_between_frames_yields_no_event() -> None:
    """Frames and every kind of non-frame interleaved: readings, and not one frame error."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    junk = [payload for payload, _ in NOT_FRAMES.values()]
    messages = [message for payload in junk for message in (payload, frame.hex().encode())]
    events, reader = feed(messages, entry)
    assert [as_plain(event) for event in events] == expected_readings(entry) * len(junk)
    assert sum(reader.ignored.values()) == len(junk)


# -- the pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"7ea0", b"\x7e\xa0"),
        (b" 7E A0\n", b"\x7e\xa0"),
        (b"7E:A0:2B", b"\x7e\xa0\x2b"),
        (b"7E.A0.2B.41.08 (5)", b"\x7e\xa0\x2b\x41\x08"),
        (b"0x7EA0", b"\x7e\xa0"),
        (b"7EA", None),
        (b"7G", None),
        (b"", None),
        (b"(5)", None),
    ],
)
def test_decode_hex(text: bytes, expected: bytes | None) -> None:
    assert decode_hex(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"fqA=", b"\x7e\xa0"),
        (b"fqAr\n", b"\x7e\xa0\x2b"),
        (b"_-__", b"\xff\xef\xff"),
        (b"fqA", None),
        (b"fq=A", None),
        (b"", None),
        (b"f!A=", None),
    ],
)
def test_decode_base64(text: bytes, expected: bytes | None) -> None:
    assert decode_base64(text) == expected


@pytest.mark.parametrize(
    ("data", "content"),
    [
        (b"\x7e\xa0\x2b", CONTENT_HDLC),
        (b"\x7e\x7e\xa0\x2b", CONTENT_HDLC),
        (b"\x7e\x7e", None),
        (b"\xa0\x03\x41", CONTENT_HDLC_NO_FLAGS),
        (b"\xa0\x04\x41", None),
        (b"\x68\x10\x10\x68", CONTENT_MBUS),
        (b"\x68\x10\x11\x68", None),
        (b"/ISK5", CONTENT_P1),
        (b"\x0f\x00\x00\x00\x01\x00\x02", CONTENT_APDU),
        (b"\x0f\x00\x00\x00\x01\x00", None),
        (b"\xdb\x08" + bytes(14), CONTENT_APDU),
        (b"\xdb\x07" + bytes(14), None),
        (b"\xe6\xe7\x00\x0f\x00\x00\x00\x01\x00\x02", CONTENT_APDU),
        (b"\xe6\xe7\x00\xe0\xc0\x00\x01\x00\x00\x05", CONTENT_APDU),
        (b"\xe0\xc0\x00\x01\x00\x00\x05", None),
        (b"", None),
    ],
)
def test_frame_content(data: bytes, content: str | None) -> None:
    assert frame_content(data) == content


def test_form_names() -> None:
    """What the config flow and diagnostics show."""
    assert str(PayloadForm(ENCODING_BINARY, CONTENT_HDLC)) == "binary, hdlc"
    assert str(PayloadForm(ENCODING_HEX, CONTENT_HDLC, "data")) == 'JSON "data": hex, hdlc'
    assert str(PayloadForm(ENCODING_TEXT, CONTENT_P1, "")) == "JSON string: text, p1"


def test_hdlc_stream_of_frames_in_one_message() -> None:
    """Several frames in one hex message (a bridge that batches): each one read."""
    entry = BY_ID[KAMSTRUP_L2_ID]
    frame = raw_bytes(entry)
    events, _ = feed([(frame + frame[1:]).hex().encode()], entry)
    assert [as_plain(r) for r in readings(events)] == expected_readings(entry) * 2


def test_built_frame_without_closing_flag_in_hex() -> None:
    """hex of a frame that lacks its closing flag: the flag is put back."""
    information = b"\xe6\xe7\x00" + strip_llc(information_of(KAMSTRUP_L2_ID))
    frame = hdlc_frame(information, closing_flag=False)
    unwrapped = PayloadReader().unwrap(frame.hex().encode())
    assert unwrapped.stream == frame + b"\x7e"


def information_of(entry_id: str) -> bytes:
    return information(raw_bytes(BY_ID[entry_id]))


@FAST
@given(payload=st.binary(max_size=600), in_frame=st.booleans(), opened=st.booleans())
def test_any_payload_is_unwrapped_without_raising(
    payload: bytes, in_frame: bool, opened: bool
) -> None:
    """Whatever a topic carries: a result, never an exception, and exactly one count."""
    reader = PayloadReader()
    if opened:
        reader.unwrap(raw_bytes(BY_ID[KAMSTRUP_L2_ID])[:50])
    before = sum(reader.forms.values()) + sum(reader.ignored.values())
    result = reader.unwrap(payload, in_frame=in_frame)
    assert (result.form is None) == (result.ignored is not None)
    assert sum(reader.forms.values()) + sum(reader.ignored.values()) == before + 1
    decoder = StreamDecoder()
    if result.apdu is not None:
        decoder.feed_apdu(result.apdu)
    else:
        decoder.feed(result.stream)


@FAST
@given(text=st.text(max_size=300))
def test_any_json_string_field_is_unwrapped_without_raising(text: str) -> None:
    reader = PayloadReader()
    for payload in (json.dumps({"data": text}), json.dumps(text), json.dumps({text: text})):
        result = reader.unwrap(payload.encode())
        assert (result.form is None) == (result.ignored is not None)
