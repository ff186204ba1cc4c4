"""StreamDecoder: bytes in, readings and frame errors out.

Sans-IO in the manner of h11: the caller feeds whatever chunks the port delivers
(a whole frame, or one byte at a time) and gets back the events those bytes
completed. Nothing raises on bad input; the buffer never holds more than one
frame's worth of bytes, whatever garbage arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import re
from typing import Final

from . import hdlc, mbus, p1
from .apdu import (
    BlockTransfer,
    Plain,
    UnauthenticatedPlain,
    UncheckedPlain,
    UnsupportedApduError,
    strip_llc,
    unwrap,
)
from .axdr import AxdrError
from .cosem import ApduTag, Hdlc, Mbus
from .meters import LayoutError
from .model import MAX_RAW, Event, FrameError, FrameReject, Reading, Reason, Transport
from .options import DecoderOptions
from .security import DecryptError, NoKeyError
from .shapes import ShapeCache

# Plain ints and module-level names on the per-byte hunt (see cosem.py).
_HDLC_FLAG: Final = int(Hdlc.FLAG)
_HDLC_FORMAT_TYPE_3: Final = int(Hdlc.FORMAT_TYPE_3)
_MBUS_START: Final = int(Mbus.START)
_P1_START: Final = p1.START
_P1_CIPHERED: Final = p1.CIPHERED_START  # an encrypted telegram (Smarty, T210-D-r)
_CIPHERED_HEADER: Final = bytes((p1.CIPHERED_START, 8))  # and its system title's length
_BLOCK_TRANSFER: Final = bytes((ApduTag.GENERAL_BLOCK_TRANSFER,))
_AUTO: Final = Transport.AUTO
_HDLC: Final = Transport.HDLC
_MBUS: Final = Transport.MBUS
_P1: Final = Transport.P1
_APDU: Final = Transport.APDU
_IDLE_P1: Final = b"\r\n"
# Where the hunt for the next frame stops, per transport (None: not yet known).
# CR and LF stop it too: between P1 telegrams they are idle, not junk.
_HUNT: Final = {
    None: re.compile(rb"[\x7e\x68/\r\n\xdb]"),
    _HDLC: re.compile(rb"\x7e"),
    _MBUS: re.compile(rb"\x68"),
    _P1: re.compile(rb"[/\r\n\xdb]"),
}
_P1_TEXT: Final = bytes(range(0x20, 0x7F)) + b"\r\n"  # what a telegram may hold
# Report a run of bytes that are not frames once it ends, or every this many bytes,
# so a port at the wrong baud rate yields a steady trickle of events, not a flood.
JUNK_REPORT: Final = 4096
# After this much junk in a row, stop assuming the transport we locked onto.
_RELOCK: Final = 65536
MAX_ERRORS_PER_FEED: Final = 256
# Segmented HDLC / M-Bus messages: a meter push is a few KiB at most.
MAX_MESSAGE: Final = 65536


@dataclass(slots=True)
class DecoderStats:
    """Counters since the decoder was made, and what it holds after the last call.

    `unauthenticated` counts the readings among `readings` whose authentication tag
    went unchecked because no authentication key is configured (security.py's
    policy). `buffered` is how many bytes wait for the rest of a frame (never more
    than one frame's worth); `shapes` how many message shapes are compiled (shapes.py).
    """

    bytes_in: int = 0
    bytes_skipped: int = 0
    frames: int = 0
    readings: int = 0
    unauthenticated: int = 0
    errors: dict[Reason, int] = field(default_factory=dict)
    buffered: int = 0
    shapes: int = 0


class StreamDecoder:
    """Feed byte chunks as they arrive; get back Reading and FrameError events."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self.options = options or DecoderOptions()
        self._stats = DecoderStats()
        self._buf = bytearray()
        self._locked: Transport | None = (
            None if self.options.transport is _AUTO else self.options.transport
        )
        self._junk = 0  # bytes in the current run of junk
        self._junk_sample = bytearray()
        self._since_reading = 0
        self._segments: list[bytes] = []  # HDLC segmentation
        self._mbus_parts: list[bytes] = []
        self._mbus_next = 0
        self._blocks = BlockTransfer()
        self._shapes = ShapeCache(self.options.country)
        self._p1_waiting = False  # a "/" candidate at buf[0] needs more bytes
        self._p1_bang = False
        self._offset = 0  # stream offset of buf[0]
        self._errors_out = 0  # FrameErrors returned by the current feed()
        self._tail_end = 0  # stream offset up to which skipped bytes are a rejected frame's
        self._trailer = 0  # bytes a gateway may still append after the last telegram

    @property
    def stats(self) -> DecoderStats:
        """The counters, with `buffered` and `shapes` as they are now.

        Those two are filled in when asked for, not on every feed: they cost nothing
        on the hot path.
        """
        stats = self._stats
        stats.buffered = len(self._buf)
        stats.shapes = self._shapes.count
        return stats

    @property
    def transport(self) -> Transport | None:
        """The transport the stream turned out to use, once a frame decoded."""
        return self._locked

    @property
    def in_frame(self) -> bool:
        """Whether the bytes held back open a frame that waits for more input.

        After feed() the buffer starts at a frame candidate or is empty; a lone HDLC
        flag is the closing flag of the last frame (it may open the next one), not
        the start of a frame. A source whose messages may split a frame (MQTT) asks
        this to tell a continuation from a message that stands alone.
        """
        buf = self._buf
        return len(buf) > 1 or (len(buf) == 1 and buf[0] != _HDLC_FLAG)

    def feed_apdu(self, apdu: bytes | bytearray | memoryview) -> list[Event]:
        """Decode one APDU that arrived without a frame around it.

        Some bridges publish what was inside the HDLC or M-Bus frame: a
        data-notification (0F...) or general-glo-ciphering (DB...) APDU, possibly
        behind the LLC header, or one general-block-transfer block (E0...). It is
        decoded as if a frame had carried it (decryption, block reassembly, vendor
        rules alike); the Reading names the transport "apdu". The byte stream's
        state (buffer, the transport it locked onto) is left as it is.
        """
        events: list[Event] = []
        data = bytes(apdu)
        self._errors_out = 0
        self._stats.bytes_in += len(data)
        self._stats.frames += 1
        plain = strip_llc(data)
        if plain[:1] == _BLOCK_TRANSFER:
            self._on_block(plain, Transport.APDU, data, events)
        else:
            self._on_apdu(plain, Transport.APDU, data, events)
        return events

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Event]:
        """Take a chunk of any size; return the events it completed."""
        events: list[Event] = []
        if not chunk:
            return events
        self._errors_out = 0
        self._stats.bytes_in += len(chunk)
        self._since_reading += len(chunk)
        buf = self._buf
        if self._p1_waiting and not self._p1_ready(chunk):
            buf += chunk
            return events
        buf += chunk
        pos = self._scan(buf, events)
        if pos:
            del buf[:pos]
            self._offset += pos
        if self._since_reading > _RELOCK and self.options.transport is _AUTO:
            self._locked = None
            self._since_reading = 0
        return events

    def flush(self) -> list[Event]:
        """End of input: decode or report what is left in the buffer.

        A frame that lacks only its closing flag still decodes; a frame cut short is
        reported as truncated once; complete frames behind a false start are not lost.
        """
        events: list[Event] = []
        buf = self._buf
        self._p1_waiting = False
        self._errors_out = 0
        # What follows the end of input is another stream, not a gateway's trailer.
        self._trailer = 0
        if buf[:1] == b"\x7e":
            closed = hdlc.parse_frame(buf + b"\x7e", 0)
            if isinstance(closed, hdlc.HdlcFrame) and closed.end == len(buf):
                self._report_junk(events)
                self._on_hdlc(closed, buf, 0, events)
                self._drop(len(buf))
        reported = False
        while buf:
            if not buf.strip(b"\x7e\r\n"):
                self._drop(len(buf))  # closing flags and line ends are not data
                break
            if (
                buf[0] in (_HDLC_FLAG, _MBUS_START, _P1_START, _P1_CIPHERED)
                and len(buf) > 2
                and not reported
            ):
                need = ""
                if buf[0] == _HDLC_FLAG and buf[1] & 0xF0 == _HDLC_FORMAT_TYPE_3:
                    need = f", need {(((buf[1] & 7) << 8) | buf[2]) + 2}"
                self._report_junk(events)
                self._error(
                    events, Reason.TRUNCATED, f"input ended: have {len(buf)} bytes{need}", buf
                )
                reported = True
                self._tail_end = self._offset + len(buf)
                self._stats.bytes_skipped += 1
            else:
                self._skip(buf, 0, 1, events)
            self._drop(1)
            # Without more input, every candidate still waiting is cut short: rescan
            # what follows it, so a complete frame behind a false start decodes.
            self._drop(self._scan(buf, events))
            self._p1_waiting = False
        self._report_junk(events)
        return events

    def _drop(self, count: int) -> None:
        if count:
            del self._buf[:count]
            self._offset += count

    # -- framing -------------------------------------------------------------------

    def _scan(self, buf: bytearray, events: list[Event]) -> int:
        """Decode every complete frame in buf; return how many bytes are consumed."""
        pos = 0
        size = len(buf)
        locked = self._locked
        self._p1_waiting = False
        while pos < size:
            byte = buf[pos]
            if (byte == _HDLC_FLAG and locked in (None, _HDLC)) or (
                byte == _MBUS_START and locked in (None, _MBUS)
            ):
                framed: hdlc.HdlcFrame | mbus.MbusFrame | FrameReject | None
                if byte == _MBUS_START:
                    framed = mbus.parse_frame(buf, pos)
                elif pos + 1 < size and buf[pos + 1] == _HDLC_FLAG:
                    pos += 1  # idle flags between frames
                    continue
                else:
                    framed = hdlc.parse_frame(buf, pos)
                if framed is None:
                    break
                if isinstance(framed, FrameReject):
                    pos = self._reject(buf, pos, framed, events)
                    continue
                self._report_junk(events)
                if isinstance(framed, hdlc.HdlcFrame):
                    self._on_hdlc(framed, buf, pos, events)
                else:
                    self._on_mbus(framed, buf, pos, events)
                pos = framed.end  # an HDLC closing flag may open the next frame
                locked = self._locked
                continue
            if byte == _P1_START and locked in (None, _P1):
                end = p1.find_end(buf, pos)
                if end == p1.NEED_MORE:
                    self._p1_waiting = True
                    self._p1_bang = buf.find(b"\n!", pos) >= 0
                    break
                if end != p1.NOT_A_TELEGRAM:
                    self._report_junk(events)
                    if self._on_p1(bytes(buf[pos:end]), events):
                        pos = end
                        locked = self._locked
                        continue
                    # A telegram cut short runs into the next one: hunt on inside it.
                    self._tail_end = max(self._tail_end, self._offset + end)
                    self._stats.bytes_skipped += 1
                    pos += 1
                    continue
            elif byte in _IDLE_P1 and locked in (None, _P1):
                pos += 1  # CR LF between telegrams
                continue
            elif byte == _P1_CIPHERED and locked in (None, _P1):
                end = p1.find_ciphered_end(buf, pos)
                if end == p1.NEED_MORE:
                    break
                if end != p1.NOT_A_TELEGRAM:
                    apdu = bytes(buf[pos:end])
                    found: list[Event] = []
                    trailer, self._trailer = self._trailer, 0
                    # Bounded by its length: a telegram that does not decrypt (no
                    # key, a wrong one) is skipped whole, its ciphertext never hunted.
                    if self._on_apdu(apdu, _P1, apdu, found, telegram_only=True):
                        self._report_junk(events)
                        events += found
                        self._stats.frames += 1
                        if not any(isinstance(event, Reading) for event in found):
                            # Cut short (a byte lost on the line), its length ran into
                            # the next telegram: that one is not lost with it.
                            end = self._next_ciphered(buf, pos + 1, end)
                        pos = end
                        locked = self._locked
                        continue
                    self._trailer = trailer
            pos = self._skip(buf, pos, self._next_start(buf, pos + 1, locked), events)
        return pos

    def _p1_ready(self, chunk: bytes | bytearray | memoryview) -> bool:
        """Whether a waiting P1 candidate could have changed state with this chunk.

        Without this, a telegram fed a byte at a time would be rescanned from its
        start on every byte. Only a "!", a byte a telegram cannot hold, the end of
        the identification line or the size limit can change find_end's answer.
        """
        data = bytes(chunk)
        # Only a "!" that opens a line ends a telegram; one inside a value does not.
        if b"\n!" in self._buf[-1:] + data[:1] or b"\n!" in data:
            self._p1_bang = True
        return (
            self._p1_bang
            or bool(data.translate(None, _P1_TEXT))
            or len(self._buf) < p1.IDENT_MAX + 2
            or len(self._buf) + len(data) > p1.P1_MAX_LENGTH
        )

    def _next_ciphered(self, buf: bytearray, start: int, end: int) -> int:
        """Where the first encrypted telegram header that starts in buf[start:end] is, else end."""
        stop = end + len(_CIPHERED_HEADER) - 1
        found = buf.find(_CIPHERED_HEADER, start, stop)
        while found >= 0:
            if p1.find_ciphered_end(buf, found) != p1.NOT_A_TELEGRAM:
                return found
            found = buf.find(_CIPHERED_HEADER, found + 1, stop)
        return end

    def _next_start(self, buf: bytearray, start: int, locked: Transport | None) -> int:
        # One regex search finds the earliest marker: a find() per marker would scan
        # to the end of the buffer for each absent one, on every skip (quadratic).
        found = _HUNT[locked].search(buf, start)
        return found.start() if found else len(buf)

    def _skip(self, buf: bytearray, start: int, end: int, events: list[Event]) -> int:
        """Count buf[start:end] as junk; return end."""
        count = end - start
        self._stats.bytes_skipped += count
        if self._trailer:
            if count <= self._trailer and p1.is_trailer(buf, start, end):
                self._trailer -= count
                return end
            self._trailer = 0
        # Bytes inside a frame already rejected were reported with it.
        tail = min(self._tail_end - self._offset, end) - start
        if tail > 0:
            start += tail
            count -= tail
        if count <= 0:
            return end
        if len(self._junk_sample) < MAX_RAW:
            self._junk_sample += buf[start : min(end, start + MAX_RAW - len(self._junk_sample))]
        self._junk += count
        if self._junk >= JUNK_REPORT:
            self._report_junk(events)
        return end

    def _report_junk(self, events: list[Event]) -> None:
        if self._junk:
            detail = (
                f"{self._junk} bytes that are not a frame: check the baud rate and parity, "
                "or the adapter"
            )
            self._error(events, Reason.FORMAT, detail, self._junk_sample, count_frame=False)
            self._junk = 0
            self._junk_sample = bytearray()

    def _reject(
        self,
        buf: bytearray,
        pos: int,
        reject: FrameReject,
        events: list[Event],
    ) -> int:
        """A candidate frame at pos failed; return where the hunt resumes."""
        if reject.reason is None:
            return self._skip(buf, pos, pos + 1, events)
        self._report_junk(events)
        self._error(events, reject.reason, reject.detail, buf[pos : reject.end + 1])
        self._tail_end = max(self._tail_end, self._offset + reject.end + 1)
        if reject.bounded:
            # Sure bounds, only the content is bad: skip the frame. An HDLC closing
            # flag may open the next frame, so resume on it.
            resume = reject.end if buf[reject.end] == _HDLC_FLAG else reject.end + 1
            self._stats.bytes_skipped += resume - pos
            return resume
        # Otherwise resume right after the opening byte: a frame cut short may be
        # followed by a good one, which must not be lost.
        self._stats.bytes_skipped += 1
        return pos + 1

    def _error(
        self,
        events: list[Event],
        reason: Reason,
        detail: str,
        raw: bytes | bytearray,
        *,
        count_frame: bool = True,
    ) -> None:
        errors = self._stats.errors
        errors[reason] = errors.get(reason, 0) + 1
        if count_frame:
            self._stats.frames += 1
        # Crafted input can hold a frame error every few bytes; past this many in
        # one call they are counted in stats only, so one huge feed stays small.
        if self._errors_out < MAX_ERRORS_PER_FEED:
            self._errors_out += 1
            events.append(FrameError(reason, detail, bytes(raw[:MAX_RAW])))

    # -- transports -----------------------------------------------------------------

    def _on_hdlc(
        self, frame: hdlc.HdlcFrame, buf: bytearray, pos: int, events: list[Event]
    ) -> None:
        self._stats.frames += 1
        information = frame.information
        if not information:
            return
        if frame.segmented or self._segments:
            self._segments.append(information)
            if sum(map(len, self._segments)) > MAX_MESSAGE:
                self._segments = []
                self._error(events, Reason.MALFORMED, "segmented message too large", b"")
                return
            if frame.segmented:
                return
            information = b"".join(self._segments)
            self._segments = []
        apdu = strip_llc(information)
        if apdu[:1] == _BLOCK_TRANSFER:
            self._on_block(apdu, _HDLC, buf[pos : frame.end + 1], events)
            return
        self._on_apdu(apdu, _HDLC, bytes(buf[pos : frame.end + 1]), events)

    def _on_block(
        self, apdu: bytes, transport: Transport, raw: bytes | bytearray, events: list[Event]
    ) -> None:
        try:
            whole = self._blocks.add(apdu)
        except AxdrError as err:
            self._error(events, Reason.MALFORMED, f"block transfer: {err}", raw)
            return
        if whole is not None:
            self._on_apdu(whole, transport, whole, events)

    def _on_mbus(
        self, frame: mbus.MbusFrame, buf: bytearray, pos: int, events: list[Event]
    ) -> None:
        self._stats.frames += 1
        if frame.sequence == 0:
            self._mbus_parts = []
        elif frame.sequence != self._mbus_next or not self._mbus_parts:
            self._mbus_parts = []
            self._error(
                events, Reason.MALFORMED, "M-Bus segment out of order", buf[pos : frame.end]
            )
            return
        self._mbus_parts.append(frame.fragment)
        self._mbus_next = frame.sequence + 1
        if not frame.last:
            return
        apdu = b"".join(self._mbus_parts)
        self._mbus_parts = []
        if apdu[:1] == _BLOCK_TRANSFER:
            self._on_block(apdu, _MBUS, buf[pos : frame.end], events)
            return
        self._on_apdu(apdu, _MBUS, apdu, events)

    def _on_p1(self, telegram: bytes, events: list[Event]) -> bool:
        self._stats.frames += 1
        self._trailer = 0
        result = p1.decode_telegram(telegram)
        if isinstance(result, Reading):
            self._accept(result, _P1, events)
            self._trailer = p1.TRAILER_MAX
            return True
        self._error(events, result.reason, result.detail, telegram, count_frame=False)
        return False

    def _on_apdu(
        self,
        apdu: bytes,
        transport: Transport,
        raw: bytes,
        events: list[Event],
        *,
        telegram_only: bool = False,
    ) -> bool:
        """Decode one APDU; False (and nothing said) when `telegram_only` and it holds none.

        A ciphered P1 telegram stands on the line without a frame around it; a
        ciphered data-notification does not, so one found that way is a piece of a
        damaged HDLC or M-Bus frame and no reading may come of it.
        """
        options = self.options
        plain = None
        try:
            plain = unwrap(apdu, options.key, options.auth_key)
            if plain.system_title is not None:
                # Only a ciphered APDU (it has a system title) can hold a P1 telegram.
                if plain.apdu[:1] == b"/":
                    self._on_ciphered_telegram(plain, transport, raw, events)
                    return True
                if telegram_only:
                    return False
                if isinstance(plain, UnauthenticatedPlain):
                    self._on_unauthenticated(plain, transport, raw, events)
                    return True
            elif telegram_only:
                return False
            reading = self._shapes.read(plain, transport)
        except NoKeyError as err:
            self._error(events, Reason.NO_KEY, str(err), raw, count_frame=False)
        except DecryptError as err:
            self._error(events, Reason.DECRYPT, str(err), raw, count_frame=False)
        except (UnsupportedApduError, LayoutError) as err:
            self._error(events, Reason.UNSUPPORTED, str(err), raw, count_frame=False)
        except (ValueError, ArithmeticError) as err:  # AxdrError and friends: broken content
            if plain is not None and plain.encrypted:
                # Without an authentication tag a wrong key shows up only here.
                detail = f"decrypted message does not parse ({err}): wrong key?"
                self._error(events, Reason.DECRYPT, detail, raw, count_frame=False)
            else:
                self._error(events, Reason.MALFORMED, str(err), raw, count_frame=False)
        else:
            self._accept(reading, transport, events)
        return True

    def _on_unauthenticated(
        self, plain: UnauthenticatedPlain, transport: Transport, raw: bytes, events: list[Event]
    ) -> None:
        """A data-notification deciphered without its tag checked (security.py's policy).

        Only a reading that took every byte proves the key: a wrong one gives noise,
        and anything short of a reading with values is said to be a wrong key.
        """
        try:
            reading = self._shapes.read(plain, transport)
        except (ValueError, ArithmeticError) as err:
            detail = f"{err}"
        else:
            if reading.values:
                self._stats.unauthenticated += 1
                self._accept(reading, transport, events)
                return
            detail = "no values"
        detail = (
            "authentication tag not checked (no authentication key) and the decrypted"
            f" message is not a reading ({detail}): wrong key?"
        )
        self._error(events, Reason.DECRYPT, detail, raw, count_frame=False)

    def _on_ciphered_telegram(
        self, plain: Plain, transport: Transport, raw: bytes, events: list[Event]
    ) -> None:
        """A P1 telegram that arrived encrypted (Smarty, T210-D-r)."""
        result = p1.decode_telegram(plain.apdu)
        unchecked = isinstance(plain, UncheckedPlain)
        if unchecked and (isinstance(result, FrameError) or not p1.has_crc(plain.apdu)):
            # Decrypted unchecked (no authentication key): the telegram's own CRC
            # is the only proof the key is right.
            detail = "decrypted data is not a P1 telegram with a valid CRC: wrong key?"
            self._error(events, Reason.DECRYPT, detail, raw, count_frame=False)
            return
        if isinstance(result, FrameError):
            # The frame's checks held and the key opened it: the line is fine, so this
            # is the meter's content, not a framing (baud rate) error.
            detail = result.detail.removesuffix(p1.LINE_HINT)
            self._error(events, Reason.MALFORMED, f"decrypted {detail}", raw, count_frame=False)
            return
        reading = replace(
            result,
            transport=transport,
            encrypted=plain.encrypted,
            system_title=plain.system_title,
        )
        if isinstance(plain, UnauthenticatedPlain):
            self._stats.unauthenticated += 1
        self._accept(reading, transport, events)
        if transport == _P1:
            self._trailer = p1.TRAILER_MAX

    def _accept(self, reading: Reading, transport: Transport, events: list[Event]) -> None:
        self._stats.readings += 1
        self._since_reading = 0
        if transport is not _APDU:
            # A bare APDU says nothing about how the byte stream is framed.
            self._locked = transport
        events.append(reading)
