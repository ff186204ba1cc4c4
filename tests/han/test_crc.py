"""CRC-16/X-25 (HDLC HCS/FCS) and CRC-16/ARC (P1) against catalogue check values."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.han_port.han.crc import crc16_arc, crc16_x25
from devtools.corpus import raw_bytes

from .conftest import HDLC_SINGLE, bounded

CHECK = b"123456789"


def _x25_bitwise(data: bytes) -> int:
    """The textbook bit-at-a-time X-25, independent of the C-backed implementation."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def test_x25_check_value() -> None:
    # The CRC catalogue's check value for CRC-16/X-25 (a.k.a. CRC-16/IBM-SDLC).
    assert crc16_x25(CHECK) == 0x906E


def test_arc_check_value() -> None:
    assert crc16_arc(CHECK) == 0xBB3D


def test_empty_input() -> None:
    assert crc16_x25(b"") == 0x0000
    assert crc16_arc(b"") == 0x0000


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_buffer_type(kind: type) -> None:
    assert crc16_x25(kind(CHECK)) == 0x906E
    assert crc16_arc(kind(CHECK)) == 0xBB3D


@pytest.mark.parametrize("entry", HDLC_SINGLE, ids=[entry["id"] for entry in HDLC_SINGLE])
def test_fcs_of_every_capture(entry: dict) -> None:
    frame = raw_bytes(entry)
    # FCS covers format .. information and travels least significant byte first.
    assert crc16_x25(frame[1:-3]) == int.from_bytes(frame[-3:-1], "little")


@bounded(200)
@given(st.binary(max_size=300))
def test_x25_matches_the_bitwise_definition(data: bytes) -> None:
    assert crc16_x25(data) == _x25_bitwise(data)


@bounded(100)
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0))
def test_any_single_bit_error_changes_both_crcs(data: bytes, bit: int) -> None:
    flipped = bytearray(data)
    flipped[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    assert crc16_x25(flipped) != crc16_x25(data)
    assert crc16_arc(flipped) != crc16_arc(data)
