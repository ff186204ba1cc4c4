"""StreamDecoder: bytes in, readings and frame errors out (work in progress)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Event
from .options import DecoderOptions


@dataclass(slots=True)
class DecoderStats:
    """Counters since the decoder was made."""

    bytes_in: int = 0
    bytes_skipped: int = 0
    frames: int = 0
    readings: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class StreamDecoder:
    """Feed byte chunks as they arrive; get back Reading and FrameError events."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self.options = options or DecoderOptions()
        self.stats = DecoderStats()

    def feed(self, chunk: bytes) -> list[Event]:
        """Take a chunk of any size; return the events it completed."""
        self.stats.bytes_in += len(chunk)
        return []

    def flush(self) -> list[Event]:
        """End of input: report a frame still in the buffer as truncated."""
        return []
