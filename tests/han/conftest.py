"""Shared fixtures for the decoder tests: selections of the capture corpus, frame helpers.

The corpus comes from devtools/corpus.py and every frame from the frame builder
(devtools/builder.py), which builds them the way a meter does (HDLC type 3 with
HCS/FCS, M-Bus long frames with their checksum): tests make variants of real captures
(change one value, re-seal the frame) and feed them to the decoder as if they came
off the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, settings
import pytest

from custom_components.han_port.han.cosem import Hdlc
from custom_components.han_port.han.model import Event, FrameError, Reading
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.stream import StreamDecoder
from devtools import builder
from devtools.builder import LLC_HEADER, HdlcLink
from devtools.corpus import BY_ID, CORPUS, Entry


def bounded(max_examples: int) -> settings:
    """Hypothesis settings for the suite: the same examples every run, none stored.

    derandomize makes a failure reproducible from the test alone; database=None keeps
    runs from replaying (or writing) examples of earlier runs.
    """
    return settings(
        derandomize=True,
        database=None,
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


VALID = [entry for entry in CORPUS if entry["valid"]]
INVALID = [entry for entry in CORPUS if not entry["valid"]]
# Plain single-frame HDLC captures: the bulk of what Nordic meters send.
HDLC_SINGLE = [
    entry
    for entry in VALID
    if entry["transport"] == "hdlc"
    and not entry["encrypted"]
    and entry["frame_check"].get("n_frames", 1) == 1
]
P1_VALID = [entry for entry in VALID if entry["transport"] == "p1-ascii"]

GBT_ID = "landisgyr-ch-e450-gbt-3frames-amsreader-gh740"
MBUS_ID = "kaifa-at-ma309-mbus-encrypted-tinetz-example"
KAMSTRUP_L1_ID = "kamstrup-no-list1-3ph-2022-amshan"
KAMSTRUP_L2_ID = "kamstrup-no-list2-3ph-2022-hassams"
AIDON_L3_ID = "aidon-no-list3-3ph-hassams"

# The HDLC header HAN meters use for pushes: client address 0x41 (1 byte), server
# address 0x0883 (2 bytes), control 0x13 (UI frame, final bit).
DEST = b"\x41"
SRC = b"\x08\x83"
CONTROL = Hdlc.CONTROL_UI
LLC = LLC_HEADER


def options_for(entry: Entry, **overrides: Any) -> DecoderOptions:
    """Decoder options as a user of that meter would set them."""
    settings: dict[str, Any] = {
        "key": bytes.fromhex(entry["key_hex"]) if entry.get("key_hex") else None,
        "auth_key": bytes.fromhex(entry["auth_key_hex"]) if entry.get("auth_key_hex") else None,
        "country": entry["country"],
    }
    settings.update(overrides)
    return DecoderOptions(**settings)


def decode_all(data: bytes, options: DecoderOptions | None = None) -> list[Event]:
    """Feed data whole to a fresh decoder and flush: every event the bytes produce."""
    decoder = StreamDecoder(options)
    return decoder.feed(data) + decoder.flush()


def decode_chunks(chunks: Iterable[bytes], options: DecoderOptions | None = None) -> list[Event]:
    decoder = StreamDecoder(options)
    events: list[Event] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.flush()


def readings(events: Sequence[Event]) -> list[Reading]:
    return [event for event in events if isinstance(event, Reading)]


def errors(events: Sequence[Event]) -> list[FrameError]:
    return [event for event in events if isinstance(event, FrameError)]


def reasons(events: Sequence[Event]) -> list[str]:
    return [event.reason for event in errors(events)]


def as_plain(reading: Reading) -> dict[str, Any]:
    """A reading as comparable data: equal readings compare equal, whatever decoded them."""
    return {
        "values": {str(obis): (m.value, m.unit) for obis, m in reading.values.items()},
        "meter_id": reading.meter_id,
        "meter_type": reading.meter_type,
        "manufacturer": reading.manufacturer,
        "list_version": reading.list_version,
        "device_name": reading.device_name,
        "timestamp": reading.timestamp,
        "utcoffset": reading.timestamp.utcoffset() if reading.timestamp else None,
        "transport": reading.transport,
        "encrypted": reading.encrypted,
    }


def wall_clock(reading: Reading) -> datetime | None:
    stamp = reading.timestamp
    return None if stamp is None else stamp.replace(tzinfo=None)


# -- frame builders -------------------------------------------------------------------


def hdlc_frame(
    information: bytes,
    *,
    dest: bytes = DEST,
    src: bytes = SRC,
    control: int = CONTROL,
    segmented: bool = False,
    closing_flag: bool = True,
) -> bytes:
    """An HDLC frame format type 3 (the builder's), optionally without its closing flag."""
    frame = builder.hdlc_frame(information, HdlcLink(dest, src, control), segmented=segmented)
    return frame if closing_flag else frame[:-1]


def hdlc_apdu(apdu: bytes, **kwargs: Any) -> bytes:
    """An APDU behind the LLC header in one HDLC frame, as meters push it."""
    return hdlc_frame(LLC + apdu, **kwargs)


def _hdlc_parts(frame: bytes) -> tuple[bytes, bytes, int, bytes]:
    """Destination, source, control and information of a well-formed frame."""
    pos = 3
    bounds = []
    for _ in range(2):  # destination, then source address: the byte with LSB 1 ends each
        start = pos
        while not frame[pos] & 1:
            pos += 1
        pos += 1
        bounds.append(frame[start:pos])
    control = frame[pos]
    information = frame[pos + 3 : -3] if len(frame) > pos + 4 else b""
    return bounds[0], bounds[1], control, information


def hdlc_information(frame: bytes) -> bytes:
    """The information field of a well-formed frame (the inverse of hdlc_frame)."""
    return _hdlc_parts(frame)[3]


def reseal(frame: bytes) -> bytes:
    """Recompute length, HCS and FCS after bytes inside a frame were changed."""
    dest, src, control, information = _hdlc_parts(frame)
    return hdlc_frame(
        information, dest=dest, src=src, control=control, segmented=bool(frame[1] & 0x08)
    )


def split_hdlc_stream(data: bytes) -> list[bytes]:
    """Cut a stream of back-to-back HDLC frames into frames, by their length fields."""
    frames = []
    pos = 0
    while pos < len(data):
        length = ((data[pos + 1] & 0x07) << 8) | data[pos + 2]
        frames.append(data[pos : pos + length + 2])
        pos += length + 2
    return frames


def split_mbus_stream(data: bytes) -> list[bytes]:
    frames = []
    pos = 0
    while pos < len(data):
        frames.append(data[pos : pos + data[pos + 1] + 6])
        pos += data[pos + 1] + 6
    return frames


@pytest.fixture(scope="session")
def corpus() -> dict[str, Entry]:
    """Every capture of the corpus by id (devtools/corpus.py)."""
    return BY_ID
