"""MQTT payloads in, what the StreamDecoder takes out.

ESP readers and bridges publish a meter's frames in many shapes. This module
recognises them message by message, without being told which one a reader uses:

    encoding   raw bytes | hex text | base64 text | P1 text as it is
    wrapped    bare, or as a string field of a JSON object (or a JSON string)
    content    HDLC frame (with or without its 7E flags) | M-Bus long frame |
               bare DLMS APDU (0F data-notification, DB general-glo-ciphering,
               optionally behind the E6 E7 00 LLC header) | P1 telegram

What real readers send (checked in their sources):
- amsreader (AmsToMqttBridge) firmware: "HEX dump" publishes upper-case hex of
  every HDLC/M-Bus frame and P1 telegram; its JSON and Home Assistant formats,
  with raw data on, publish {"data": "<HEX>"} to <topic>/data and its Raw formats
  bare hex there. After each frame it also publishes the decoded (and
  decrypted) notification body on its own: hex that opens no frame, ignored here.
- Tibber Pulse on a local broker: raw HDLC frames as bytes (some firmware puts
  one byte before the 7E), and {"status": {...}} JSON and short text messages on
  the same topic.
- ESPHome: the dsmr component's telegram text sensor publishes the P1 telegram
  as text; raw-frame text sensors use format_hex (lower case, no separators) or
  format_hex_pretty ("7E.A0.2B... (43)": dots and a length suffix).

JSON shapes understood: an object whose string field carries the frame, looked
for first under the keys in JSON_KEYS (any case), then in every other top-level
string field; or a JSON string. Nested objects and byte arrays are not searched.

Messages that carry no frame (status JSON, debug text, a retained leftover) are
counted by kind in PayloadReader.ignored and otherwise ignored. A frame split
over several messages is passed on piece by piece when the caller says the
decoder holds the start of a frame (`in_frame`): the pieces are decoded in the
encoding of the message that opened the frame, and the StreamDecoder joins them.
A bare APDU has no length the stream could wait for, so it must come whole.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass
import json
import re
from typing import Final

from .apdu import strip_llc
from .cosem import ApduTag, Hdlc, Mbus

# Encodings.
ENCODING_BINARY: Final = "binary"
ENCODING_HEX: Final = "hex"
ENCODING_BASE64: Final = "base64"
ENCODING_TEXT: Final = "text"  # a P1 telegram as it came off the port

# What the decoded bytes hold.
CONTENT_HDLC: Final = "hdlc"
CONTENT_HDLC_NO_FLAGS: Final = "hdlc without flags"
CONTENT_MBUS: Final = "mbus"
CONTENT_APDU: Final = "apdu"
CONTENT_P1: Final = "p1"
CONTENT_CONTINUATION: Final = "continuation"  # the rest of a frame begun earlier

# Why a message was ignored (stable strings: diagnostics and the config flow show them).
IGNORED_EMPTY: Final = "empty"
IGNORED_TOO_LARGE: Final = "too large"
IGNORED_JSON: Final = "json without a frame"
IGNORED_TEXT: Final = "text"
IGNORED_NO_FRAME: Final = "data without a frame"

# Where a JSON object keeps the frame, in the order they are tried. "data" is
# amsreader's; the others are what bridges and hand-written ESP sketches use.
JSON_KEYS: Final = ("data", "raw", "frame", "payload", "hex", "telegram", "message", "value")

# A P1 telegram is at most a few KiB; an HDLC message of segments a few more. Hex
# doubles that, JSON adds little: anything bigger is not a meter's frame.
MAX_PAYLOAD: Final = 65536

_HDLC_FLAG: Final = int(Hdlc.FLAG)
_HDLC_FORMAT_TYPE_3: Final = int(Hdlc.FORMAT_TYPE_3)
_MBUS_START: Final = int(Mbus.START)
# The shortest data-notification: tag, invoke id (4), date-time (00), body (>= 1).
_MIN_NOTIFICATION: Final = 7
# Tag, system title length 08, title (8), length (>= 1), security control, counter (4).
_MIN_GLO_CIPHERING: Final = 16
_SYSTEM_TITLE_LENGTH: Final = 8

# Separators seen between hex bytes: spaces and line breaks, ESPHome's dots, colons,
# dashes, commas; ESPHome's format_hex_pretty appends " (length)".
_HEX_SEPARATORS: Final = re.compile(rb"[\s.:,\-]+")
_HEX_LENGTH_SUFFIX: Final = re.compile(rb"\s*\(\d+\)\s*$")
_HEX_DIGITS: Final = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/_\-]+={0,2}")
# Frame starts found after a few bytes of something else (the Tibber Pulse's
# leading byte): an HDLC flag before a frame format type 3 field, or an M-Bus
# long frame header (68 L L 68).
_EMBEDDED_START: Final = re.compile(rb"\x7e[\xa0-\xaf]|\x68(.)\1\x68", re.DOTALL)
# Junk before a frame that is skipped (the Tibber Pulse puts one byte there); further
# in, a 7E A0 is as likely a value inside something else.
_MAX_PREFIX: Final = 8
# Hex shorter than this that opens no frame is counted as text (a number), not data.
_MIN_HEX_DATA: Final = 8
# Text: printable ASCII and the line breaks and tabs a telegram or a log line holds.
_TEXT: Final = re.compile(rb"[\x20-\x7e\r\n\t]*")


@dataclass(frozen=True, slots=True)
class PayloadForm:
    """How one message carried its frame."""

    encoding: str
    content: str
    json_key: str | None = None  # the field of a JSON object ("" for a JSON string)

    def __str__(self) -> str:
        text = f"{self.encoding}, {self.content}"
        if self.json_key is None:
            return text
        return f'JSON "{self.json_key}": {text}' if self.json_key else f"JSON string: {text}"


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """What one message gave: bytes for StreamDecoder.feed, an APDU for feed_apdu, or nothing.

    `ignored` names the kind of a message that carried no frame.
    """

    form: PayloadForm | None = None
    stream: bytes = b""
    apdu: bytes | None = None
    ignored: str | None = None


def frame_content(data: bytes) -> str | None:
    """What `data` opens with: a CONTENT_* value, or None when it opens no frame."""
    if not data:
        return None
    first = data[0]
    if first == _HDLC_FLAG:
        rest = data.lstrip(b"\x7e")  # idle flags before the frame
        return CONTENT_HDLC if rest[:1] and rest[0] & 0xF0 == _HDLC_FORMAT_TYPE_3 else None
    if first & 0xF0 == _HDLC_FORMAT_TYPE_3 and len(data) >= 2:
        # A frame whose flags the bridge dropped: its length field (format to FCS)
        # must cover the message exactly, or this is not a frame at all.
        length = ((first & 0x07) << 8) | data[1]
        return CONTENT_HDLC_NO_FLAGS if length == len(data) else None
    if first == _MBUS_START:
        ok = len(data) >= 4 and data[1] == data[2] and data[3] == _MBUS_START
        return CONTENT_MBUS if ok else None
    if data.lstrip()[:1] == b"/":
        # Some captures keep the line break that preceded the telegram.
        return CONTENT_P1
    apdu = strip_llc(data)
    tag = apdu[0] if apdu else None
    if tag == ApduTag.DATA_NOTIFICATION and len(apdu) >= _MIN_NOTIFICATION:
        return CONTENT_APDU
    if (
        tag == ApduTag.GENERAL_GLO_CIPHERING
        and len(apdu) >= _MIN_GLO_CIPHERING
        and apdu[1] == _SYSTEM_TITLE_LENGTH
    ):
        return CONTENT_APDU
    if (
        tag == ApduTag.GENERAL_BLOCK_TRANSFER
        and len(apdu) >= _MIN_NOTIFICATION
        and apdu is not data
    ):
        # A block-transfer block alone is taken only behind the LLC header: bare,
        # E0 is too common a first byte to mean anything.
        return CONTENT_APDU
    return None


def decode_hex(text: bytes) -> bytes | None:
    """Bytes from hex text with or without separators; None when it is not hex."""
    body = _HEX_SEPARATORS.sub(b"", _HEX_LENGTH_SUFFIX.sub(b"", text.strip()))
    if body[:2] in (b"0x", b"0X"):
        body = body[2:]
    if not _HEX_DIGITS.fullmatch(body):
        return None
    return bytes.fromhex(body.decode("ascii"))


def decode_base64(text: bytes) -> bytes | None:
    """Bytes from standard or URL-safe base64 text; None when it is not base64."""
    body = b"".join(text.split())
    if not body or len(body) % 4 or not _BASE64.fullmatch(body):
        return None
    try:
        if b"-" in body or b"_" in body:
            return base64.urlsafe_b64decode(body)
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        return None


def _is_text(payload: bytes) -> bool:
    return _TEXT.fullmatch(payload) is not None


def _decode(text: bytes, encoding: str) -> bytes | None:
    """`text` decoded as `encoding` (binary and text pass through)."""
    if encoding == ENCODING_HEX:
        return decode_hex(text)
    if encoding == ENCODING_BASE64:
        return decode_base64(text)
    return text


class PayloadReader:
    """Unwraps MQTT messages one at a time; counts the forms seen and what was ignored."""

    def __init__(self) -> None:
        self.messages = 0
        self.forms: Counter[PayloadForm] = Counter()
        self.ignored: Counter[str] = Counter()
        # The form of the last message that carried frame bytes: a message that
        # continues a split frame is decoded the same way.
        self._open: PayloadForm | None = None

    def unwrap(self, payload: bytes, *, in_frame: bool = False) -> Unwrapped:
        """What `payload` carries. `in_frame`: the decoder holds the start of a frame."""
        self.messages += 1
        result = self._unwrap(bytes(payload), in_frame)
        if result.form is not None:
            self.forms[result.form] += 1
            self._open = result.form
        elif result.ignored is not None:
            self.ignored[result.ignored] += 1
        return result

    def _unwrap(self, payload: bytes, in_frame: bool) -> Unwrapped:
        if not payload.strip():
            return Unwrapped(ignored=IGNORED_EMPTY)
        if len(payload) > MAX_PAYLOAD:
            return Unwrapped(ignored=IGNORED_TOO_LARGE)
        parsed = _json(payload) if payload.lstrip()[:1] in (b"{", b'"') else None
        if in_frame and self._open is not None:
            rest = _continuation(payload, parsed, self._open)
            if rest is not None:
                return rest
        if parsed is not None:
            return _from_json(parsed)
        if _is_text(payload):
            return _from_text(payload)
        return _from_bytes(payload, ENCODING_BINARY, None)


def _continuation(payload: bytes, parsed: object | None, opened: PayloadForm) -> Unwrapped | None:
    """The rest of a frame, decoded like the message that began it (None: it is not)."""
    if opened.json_key is not None:
        text = None if parsed is None else _field(parsed, opened.json_key)
    else:
        # Status JSON between the pieces of a raw frame (the Tibber Pulse sends
        # both on one topic) is not a piece of it.
        text = None if parsed is not None else payload
    if text is None:
        return None
    data = _decode(text, opened.encoding)
    if not data or (opened.encoding == ENCODING_TEXT and not _is_text(data)):
        return None
    form = PayloadForm(opened.encoding, CONTENT_CONTINUATION, opened.json_key)
    return Unwrapped(form, stream=data)


def _json(payload: bytes) -> object | None:
    try:
        parsed: object = json.loads(payload)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return parsed


def _field(parsed: object, key: str) -> bytes | None:
    """The string under `key` ("": the JSON string itself), as bytes."""
    value = parsed if key == "" else parsed.get(key) if isinstance(parsed, dict) else None
    return value.encode("utf-8") if isinstance(value, str) else None


def _from_json(parsed: object) -> Unwrapped:
    candidates: list[tuple[str, str]] = []
    if isinstance(parsed, str):
        candidates.append(("", parsed))
    elif isinstance(parsed, dict):
        strings = [(key, value) for key, value in parsed.items() if isinstance(value, str)]
        by_name = {key.lower(): (key, value) for key, value in strings}
        preferred = [by_name[name] for name in JSON_KEYS if name in by_name]
        candidates += preferred + [item for item in strings if item not in preferred]
    for key, value in candidates:
        text = value.encode("utf-8")
        found = _from_text(text, key)
        if found.form is not None:
            return found
    return Unwrapped(ignored=IGNORED_JSON)


def _from_text(text: bytes, json_key: str | None = None) -> Unwrapped:
    """Text: a P1 telegram, hex, base64, or something that is not a frame."""
    stripped = text.lstrip()
    if stripped[:1] == b"/":
        # The telegram's CRC covers its exact bytes from "/": pass them on untouched.
        return Unwrapped(PayloadForm(ENCODING_TEXT, CONTENT_P1, json_key), stream=stripped)
    data = decode_hex(text)
    if data is not None:
        found = _from_bytes(data, ENCODING_HEX, json_key)
        if found.form is None and len(data) < _MIN_HEX_DATA:
            # "1703", "230.5": a number some sensor publishes, not frame data.
            return Unwrapped(ignored=IGNORED_TEXT)
        return found
    data = decode_base64(text)
    if data is not None:
        found = _from_bytes(data, ENCODING_BASE64, json_key)
        if found.form is not None:
            return found
    # Base64 that opens no frame is far more likely a word that happens to be
    # valid base64 ("true", "online1=") than data.
    return Unwrapped(ignored=IGNORED_TEXT)


def _from_bytes(data: bytes, encoding: str, json_key: str | None) -> Unwrapped:
    """Decoded bytes: a frame (or APDU) from their start, or after a few bytes of junk."""
    content = frame_content(data)
    if content is None:
        found = _EMBEDDED_START.search(data, 0, _MAX_PREFIX + 4)
        if found is not None:
            data = data[found.start() :]
            content = frame_content(data)
    if content is None:
        return Unwrapped(ignored=IGNORED_NO_FRAME)
    form = PayloadForm(encoding, content, json_key)
    if content == CONTENT_APDU:
        return Unwrapped(form, apdu=data)
    if content == CONTENT_P1:
        return Unwrapped(form, stream=data.lstrip())
    if content == CONTENT_HDLC_NO_FLAGS:
        # Both flags back: the decoder emits a frame once the byte after it is in.
        return Unwrapped(form, stream=b"\x7e" + data + b"\x7e")
    if content == CONTENT_HDLC and data[-1] != _HDLC_FLAG and _hdlc_whole(data):
        # A whole frame without its closing flag would wait for the next message.
        return Unwrapped(form, stream=data + b"\x7e")
    return Unwrapped(form, stream=data)


def _hdlc_whole(data: bytes) -> bool:
    """Whether `data` (from its opening flag) ends exactly where the frame's length says."""
    start = len(data) - len(data.lstrip(b"\x7e"))
    if len(data) < start + 2:
        return False
    length = ((data[start] & 0x07) << 8) | data[start + 1]
    return start + length == len(data)
