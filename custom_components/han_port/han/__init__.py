"""Sans-IO decoder for smart-meter HAN ports: HDLC/M-Bus/P1 framing, DLMS/COSEM, AES-GCM.

Nothing here imports Home Assistant or does I/O (the command line in `cli.py` aside),
so the same code runs in the event loop, in the command line and in benchmarks.

    stream.py    StreamDecoder: bytes in, Reading and FrameError events out
    hdlc.py, mbus.py, p1.py, apdu.py, security.py, axdr.py   the layers it drives
    meters.py    values -> Reading, by the vendor rules of vendors.py
    vendors.py   every vendor fact as data: identity, scalers, push lists, cadence
    cosem.py     the numbers of the standards (tags, flags, DLMS units), named once
    model.py     what comes out: Obis, Measurement, Reading, FrameError, Unit, Reason
    session.py   ListenSession: is the meter heard, and which trouble to tell (takes `now`)

The frame builder, the simulated meter and the fuzzer that exercise it live outside
the shipped integration, in devtools/.
"""

from .model import Event, FrameError, Measurement, Obis, Reading, Reason, Transport, Unit
from .options import DecoderOptions
from .stream import DecoderStats, StreamDecoder

__all__ = [
    "DecoderOptions",
    "DecoderStats",
    "Event",
    "FrameError",
    "Measurement",
    "Obis",
    "Reading",
    "Reason",
    "StreamDecoder",
    "Transport",
    "Unit",
]
