"""Find out what a port carries: listen under likely line settings until a meter speaks.

Used by the config flow (user, USB discovery and reconfigure). Every attempt is
bounded in time, so the flow's progress step always ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from homeassistant.exceptions import HomeAssistantError

from .const import LOGGER
from .han import DecoderOptions, Event, Reading, StreamDecoder
from .han.model import Reason
from .port import LineSettings, line_settings_apply
from .reader import (
    LINE_SETTINGS_TO_TRY,
    PortError,
    close_port,
    open_port,
    read_chunk,
)

# How long to listen under one line setting. Kamstrup sends list 1 every 10 s and
# a frame of 300 bytes takes 1.4 s at 2400 baud, so 12 s always holds one whole frame
# even when listening starts just after a frame began.
LISTEN_SECONDS: Final = 12.0
# After a valid frame without a meter id (Aidon and Kaifa list 1, every 2-2.5 s),
# how long to wait for the list that names the meter (list 2 comes every 10 s).
IDENTIFY_SECONDS: Final = 12.0
# Bytes without a single valid frame after which the setting is clearly wrong: two
# of the longest frames in the corpus (Aidon SE, 581 bytes) plus slack.
GARBAGE_LIMIT: Final = 2048
# Raw bytes kept to verify a key against without listening again.
CAPTURE_LIMIT: Final = 16384


class DetectionError(HomeAssistantError):
    """Listening found nothing usable; `reason` is the config flow error key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, kw_only=True)
class HeardVerdict:
    """What a listening session (a port, an MQTT topic) made of the frames it heard."""

    reading: Reading | None = None
    encrypted: bool = False
    decrypt_failed: bool = False

    @property
    def valid(self) -> bool:
        """A frame decoded, or failed only for want of a key."""
        return self.reading is not None or self.encrypted or self.decrypt_failed

    @property
    def identified(self) -> bool:
        """Nothing more to wait for."""
        if self.reading is not None:
            return self.reading.meter_id is not None
        return self.encrypted or self.decrypt_failed

    def note(self, events: Iterable[Event]) -> None:
        """Take in what the decoder made of the bytes heard."""
        for event in events:
            if isinstance(event, Reading):
                # Prefer the reading that names the meter; keep the first otherwise.
                if self.reading is None or (
                    self.reading.meter_id is None and event.meter_id is not None
                ):
                    self.reading = event
            elif event.reason is Reason.NO_KEY:
                self.encrypted = True
            elif event.reason is Reason.DECRYPT:
                self.decrypt_failed = True


@dataclass(slots=True)
class Heard(HeardVerdict):
    """What one listening session under one line setting produced."""

    settings: LineSettings
    bytes_in: int = 0
    captured: bytearray = field(default_factory=bytearray)

    def take(self, chunk: bytes, events: list[Event]) -> None:
        self.bytes_in += len(chunk)
        self.captured += chunk
        if len(self.captured) > CAPTURE_LIMIT:
            del self.captured[: len(self.captured) - CAPTURE_LIMIT]
        self.note(events)


async def listen(
    device: str, settings: LineSettings, options: DecoderOptions, seconds: float
) -> Heard:
    """Listen on `device` for at most `seconds` (more while waiting for a meter id)."""
    port = await open_port(device, settings)
    decoder = StreamDecoder(options)
    heard = Heard(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    identify_by: float | None = None
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    chunk = await read_chunk(port)
            except TimeoutError:
                break
            heard.take(chunk, decoder.feed(chunk))
            if heard.identified:
                break
            if heard.valid:
                if identify_by is None:
                    identify_by = loop.time() + IDENTIFY_SECONDS
                    deadline = max(deadline, identify_by)
            elif heard.bytes_in > GARBAGE_LIMIT:
                break
    finally:
        await close_port(port)
    return heard


async def detect_meter(
    device: str,
    options: DecoderOptions,
    on_progress: Callable[[float], None] | None = None,
    candidates: tuple[LineSettings, ...] = LINE_SETTINGS_TO_TRY,
) -> Heard:
    """Try line settings in order; return the first session that heard valid frames.

    Raises DetectionError("cannot_connect" | "no_data" | "no_valid_frames").
    """
    if not line_settings_apply(device):
        # The bridge sets the UART; whatever we ask for does not reach the meter.
        candidates = candidates[:1]
    heard_any = False
    opened = False
    for index, settings in enumerate(candidates):
        if on_progress is not None:
            on_progress(index / len(candidates))
        try:
            heard = await listen(device, settings, options, LISTEN_SECONDS)
        except PortError as err:
            if not err.settings_refused:
                raise DetectionError("cannot_connect") from err
            # This adapter cannot do these settings: on to the next.
            LOGGER.debug("%s refuses %s: %s", device, settings, err)
            continue
        opened = True
        if heard.valid:
            return heard
        heard_any = heard_any or heard.bytes_in > 0
        if not heard_any:
            # A wrong baud rate or parity still produces (garbled) bytes; total
            # silence means the meter sends nothing at all, whatever the settings.
            raise DetectionError("no_data")
    raise DetectionError("no_valid_frames" if opened else "cannot_connect")


def decode_captured(captured: bytes, settings: LineSettings, options: DecoderOptions) -> Heard:
    """Decode bytes heard earlier again with other options (a key the user typed)."""
    decoder = StreamDecoder(options)
    heard = Heard(settings)
    heard.take(captured, [*decoder.feed(captured), *decoder.flush()])
    return heard
