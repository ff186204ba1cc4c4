"""CRC-16 checks for HDLC (CRC-16/X-25) and P1 telegrams (CRC-16/ARC).

X-25 is the reflected form of the CCITT polynomial 0x1021. The C-backed
`binascii.crc_hqx` computes the non-reflected form, so we bit-reverse the input
bytes (`bytes.translate`, also C) and the 16-bit result: the whole check stays
out of the Python interpreter loop, which matters at one frame every 2 s on a
Raspberry Pi and in the fuzzer's millions of frames.
"""

from __future__ import annotations

import binascii
from typing import Final


def _reverse8(value: int) -> int:
    return int(f"{value:08b}"[::-1], 2)


_REVERSE_BITS: Final = bytes(_reverse8(i) for i in range(256))
_REVERSE16_HI: Final = tuple(_reverse8(i) for i in range(256))


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF), as sent LSB first."""
    crc = binascii.crc_hqx(bytes(data).translate(_REVERSE_BITS), 0xFFFF)
    reflected = (_REVERSE16_HI[crc & 0xFF] << 8) | _REVERSE16_HI[crc >> 8]
    return reflected ^ 0xFFFF


def _arc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE: Final = _arc_table()


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0), the P1 telegram check (DSMR 4+)."""
    crc = 0
    table = _ARC_TABLE
    # A P1 telegram arrives every 1-10 s; a table loop is fast enough here.
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
