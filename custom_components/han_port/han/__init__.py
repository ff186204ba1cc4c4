"""Sans-IO decoder for smart-meter HAN ports: HDLC/M-Bus/P1 framing, DLMS/COSEM, AES-GCM.

Nothing here imports Home Assistant or does I/O (the command line in `cli.py` aside),
so the same code runs in the event loop, in the command line and in benchmarks.
"""

from .model import (
    REASONS,
    Event,
    FrameError,
    Measurement,
    Obis,
    Reading,
)
from .options import DecoderOptions
from .stream import DecoderStats, StreamDecoder

__all__ = [
    "REASONS",
    "DecoderOptions",
    "DecoderStats",
    "Event",
    "FrameError",
    "Measurement",
    "Obis",
    "Reading",
    "StreamDecoder",
]
