"""Shared fixtures for the decoder tests: the capture corpus and frame-building helpers.

The helpers build frames the way a meter does (HDLC type 3 with HCS/FCS, M-Bus long
frames with their checksum) so that tests can make variants of real captures: change
one value, re-seal the frame, and feed it to the decoder as if it came off the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
import pytest

from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.model import Event, FrameError, Reading
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.stream import StreamDecoder

type Entry = dict[str, Any]


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


CORPUS_PATH = Path(__file__).parent.parent / "fixtures" / "corpus.json"
CORPUS: list[Entry] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
BY_ID: dict[str, Entry] = {entry["id"]: entry for entry in CORPUS}
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
CONTROL = 0x13
LLC = b"\xe6\xe7\x00"


def raw_bytes(entry: Entry) -> bytes:
    """The exact bytes the capture holds (hex for binary transports, text for P1)."""
    if entry.get("hex"):
        return bytes.fromhex(entry["hex"])
    text: str = entry["text"]
    return text.encode("ascii")


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
    """An HDLC frame format type 3: 7E A0xx dest src control [HCS info] FCS 7E."""
    header_size = 2 + len(dest) + len(src) + 1
    length = header_size + (2 + len(information) if information else 0) + 2
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    header = fmt.to_bytes(2) + dest + src + bytes((control,))
    body = header
    if information:
        body += crc16_x25(header).to_bytes(2, "little") + information
    body += crc16_x25(body).to_bytes(2, "little")
    return b"\x7e" + body + (b"\x7e" if closing_flag else b"")


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


def mbus_frame(fragment: bytes, *, ci: int, c: int = 0x53, a: int = 0xFF) -> bytes:
    """An M-Bus long frame carrying one DLMS fragment behind STSAP 01 / DTSAP 67."""
    user = bytes((c, a, ci, 0x01, 0x67)) + fragment
    length = len(user)
    return bytes((0x68, length, length, 0x68)) + user + bytes((sum(user) & 0xFF, 0x16))


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
    """Every capture of tests/fixtures/corpus.json by id."""
    return BY_ID
